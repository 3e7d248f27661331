"""pix2pix: networks, jitter, a short real run on RoadScene pairs, exact resume, the translation
pipeline and `tf-irgan translate`'s errors."""

import json
import shutil

import cv2
import h5py
import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from cli_helpers import one_line_error, run

from tf_irgan.cli.main import cli
from tf_irgan.data.pairs import JitteredPairBatches, PairSet, load_pairs
from tf_irgan.errors import UserError
from tf_irgan.models.pix2pix import (PairDiscriminator, UNetGenerator, Upsample, pix2pix_config,
                                     upsampler)
from tf_irgan.pipelines.translation import mirror_pad_to_multiple, translate_image
from tf_irgan.presets import load_preset
from tf_irgan.training import TrainOptions, train

TINY = {"depth": 3, "base_width": 8, "max_width": 16, "disc_width": 8, "dropout_layers": 1}
RNG = np.random.default_rng(11)


# ---------------------------------------------------------------- networks

@pytest.mark.parametrize("depth,in_channels,out_channels,shape", [
    (3, 3, 1, (24, 40)), (4, 1, 3, (48, 16)), (8, 3, 1, (256, 256))])
def test_unet_shapes(depth, in_channels, out_channels, shape):
    generator = UNetGenerator(in_channels, out_channels, depth=depth, base_width=8, max_width=32)
    out = generator(tf.random.uniform((2, *shape, in_channels)), training=False)
    assert out.shape == (2, *shape, out_channels)
    assert float(tf.reduce_min(out)) >= 0.0 and float(tf.reduce_max(out)) <= 1.0
    assert generator.multiple == 2 ** depth


def test_discriminators():
    image, target = tf.random.uniform((2, 256, 256, 3)), tf.random.uniform((2, 256, 256, 1))
    patchgan = PairDiscriminator("patchgan", width=64, layers_down=3)
    assert patchgan((image, target)).shape == (2, 30, 30, 1)  # a logit per 70x70 patch
    paper = PairDiscriminator("paper", width=16, layers_down=4)
    assert paper((image, target)).shape == (2, 1)  # one logit for the whole image
    # The paper's discriminator takes any size.
    assert paper((image[:, :96, :160], target[:, :96, :160])).shape == (2, 1)


def test_configs():
    canonical = pix2pix_config("canonical", "vis2ir")
    assert (canonical.depth, canonical.base_width, canonical.discriminator) == (8, 64, "patchgan")
    assert (canonical.l1_weight, canonical.learning_rate, canonical.crop) == (100.0, 2e-4, 256)
    assert (canonical.in_channels, canonical.out_channels) == (3, 1)
    paper = pix2pix_config("paper", "ir2vis")
    assert paper.discriminator == "paper" and paper.depth > canonical.depth
    assert (paper.in_channels, paper.out_channels) == (1, 3)
    assert pix2pix_config("compact", crop=256).load == 286  # the jitter scales with the crop
    with pytest.raises(UserError, match="multiple of 2"):
        pix2pix_config("canonical", crop=100)
    with pytest.raises(UserError, match="no setting widht"):
        pix2pix_config("canonical", widht=3)
    with pytest.raises(UserError, match="--direction"):
        pix2pix_config("canonical", "rgb2ir")


@pytest.mark.parametrize("method", ["resize", "subpixel"])
def test_new_upsampling_starts_without_a_grid(method):
    # A freshly built layer given a constant input: away from the zero-padded border every
    # output pixel equals its neighbours. The transposed convolution fails the same check.
    constant = tf.fill((1, 12, 12, 4), 0.7)
    for layer, grid_free in ((upsampler(8, method, "up"), True),
                             (upsampler(8, "transpose", "up"), False)):
        out = layer(constant).numpy()[0, 3:-3, 3:-3]
        assert out.shape[-1] == 8
        steps = max(np.abs(np.diff(out, axis=0)).max(), np.abs(np.diff(out, axis=1)).max())
        assert (steps < 1e-5) == grid_free, (layer.name, steps)
    assert isinstance(upsampler(8, method, "up"), Upsample)


@pytest.mark.parametrize("method", ["resize", "subpixel"])
def test_unet_with_new_upsampling_keeps_shapes_and_costs(method):
    generator = UNetGenerator(3, 1, depth=3, base_width=8, max_width=16, upsample=method)
    out = generator(tf.random.uniform((2, 24, 40, 3)), training=False)
    assert out.shape == (2, 24, 40, 1)
    transpose = UNetGenerator(3, 1, depth=3, base_width=8, max_width=16)
    transpose(tf.random.uniform((1, 8, 8, 3)))
    # 9 x C_in x C_out per output pixel instead of the transposed conv's 4 x: more work up.
    assert generator.macs_per_pixel() > transpose.macs_per_pixel()
    with pytest.raises(UserError, match="upsample"):
        pix2pix_config("compact", upsample="bilinear")


def test_mirror_padding_any_amount():
    image = tf.constant(np.arange(15, dtype=np.float32).reshape(1, 3, 5, 1))
    padded, (top, left) = mirror_pad_to_multiple(image, 8)
    assert padded.shape == (1, 8, 8, 1) and (top, left) == (2, 1)
    np.testing.assert_array_equal(padded[0, top:top + 3, left:left + 5, 0], image[0, ..., 0])
    # Mirrored without repeating the edge: row above the image is the image's second row.
    np.testing.assert_array_equal(padded[0, top - 1, left:left + 5, 0], image[0, 1, :, 0])


# ---------------------------------------------------------------- data

def test_jitter_applies_one_crop_to_both_images():
    """Target = a fixed pixelwise function of the source: after jitter it must still be."""
    # Values kept inside [0.25, 0.75], where the bicubic overshoot is never clipped.
    sources = [0.25 + 0.5 * RNG.random((50, 70, 3), dtype=np.float32) for _ in range(3)]
    targets = [s.mean(axis=-1, keepdims=True) for s in sources]
    batches = JitteredPairBatches(PairSet(sources, targets, ["a", "b", "c"]), batch_size=3,
                                  crop=32, load=36, seed=4)
    batch = batches.batch(0)
    assert batch["image"].shape == (3, 32, 32, 3) and batch["target"].shape == (3, 32, 32, 1)
    np.testing.assert_allclose(batch["target"], batch["image"].mean(axis=-1, keepdims=True), atol=1e-5)
    # Crops differ between batches and are reproducible from (seed, batch).
    np.testing.assert_array_equal(batches.batch(5)["image"], batches.batch(5)["image"])
    assert not np.array_equal(batches.batch(0)["image"], batches.batch(1)["image"])


def test_color_jitter_changes_only_the_source():
    sources = [0.25 + 0.5 * RNG.random((40, 40, 3), dtype=np.float32) for _ in range(2)]
    pairs = PairSet(sources, [s.mean(axis=-1, keepdims=True) for s in sources], ["a", "b"])
    plain = JitteredPairBatches(pairs, 2, crop=32, load=32, seed=1).batch(3)
    jittered = JitteredPairBatches(pairs, 2, crop=32, load=32, seed=1, color_jitter=0.4).batch(3)
    # Same crops and flips (the color draws have a stream of their own), the same targets, other inputs.
    np.testing.assert_array_equal(jittered["target"], plain["target"])
    assert np.abs(jittered["image"] - plain["image"]).mean() > 0.01
    np.testing.assert_array_equal(
        jittered["image"], JitteredPairBatches(pairs, 2, 32, 32, seed=1, color_jitter=0.4).batch(3)["image"])
    assert jittered["image"].min() >= 0 and jittered["image"].max() <= 1
    with pytest.raises(UserError, match="color_jitter"):
        pix2pix_config("compact", color_jitter=1.5)


def test_load_pairs_channels_and_holdout(tmp_path, copy_roadscene):
    copy_roadscene(tmp_path / "data", 4)
    pairs = load_pairs(tmp_path / "data", "ir", "vis", 1, 3, holdout_every=2)
    assert len(pairs) == 2 and json.loads(pairs.attrs["held_out"]) == pairs_held(tmp_path)
    assert pairs.sources[0].shape[-1] == 1 and pairs.targets[0].shape[-1] == 3
    levels = json.loads(pairs.attrs["input_levels"])      # what translate compares inputs with
    means = [float(source.mean()) for source in pairs.sources]
    assert levels["images"] == 2 and levels["mean"] == pytest.approx([min(means), max(means)], abs=1e-4)


def pairs_held(tmp_path):
    names = sorted(p.stem for p in (tmp_path / "data" / "vi").iterdir())
    return [names[1], names[3]]


def test_unmatched_names_and_empty_folders_are_refused(tmp_path, copy_roadscene):
    vi_dir, ir_dir, names = copy_roadscene(tmp_path / "data", 2)
    (ir_dir / f"{names[1]}.jpg").rename(ir_dir / "other.jpg")
    with pytest.raises(UserError, match="other.jpg"):
        load_pairs(tmp_path / "data", "vis", "ir", 3, 1)
    (tmp_path / "empty" / "vi").mkdir(parents=True)
    (tmp_path / "empty" / "ir").mkdir()
    with pytest.raises(UserError) as err:
        load_pairs(tmp_path / "empty", "vis", "ir", 3, 1)
    assert str(tmp_path / "empty") in str(err.value)
    with pytest.raises(UserError, match="no vi/vis/visible subfolder"):
        load_pairs(tmp_path / "empty" / "vi", "vis", "ir", 3, 1)


# ---------------------------------------------------------------- training

@pytest.fixture(scope="module")
def runs(tmp_path_factory, shared_data):
    """Four RoadScene pairs; tiny U-Net on 32-px crops. "full": 6 batches; "resumed": the same
    run interrupted after 4 batches and resumed."""
    root = tmp_path_factory.mktemp("pix2pix")
    names = sorted(p.stem for p in (shared_data / "roadscene" / "vi").iterdir())[:4]
    for role in ("vi", "ir"):
        (root / "data" / role).mkdir(parents=True)
        for name in names:
            shutil.copy(shared_data / "roadscene" / role / f"{name}.jpg", root / "data" / role)

    def options(out, steps, resume=False, direction="vis2ir", overrides=TINY, **kwargs):
        return TrainOptions(data=str(root / "data"), out=str(root / out), model="pix2pix",
                            model_options={"direction": direction}, steps=steps, resume=resume, batch_size=2,
                            patch=32, overrides=overrides, checkpoint_every=2, log_every=2,
                            command=f"pix2pix {steps}", **kwargs)
    full = train(options("full", 6), verbose=False)
    # "resumed" is killed during batch 5 (after the batch-4 checkpoint), then resumed: the
    # learning-rate schedule (constant, then linear decay over the run) must come out the same.
    with pytest.MonkeyPatch.context() as patch:
        from tf_irgan import training

        def interrupt(self, done, losses):
            if done == 5:
                raise KeyboardInterrupt
        patch.setattr(training.Progress, "update", interrupt)
        with pytest.raises(KeyboardInterrupt):
            train(options("resumed", 6), verbose=False)
    resumed = train(options("resumed", 6, resume=True), verbose=False)
    return {"root": root, "options": options, "full": full, "resumed": resumed}


def _weights(preset_dir):
    return [w.numpy() for w in load_preset(preset_dir).model.weights]


def test_resume_gives_the_same_step_weights_and_learning_rate(runs):
    full, resumed = runs["full"], runs["resumed"]
    assert full.batches == resumed.batches == 6 and full.task == "translation"
    for a, b in zip(_weights(full.preset_dir), _weights(resumed.preset_dir)):
        np.testing.assert_array_equal(a, b)
    with h5py.File(runs["root"] / "resumed" / "checkpoints" / "ckpt-6.h5", "r") as f:
        assert f.attrs["batch"] == 6
        # Constant for the first half (3 of 6 batches), then linear: batch 5 ran at 2e-4 * 1/3.
        for name in ("g_optimizer", "d_optimizer"):
            lr = [d[()] for d in f["optimizers"][name].values() if d.attrs["path"].endswith("learning_rate")]
            np.testing.assert_allclose(lr, [2e-4 * (6 - 5) / 3], rtol=1e-6)
    config = json.loads((full.preset_dir / "config.json").read_text())
    assert config["task"] == "translation" and config["input_roles"] == ["image"]
    assert config["output_role"] == "translated" and config["class_name"] == "UNetGenerator"
    metadata = json.loads((full.preset_dir / "metadata.json").read_text())
    assert metadata["direction"] == "vis2ir" and metadata["batches"] == 6


@pytest.mark.slow   # a real training: 80 batches
def test_short_real_run_lowers_the_l1_loss(runs, tmp_path):
    """1 batch, then resumed to 80 at a higher rate: L1 to the IR targets of fixed crops falls."""
    root, options = runs["root"], runs["options"]
    first = train(options("learn", 1, learning_rate=2e-3), verbose=False)
    before = shutil.copytree(first.preset_dir, tmp_path / "before")
    after = train(options("learn", 80, resume=True), verbose=False).preset_dir
    pairs = load_pairs(root / "data", "vis", "ir", 3, 1)
    batch = JitteredPairBatches(pairs, 4, crop=64, load=64, seed=9).batch(0)

    def l1(preset_dir):
        out = load_preset(preset_dir).model(tf.constant(batch["image"]), training=False)
        return float(np.abs(out.numpy() - batch["target"]).mean())

    assert l1(after) < 0.8 * l1(before), (l1(before), l1(after))


def test_init_starts_from_a_preset_and_set_changes_the_config(runs):
    """`train --init PRESET --set FIELD=VALUE`: batch 0 of the new run holds the preset's
    generator; the changed field is in the run's config; a preset of another network is refused."""
    root, full = runs["root"], runs["full"]
    settings = [arg for field, value in TINY.items() for arg in ("--set", f"{field}={value}")]
    args = ["train", "--model", "pix2pix", "--data", str(root / "data"), "--patch", "32",
            "--batch-size", "2", "--steps", "1", "--checkpoint-every", "1", "--quiet", *settings,
            "--set", "l1_weight=7.5", "--set", "decay_start=1"]
    result = CliRunner().invoke(cli, args + ["--out", str(root / "init"), "--init", str(full.preset_dir)])
    assert result.exit_code == 0, (result.output, result.exception)
    run = json.loads((root / "init" / "run.json").read_text())
    assert run["config"]["l1_weight"] == 7.5 and run["config"]["decay_start"] == 1.0
    assert run["options"]["init"] == str(full.preset_dir)
    started = json.loads((root / "init" / "model" / "metadata.json").read_text())["init"]
    # Relative to the preset's own parent: no folder of this machine in a preset's metadata.
    assert started["preset"] == "full/model" and started["batches"] == 6
    start = load_preset(full.preset_dir).model
    # One Adam step moves each weight by about the learning rate: still the preset's, while a
    # fresh initialization differs by ~0.1.
    trained = load_preset(root / "init" / "model").model
    for a, b in zip(start.trainable_weights, trained.trainable_weights):  # not batch-norm statistics
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=2e-3)
    assert sorted(p.name for p in (root / "init" / "checkpoints").iterdir()) == ["ckpt-1.h5"]

    # Dropout has no weights: a fine-tuning may change it.
    result = CliRunner().invoke(cli, args + ["--set", "dropout=0", "--out", str(root / "init3"),
                                             "--init", str(full.preset_dir)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert json.loads((root / "init3" / "run.json").read_text())["config"]["dropout"] == 0

    # Another upsampling replaces the decoder's upsampling layers: those start fresh, the
    # encoder and every norm come from the preset (recorded like any other change).
    result = CliRunner().invoke(cli, args + ["--set", "upsample=resize", "--out", str(root / "init4"),
                                             "--init", str(full.preset_dir)])
    assert result.exit_code == 0, (result.output, result.exception)
    resized = load_preset(root / "init4" / "model").model
    assert resized.get_config()["upsample"] == "resize"
    ours = {w.path.split("/", 1)[1]: w.numpy() for w in resized.trainable_weights}
    theirs = {w.path.split("/", 1)[1]: w.numpy() for w in start.trainable_weights}
    copied = [k for k in ours if k in theirs and ours[k].shape == theirs[k].shape]
    assert any(k.startswith("down") for k in copied) and any(k.startswith("up") for k in copied)
    assert not any(k.startswith(("up", "head")) and "conv" in k for k in copied)   # fresh
    for key in copied:
        np.testing.assert_allclose(ours[key], theirs[key], atol=2e-3, err_msg=key)
    # From `resize` on to `subpixel`: the same-named kernels differ in shape; they start fresh.
    result = CliRunner().invoke(cli, args + ["--set", "upsample=subpixel", "--out", str(root / "init6"),
                                             "--init", str(root / "init4" / "model")])
    assert result.exit_code == 0, (result.output, result.exception)
    # ...but a change that reaches other layers too is refused: wider, or one level deeper
    # (whose extra layers have new names, so matching by name alone would not notice).
    wider = [a if a != "base_width=8" else "base_width=16" for a in args]
    deeper = [a if a != "depth=3" else "depth=4" for a in args]
    for changed, fragment in ((wider, "base_width"), (deeper, "depth")):
        result = CliRunner().invoke(cli, changed + ["--set", "upsample=resize", "--out", str(root / "init5"),
                                                    "--init", str(full.preset_dir)])
        one_line_error(result, "--init", fragment, "upsample")

    result = CliRunner().invoke(cli, wider + ["--out", str(root / "init2"), "--init", str(full.preset_dir)])
    one_line_error(result, "--init", "base_width")
    assert not (root / "init2" / "checkpoints").exists()
    for bad, fragment in (("l1_weight=abc", "expected a float"), ("nosuch=1", "no setting nosuch"),
                          ("depth", "FIELD=VALUE")):
        result = CliRunner().invoke(cli, args + ["--out", str(root / "bad"), "--set", bad])
        one_line_error(result, fragment)


# ---------------------------------------------------------------- translation pipeline and CLI

def test_translate_returns_the_input_size_and_adapts_channels(runs):
    preset = str(runs["full"].preset_dir)   # vis2ir: 3 channels in, 1 out
    for shape in ((45, 61), (100, 33), (8, 8)):
        result = translate_image(RNG.random((*shape, 3), dtype=np.float32), preset=preset)
        # random images are unlike the run's few training pairs: that note only
        assert result.image.shape == shape and all("unlike what" in n for n in result.notes)
    gray = translate_image(RNG.random((30, 50), dtype=np.float32), preset=preset, name="g.png")
    assert gray.image.shape == (30, 50) and "g.png" in gray.notes[0] and "repeated" in gray.notes[0]


@pytest.mark.parametrize("method", ["resize", "subpixel"])
def test_new_upsampling_trains_saves_and_translates_odd_sizes(runs, method):
    result = train(runs["options"](f"up-{method}", 2, overrides={**TINY, "upsample": method}),
                   verbose=False)
    preset = load_preset(result.preset_dir)
    assert preset.model.get_config()["upsample"] == method
    for shape in ((45, 61), (17, 9)):
        out = translate_image(RNG.random((*shape, 3), dtype=np.float32),
                              preset=str(result.preset_dir))
        assert out.image.shape == shape


def test_one_channel_model_given_color(runs):
    result = train(runs["options"]("ir2vis", 1, direction="ir2vis"), verbose=False)
    out = translate_image(RNG.random((40, 52, 3), dtype=np.float32), preset=str(result.preset_dir),
                          name="c.png")
    assert out.image.shape == (40, 52, 3)   # ir2vis writes color
    assert "luminance" in out.notes[0] and "c.png" in out.notes[0]


def test_translate_cli(runs, tmp_path, shared_data):
    preset = runs["full"].preset_dir
    source = shared_data / "roadscene" / "vi" / "FLIR_00060.jpg"
    out = tmp_path / "ir.png"
    result = run(["translate", source, "-o", out, "--preset", preset])
    assert result.exit_code == 0, (result.output, result.exception)
    assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).shape == cv2.imread(str(source)).shape[:2]
    # Folder mode.
    (tmp_path / "in").mkdir()
    for name in ("FLIR_00060", "FLIR_00122"):
        shutil.copy(shared_data / "roadscene" / "vi" / f"{name}.jpg", tmp_path / "in")
    result = run(["translate", "--in-dir", tmp_path / "in", "--out-dir", tmp_path / "out",
                   "--preset", preset])
    assert result.exit_code == 0, (result.output, result.exception)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["FLIR_00060.png", "FLIR_00122.png",
                                                                    "manifest.csv"]
    rows = (tmp_path / "out" / "manifest.csv").read_text().splitlines()
    assert rows[0] == "input,translated,preset,notes" and len(rows) == 3


def test_translate_cli_bad_input(runs, tmp_path):
    preset = runs["full"].preset_dir
    one_line_error(run(["translate", tmp_path / "missing.png", "-o", tmp_path / "o.png",
                          "--preset", preset]), "missing.png", "not found")
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG not really")
    one_line_error(run(["translate", corrupt, "-o", tmp_path / "o.png", "--preset", preset]),
                    corrupt, "cannot be decoded")
    (tmp_path / "empty").mkdir()
    one_line_error(run(["translate", "--in-dir", tmp_path / "empty", "--out-dir", tmp_path / "x",
                          "--preset", preset]), tmp_path / "empty", "no images")
    existing = tmp_path / "exists.png"
    existing.write_bytes(b"keep")
    image = tmp_path / "in.png"
    cv2.imwrite(str(image), (RNG.random((20, 30)) * 255).astype(np.uint8))
    one_line_error(run(["translate", image, "-o", existing, "--preset", preset]), existing,
                    "--overwrite")
    assert existing.read_bytes() == b"keep"
    one_line_error(run(["translate", image, "-o", tmp_path / "o.gif", "--preset", preset]),
                    "unsupported output format")
    # A fusion preset is not a translation model.
    one_line_error(run(["translate", image, "-o", tmp_path / "o.png", "--preset", "ddcgan-ir-vis"]),
                    "fusion model")


def test_weights_are_stored_in_float16(runs, tmp_path):
    from tf_irgan.presets import WEIGHTS_FILE, save_preset

    preset_dir = runs["full"].preset_dir
    assert json.loads((preset_dir / "metadata.json").read_text())["weights_storage"] == "float16"
    model = load_preset(preset_dir).model
    full = save_preset(tmp_path / "fp32", model, task="translation", metadata={}, storage="float32")
    def data_bytes(path):
        import h5py
        sizes = []
        with h5py.File(path, "r") as f:
            f.visititems(lambda n, item: sizes.append(item.nbytes) if isinstance(item, h5py.Dataset) else None)
        return sum(sizes)
    assert data_bytes(preset_dir / WEIGHTS_FILE) == data_bytes(full / WEIGHTS_FILE) / 2
    image = RNG.random((37, 53, 3), dtype=np.float32)
    a = translate_image(image, preset=str(preset_dir)).image
    b = translate_image(image, preset=str(full)).image
    assert np.abs(a - b).max() < 2 / 255


def test_report_scores_translation_presets(runs, tmp_path, shared_data, monkeypatch):
    shutil.copytree(runs["full"].preset_dir, tmp_path / "presets" / "tiny-vis2ir")
    monkeypatch.setenv("TF_IRGAN_PRESETS", str(tmp_path / "presets"))
    output = tmp_path / "results.md"
    result = run(["report", "--data-root", shared_data, "--output", output, "--limit", "2",
                   "--sets", "translation", "--methods", "tiny-vis2ir"])
    assert result.exit_code == 0, (result.output, result.exception)
    markdown = output.read_text()
    assert "## Translation visible -> IR, RoadScene held-out pairs (2 pairs)" in markdown
    assert "| `tiny-vis2ir` |" in markdown and "| linear (baseline) |" in markdown
    assert "| Number | MAE | MSE | PSNR (dB) | SSIM | Image |" in markdown  # the paper's table
    report = json.loads((tmp_path / "results.json").read_text())
    entry = report["sets"]["translation_vis2ir"]
    assert entry["pairs"] == ["FLIR_00548", "FLIR_01945"]  # every 10th pair by name
    assert set(entry["methods"]) == {"tiny-vis2ir", "linear"}
    for method in entry["methods"].values():
        assert set(method["mean"]) == {"MAE", "MSE", "PSNR", "SSIM"}
        assert 0 < method["mean"]["MAE"] < 1 and 0 <= method["grid"] < 0.05
    assert 0 < entry["target_grid"] < 0.01   # JPEG blocks: above zero, far below a visible grid
    assert "| target (the camera's own images) | - | - | - | - |" in markdown
    figure = tmp_path / "figures" / "translation_vis2ir_examples.png"
    assert figure.read_bytes()[:4] == b"\x89PNG" and figure.stat().st_size < 600_000


def test_linear_map_baseline_recovers_a_linear_relation():
    from tf_irgan.baselines import LinearMap

    sources = [RNG.random((20, 30, 3)) for _ in range(3)]
    targets = [s @ np.array([[0.2], [0.5], [0.3]]) * 0.8 + 0.1 for s in sources]
    linear = LinearMap.fit(sources, targets)
    np.testing.assert_allclose(linear.weights[:, 0], [0.16, 0.4, 0.24], atol=1e-9)
    np.testing.assert_allclose(linear.bias, [0.1], atol=1e-9)
    assert linear(sources[0]).shape == (20, 30)
    back = LinearMap.fit([t for t in targets], [np.repeat(t, 3, axis=-1) for t in targets])
    assert back(targets[0]).shape == (20, 30, 3)


def test_translate_says_when_an_input_is_unlike_the_training_data(shared_data):
    """The shipped vis2ir model learned daytime streets: a night image (darkened, noisy, as
    `select_fusion --night` makes one) gets a note naming how it differs; a RoadScene image does
    not. The training inputs' levels are in the preset's metadata (`input_levels`)."""
    from tf_irgan.data.warps import night
    from tf_irgan.images import read_image, to_gray

    day = read_image(shared_data / "roadscene" / "vi" / "FLIR_00060.jpg")
    assert not any("unlike" in note for note in translate_image(day).notes)
    dark = night(to_gray(day), 0)
    notes = translate_image(dark).notes
    assert any("unlike what pix2pix-vis2ir was trained on" in note and "mean level 0.1" in note
               for note in notes), notes
    levels = load_preset("pix2pix-vis2ir").metadata["input_levels"]
    assert levels["images"] == 162 and levels["mean"][0] < levels["mean"][1]
