"""Training checkpoints that every backend writes and reads: one HDF5 file per saved batch,
`checkpoints/ckpt-<batch>.h5`, holding every network's variables and every optimizer's state
as ordered lists (their order is fixed by the networks' code), the batch counter and the
model's own counters (`GAN.counters`).

Run folders of tf-irgan before 0.3 hold TensorFlow checkpoints (`ckpt-N.index`); those resume
with the TensorFlow backend, and the run then goes on in this format.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from tf_irgan.errors import UserError
from tf_irgan.version import __version__

PATTERN = re.compile(r"^ckpt-(\d+)\.h5$")
LEGACY = re.compile(r"^ckpt-(\d+)\.index$")


def saved(folder) -> dict:
    """batch -> path of every checkpoint in `folder`, new format."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {int(m.group(1)): folder / m.group(0) for m in map(PATTERN.match, os.listdir(folder)) if m}


def legacy(folder) -> dict:
    """batch -> checkpoint prefix of a TensorFlow (tf.train) checkpoint in `folder`."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {int(m.group(1)): str(folder / m.group(0)[:-len(".index")])
            for m in map(LEGACY.match, os.listdir(folder)) if m}


def latest(folder):
    """(batch, path, is_legacy) of the newest checkpoint in `folder`, or None."""
    found = {**{b: (p, True) for b, p in legacy(folder).items()},
             **{b: (p, False) for b, p in saved(folder).items()}}
    if not found:
        return None
    batch = max(found)
    return batch, found[batch][0], found[batch][1]


def save(folder, model, batch: int, extra: dict, keep: int = 2) -> Path:
    """Write the checkpoint of `batch` (atomically) and drop all but the newest `keep`."""
    import h5py

    from tf_irgan.files import atomic_path

    path = Path(folder) / f"ckpt-{batch}.h5"
    # A full disk ends here as a one-line error naming the checkpoint, with no partial file
    # left to keep the disk full; the older checkpoints are dropped only after this one exists.
    with atomic_path(path, overwrite=True) as partial, h5py.File(partial, "w") as f:
        f.attrs["batch"] = batch
        f.attrs["counters"] = json.dumps(model.counters())
        f.attrs["extra"] = json.dumps(extra)
        f.attrs["tf_irgan_version"] = __version__
        for group_name, owners in (("networks", model.networks()), ("optimizers", model.optimizers)):
            group = f.create_group(group_name)
            for name, owner in owners.items():
                sub = group.create_group(name)
                for i, variable in enumerate(owner.variables):
                    data = sub.create_dataset(f"{i:05d}", data=np.asarray(variable.numpy()))
                    data.attrs["path"] = variable.path
    kept = saved(folder)
    for batch in sorted(kept)[:-keep]:
        kept[batch].unlink(missing_ok=True)
    return path


def restore(path, model, networks_only=None, run_dir=None) -> dict:
    """Load the checkpoint at `path` into `model` (every network and optimizer, or with
    `networks_only` a tuple of network names, just those); return {"batch", "extra"}."""
    import h5py

    where = run_dir or Path(path).parent.parent
    try:
        with h5py.File(path, "r") as f:
            groups = [("networks", model.networks())]
            if networks_only is None:
                groups.append(("optimizers", model.optimizers))
            for group_name, owners in groups:
                for name, owner in owners.items():
                    if networks_only is not None and name not in networks_only:
                        continue
                    stored = f[group_name].get(name)
                    if stored is None:   # written before the name changed (GAN.renamed)
                        stored = f[group_name].get(_former_name(model, name))
                    variables = owner.variables
                    if stored is None or len(stored) != len(variables) or any(
                            tuple(stored[f"{i:05d}"].shape) != tuple(v.shape) for i, v in enumerate(variables)):
                        raise UserError(f"{where}: its checkpoint does not match the {name} this "
                                        "version builds for the run's config; resume it with the "
                                        "tf-irgan version that started it or start a new --out")
                    for i, variable in enumerate(variables):
                        variable.assign(np.asarray(stored[f"{i:05d}"][()]).astype(variable.dtype))
            model.restore_counters(json.loads(f.attrs["counters"]))
            return {"batch": int(f.attrs["batch"]), "extra": json.loads(f.attrs.get("extra", "{}"))}
    except (OSError, KeyError) as err:
        raise UserError(f"{path}: unreadable checkpoint ({err}); resume from an earlier one by "
                        "deleting it, or start a new --out") from None


def restore_legacy(prefix, model, run_dir, networks_only=None) -> dict:
    """Load a TensorFlow checkpoint written by tf-irgan before 0.3 (TensorFlow backend only)."""
    from tf_irgan.backends import name

    if name() != "tensorflow":
        raise UserError(f"{run_dir}: its checkpoints are in TensorFlow's format (tf-irgan before "
                        "0.5); resume it once with KERAS_BACKEND=tensorflow (it then goes on in "
                        "the format every backend reads)")
    import tensorflow as tf

    batches = tf.Variable(0, dtype=tf.int64)
    objects = {"batches": batches}
    # These checkpoints predate every renaming: their objects carry the former names.
    for name_, network in model.networks().items():
        if networks_only is None or name_ in networks_only:
            objects[_former_name(model, name_)] = list(network.variables)
    counters = {k: tf.Variable(float(v)) for k, v in model.counters().items()}
    if networks_only is None:
        objects.update({_former_name(model, k): v for k, v in model.optimizers.items()})
        objects.update(counters)
    status = tf.train.Checkpoint(**objects).restore(prefix)
    try:
        if networks_only is None:
            status.assert_existing_objects_matched()
        else:
            status.expect_partial()
    except AssertionError:
        raise UserError(f"{run_dir}: its checkpoint does not match the model this version builds "
                        "for the run's config; resume it with the tf-irgan version that started it "
                        "or start a new --out") from None
    model.restore_counters({k: float(v.numpy()) for k, v in counters.items()})
    return {"batch": int(batches.numpy()), "extra": {}}


def _former_name(model, name: str) -> str:
    """The name a network or optimizer had before it was renamed (`GAN.renamed`), or its name."""
    return next((old for old, new in model.renamed.items() if new == name), name)
