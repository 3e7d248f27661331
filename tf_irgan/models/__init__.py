"""The model registry: `--model NAME` -> the module that defines that GAN.

Each model is one module here holding its config dataclass and named configs, its networks and
its `keras.Model` subclass of `tf_irgan.models.base.GAN` (the contract the training loop, the
presets, the CLI and the export rely on). Adding a model is adding its module and one line to
`MODELS`. The table names modules instead of importing them so that listing the models (CLI
choices, error messages) does not import TensorFlow.
"""

from __future__ import annotations

import importlib

from tf_irgan.errors import UserError

# name -> "module:class"
MODELS = {
    "ddcgan": "tf_irgan.models.ddcgan:DDcGAN",
    "pix2pix": "tf_irgan.models.pix2pix:Pix2Pix",
}


def register(name: str, target: str) -> None:
    """Make `--model name` train the class `target` ("package.module:Class")."""
    MODELS[name] = target


def names() -> list[str]:
    return list(MODELS)


def get(name: str):
    """The GAN class registered as `name`; a one-line error for unknown names."""
    if name not in MODELS:
        known = names()
        listing = f"only {known[0]} is" if len(known) == 1 else f"use one of {', '.join(known)};"
        raise UserError(f"--model {name}: not available in this release; {listing} available")
    module, _, cls = MODELS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def serializable_classes() -> set[str]:
    """Keras registered names ("package>Class") that a preset's config.json may name: only the
    networks defined in the registered model modules (or in the modules of this package that
    they import, such as `tf_irgan.models.pyramid`) are ever built from a file."""
    import keras

    modules = {target.partition(":")[0] for target in MODELS.values()}
    for module in modules:
        importlib.import_module(module)
    return {name for name, obj in keras.saving.get_custom_objects().items()
            if isinstance(obj, type) and issubclass(obj, keras.Model)
            and (obj.__module__ in modules or obj.__module__.startswith(__name__ + "."))}
