"""What the command modules share at run time: TensorFlow imported without its start-up chatter.
(Kept apart from `main`, which imports every command module: imports run one way.)"""

import os

from tf_irgan.errors import UserError


def import_tensorflow_quietly(inference: bool = True):
    """Import TensorFlow with its C++ start-up lines (absl INFO, oneDNN notices) kept off stderr;
    TF_CPP_MIN_LOG_LEVEL no longer silences them in TF 2.21. The inference commands (`inference`)
    run their pipelines in TensorFlow ops, so they need Keras on the TensorFlow backend too."""
    import sys
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if inference and backend != "tensorflow":
        raise UserError(f"KERAS_BACKEND={backend}: fuse, translate, export and report run on the "
                        "TensorFlow backend; unset KERAS_BACKEND for them (only `tf-irgan train` "
                        "runs on jax and torch)")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
