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
        if not installed("tensorflow"):   # unsetting KERAS_BACKEND alone would not help
            raise UserError(f"KERAS_BACKEND={backend}: fuse, translate, export and report run on "
                            "TensorFlow, which is not installed here: pip install "
                            "\"tensorflow-cpu==2.21.*\", then run them without KERAS_BACKEND "
                            "(only `tf-irgan train` runs on jax and torch)")
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


def installed(package: str) -> bool:
    """Whether `package` can be imported here, without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def training_backend() -> str:
    """The Keras backend `train` uses: KERAS_BACKEND, else TensorFlow, else (an install for
    training only, without TensorFlow) jax or torch, whichever is installed; set in the
    environment before Keras is imported, so `train` and its --help work there unasked."""
    if "KERAS_BACKEND" not in os.environ and not installed("tensorflow"):
        for candidate in ("jax", "torch"):
            if installed(candidate):
                os.environ["KERAS_BACKEND"] = candidate
                break
    return os.environ.get("KERAS_BACKEND", "tensorflow")
