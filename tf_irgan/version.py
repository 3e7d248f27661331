"""The package version, in a module of its own so that setup.cfg and any module can read it
without importing the package (and TensorFlow) through `tf_irgan/__init__.py`."""

__version__ = "0.4.1"
