"""Presets: saved model folders, KerasHub style (`config.json` + `model.weights.h5` +
`metadata.json`), loaded by name or path.

Words used across the package: a *preset* is such a folder (what `fuse --preset` takes); a
*config* is a named set of hyper-parameters (`train --config`); a *checkpoint* is a
`checkpoints/ckpt-N.h5` file inside a run folder (what `train --resume` restores,
`tf_irgan/checkpoints.py`).

A preset is found by folder path or by name among the shipped ones (the repository's
`checkpoints/`, or folders listed in $TF_IRGAN_PRESETS, separated by os.pathsep). Loading
trusts nothing in the folder: only the project's registered Keras classes are built, and the
weights file must hold exactly the variables of the network its config describes.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tf_irgan.errors import UserError
from tf_irgan.files import atomic_path
from tf_irgan.version import __version__

CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE = "config.json", "model.weights.h5", "metadata.json"
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
# Role names of each task: what the pipeline feeds the generator and what it returns.
TASK_ROLES = {"fusion": (("vis", "ir"), "fused"), "translation": (("image",), "translated")}


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

    @property
    def modality(self) -> str | None:
        """Fusion presets: "ir-vis" (presets written before MRI/PET existed) or "mri-pet"."""
        return self.metadata.get("modality", "ir-vis") if self.task == "fusion" else None

    @property
    def input_roles(self) -> tuple:
        return tuple(self.config.get("input_roles") or TASK_ROLES.get(self.task, ((), ""))[0])

    @property
    def output_role(self) -> str:
        return self.config.get("output_role") or TASK_ROLES.get(self.task, ((), ""))[1]


def search_dirs() -> list[Path]:
    # TF_IRGAN_CHECKPOINTS: the variable's name before 0.5, still read.
    listed = os.environ.get("TF_IRGAN_PRESETS") or os.environ.get("TF_IRGAN_CHECKPOINTS", "")
    extra = [Path(p) for p in listed.split(os.pathsep) if p]
    return extra + [SHIPPED_DIR]


def list_presets() -> list[Preset]:
    found, seen = [], set()
    for folder in search_dirs():
        if not folder.is_dir():
            continue
        for sub in sorted(folder.iterdir()):
            if (sub / CONFIG_FILE).is_file() and sub.name not in seen:
                try:
                    preset = read_preset(sub)
                except UserError:  # loading it by name says what is wrong; listing goes on
                    continue
                seen.add(sub.name)
                found.append(preset)
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
    raise UserError(f"{name_or_dir}: no such preset; shipped: {names} (see `tf-irgan presets`)")


def file_digest(path: Path) -> str:
    import hashlib
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# metadata.json's fields that decide how a preset's inputs are read and its output colored: a
# digest of them is kept beside the files' (the rest of metadata.json is a record, free to edit).
ROUTING_FIELDS = ("modality", "color_space")
ROUTING = "routing"


def routing_digest(metadata: dict) -> str:
    import hashlib

    fields = {name: metadata.get(name) for name in ROUTING_FIELDS}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode("utf-8")).hexdigest()


def check_integrity(preset: "Preset") -> None:
    """The files must be the ones saved: metadata.json records the SHA-256 of config.json and
    of the weights (presets saved since 0.5), and of its own routing fields (`ROUTING_FIELDS`,
    since 0.5.1); any changed byte or edited field is a one-line error."""
    digests = preset.metadata.get("sha256") or {}
    if not isinstance(digests, dict):
        raise UserError(f"{preset.path / METADATA_FILE}: its sha256 field is not a table of file "
                        "digests; re-export or re-download the preset")
    if ROUTING in digests and digests[ROUTING] != routing_digest(preset.metadata):
        raise UserError(f"{preset.path / METADATA_FILE}: its {' or '.join(ROUTING_FIELDS)} field "
                        "differs from the one the preset was saved with (edited?); re-export or "
                        "re-download the preset")
    for name, expected in digests.items():
        if name not in (CONFIG_FILE, WEIGHTS_FILE):
            continue
        path = preset.path / name
        if not path.is_file():
            raise UserError(f"{path}: is missing; the preset is incomplete: re-export or "
                            "re-download the preset")
        if file_digest(path) != expected:
            raise UserError(f"{path}: its SHA-256 differs from the one in {METADATA_FILE} (the "
                            "file is damaged or was edited); re-export or re-download the preset")


def read_preset(path) -> Preset:
    path = Path(path)
    meta_file = path / METADATA_FILE
    if (path / CONFIG_FILE).is_file() and not meta_file.is_file():
        # Without it the preset's task, modality and color are unknown: never guessed.
        raise UserError(f"{meta_file}: is missing, so what the preset fuses is unknown; "
                        "re-export or re-download the preset")
    try:
        config = json.loads((path / CONFIG_FILE).read_text())
        metadata = json.loads(meta_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: unreadable preset ({err}); re-export it with `tf-irgan train`") from None
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict) \
            or not isinstance(metadata, dict):
        raise UserError(f"{path / CONFIG_FILE}: not a tf-irgan preset config (expected an object "
                        "with class_name and config); re-export it with `tf-irgan train`")
    return Preset(path, config, metadata)


def name_list(value) -> list[str]:
    """A list of pair names from metadata (JSON text or a list); [] for anything else."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return []
    return [str(name) for name in value] if isinstance(value, list) else []


def check_finite(output, preset, input_name: str) -> None:
    """A NaN or infinite output is an error, never an image: finite inputs only give one when
    the preset's weights are damaged."""
    import numpy as np
    if not np.isfinite(output).all():
        raise UserError(f"{input_name}: {preset.name} gave NaN or infinite values (its weights in "
                        f"{preset.path} are damaged); re-export or re-download the preset")


_CACHE: dict = {}
PRECISIONS = ("auto", "fp32", "bf16")


def load_preset(name_or_dir, precision: str = "fp32") -> Preset:
    """Read a preset and build its generator with the saved weights (cached per folder and
    precision). `precision` "bf16" computes in bfloat16 with float32 weights; "auto" picks it
    where it is native (`bf16_is_native`)."""
    if precision not in PRECISIONS:
        raise UserError(f"--precision {precision}: use {', '.join(PRECISIONS)}")
    if precision == "auto":
        precision = "bf16" if bf16_is_native() else "fp32"
    path = resolve(name_or_dir).resolve()
    if (path, precision) in _CACHE:
        return _CACHE[path, precision]
    preset = read_preset(path)
    check_integrity(preset)
    preset.model = _build(preset, precision)
    _CACHE[path, precision] = preset
    return preset


@functools.lru_cache(maxsize=1)
def bf16_is_native() -> bool:
    """Whether this machine computes bfloat16 in hardware: NVIDIA GPUs from compute capability 8
    (Ampere) on, x86 CPUs with AVX-512 BF16 or AMX. Elsewhere TensorFlow emulates it, which
    can be several times slower (docs/benchmarks.md), so "auto" keeps float32 there."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
        return bool(capability) and capability[0] >= 8
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:  # not Linux: no cheap way to ask the CPU, and float32 is never wrong
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def _build(preset: Preset, precision: str = "fp32"):
    import keras

    from tf_irgan.models import serializable_classes
    from tf_irgan.models.base import precision as precision_policy

    config_file, weights = preset.path / CONFIG_FILE, preset.path / WEIGHTS_FILE
    spec = dict(preset.config)
    registered = spec.get("registered_name") or f"{spec.get('module')}>{spec.get('class_name')}"
    allowed = serializable_classes()
    if registered not in allowed:
        names = ", ".join(sorted(name.split(">", 1)[1] for name in allowed))
        raise UserError(f"{config_file}: class '{spec.get('class_name')}' ({registered}) is not one "
                        f"of tf-irgan's networks ({names}); use a preset written by `tf-irgan train`")
    # Inference runs in the precision asked for, whatever the model was trained in.
    spec["config"] = {k: v for k, v in spec["config"].items() if k != "dtype"}
    try:
        # A global policy, not a `dtype` argument: the networks' inner layers take the policy
        # in force when they are made, not their parent's.
        with precision_policy("bf16" if precision == "bf16" else "off"):
            model = keras.saving.deserialize_keras_object(
                {"module": spec.get("module"), "class_name": spec["class_name"],
                 "config": spec["config"], "registered_name": registered})
            model.build_for_inference()
    except (TypeError, ValueError, KeyError) as err:
        raise UserError(f"{config_file}: does not describe a valid {spec['class_name']} "
                        f"({str(err).splitlines()[0] if str(err) else type(err).__name__}); "
                        "re-export the preset") from None
    # What the task's pipeline reads of the network: an edited "task" must not reach it.
    needs = {"fusion": "scale", "translation": "in_channels"}.get(preset.task)
    if needs is None or not hasattr(model, needs):
        raise UserError(f"{config_file}: task '{preset.task}' does not fit its network "
                        f"{spec['class_name']}; re-export the preset")
    if not weights.is_file():
        raise UserError(f"{preset.path}: {WEIGHTS_FILE} is missing; the preset is incomplete")
    _check_weights_match(model, weights, config_file)
    try:
        model.load_weights(weights)
    except Exception as err:  # Keras raises several types for a mismatched file
        raise UserError(f"{weights}: does not match {CONFIG_FILE} ({str(err).splitlines()[0]}); "
                        "re-export the preset") from None
    import numpy as np
    if not all(np.isfinite(w).all() for w in model.get_weights()):
        raise UserError(f"{weights}: holds NaN or infinite weights (the file is damaged); "
                        "re-export or re-download the preset")
    return model


def _weight_shapes(path: Path, source: Path) -> dict:
    import h5py

    shapes = {}
    try:
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, item: shapes.__setitem__(name, item.shape)
                         if isinstance(item, h5py.Dataset) else None)
    except (OSError, RuntimeError, ValueError, KeyError):  # h5py's errors for damaged structure
        raise UserError(f"{source}: is not a readable Keras weights file; re-export the preset") from None
    return shapes


def _check_weights_match(model, weights: Path, config_file: Path) -> None:
    """The weights file must hold exactly what this network saves: Keras would silently skip
    extra variables (the 4x model's IR upsampler in a same-size model's folder, say)."""
    with tempfile.TemporaryDirectory() as tmp:
        expected_file = Path(tmp) / WEIGHTS_FILE
        model.save_weights(expected_file)
        expected = _weight_shapes(expected_file, expected_file)
    found = _weight_shapes(weights, weights)
    if found != expected:
        extra = sorted(set(found) - set(expected))
        missing = sorted(set(expected) - set(found))
        resized = sorted(k for k in set(found) & set(expected) if found[k] != expected[k])
        detail = "; ".join(part for part in (
            f"{len(extra)} variable(s) the network does not have (e.g. {extra[0]})" if extra else "",
            f"{len(missing)} missing (e.g. {missing[0]})" if missing else "",
            f"{len(resized)} of another shape (e.g. {resized[0]})" if resized else "") if part)
        raise UserError(f"{weights}: does not hold the weights of the network in {config_file} "
                        f"({detail}); copy the weights file and config.json from the same preset")


def _store_as_float16(weights: Path) -> None:
    """Rewrite a Keras weights file with its float32 arrays as float16 (a new file: HDF5 does
    not give back the space of deleted datasets)."""
    import h5py
    import numpy as np

    smaller = weights.with_name(weights.name + ".fp16")

    def copy(source, target):
        target.attrs.update(dict(source.attrs))
        for name, item in source.items():
            if isinstance(item, h5py.Group):
                copy(item, target.create_group(name))
            else:
                data = item[()]
                if isinstance(data, np.ndarray) and data.dtype == np.float32:
                    data = data.astype(np.float16)
                target.create_dataset(name, data=data).attrs.update(dict(item.attrs))

    with h5py.File(weights, "r") as source, h5py.File(smaller, "w") as target:
        copy(source, target)
    os.replace(smaller, weights)


def _tensorflow_version() -> dict:
    """{"tensorflow_version": ...} when the preset is written by the TensorFlow backend."""
    import keras
    if keras.backend.backend() != "tensorflow":
        return {}
    import tensorflow as tf
    return {"tensorflow_version": tf.__version__}


def save_preset(path, model, task: str, metadata: dict, overwrite: bool = False,
                input_roles=None, output_role=None, model_name=None,
                storage: str = "float32") -> Path:
    """Write a preset folder; it appears under its final name only once complete.

    `storage="float16"` halves the weights file (loading casts the values back to the
    variables' float32)."""
    import keras

    path = Path(path)
    if path.exists() and not overwrite:
        raise UserError(f"{path}: already exists; pass --overwrite or choose another folder")
    roles = TASK_ROLES.get(task, ((), ""))
    serialized = keras.saving.serialize_keras_object(model)
    config = {"module": serialized.get("module"), "class_name": serialized["class_name"],
              "registered_name": serialized.get("registered_name"), "config": serialized["config"],
              "task": task, "model": model_name,
              "input_roles": list(input_roles or roles[0]), "output_role": output_role or roles[1]}
    if storage not in ("float32", "float16"):
        raise UserError(f"weights storage {storage}: use float32 or float16")
    metadata = {"name": path.name, **metadata, "weights_storage": storage,
                "tf_irgan_version": __version__,
                "keras_version": keras.__version__, **_tensorflow_version(),
                "saved": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with atomic_path(path, overwrite=True, folder=True) as tmp:
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2))
        model.save_weights(tmp / WEIGHTS_FILE)
        if storage == "float16":
            _store_as_float16(tmp / WEIGHTS_FILE)
        metadata["sha256"] = {name: file_digest(tmp / name) for name in (CONFIG_FILE, WEIGHTS_FILE)}
        metadata["sha256"][ROUTING] = routing_digest(metadata)
        (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
    for precision in PRECISIONS:  # a model built from the files this replaced is stale
        _CACHE.pop((path.resolve(), precision), None)
    return path
