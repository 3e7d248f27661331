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


def range_option(role: str, label: str):
    """`--ir-range` / `--vis-range`: how a raw frame's values map to [0, 1] (tf_irgan.ranges).
    Checked by the command (one-line errors), not by click."""
    return click.option(
        f"--{role}-range", default="auto", show_default=True, metavar="auto|full|LOW,HIGH|pLOW,pHIGH",
        help=f"How {label} values map to [0, 1]: auto stretches a 16-bit frame that uses a narrow "
             "band of its range (raw thermal counts) by its percentiles, with a note; full divides "
             "by 255/65535; LOW,HIGH fixes raw bounds (the same for every frame of a sequence); "
             "pLOW,pHIGH uses each frame's percentiles.")
