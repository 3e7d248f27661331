"""Build shim: the project's metadata lives in setup.cfg.

`TF_IRGAN_TF_PACKAGE` picks the TensorFlow wheel ("tensorflow-cpu" by default). On a GPU machine,
`TF_IRGAN_TF_PACKAGE=tensorflow pip install -e .[gpu]` avoids installing both wheels, which share
one import package and overwrite each other's files.
"""
import os

from setuptools import setup

tf_package = os.environ.get("TF_IRGAN_TF_PACKAGE", "tensorflow-cpu")
setup(install_requires=[f"{tf_package}==2.21.*"] if tf_package != "none" else [])
