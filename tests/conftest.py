"""Shared fixtures and the two tiers. The real image pairs live outside the repository
(../shared/data).

Tiers: `pytest` runs the fast tier (every module's behaviour on tiny shapes and real pairs,
minutes on two cores); tests marked `slow` (real trainings, subprocesses per backend or worker,
SavedModel/TFLite exports, the report) run only with `pytest --run-slow` (KerasHub's
`--run_large` style). `.ci/run` runs both.
"""

import os
from pathlib import Path

import pytest


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run the slow tier (tests marked slow)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    slow = [item for item in items if "slow" in item.keywords]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if "slow" not in item.keywords]

_DEFAULT_SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder holding tno/, roadscene/, mri_pet42/ ...; TF_IRGAN_SHARED_DATA overrides it."""
    folder = Path(os.environ.get("TF_IRGAN_SHARED_DATA", _DEFAULT_SHARED_DATA))
    if not (folder / "tno" / "ir").is_dir():
        pytest.fail(f"shared test data not found at {folder} (expected tno/ir inside); "
                    "set TF_IRGAN_SHARED_DATA to the folder described in shared/data/README.md")
    return folder


# ------------------------------------------------------------------ real pairs and tiny models

def _roadscene_names(shared_data: Path, count: int) -> list:
    names = sorted(p.stem for p in (shared_data / "roadscene" / "vi").iterdir() if p.suffix == ".jpg")
    return names[:count]


@pytest.fixture(scope="session")
def copy_roadscene(shared_data):
    """copy(dest, count) -> (vi_dir, ir_dir, names): the first `count` RoadScene pairs (sorted by
    name; same-size RGB visible and gray IR JPEGs) copied into dest/vi and dest/ir."""
    import shutil

    def copy(dest, count=3):
        dest = Path(dest)
        vi_dir, ir_dir = dest / "vi", dest / "ir"
        vi_dir.mkdir(parents=True, exist_ok=True)
        ir_dir.mkdir(parents=True, exist_ok=True)
        names = _roadscene_names(shared_data, count)
        for name in names:
            shutil.copy(shared_data / "roadscene" / "vi" / f"{name}.jpg", vi_dir)
            shutil.copy(shared_data / "roadscene" / "ir" / f"{name}.jpg", ir_dir)
        return vi_dir, ir_dir, names
    return copy


@pytest.fixture(scope="session")
def make_patch_file(copy_roadscene):
    """make(dest, pairs, count) -> an HDF5 file of `count` scale-4 patch pairs (32 px visible)
    evenly picked from those cut from the first `pairs` RoadScene pairs (copied into dest)."""
    import numpy as np

    from tf_irgan.data.patches import PatchSet, patches_from_folders, write_patches

    def make(dest, pairs, count):
        vi_dir, ir_dir, _ = copy_roadscene(dest, pairs)
        patches = patches_from_folders(vi_dir, ir_dir, patch=32, stride=32, scale=4)
        pick = np.linspace(0, len(patches) - 1, count).astype(int)
        subset = PatchSet(patches.detail[pick], patches.intensity[pick], 4, patches.source[pick], patches.attrs)
        return write_patches(Path(dest) / "patches.h5", subset)
    return make


@pytest.fixture(scope="session")
def tiny_presets(tmp_path_factory, shared_data) -> dict:
    """Two DDcGAN presets (x4 and x1, `paper` config at
    `official`'s learning rate: the He-normal start gives outputs that
    vary with the inputs, where `official`'s released start is nearly flat) trained for 2
    batches of 2 on 32-px patches of one RoadScene pair, once per session: {"x4": folder, "x1":
    folder, "dir": folder holding both as tiny-x4/ and tiny-x1/ (for TF_IRGAN_PRESETS)}."""
    import shutil

    from tf_irgan.training import TrainOptions, train

    root = tmp_path_factory.mktemp("tiny_presets")
    name = _roadscene_names(shared_data, 1)[0]
    for role in ("vi", "ir"):
        (root / "data" / role).mkdir(parents=True)
        shutil.copy(shared_data / "roadscene" / role / f"{name}.jpg", root / "data" / role)
    presets = {"dir": root / "presets"}
    for scale in (4, 1):
        result = train(TrainOptions(data=str(root / "data"), out=str(root / f"run-x{scale}"),
                                    config="paper", learning_rate=2e-4,
                                    model_options={"scale": scale}, steps=2,
                                    batch_size=2, patch=32, stride=64,
                                    checkpoint_every=100, command=f"tiny x{scale} preset"),
                       verbose=False)
        presets[f"x{scale}"] = shutil.copytree(result.preset_dir, presets["dir"] / f"tiny-x{scale}")
    return presets


@pytest.fixture(scope="session")
def tiny_medical_preset(tmp_path_factory, shared_data) -> Path:
    """An MRI/PET DDcGAN preset (x4, `fast` config) trained for 2 batches of 2 on 32-px patches
    of two real Harvard pairs, once per session; the data folder has MRI/ and PET/, so the
    training detects the medical modality by itself."""
    import shutil

    from tf_irgan.training import TrainOptions, train

    root = tmp_path_factory.mktemp("tiny_medical")
    source = shared_data / "pet_mri_harvard" / "train"
    names = sorted(p.name for p in (source / "MRI").iterdir())[:2]
    for role in ("MRI", "PET"):
        (root / "data" / role).mkdir(parents=True)
        for name in names:
            shutil.copy(source / role / name, root / "data" / role)
    result = train(TrainOptions(data=str(root / "data"), out=str(root / "run"), config="fast",
                                model_options={"scale": 4}, steps=2, batch_size=2, patch=32, stride=64,
                                checkpoint_every=100, command="tiny MRI/PET preset"), verbose=False)
    return shutil.copytree(result.preset_dir, root / "tiny-mri-pet-x4")
