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
    return out


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


def test_export_refuses_existing_folder(exported, tiny_presets):
    result = CliRunner().invoke(cli, ["export", str(tiny_presets["x4"]), "-o", str(exported)])
    assert result.exit_code == 2
    assert result.output.startswith("Error:") and "already exists" in result.output
    assert (exported / "saved_model.pb").is_file()
