"""Build shim: every dependency is listed once, in setup.cfg; this file only swaps the TensorFlow wheel.

`setup(install_requires=...)` would replace setup.cfg's list rather than extend it, so the list is
read from setup.cfg and only its TensorFlow line is changed. `TF_IRGAN_TF_PACKAGE` picks the wheel:
"tensorflow-cpu" (default, laptops and CI) or "tensorflow" (GPU machines, with the `gpu` extra,
which adds the CUDA libraries); the two wheels share one import package, so only one should be
installed. "none" leaves TensorFlow out (an environment that already has a build of its own).
"""
import configparser
import os
from pathlib import Path

from setuptools import setup

DEFAULT_TF = "tensorflow-cpu"


def install_requires() -> list[str]:
    config = configparser.ConfigParser()
    config.read(Path(__file__).with_name("setup.cfg"), encoding="utf-8")
    listed = [line.strip() for line in config["options"]["install_requires"].splitlines() if line.strip()]
    wanted = os.environ.get("TF_IRGAN_TF_PACKAGE", DEFAULT_TF)
    requires = []
    for requirement in listed:
        if requirement.startswith(DEFAULT_TF + "=="):
            if wanted == "none":
                continue
            requirement = wanted + requirement[len(DEFAULT_TF):]
        requires.append(requirement)
    return requires


setup(install_requires=install_requires())
