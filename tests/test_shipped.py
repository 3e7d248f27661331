"""The shipped checkpoints (repository's checkpoints/) load by name and fuse the example pair."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tf_irgan.presets import SHIPPED_DIR, list_presets, load_preset
from tf_irgan.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SHIPPED = {"ddcgan-ir-vis": 1, "ddcgan-ir-vis-x4": 4, "ddcgan-ir-vis-video": 1}


@pytest.fixture(autouse=True)
def only_shipped(monkeypatch):
    monkeypatch.delenv("TF_IRGAN_PRESETS", raising=False)
    monkeypatch.delenv("TF_IRGAN_CHECKPOINTS", raising=False)


def test_shipped_dir_is_the_repository_one():
    assert SHIPPED_DIR == ROOT / "checkpoints"


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_preset_loads_by_name(name):
    folder = ROOT / "checkpoints" / name
    assert {"config.json", "model.weights.h5", "metadata.json"} <= {p.name for p in folder.iterdir()}
    preset = load_preset(name)
    assert preset.path == folder.resolve()
    assert preset.name == name and preset.scale == SHIPPED[name] and preset.task == "fusion"
    assert preset.metadata.get("batches", 0) > 0 and preset.metadata.get("description")
    assert preset.model is not None and preset.model.scale == SHIPPED[name]


def test_checkpoints_command_lists_both():
    names = {p.name for p in list_presets()}
    assert set(SHIPPED) <= names
    result = CliRunner().invoke(cli, ["checkpoints"])
    assert result.exit_code == 0, result.output
    for name, scale in SHIPPED.items():
        assert name in result.stdout and f"scale {scale}x" in result.stdout


def test_fuse_examples_with_the_default_checkpoint(tmp_path):
    out = tmp_path / "out.png"
    result = CliRunner().invoke(cli, ["fuse", str(EXAMPLES / "vis.png"), str(EXAMPLES / "ir.png"),
                                      "-o", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "ddcgan-ir-vis" in result.stdout and "x4" not in result.stdout
    assert "video" not in result.stdout   # the video preset is for streams
    vis = cv2.imread(str(EXAMPLES / "vis.png"), cv2.IMREAD_UNCHANGED)
    fused = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert fused.shape == vis.shape
    assert fused.std() > 5  # an image, not a flat field


def test_the_video_preset_is_quieter_than_the_sources_where_there_is_no_scene(shared_data):
    """`ddcgan-ir-vis-video` (what same-size streams get): on held-out RoadScene pairs it keeps
    more than the Laplacian pyramid (VIF) and is less noisy in flat regions than the noisier
    source, where the still default and the pyramid are about as noisy (docs/training.md)."""
    from tf_irgan import baselines
    from tf_irgan.images import read_image, to_gray
    from tf_irgan.metrics.fusion import flat_noise, fusion_vif
    from tf_irgan.pipelines.fusion import VIDEO_MODEL, default_preset, fuse_images

    assert default_preset(1.0, video=True) == VIDEO_MODEL and default_preset(1.0) != VIDEO_MODEL
    noise, gain = [], []
    for name in ("FLIR_00548", "FLIR_05053", "FLIR_08220"):   # held out from its training
        vis = to_gray(read_image(shared_data / "roadscene" / "vi" / f"{name}.jpg"))
        ir = to_gray(read_image(shared_data / "roadscene" / "ir" / f"{name}.jpg"))
        fused = fuse_images(vis, ir, preset=VIDEO_MODEL, gray=True, precision="fp32").image
        a, b = ir * 255, vis * 255
        noise.append(flat_noise(a, b, np.round(fused * 255)))
        pyramid = np.round(np.clip(baselines.laplacian_pyramid(vis, ir), 0, 1) * 255)
        gain.append(fusion_vif(a, b, np.round(fused * 255)) - fusion_vif(a, b, pyramid))
    assert np.nanmean(noise) < 0.85 and np.mean(gain) > 0, (noise, gain)


def test_fuse_examples_with_quarter_ir_picks_the_x4_model(tmp_path):
    ir = cv2.imread(str(EXAMPLES / "ir.png"), cv2.IMREAD_UNCHANGED)
    small = tmp_path / "ir_small.png"
    cv2.imwrite(str(small), cv2.resize(ir, (ir.shape[1] // 4, ir.shape[0] // 4),
                                       interpolation=cv2.INTER_AREA))
    out = tmp_path / "out.png"
    result = CliRunner().invoke(cli, ["fuse", str(EXAMPLES / "vis.png"), str(small), "-o", str(out),
                                      "--gray"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "ddcgan-ir-vis-x4" in result.stdout
    fused = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert fused.shape == ir.shape[:2] and np.isfinite(fused).all()


@pytest.fixture(scope="module")
def odd_pair(tmp_path_factory, shared_data):
    """A real TNO pair cropped to an odd 483x361 visible image, its IR at the same size and at
    120x90 (floor of a quarter, the case that needs the IR's last row and column)."""
    folder = tmp_path_factory.mktemp("odd_pair")
    vis = cv2.imread(str(shared_data / "tno" / "vi" / "01.png"), cv2.IMREAD_GRAYSCALE)[7:368, 11:494]
    ir = cv2.imread(str(shared_data / "tno" / "ir" / "01.png"), cv2.IMREAD_GRAYSCALE)[7:368, 11:494]
    assert vis.shape == ir.shape == (361, 483)
    paths = {"vis": folder / "vis.png", "ir": folder / "ir.png", "ir_small": folder / "ir_small.png"}
    cv2.imwrite(str(paths["vis"]), vis)
    cv2.imwrite(str(paths["ir"]), ir)
    cv2.imwrite(str(paths["ir_small"]), cv2.resize(ir, (120, 90), interpolation=cv2.INTER_AREA))
    return paths


@pytest.mark.slow
@pytest.mark.parametrize("name,ir_key", [("ddcgan-ir-vis", "ir"), ("ddcgan-ir-vis-x4", "ir_small")])
def test_export_equals_fuse_on_odd_sizes(name, ir_key, odd_pair, tmp_path):
    """The SavedModel (whole image in one graph) and `tf-irgan fuse` (tiles) agree within 1/255
    mean absolute difference on the 8-bit outputs."""
    import tensorflow as tf

    fused_path = tmp_path / "fused.png"
    result = CliRunner().invoke(cli, ["fuse", str(odd_pair["vis"]), str(odd_pair[ir_key]),
                                      "-o", str(fused_path), "--preset", name])
    assert result.exit_code == 0, (result.output, result.exception)
    exported = tmp_path / "saved"
    result = CliRunner().invoke(cli, ["export", name, "-o", str(exported)])
    assert result.exit_code == 0, (result.output, result.exception)

    vis = cv2.imread(str(odd_pair["vis"]), cv2.IMREAD_UNCHANGED)
    ir = cv2.imread(str(odd_pair[ir_key]), cv2.IMREAD_UNCHANGED)
    serve = tf.saved_model.load(str(exported / "1")).signatures["serving_uint8"]
    served = serve(vis=tf.constant(vis[None, ..., None]), ir=tf.constant(ir[None, ..., None]))["fused"]
    served = served.numpy()[0, ..., 0].astype(np.float64)
    fused = cv2.imread(str(fused_path), cv2.IMREAD_UNCHANGED).astype(np.float64)
    assert served.shape == fused.shape == (361, 483)
    assert np.abs(served - fused).mean() <= 1.0, np.abs(served - fused).mean()
    assert fused.std() > 5  # a real image, not two equal flat fields


@pytest.mark.slow
@pytest.mark.parametrize("name,source", [("pix2pix-vis2ir", "vis.png"), ("pix2pix-ir2vis", "ir.png")])
def test_translation_export_equals_translate_on_odd_sizes(name, source, tmp_path):
    """Translation SavedModel (uint8 signature, RGB) == `tf-irgan translate` within 1/255."""
    import tensorflow as tf

    image = cv2.imread(str(EXAMPLES / source), cv2.IMREAD_UNCHANGED)[2:149, 3:318]  # 147x315, both odd
    odd = tmp_path / "odd.png"
    cv2.imwrite(str(odd), image)
    out = tmp_path / "out.png"
    result = CliRunner().invoke(cli, ["translate", str(odd), "-o", str(out), "--preset", name])
    assert result.exit_code == 0, (result.output, result.exception)
    result = CliRunner().invoke(cli, ["export", name, "-o", str(tmp_path / "served"), "--version", "3"])
    assert result.exit_code == 0, (result.output, result.exception)
    serve = tf.saved_model.load(str(tmp_path / "served" / "3")).signatures["serving_uint8"]
    channels = serve.structured_input_signature[1]["image"].shape[-1]
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if image.ndim == 3 else image
    assert rgb.ndim == (3 if channels == 3 else 2)  # the example matches the model's input side
    served = serve(image=tf.constant(rgb.reshape(1, *rgb.shape[:2], -1)))["translated"].numpy()[0]
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    written = cv2.cvtColor(written, cv2.COLOR_BGR2RGB) if written.ndim == 3 else written[..., None]
    assert served.shape == written.shape and served.shape[:2] == (147, 315)
    assert np.abs(served.astype(np.float64) - written).mean() <= 1.0
    assert written.std() > 5


@pytest.mark.parametrize("name,direction,channels", [("pix2pix-vis2ir", "vis2ir", 1),
                                                     ("pix2pix-ir2vis", "ir2vis", 3)])
def test_shipped_translation_presets(name, direction, channels, tmp_path):
    folder = ROOT / "checkpoints" / name
    assert (folder / "model.weights.h5").stat().st_size < 20_000_000  # the repository's file limit
    preset = load_preset(name)
    assert preset.task == "translation" and preset.metadata["direction"] == direction
    assert preset.model.out_channels == channels
    source = EXAMPLES / ("vis.png" if direction == "vis2ir" else "ir.png")
    out = tmp_path / "out.png"
    args = ["translate", str(source), "-o", str(out)] + ([] if direction == "vis2ir" else ["--preset", name])
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, (result.output, result.exception)
    assert name in result.stdout
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert written.shape[:2] == cv2.imread(str(source), cv2.IMREAD_UNCHANGED).shape[:2]
    assert (written.ndim == 3) == (channels == 3) and written.std() > 5


def test_readme_python_snippet_runs_right_after_the_quick_start(tmp_path, monkeypatch):
    """The README's Python block, run where its quick start has just written fused.png and
    ir.png: it must not trip over them (it did: fused.png already existed)."""
    import re
    import shutil
    readme = (ROOT / "README.md").read_text()
    block = next(code for code in re.findall(r"```python\n(.*?)```", readme, re.S)
                 if "tf_irgan.fuse(" in code)
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    for name in ("fused.png", "ir.png"):  # what the quick start's commands leave
        shutil.copy(EXAMPLES / "vis.png", tmp_path / name)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    assert (tmp_path / "fused-api.png").is_file() and (tmp_path / "ir-api.png").is_file()
