"""The REST request bodies of docs/serving.md, decoded as TF Serving decodes REST JSON and fed to
the exported shipped models' signatures: response shapes, dtypes and values."""

import base64
import json
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import tensorflow as tf

from tf_irgan.export import export_saved_model
from tf_irgan.pipelines import serving_graph
from tf_irgan.presets import load_preset

DOC = Path(__file__).resolve().parents[1] / "docs" / "serving.md"
REQUEST = re.compile(r"<!-- request: (\S+) -->\s*```json\n(.*?)\n```", re.S)


def documented_requests():
    found = REQUEST.findall(DOC.read_text())
    assert len(found) >= 4, "docs/serving.md lost its request examples"
    return [(name, json.loads(body)) for name, body in found]


def decode(value, spec):
    """A JSON value as the server turns it into a tensor: {"b64": ...} -> bytes."""
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [decode(v, spec) for v in value]
    return value


def rest_predict(loaded, body):
    """TF Serving's REST :predict on a loaded SavedModel: row (`instances`) or column (`inputs`)
    form in, `predictions` or `outputs` out (one output: its value directly; `_bytes` outputs
    base64-encoded)."""
    signature = loaded.signatures[body.get("signature_name", "serving_default")]
    specs = signature.structured_input_signature[1]
    if "instances" in body:
        feeds = {name: [decode(item[name], spec) for item in body["instances"]]
                 for name, spec in specs.items()}
    else:
        feeds = {name: decode(body["inputs"][name], spec) for name, spec in specs.items()}
    outputs = signature(**{name: tf.constant(value, specs[name].dtype) for name, value in feeds.items()})
    (name, tensor), = outputs.items()
    value = tensor.numpy()
    encode = (lambda v: {"b64": base64.b64encode(v).decode()}) if name.endswith("_bytes") else \
        (lambda v: v.tolist())
    if "instances" in body:
        return name, {"predictions": [encode(v) for v in value]}
    return name, {"outputs": [encode(v) for v in value] if name.endswith("_bytes") else value.tolist()}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    base = tmp_path_factory.mktemp("served")
    names = sorted({name for name, _ in documented_requests()})
    return {name: tf.saved_model.load(str(export_saved_model(name, base / name))) for name in names}


@pytest.mark.slow
@pytest.mark.parametrize("index", range(4))
def test_documented_request(index, served):
    name, body = documented_requests()[index]
    output, response = rest_predict(served[name], body)
    response = json.loads(json.dumps(response))  # what the client receives
    preset = load_preset(name)
    inputs, graph = serving_graph(preset)
    items = body.get("instances") or [dict(zip(body["inputs"], v)) for v in zip(*body["inputs"].values())]
    results = response.get("predictions") or response["outputs"]
    assert len(results) == len(items) == 1
    item, result = items[0], results[0]
    if output.endswith("_bytes"):
        images = [cv2.imdecode(np.frombuffer(base64.b64decode(item[f"{role}_bytes"]["b64"]), np.uint8),
                               cv2.IMREAD_UNCHANGED) for role in inputs]
        got = cv2.imdecode(np.frombuffer(base64.b64decode(result["b64"]), np.uint8), cv2.IMREAD_UNCHANGED)
        floats = [np.asarray(i, np.float32).reshape(*i.shape[:2], -1) / 255 for i in images]
        got = got.reshape(*got.shape[:2], -1).astype(np.float32) / 255
    else:
        scale = 255.0 if body.get("signature_name") == "serving_uint8" else 1.0
        floats = [np.asarray(item[role], np.float32) / scale for role in inputs]
        got = np.asarray(result, np.float32) / scale
    expected = graph(*(tf.constant(f[None]) for f in floats)).numpy()[0]
    assert got.shape == expected.shape == floats[0].shape[:2] + (expected.shape[-1],)
    assert np.abs(got - expected).max() <= (1 / 255 if scale_of(body) else 1e-5)
    assert got.std() > 0  # an image, not a constant


def scale_of(body):
    return body.get("signature_name") in ("serving_uint8", "serving_bytes")


@pytest.mark.slow
def test_documented_tflite_snippet_matches_fuse(tmp_path):
    """docs/serving.md's TFLite snippet, run as written on a 640x480 pair, gives `tf-irgan fuse`'s
    image within 1.5/255 on average (float16 weights; chrominance clipped, not shrunk)."""
    from click.testing import CliRunner

    from tf_irgan.cli.main import cli
    from tf_irgan.export import export_tflite

    text = (Path(__file__).resolve().parents[1] / "docs" / "serving.md").read_text()
    section = text[text.index("## TensorFlow Lite"):]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    examples = Path(__file__).resolve().parents[1] / "examples"
    vis = cv2.resize(cv2.imread(str(examples / "vis.png")), (640, 480), interpolation=cv2.INTER_AREA)
    ir = cv2.resize(cv2.imread(str(examples / "ir.png"), cv2.IMREAD_GRAYSCALE), (160, 120),
                    interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(tmp_path / "vis.png"), vis)
    cv2.imwrite(str(tmp_path / "ir.png"), ir)
    export_tflite("ddcgan-ir-vis-x4", tmp_path / "x4-640x480.tflite", "640x480")
    cwd = Path.cwd()
    try:
        os.chdir(tmp_path)
        exec(compile(snippet, "docs/serving.md", "exec"), {})
    finally:
        os.chdir(cwd)
    result = CliRunner().invoke(cli, ["fuse", str(tmp_path / "vis.png"), str(tmp_path / "ir.png"),
                                      "-o", str(tmp_path / "cli.png")])
    assert result.exit_code == 0, result.output
    snippet_out = cv2.imread(str(tmp_path / "fused.png")).astype(np.float64)
    cli_out = cv2.imread(str(tmp_path / "cli.png")).astype(np.float64)
    assert snippet_out.shape == cli_out.shape == (480, 640, 3)
    assert np.abs(snippet_out - cli_out).mean() < 1.5, np.abs(snippet_out - cli_out).mean()
