"""SavedModel export: the signatures TF Serving would call, on odd sizes and both dtypes."""

import json

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from tf_irgan.presets import load_preset
from tf_irgan.cli.main import cli
from tf_irgan.pipelines.fusion import run_generator


@pytest.fixture(scope="module")
def exported(tiny_presets, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "x4"
    result = CliRunner().invoke(cli, ["export", str(tiny_presets["x4"]), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out / "1"  # TF Serving's layout: base path / version


def test_signatures_match_inference(exported, tiny_presets):
    loaded = tf.saved_model.load(str(exported))
    assert set(loaded.signatures) == {"serving_default", "serving_uint8"}
    rng = np.random.default_rng(0)
    vis = rng.random((37, 45), dtype=np.float32)      # not a multiple of 4: padded inside
    ir = rng.random((10, 12), dtype=np.float32)       # ceil(37/4) x ceil(45/4)
    out = loaded.signatures["serving_default"](vis=tf.constant(vis[None, ..., None]),
                                               ir=tf.constant(ir[None, ..., None]))["fused"]
    assert out.shape == (1, 37, 45, 1)
    expected = run_generator(load_preset(tiny_presets["x4"]).model, vis, ir, 4)
    np.testing.assert_allclose(out.numpy()[0, ..., 0], expected, atol=1e-4)


def test_uint8_signature_and_rest_contract(exported):
    loaded = tf.saved_model.load(str(exported))
    # TF Serving's REST :predict body: {"inputs": {"vis": [...], "ir": [...]}}
    body = json.loads(json.dumps({"inputs": {
        "vis": np.full((1, 16, 16, 1), 200, np.uint8).tolist(),
        "ir": np.full((1, 4, 4, 1), 50, np.uint8).tolist()}}))
    fn = loaded.signatures["serving_uint8"]
    out = fn(**{k: tf.constant(v, tf.uint8) for k, v in body["inputs"].items()})["fused"]
    assert out.dtype == tf.uint8 and out.shape == (1, 16, 16, 1)


def test_export_refuses_existing_version(exported, tiny_presets):
    base = exported.parent
    result = CliRunner().invoke(cli, ["export", str(tiny_presets["x4"]), "-o", str(base)])
    assert result.exit_code == 2
    assert result.output.startswith("Error:") and "already exists" in result.output
    assert (exported / "saved_model.pb").is_file()
    result = CliRunner().invoke(cli, ["export", str(tiny_presets["x4"]), "-o", str(exported)])
    assert result.exit_code == 2 and "holds a SavedModel itself" in result.output


def test_export_layout_assets_and_versions(exported, tiny_presets):
    """The layout TF Serving loads: base/<version>/saved_model.pb, variables/, and an asset naming
    the preset; a second version goes beside the first; --overwrite replaces one version only."""
    base = exported.parent
    described = json.loads((exported / "assets" / "tf_irgan_preset.json").read_text())
    assert described["task"] == "fusion" and described["output"] == "fused"
    assert set(described["inputs"]) == {"vis", "ir"} and described["preset"]
    assert (exported / "variables").is_dir()
    result = CliRunner().invoke(cli, ["export", str(tiny_presets["x4"]), "-o", str(base),
                                      "--version", "2"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]
    stamp = (exported / "saved_model.pb").stat().st_mtime_ns
    result = CliRunner().invoke(cli, ["export", str(tiny_presets["x4"]), "-o", str(base),
                                      "--version", "2", "--overwrite"])
    assert result.exit_code == 0, result.output
    assert (exported / "saved_model.pb").stat().st_mtime_ns == stamp
    result = CliRunner().invoke(cli, ["export", str(tiny_presets["x4"]), "-o", str(base),
                                      "--version", "0"])
    assert result.exit_code == 2 and "0" in result.output


def test_export_bad_names_are_one_line_errors(tmp_path):
    result = CliRunner().invoke(cli, ["export", "no-such-model", "-o", str(tmp_path / "a")])
    assert result.exit_code == 2 and result.output.startswith("Error:") and "no such" in result.output
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(cli, ["export", str(tmp_path / "empty"), "-o", str(tmp_path / "b")])
    assert result.exit_code == 2 and "not a preset folder" in result.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
