"""Registry of the CLI's commands, one module each."""

from tf_irgan.cli.campaign import campaign
from tf_irgan.cli.convert import convert
from tf_irgan.cli.evaluate import evaluate
from tf_irgan.cli.export import export
from tf_irgan.cli.fuse import fuse, presets
from tf_irgan.cli.register import register
from tf_irgan.cli.report import report
from tf_irgan.cli.train import prepare, train
from tf_irgan.cli.translate import translate

# name -> command; "checkpoints" is the old name of "presets" (it works, hidden from --help).
ALL = {"fuse": fuse, "translate": translate, "presets": presets, "checkpoints": presets, "prepare": prepare,
       "register": register,
       "train": train, "campaign": campaign, "evaluate": evaluate, "report": report, "export": export,
       "convert": convert}

OLD_NAMES = {"checkpoints"}
