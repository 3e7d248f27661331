"""Training runs (tf_irgan.training): real short runs on RoadScene patches, exact resume, run
folders, the NaN stop, MirroredStrategy on two logical CPUs, and the exported preset."""

import csv
import json
import math
import re
import shutil
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
import tensorflow as tf

from tf_irgan import losses
from tf_irgan.presets import CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE, load_preset
from tf_irgan.data.patches import patches_from_folders, write_patches
from tf_irgan.errors import UserError
from tf_irgan.pipelines.fusion import fuse_images
from tf_irgan.training import TrainOptions, preset_from_run, train

pytestmark = pytest.mark.slow

N_PATCHES, BATCH = 24, 2
STEPS_PER_EPOCH = N_PATCHES // BATCH
LR = 2e-4  # the official preset's


@pytest.fixture(scope="module")
def patch_file(tmp_path_factory, make_patch_file):
    """24 scale-4 patch pairs (32 px visible) cut from two real RoadScene pairs."""
    return make_patch_file(tmp_path_factory.mktemp("patches"), 2, N_PATCHES)


def _options(data, out, steps, resume=False, command=None, **kwargs):
    settings = dict(batch_size=BATCH, patch=32, checkpoint_every=2, log_every=2)
    settings.update(kwargs)
    return TrainOptions(data=str(data), out=str(out), steps=steps, resume=resume,
                        command=command or f"tf-irgan train --steps {steps}"
                                           + (" --resume" if resume else ""), **settings)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, patch_file):
    """Run "full": 6 batches in one go. Run "resumed": 4 batches, then --resume to 6."""
    root = tmp_path_factory.mktemp("runs")
    full = train(_options(patch_file, root / "full", 6), verbose=False)
    first = train(_options(patch_file, root / "resumed", 4), verbose=False)
    ckpt_after_first = sorted(p.name for p in (root / "resumed" / "checkpoints").iterdir())
    after_4 = shutil.copytree(first.preset_dir, root / "after-4")  # resumed/model is replaced next
    second = train(_options(patch_file, root / "resumed", 6, resume=True), verbose=False)
    return {"root": root, "full": full, "first": first, "second": second,
            "ckpt_after_first": ckpt_after_first, "after_4": after_4}


def _weights(preset_dir):
    """name -> array; Keras numbers its auto-named layers per process (conv2d_117), so the
    numbers are dropped from the names."""
    model = load_preset(preset_dir).model
    weights = {re.sub(r"_\d+", "", w.path): w.numpy() for w in model.weights}
    assert len(weights) == len(model.weights)
    return weights


def _tensorboard_scalars(log_dir, tag):
    values = {}
    for event_file in sorted(log_dir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                if value.tag == tag:
                    values[event.step] = float(tf.make_ndarray(value.tensor))
    return values


# ---------------------------------------------------------------- a real run learns

def test_short_real_run_lowers_the_content_loss(tmp_path, copy_roadscene):
    """~600 patches of four RoadScene pairs; 1 batch (D only: G still as initialised), then
    resumed to 24 batches at lr 1e-3. The content term of L_G on a fixed batch must fall."""
    vi_dir, ir_dir, _ = copy_roadscene(tmp_path / "pairs", 4)
    patches = patches_from_folders(vi_dir, ir_dir, patch=32, stride=32, scale=4)
    data = write_patches(tmp_path / "p.h5", patches)
    opts = dict(batch_size=4, learning_rate=1e-3, checkpoint_every=100, log_every=100)
    first = train(_options(data, tmp_path / "run", 1, **opts), verbose=False)
    assert first.step_counts.get("g", 0) == 0  # batch 0 trains the discriminators only
    before = shutil.copytree(first.preset_dir, tmp_path / "before")
    after = train(_options(data, tmp_path / "run", 24, resume=True, **opts), verbose=False)
    assert after.batches == 24 and after.step_counts["g"] >= 11

    pick = np.random.default_rng(0).choice(len(patches), 8, replace=False)
    batch = {"detail": patches.detail[pick][..., None], "intensity": patches.intensity[pick][..., None]}

    def content(preset_dir):
        fused = load_preset(preset_dir).model(batch, training=True)
        l_intensity = tf.reduce_mean(losses.intensity_content(losses.downsample(fused, 4), batch["intensity"]))
        l_detail = tf.reduce_mean(losses.detail_content(fused, batch["detail"]))
        return float(1.0 * l_intensity + 1.2 * l_detail)  # the official x4 intensity_weight and detail_weight

    start, end = content(before), content(after.preset_dir)
    assert np.isfinite([start, end]).all()
    assert end < 0.5 * start, (start, end)
    assert all(math.isfinite(v) for v in after.losses.values())


def test_short_real_run_of_the_x4_pyramid_lowers_its_content_loss(tmp_path, copy_roadscene):
    """The shipped x4 default's settings (`pyramid`, bicubic IR, IR fidelity 1) on ~600 real
    patches: its own content term (the salient losses with the fidelity term, at the config's
    weights) on a fixed batch falls over 30 batches at lr 2e-3. The untrained rule already
    fuses well, so the bar is lower than for the official generator above."""
    from tf_irgan.models.ddcgan import content_losses, ddcgan_config

    vi_dir, ir_dir, _ = copy_roadscene(tmp_path / "pairs", 4)
    patches = patches_from_folders(vi_dir, ir_dir, patch=32, stride=32, scale=4)
    data = write_patches(tmp_path / "p.h5", patches)
    settings = {"intensity_upsample": "bicubic", "intensity_fidelity_weight": 1.0, "augment": False}
    opts = dict(config="pyramid", batch_size=8, learning_rate=2e-3, checkpoint_every=100,
                log_every=100, overrides=settings)
    first = train(_options(data, tmp_path / "run", 1, **opts), verbose=False)
    before = shutil.copytree(first.preset_dir, tmp_path / "before")
    after = train(_options(data, tmp_path / "run", 30, resume=True, **opts), verbose=False)
    config = ddcgan_config("pyramid", 4, patch=32, **settings)

    pick = np.random.default_rng(0).choice(len(patches), 16, replace=False)
    batch = {"detail": patches.detail[pick][..., None], "intensity": patches.intensity[pick][..., None]}

    def content(preset_dir):
        fused = load_preset(preset_dir).model(batch, training=True)
        l_intensity, l_detail = (float(tf.reduce_mean(term)) for term in
                       content_losses(config, batch, fused, losses.downsample(fused, 4)))
        return config.intensity_weight * l_intensity + config.detail_weight * l_detail

    start, end = content(before), content(after.preset_dir)
    assert np.isfinite([start, end]).all()
    assert end < 0.95 * start, (start, end)


# ---------------------------------------------------------------- resume

def test_resume_is_exact(runs):
    """4 batches + resume to 6 gives bit-identical generator weights (batch-norm statistics
    included) to 6 batches in one go with the same seed."""
    full, resumed = _weights(runs["full"].preset_dir), _weights(runs["second"].preset_dir)
    assert full.keys() == resumed.keys() and len(full) > 40
    for name in full:
        np.testing.assert_array_equal(resumed[name], full[name], err_msg=name)
    # Not trivially equal: batches 4 and 5 did move the weights.
    after_4 = _weights(runs["after_4"])
    assert sum(not np.array_equal(after_4[n], full[n]) for n in full) > len(full) // 2


def test_resume_bookkeeping(runs):
    root, second = runs["root"], runs["second"]
    run_dir = root / "resumed"
    assert runs["first"].batches == 4 and second.batches == 6
    assert runs["ckpt_after_first"] == ["ckpt-2.h5", "ckpt-4.h5"]
    # The resumed session counted only its own optimizer steps: batch 4 (D) and batch 5 (G).
    assert second.step_counts["g"] >= 1 and second.step_counts["d_detail"] >= 1
    assert sum(runs["first"].step_counts.values()) + sum(second.step_counts.values()) == \
        sum(runs["full"].step_counts.values())

    run = json.loads((run_dir / "run.json").read_text())
    assert run["commands"] == ["tf-irgan train --steps 4", "tf-irgan train --steps 6 --resume"]
    assert run["total_batches"] == 6 and run["steps_per_epoch"] == STEPS_PER_EPOCH
    assert run["patches"] == N_PATCHES and run["config"]["patch"] == 32
    metadata = json.loads((second.preset_dir / METADATA_FILE).read_text())
    assert metadata["batches"] == 6 and metadata["train_commands"] == run["commands"]

    # Checkpoint at batch 6: batches seen, and the learning rate of its last batch (index 5).
    with h5py.File(run_dir / "checkpoints" / "ckpt-6.h5", "r") as f:
        assert f.attrs["batch"] == 6
        for name in ("g_optimizer", "d_detail_optimizer", "d_intensity_optimizer"):
            rates = [d[()] for d in f["optimizers"][name].values() if d.attrs["path"].endswith("learning_rate")]
            assert len(rates) == 1
            np.testing.assert_allclose(rates[0], LR * 0.9 ** (5 / STEPS_PER_EPOCH), rtol=1e-6)
    # history.csv: one row per logged window, every batch once across the two sessions.
    with (run_dir / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["batch"]) for r in rows] == [2, 4, 6]
    assert set(rows[0]) == {"batch", "d_detail_loss", "d_intensity_loss", "g_loss", "g_adv", "l_intensity", "l_detail",
                            "learning_rate", "seconds"}
    np.testing.assert_allclose(float(rows[2]["learning_rate"]), LR * 0.9 ** (6 / STEPS_PER_EPOCH), rtol=1e-5)
    assert float(rows[0]["seconds"]) <= float(rows[1]["seconds"]) <= float(rows[2]["seconds"])
    # TensorBoard's learning_rate at step 6 is the rate for the batches to come: lr*0.9**(6/spe).
    scalars = _tensorboard_scalars(run_dir / "logs", "learning_rate")
    np.testing.assert_allclose(scalars[6], LR * 0.9 ** (6 / STEPS_PER_EPOCH), rtol=1e-6)
    np.testing.assert_allclose(scalars[2], LR * 0.9 ** (2 / STEPS_PER_EPOCH), rtol=1e-6)


def test_existing_run_folder_without_resume_is_refused(runs, patch_file):
    run_dir = runs["root"] / "full"
    before = (run_dir / "run.json").read_bytes()
    with pytest.raises(UserError) as err:
        train(_options(patch_file, run_dir, 2), verbose=False)
    assert str(run_dir) in str(err.value) and "--resume" in str(err.value)
    assert (run_dir / "run.json").read_bytes() == before


def test_resume_without_a_run_is_refused(tmp_path, patch_file):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError) as err:
        train(_options(patch_file, empty, 2, resume=True), verbose=False)
    assert str(empty) in str(err.value) and "drop --resume" in str(err.value)
    assert list(empty.iterdir()) == []
    with pytest.raises(UserError):
        train(_options(patch_file, tmp_path / "absent", 2, resume=True), verbose=False)
    assert not (tmp_path / "absent").exists()


def test_bad_step_requests_are_refused(tmp_path, patch_file):
    with pytest.raises(UserError, match="not both"):
        train(_options(patch_file, tmp_path / "a", 2, epochs=1.0), verbose=False)
    with pytest.raises(UserError, match="at least one"):
        train(_options(patch_file, tmp_path / "b", 0), verbose=False)
    with pytest.raises(UserError, match="--model nope: not available"):
        train(_options(patch_file, tmp_path / "c", 2, model="nope"), verbose=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# ---------------------------------------------------------------- NaN stop

def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(runs, patch_file, tmp_path, monkeypatch):
    run_dir = shutil.copytree(runs["root"] / "resumed", tmp_path / "run")
    checkpoints = run_dir / "checkpoints"
    saved = {p.name: p.read_bytes() for p in checkpoints.iterdir()}
    # From now on the visible content term is NaN (traced into the new session's steps).
    monkeypatch.setattr(losses, "detail_content", lambda fused, vis: tf.reduce_sum(fused, [1, 2, 3]) * np.nan)
    with pytest.raises(UserError) as err:
        train(_options(patch_file, run_dir, 10, resume=True), verbose=False)
    message = str(err.value)
    # Batch 6 trains D (finite), batch 7 trains G: NaN.
    assert "batch 7" in message and "NaN" in message
    assert "last good checkpoint (batch 6) is kept" in message and str(checkpoints) in message
    assert {p.name: p.read_bytes() for p in checkpoints.iterdir()} == saved


def test_nan_before_any_checkpoint_says_so(patch_file, tmp_path, monkeypatch):
    monkeypatch.setattr(losses, "discriminator", lambda real, fake: real * np.nan)
    with pytest.raises(UserError) as err:
        train(_options(patch_file, tmp_path / "run", 4), verbose=False)
    assert "batch 0" in str(err.value) and "no checkpoint had been saved yet" in str(err.value)


# ---------------------------------------------------------------- exported preset

def test_exported_preset_loads_and_fuses(runs, shared_data):
    preset_dir = runs["full"].preset_dir
    assert preset_dir == runs["root"] / "full" / "model"
    assert {p.name for p in preset_dir.iterdir()} == {CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE}
    config = json.loads((preset_dir / CONFIG_FILE).read_text())
    assert config["class_name"] == "Generator" and config["task"] == "fusion"
    assert config["config"]["scale"] == 4
    metadata = json.loads((preset_dir / METADATA_FILE).read_text())
    assert metadata["scale"] == 4 and metadata["batches"] == 6 and metadata["model"] == "ddcgan"
    assert metadata["patches"] == N_PATCHES and metadata["batch_size"] == BATCH

    preset = load_preset(preset_dir)
    assert preset.scale == 4 and preset.task == "fusion"
    from tf_irgan.images import read_image
    name = sorted(p.name for p in (shared_data / "roadscene" / "vi").iterdir())[0]
    vis = read_image(shared_data / "roadscene" / "vi" / name)
    ir = read_image(shared_data / "roadscene" / "ir" / name)
    import cv2
    small_ir = cv2.resize(ir, (ir.shape[1] // 4, ir.shape[0] // 4), interpolation=cv2.INTER_AREA)
    result = fuse_images(vis, small_ir, checkpoint=str(preset_dir))
    assert result.image.shape == vis.shape and np.isfinite(result.image).all()


def test_preset_from_checkpoint_equals_the_exported_one(runs, tmp_path):
    """A preset rebuilt from the run's last checkpoint holds the very weights train() exported."""
    rebuilt = preset_from_run(runs["root"] / "full", out=tmp_path / "from-ckpt")
    exported, again = _weights(runs["full"].preset_dir), _weights(rebuilt)
    assert exported.keys() == again.keys()
    for name in exported:
        np.testing.assert_array_equal(again[name], exported[name], err_msg=name)
    assert json.loads((rebuilt / METADATA_FILE).read_text())["batches"] == 6


# ---------------------------------------------------------------- two replicas

_MIRRORED = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from tf_irgan import training
    from tf_irgan.backends import tensorflow as backend
    made = []
    make = backend.make_strategy
    backend.make_strategy = lambda *a, **k: made.append(make(*a, **k)) or made[-1]
    result = training.train(training.TrainOptions(
        data=sys.argv[1], out=sys.argv[2], steps=3, batch_size=4, patch=32,
        devices=["/cpu:0", "/cpu:1"], checkpoint_every=100, command="mirrored"), verbose=False)
    print("RESULT " + json.dumps({"replicas": made[0].num_replicas_in_sync,
                                  "batches": result.batches, "losses": result.losses,
                                  "step_counts": result.step_counts}))
""")


def test_mirrored_strategy_on_two_logical_cpus(patch_file, tmp_path):
    proc = subprocess.run([sys.executable, "-c", _MIRRORED, str(patch_file), str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, proc.stdout[-2000:]
    result = json.loads(lines[0][len("RESULT "):])
    assert result["replicas"] == 2 and result["batches"] == 3
    assert set(result["losses"]) == {"d_detail_loss", "d_intensity_loss", "g_loss", "g_adv", "l_intensity", "l_detail"}
    assert all(math.isfinite(v) for v in result["losses"].values())
    assert result["step_counts"]["g"] >= 1 and result["step_counts"]["d_detail"] >= 2
    assert (tmp_path / "run" / "model" / WEIGHTS_FILE).is_file()


# ---------------------------------------------------------------- run folders of tf-irgan 0.2

@pytest.fixture
def legacy_run(tmp_path):
    """A run folder written by tf-irgan 0.2 (tf.train checkpoints, the salient config, 3 of its
    batches), pointed at its own patch file in a temporary copy."""
    from pathlib import Path
    run_dir = shutil.copytree(Path(__file__).parent / "data" / "legacy-0.2-run", tmp_path / "run")
    record = json.loads((run_dir / "run.json").read_text())
    record["options"]["data"] = record["data_resolved"] = str(run_dir / "patches.h5")
    (run_dir / "run.json").write_text(json.dumps(record))
    return run_dir


def test_a_run_folder_of_0_2_resumes_on_tensorflow(legacy_run, tmp_path):
    from tf_irgan.training import TrainOptions as Options

    exported = preset_from_run(legacy_run, out=tmp_path / "at-3")
    assert json.loads((exported / METADATA_FILE).read_text())["batches"] == 3
    result = train(Options(data=str(legacy_run / "patches.h5"), out=str(legacy_run), resume=True,
                           steps=5, checkpoint_every=1, log_every=1, command="resume 0.2"), verbose=False)
    assert result.batches == 5 and all(math.isfinite(v) for v in result.losses.values())
    # It goes on in the format every backend reads; the old checkpoint stays where it was.
    assert sorted(p.name for p in (legacy_run / "checkpoints").glob("ckpt-*.h5")) == ["ckpt-4.h5", "ckpt-5.h5"]
    assert (legacy_run / "checkpoints" / "ckpt-3.index").is_file()
    start, end = _weights(exported), _weights(result.preset_dir)
    assert any(not np.array_equal(start[k], end[k]) for k in start)
    run = json.loads((legacy_run / "run.json").read_text())
    assert run["commands"][-1] == "resume 0.2"


def test_a_run_folder_of_0_2_on_jax_is_a_one_line_error(legacy_run, monkeypatch):
    from tf_irgan import backends, checkpoints
    from tf_irgan.models.ddcgan import DDcGAN, DDcGANConfig

    record = json.loads((legacy_run / "run.json").read_text())
    model = DDcGAN(DDcGANConfig.from_dict(record["config"]))
    monkeypatch.setattr(backends, "name", lambda: "jax")
    _, prefix, is_legacy = checkpoints.latest(legacy_run / "checkpoints")
    assert is_legacy
    with pytest.raises(UserError, match="KERAS_BACKEND=tensorflow"):
        checkpoints.restore_legacy(prefix, model, legacy_run)


def test_resume_before_any_checkpoint_starts_over_with_the_recorded_settings(patch_file, tmp_path):
    """A run killed before its first checkpoint: --resume starts it again from batch 0 with the
    settings of run.json (where it used to send the user in a circle), and ends where an
    uninterrupted run ends."""
    whole = train(_options(patch_file, tmp_path / "whole", 2, seed=3), verbose=False)
    train(_options(patch_file, tmp_path / "killed", 2, seed=3), verbose=False)
    import shutil
    shutil.rmtree(tmp_path / "killed" / "checkpoints")      # as if killed before the first one
    (tmp_path / "killed" / "checkpoints").mkdir()
    again = train(_options(patch_file, tmp_path / "killed", 2, resume=True, seed=99), verbose=False)
    assert again.batches == 2
    assert all(np.array_equal(a, b) for a, b in zip(_weights(whole.preset_dir), _weights(again.preset_dir)))
