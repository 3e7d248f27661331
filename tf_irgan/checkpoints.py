"""Preset folders, KerasHub style: `config.json` + `model.weights.h5` + `metadata.json`.

A preset is found by folder path or by name among the shipped ones (the repository's
`checkpoints/`, or folders listed in $TF_IRGAN_CHECKPOINTS, separated by os.pathsep).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from tf_irgan.version import __version__
from tf_irgan.errors import UserError

CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE = "config.json", "model.weights.h5", "metadata.json"
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "checkpoints"


@dataclass
class Preset:
    path: Path
    config: dict
    metadata: dict
    model: object = None  # the Keras generator, once loaded

    @property
    def name(self) -> str:
        # The folder's name: what `resolve` finds it by (a run's export is saved as "model" and
        # then copied under its own name, so metadata["name"] is not reliable).
        return self.path.name

    @property
    def scale(self) -> int:
        return int(self.config["config"].get("scale", 1))

    @property
    def task(self) -> str:
        return self.config.get("task", "fusion")


def search_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("TF_IRGAN_CHECKPOINTS", "").split(os.pathsep) if p]
    return extra + [SHIPPED_DIR]


def list_presets() -> list[Preset]:
    found, seen = [], set()
    for folder in search_dirs():
        if not folder.is_dir():
            continue
        for sub in sorted(folder.iterdir()):
            if (sub / CONFIG_FILE).is_file() and sub.name not in seen:
                seen.add(sub.name)
                found.append(read_preset(sub))
    return found


def resolve(name_or_dir) -> Path:
    path = Path(name_or_dir)
    if path.is_dir():
        if not (path / CONFIG_FILE).is_file():
            raise UserError(f"{path}: not a preset folder (no {CONFIG_FILE}); pass a folder written "
                            "by `tf-irgan train` (its model/ subfolder) or a shipped name")
        return path
    for folder in search_dirs():
        if (folder / str(name_or_dir) / CONFIG_FILE).is_file():
            return folder / str(name_or_dir)
    names = ", ".join(p.name for p in list_presets()) or "none found"
    raise UserError(f"{name_or_dir}: no such checkpoint; shipped: {names} (see `tf-irgan checkpoints`)")


def read_preset(path) -> Preset:
    path = Path(path)
    try:
        config = json.loads((path / CONFIG_FILE).read_text())
        meta_file = path / METADATA_FILE
        metadata = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: unreadable preset ({err}); re-export it with `tf-irgan train`") from None
    return Preset(path, config, metadata)


_CACHE: dict = {}


def load_preset(name_or_dir) -> Preset:
    """Read a preset and build its generator with the saved weights (cached per folder)."""
    path = resolve(name_or_dir).resolve()
    if path in _CACHE:
        return _CACHE[path]
    preset = read_preset(path)
    preset.model = _build(preset)
    _CACHE[path] = preset
    return preset


def _build(preset: Preset):
    import keras
    from tf_irgan.models import ddcgan  # noqa: F401  registers the classes with Keras

    spec = dict(preset.config)
    # Inference runs in float32 whatever precision the model was trained in.
    spec["config"] = {k: v for k, v in spec["config"].items() if k != "dtype"}
    model = keras.saving.deserialize_keras_object(
        {"module": spec["module"], "class_name": spec["class_name"], "config": spec["config"],
         "registered_name": spec.get("registered_name")})
    model.build_for_inference() if hasattr(model, "build_for_inference") else None
    weights = preset.path / WEIGHTS_FILE
    if not weights.is_file():
        raise UserError(f"{preset.path}: {WEIGHTS_FILE} is missing; the preset is incomplete")
    try:
        model.load_weights(weights)
    except Exception as err:  # Keras raises several types for a mismatched file
        raise UserError(f"{weights}: does not match {CONFIG_FILE} ({str(err).splitlines()[0]}); "
                        "re-export the preset") from None
    return model


def save_preset(path, model, task: str, metadata: dict, overwrite: bool = False) -> Path:
    """Write a preset folder; it appears under its final name only once complete."""
    import keras
    import tensorflow as tf

    path = Path(path)
    if path.exists() and not overwrite:
        raise UserError(f"{path}: already exists; pass --overwrite or choose another folder")
    tmp = path.with_name(f".{path.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    config = keras.saving.serialize_keras_object(model)
    config = {"module": config.get("module"), "class_name": config["class_name"],
              "registered_name": config.get("registered_name"), "config": config["config"],
              "task": task}
    (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    model.save_weights(tmp / WEIGHTS_FILE)
    metadata = {"name": path.name, **metadata, "tf_irgan_version": __version__,
                "keras_version": keras.__version__, "tensorflow_version": tf.__version__,
                "saved": time.strftime("%Y-%m-%dT%H:%M:%S")}
    (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)
    _CACHE.pop(path.resolve(), None)
    return path
