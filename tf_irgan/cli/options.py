"""Option classes shared by the commands."""

import click


class OldNames(click.Option):
    """An option whose later spellings are old names: they still work, but `--help` shows only
    the first (e.g. `--preset` for `--preset`/`--checkpoint`)."""

    def get_help_record(self, ctx):
        opts, self.opts = self.opts, self.opts[:1]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = opts
