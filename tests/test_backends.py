"""Training on JAX and PyTorch (tf_irgan.backends): both models train, resume exactly and write
presets that the TensorFlow build loads and runs to the same numbers; DDcGAN's pooling and
filters agree between the backends; JAX data parallelism over two devices equals one device;
`--time-limit`. PyTorch's tests run where the `torch` extra is installed (CI installs `jax`).

Each JAX or PyTorch run is a subprocess (a process has one Keras backend) of
tests/backend_worker.py."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from backend_worker import BACKENDS, run_worker

pytestmark = pytest.mark.slow
# A small pix2pix without dropout and a small salient DDcGAN without its loss-threshold repeats
# (a loss within float noise of a threshold may repeat a step on one device and not on two).
PIX2PIX = {"model_options": {"direction": "vis2ir"}, "patch": 32, "batch_size": 2,
           "overrides": {"depth": 3, "base_width": 8, "max_width": 16, "disc_width": 8, "dropout": 0.0}}
DDCGAN = {"config": "salient", "patch": 32, "batch_size": 4, "overrides": {"max_repeats": 1}}


@pytest.fixture(scope="module")
def data(tmp_path_factory, make_patch_file):
    root = tmp_path_factory.mktemp("jax_data")
    return {"pix2pix": root, "ddcgan": make_patch_file(root, 4, 16)}


@pytest.fixture(scope="module", params=BACKENDS)
def runs(request, tmp_path_factory, data):
    backend = request.param
    out = tmp_path_factory.mktemp(f"{backend}_runs")
    rng = np.random.default_rng(0)
    inputs = {"detail": rng.random((1, 40, 48, 1), dtype=np.float32),
              "intensity": rng.random((1, 10, 12, 1), dtype=np.float32),
              "image": rng.random((1, 32, 40, 3), dtype=np.float32)}
    paths = {}
    for name, array in inputs.items():
        paths[name] = str(out / f"input-{name}.npy")
        np.save(paths[name], array)
    args = {"steps": 4, "models": {
        "ddcgan": {"data": str(data["ddcgan"]), "options": DDCGAN,
                   "inputs": {"detail": paths["detail"], "intensity": paths["intensity"]}},
        "pix2pix": {"data": str(data["pix2pix"]), "options": PIX2PIX, "inputs": {"image": paths["image"]}}}}
    return {"backend": backend, "out": out, "inputs": inputs, "result": run_worker(backend, "train", args, out)}


@pytest.mark.parametrize("model", ["ddcgan", "pix2pix"])
def test_trains_and_resumes_exactly(runs, model):
    result = runs["result"][model]
    assert result["backend"] == runs["backend"] and result["batches"] == [4, 4]
    assert result["identical"], "2 batches + resume to 4 differ from 4 in one go"
    assert result["moved"] > 0, "batches 2-3 left every generator weight as it was"
    assert all(np.isfinite(v) for v in result["losses"].values())
    run = Path(runs["out"]) / f"{model}-resumed"
    with (run / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["batch"]) for r in rows] == [1, 2, 3, 4]  # every batch once over two sessions
    assert (run / "checkpoints" / "ckpt-4.h5").is_file()


@pytest.mark.parametrize("model", ["ddcgan", "pix2pix"])
def test_preset_runs_under_tensorflow_to_the_same_numbers(runs, model):
    from tf_irgan.presets import load_preset

    preset = load_preset(runs["result"][model]["preset"])
    assert preset.metadata["keras_backend"] == runs["backend"] and "tensorflow_version" not in preset.metadata
    assert isinstance(preset.metadata["data_pairs"], list)
    assert not any(str(v).startswith("/") for v in (preset.metadata["data"],
                                                     *preset.metadata["data_source"].values()))
    inputs = runs["inputs"]
    fed = {"detail": inputs["detail"], "intensity": inputs["intensity"]} if model == "ddcgan" else inputs["image"]
    ours = np.asarray(preset.model(fed, training=False))
    theirs = np.load(Path(runs["out"]) / f"{model}-output.npy")
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pooling_filters_and_upsampling_agree_between_backends(tmp_path, backend):
    """psi (3x3 stride-2 SAME average pools), the gradient filter (zero padding) and the bilinear
    upsampling, on odd and even sizes, borders included."""
    import tensorflow as tf

    from tf_irgan import losses

    images = np.random.default_rng(1).random((2, 23, 30, 1), dtype=np.float32)
    np.save(tmp_path / "images.npy", images)
    run_worker(backend, "ops", {"images": str(tmp_path / "images.npy")}, tmp_path)
    with np.load(tmp_path / "ops.npz") as theirs:
        ours = {"psi4": losses.downsample(tf.constant(images), 4),
                "psi2": losses.downsample(tf.constant(images), 2),
                "gradient": losses.gradient(tf.constant(images)),
                "up4": losses.upsample_bilinear(tf.constant(images), 4)}
        for name, value in ours.items():
            np.testing.assert_allclose(np.asarray(value), theirs[name], atol=1e-6, err_msg=name)
    # And psi is TensorFlow's own SAME pooling (the mean over the pixels inside the image).
    reference = tf.nn.avg_pool2d(tf.nn.avg_pool2d(images, 3, 2, "SAME"), 3, 2, "SAME")
    np.testing.assert_allclose(np.asarray(ours["psi4"]), reference.numpy(), atol=1e-6)


@pytest.mark.parametrize("model", ["ddcgan", "pix2pix"])
def test_data_parallel_on_two_devices_equals_one_device(data, tmp_path, model):
    options = DDCGAN if model == "ddcgan" else PIX2PIX
    result = run_worker("jax", "parallel", {"model": model, "data": str(data[model]), "steps": 2, "options": options},
                  tmp_path, devices=2)
    assert result["devices"] == 2
    with np.load(tmp_path / "one-device.npz") as one, np.load(tmp_path / "auto.npz") as two:
        assert len(one.files) == len(two.files) > 4
        difference = np.concatenate([np.abs(two[k] - one[k]).ravel() for k in one.files])
    # Equal up to the order of the cross-device sums. RMSProp's first steps move a weight by
    # ~3x the learning rate whatever its gradient's size, so DDcGAN's weights with near-zero
    # gradients may flip by ~1e-4; a wrong split of the batch, doubled gradients or per-device
    # statistics would move most weights.
    stray = np.mean(difference > 2e-5)
    assert stray < 0.01 and difference.max() < (2e-5 if model == "pix2pix" else 2e-3), \
        (stray, difference.max())


def test_time_limit_stops_at_a_checkpoint_and_writes_the_preset(data, tmp_path):
    from tf_irgan.errors import UserError
    from tf_irgan.training import TrainOptions, train

    options = dict(data=str(data["ddcgan"]), out=str(tmp_path / "run"), steps=10_000,
                   checkpoint_every=1000, log_every=1000, command="limited", **DDCGAN)
    result = train(TrainOptions(time_limit=0.15, **options), verbose=False)
    assert result.time_limit_reached and 0 < result.batches < 10_000
    assert (tmp_path / "run" / "checkpoints" / f"ckpt-{result.batches}.h5").is_file()
    from tf_irgan.presets import WEIGHTS_FILE
    assert (tmp_path / "run" / "model" / WEIGHTS_FILE).is_file()
    with (tmp_path / "run" / "history.csv").open() as f:
        assert int(list(csv.DictReader(f))[-1]["batch"]) == result.batches
    resumed = train(TrainOptions(resume=True, time_limit=0.05, **options), verbose=False)
    assert resumed.batches > result.batches
    with pytest.raises(UserError, match="--time-limit"):
        train(TrainOptions(time_limit=-1, **{**options, "out": str(tmp_path / "other")}), verbose=False)
