"""Registry of the CLI's commands, one module each."""

from tf_irgan.cli.evaluate import evaluate
from tf_irgan.cli.export import export
from tf_irgan.cli.fuse import checkpoints, fuse
from tf_irgan.cli.report import report
from tf_irgan.cli.train import prepare, train

ALL = [fuse, checkpoints, prepare, train, evaluate, report, export]
