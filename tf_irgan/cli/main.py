"""The `tf-irgan` command group. Each command lives in its own module and only parses arguments."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter

import click  # noqa: E402

from tf_irgan.version import __version__
from tf_irgan.errors import UserError


class _Group(click.Group):
    """Turns the library's UserError (and unreadable-file OSErrors) into one line, exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as err:
            _fail(str(err))
        except ModuleNotFoundError as err:
            if err.name in ("torch", "jax"):  # KERAS_BACKEND names a backend not installed
                _fail(f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND', err.name)} needs {err.name}, "
                      f"which is not installed here: pip install \"tf-irgan[{err.name}]\" (the "
                      f"{err.name} extra), or unset KERAS_BACKEND to use TensorFlow")
            if err.name != "tensorflow":
                raise
            # An install for training only (TF_IRGAN_TF_PACKAGE=none with the jax extra).
            _fail("this command runs on TensorFlow, which is not installed here: pip install "
                  "\"tensorflow-cpu==2.21.*\" (or install tf-irgan without TF_IRGAN_TF_PACKAGE=none); "
                  "`tf-irgan train` runs without it (KERAS_BACKEND=jax or torch)")
        except OSError as err:  # disk full, permission denied: still the user's to fix
            where = f"{err.filename}: " if getattr(err, "filename", None) else ""
            _fail(f"{where}{err.strerror or err}")


def _fail(message: str):
    click.echo(f"Error: {message}", err=True)
    raise SystemExit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tf-irgan")
def cli():
    """Infrared/visible and MRI/PET image fusion (DDcGAN) and translation (pix2pix)."""


def _register():
    from tf_irgan.cli import commands
    import copy
    for name, command in commands.ALL.items():
        if name in commands.OLD_NAMES:
            command = copy.copy(command)
            command.hidden = True
        cli.add_command(command, name=name)


_register()
