"""SavedModel export for TF Serving, for every task (and TFLite and ONNX files, below).

Layout: `OUT/<version>/` (saved_model.pb, variables/, assets/tf_irgan_preset.json), which
`tensorflow/serving` loads as is with OUT as the model base path (docs/serving.md).
Two signatures: `serving_default` takes float32 images in [0, 1] named by the task's input roles
(fusion: the modality's, "vis" and "ir" or "mri" and "pet" (SPECT, CT), (B, H, W, 1) and
(B, h, w, 1); translation: "image" (B, H, W, C)) and returns
the output role ("fused", "translated"); `serving_uint8` the same in uint8 0-255;
`serving_bytes` takes encoded image files ("<role>_bytes", one string per batch item, base64 in
REST JSON) and returns PNG files ("<output>_bytes"), each image at its own size. Any size: the
functions are the task pipeline's graph part (`tf_irgan.pipelines.<task>.serving_graph`), the
code `tf-irgan fuse`/`translate` run, on the whole image instead of tiles.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from tf_irgan.errors import UserError

PRESET_ASSET = "tf_irgan_preset.json"


def export_saved_model(name_or_dir, out, version: int = 1, overwrite: bool = False) -> Path:
    """Write the preset as `out/<version>/`; returns that folder."""
    import keras
    import tensorflow as tf

    from tf_irgan.files import atomic_path, check_outputs, write_text
    from tf_irgan.pipelines import serving_graph
    from tf_irgan.presets import load_preset
    from tf_irgan.version import __version__

    out = Path(out)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise UserError(f"--version {version}: TF Serving versions are whole numbers from 1")
    if (out / "saved_model.pb").exists():
        raise UserError(f"{out}: holds a SavedModel itself; TF Serving wants OUT/<version>/, so "
                        "pass its parent folder or a new -o")
    target = out / str(version)
    check_outputs([target], overwrite, folders=True)
    preset = load_preset(name_or_dir)
    inputs, graph = serving_graph(preset)
    graph = _validated(graph, inputs, preset)
    output = preset.output_role

    def specs(dtype):
        return [tf.TensorSpec([None, None, None, channels], dtype, name=role)
                for role, channels in inputs.items()]

    @tf.function(input_signature=specs(tf.float32))
    def serving_default(*images):
        return {output: graph(*images)}

    @tf.function(input_signature=specs(tf.uint8))
    def serving_uint8(*images):
        result = graph(*(tf.cast(image, tf.float32) / 255.0 for image in images))
        return {output: tf.cast(tf.round(result * 255.0), tf.uint8)}

    # Encoded images, for REST clients: TF Serving passes {"b64": ...} JSON values as strings
    # and base64-encodes string outputs whose name ends in "_bytes".
    bytes_specs = [tf.TensorSpec([None], tf.string, name=f"{role}_bytes") for role in inputs]

    @tf.function(input_signature=bytes_specs)
    def serving_bytes(*encoded):
        def one(files):
            images = [tf.cast(tf.io.decode_image(data, channels=channels, expand_animations=False),
                              tf.float32)[None] / 255.0
                      for data, channels in zip(files, inputs.values())]
            result = graph(*images)[0]
            return tf.io.encode_png(tf.cast(tf.round(result * 255.0), tf.uint8))
        return {f"{output}_bytes": tf.map_fn(one, tuple(encoded), fn_output_signature=tf.string)}

    archive = keras.export.ExportArchive()
    archive.track(preset.model)
    archive.add_endpoint("serving_default", serving_default)
    archive.add_endpoint("serving_uint8", serving_uint8)
    archive.add_endpoint("serving_bytes", serving_bytes)
    description = {"preset": preset.name, "task": preset.task, "tf_irgan_version": __version__,
                   "inputs": {role: {"channels": c, "range": "[0, 1] float32 or 0-255 uint8"}
                              for role, c in inputs.items()},
                   "output": output,
                   "signatures": {"serving_default": "float32 [0, 1] images",
                                  "serving_uint8": "uint8 images",
                                  "serving_bytes": "PNG/JPEG/BMP files in, PNG out (*_bytes)"},
                   "network": preset.config, "metadata": preset.metadata}
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target, overwrite=True, folder=True) as tmp:
        tmp.rmdir()  # ExportArchive creates the folder itself
        archive.write_out(str(tmp), verbose=False)
        (tmp / "assets").mkdir(exist_ok=True)
        write_text(tmp / "assets" / PRESET_ASSET, json.dumps(description, indent=2))
    return target


QUANTIZATIONS = ("float16", "int8")
def _validated(graph, inputs: dict, preset):
    """`graph` behind the checks the CLI makes on arrays, as graph assertions: a request the
    model cannot serve fails with a message naming the input and what it expects (TF Serving
    returns it as INVALID_ARGUMENT), never with an error from inside the network or an all-NaN
    image. Channels, finite values and, for fusion, the size ratio
    (`pipelines.fusion.check_serves`'s rule: the second image at the model's ratio, or at the
    first one's size)."""
    import tensorflow as tf

    from tf_irgan.pipelines.fusion import SLACK

    roles = list(inputs)
    scale = preset.scale if preset.task == "fusion" else None

    def checked(*images):
        checks = []
        for (role, channels), image in zip(inputs.items(), images):
            shape = tf.shape(image)
            checks.append(tf.debugging.assert_equal(
                shape[3], channels, message=f"{role}: expected {channels} channel(s): "
                                            f"(batch, height, width, {channels})"))
            checks.append(tf.debugging.assert_all_finite(
                image, f"{role}: holds NaN or infinite values; send values in [0, 1]"))
        if scale is not None:
            first, second = (tf.cast(tf.shape(image)[1:3], tf.float32) for image in images)
            ratios = first / second
            low, high = (1 / SLACK, 2.0) if scale == 1 else (scale / 2, scale * SLACK)
            serves = tf.reduce_all(ratios >= low) & tf.reduce_all(ratios <= high)
            same = tf.reduce_all(tf.equal(first, second))
            checks.append(tf.debugging.Assert(serves | same, [
                f"{roles[1]}: its height and width must be 1/{scale} of those of {roles[0]} "
                f"(ratios {low:.2f}-{high:.2f} per side{', or the same size' if scale > 1 else ''});"
                f" got {roles[0]} (height, width) and {roles[1]} (height, width):", first, second]))
        with tf.control_dependencies(checks):
            return graph(*(tf.identity(image) for image in images))
    return checked


CALIBRATION_PAIRS = 32  # representative pairs for int8 ranges (more change little, cost minutes)


def parse_size(text: str) -> tuple[int, int]:
    """"640x480" (width x height, as cameras name it) -> (height, width)."""
    width, sep, height = str(text).lower().partition("x")
    if not sep or not width.strip().isdigit() or not height.strip().isdigit() \
            or int(width) < 8 or int(height) < 8:
        raise UserError(f"--size {text}: expected WIDTHxHEIGHT in pixels, at least 8x8, e.g. 640x480")
    return int(height), int(width)


def export_tflite(name_or_dir, out, size: str, quantize: str = "float16", calibration=None,
                  overwrite: bool = False) -> Path:
    """A TensorFlow Lite model of the preset for one input size (edge devices have one camera
    resolution): float32 inputs and outputs in [0, 1], weights in float16, or int8 weights and
    activations calibrated on real pairs (`calibration`: a folder with vi/ and ir/)."""
    import keras
    import tensorflow as tf

    from tf_irgan.files import check_outputs, write_bytes
    from tf_irgan.pipelines import serving_graph
    from tf_irgan.presets import load_preset

    out = Path(out)
    if quantize not in QUANTIZATIONS:
        raise UserError(f"--quantize {quantize}: use {' or '.join(QUANTIZATIONS)}")
    if out.suffix != ".tflite":
        raise UserError(f"{out}: a TFLite model is one file; name it *.tflite")
    if quantize == "int8" and calibration is None:
        raise UserError("--quantize int8 needs --calibration DIR: a folder with vi/ and ir/ holding "
                        "real pairs like those the model will see (its value ranges set the int8 scales)")
    check_outputs([out], overwrite)
    height, width = parse_size(size)
    preset = load_preset(name_or_dir)
    inputs, graph = serving_graph(preset)
    shapes = {role: _input_shape(preset, role, height, width, c) for role, c in inputs.items()}
    specs = [tf.TensorSpec(shape, tf.float32, name=role) for role, shape in shapes.items()]
    function = tf.function(lambda *images: {preset.output_role: graph(*images)}, input_signature=specs)
    # Through a fixed-size SavedModel: converting the concrete function directly leaves Keras 3
    # variables out of the model (a 44 kB file that outputs NaN).
    archive = keras.export.ExportArchive()
    archive.track(preset.model)
    archive.add_endpoint("serving_default", function)
    samples = _calibration_samples(preset, calibration, shapes) if quantize == "int8" else None
    with tempfile.TemporaryDirectory(prefix="tf-irgan-tflite-") as folder:
        archive.write_out(folder, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=["serving_default"])
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if samples is None:
            converter.target_spec.supported_types = [tf.float16]
        else:
            converter.representative_dataset = lambda: iter(samples)
        try:
            model = converter.convert()
        except Exception as err:  # ConverterError and others, with long logs
            raise UserError(f"{preset.path}: TFLite conversion failed "
                            f"({str(err).splitlines()[0][:200]})") from None
    if samples is not None:
        _check_int8(model, samples[:2], graph, preset, out)
    return write_bytes(out, model, overwrite=overwrite)


def export_onnx(name_or_dir, out, size: str | None = None, overwrite: bool = False) -> Path:
    """An ONNX model of the preset's pipeline graph (what `serving_default` computes: float32
    images in [0, 1] named by the input roles, the output role out), for ONNX Runtime and the
    engines that read ONNX. Fusion presets take any size (the IR at the model's ratio or at the
    visible size); translation presets one size (`size`, WIDTHxHEIGHT), since their
    any-amount mirror padding does not convert for unknown sizes. The file is checked before it
    is written: ONNX Runtime runs it on a sample and must give the TensorFlow graph's result."""
    try:
        import onnxruntime
        import tf2onnx
    except ImportError:
        raise UserError("--format onnx needs the onnx extra: pip install 'tf-irgan[onnx]' (or "
                        "tf2onnx, onnx and onnxruntime)") from None
    import tensorflow as tf

    from tf_irgan.files import check_outputs, write_bytes
    from tf_irgan.pipelines import serving_graph
    from tf_irgan.presets import load_preset

    out = Path(out)
    if out.suffix != ".onnx":
        raise UserError(f"{out}: an ONNX model is one file; name it *.onnx")
    check_outputs([out], overwrite)
    preset = load_preset(name_or_dir)
    if preset.task != "fusion" and not size:
        raise UserError(f"{preset.name}: a translation model converts to ONNX for one input size; "
                        "pass --size WIDTHxHEIGHT (e.g. 640x480)")
    height, width = parse_size(size) if size else (None, None)
    inputs, graph = serving_graph(preset)
    specs = [tf.TensorSpec(_input_shape(preset, role, height, width, channels) if size else
                           [None, None, None, channels], tf.float32, name=role)
             for role, channels in inputs.items()]
    try:
        model, _ = tf2onnx.convert.from_function(tf.function(graph), input_signature=specs,
                                                 opset=ONNX_OPSET)
    except Exception as err:  # converter errors come with long logs
        raise UserError(f"{preset.path}: ONNX conversion failed ({_first_line(err)})") from None
    data = model.SerializeToString()
    # The same samples through both: a converter that drops or reorders an op fails here. Odd
    # sizes (the padding paths) and, for fusion, the second image at the first one's size too.
    samples = [(height, width, False)] if size else [(97, 131, False), (97, 131, True)]
    rng = np.random.default_rng(0)
    try:
        session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        for sample_h, sample_w, same_size in samples:
            feeds = {role: rng.random(_input_shape(preset, role, sample_h, sample_w, channels)
                                      if not same_size else [1, sample_h, sample_w, channels]
                                      ).astype(np.float32)
                     for role, channels in inputs.items()}
            got = session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})[0]
            expected = graph(*[tf.constant(v) for v in feeds.values()]).numpy()
            if got.shape != expected.shape or float(np.abs(got - expected).max()) > ONNX_TOLERANCE:
                raise UserError(f"{preset.name}: the ONNX model does not compute what the preset "
                                "does (checked on a sample); export --format saved-model or "
                                "tflite instead")
    except UserError:
        raise
    except Exception as err:  # ONNX Runtime refusing the file
        raise UserError(f"{preset.name}: ONNX Runtime cannot run the converted model "
                        f"({_first_line(err)}); export --format saved-model or tflite "
                        "instead") from None
    return write_bytes(out, data, overwrite=overwrite)


def _first_line(error: BaseException) -> str:
    """An exception's first line, for a one-line message (some carry no text at all)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


ONNX_OPSET = 17          # ONNX Runtime 1.14 and later run it
ONNX_TOLERANCE = 1e-4    # largest difference from the TensorFlow graph, in [0, 1] units
INT8_TOLERANCE = 0.02  # mean absolute difference in [0, 1] from the float model


def _check_int8(model: bytes, samples, graph, preset, out) -> None:
    """Refuse an int8 model that strays from the float one on calibration pairs: full-integer
    quantization breaks some networks (pix2pix's instance norm: 0.17 mean difference,
    docs/benchmarks.md)."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=model)
    interpreter.allocate_tensors()
    order = {detail["name"].split("serving_default_")[-1].split(":")[0]: detail["index"]
             for detail in interpreter.get_input_details()}
    differences = []
    for sample in samples:
        for role, index in order.items():
            interpreter.set_tensor(index, sample[role])
        try:
            interpreter.invoke()
        except RuntimeError as error:
            # E.g. the pyramid generator's border weights, a division by a tensor that int8
            # rounds to zero ("div.cc ... data[i] != 0"): the model cannot run in int8 at all.
            reason = str(error).strip().splitlines()[0][:160]
            raise UserError(f"{out}: not written: {preset.name} does not run in int8 (the int8 "
                            f"model fails: {reason}); use --quantize float16") from None
        quantized = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        reference = graph(*(tf.constant(image) for image in sample.values())).numpy()
        differences.append(float(np.abs(quantized - reference).mean()))
    if np.mean(differences) > INT8_TOLERANCE:
        raise UserError(f"{out}: not written: int8 quantization changes {preset.name}'s output by "
                        f"{np.mean(differences) * 255:.1f}/255 on average on the calibration pairs "
                        f"(tolerance {INT8_TOLERANCE * 255:.0f}/255); use --quantize float16")


def _input_shape(preset, role, height, width, channels):
    """Fusion's second input is at the model's ratio (rounded up); others at the given size."""
    if preset.task == "fusion" and role == preset.input_roles[1]:
        scale = preset.scale
        return [1, -(-height // scale), -(-width // scale), channels]
    return [1, height, width, channels]


def _calibration_samples(preset, folder, shapes):
    import cv2

    from tf_irgan.data.pairs import load_pairs

    roles = list(shapes)
    if preset.task == "fusion":
        if preset.modality != "ir-vis":
            raise UserError(f"{preset.path}: int8 calibration reads IR/visible pairs, not "
                            f"{preset.modality}; use --quantize float16")
        sides, channels = ("vis", "ir"), (1, 1)
    else:
        direction = preset.metadata.get("direction", "vis2ir")
        sides, channels = (("vis", "ir") if direction == "vis2ir" else ("ir", "vis")), \
            (preset.model.in_channels, preset.model.out_channels)
    pairs = load_pairs(folder, sides[0], sides[1], channels[0], channels[1])
    samples = []
    for index in np.linspace(0, len(pairs) - 1, min(len(pairs), CALIBRATION_PAIRS)).astype(int):
        images = (pairs.sources[index], pairs.targets[index])[:len(roles)]
        sample = {}
        for role, image in zip(roles, images):
            shape = shapes[role]
            resized = cv2.resize(image, (shape[2], shape[1]), interpolation=cv2.INTER_AREA)
            sample[role] = resized.reshape(shape).astype(np.float32)
        samples.append(sample)  # by name: the converter's own input order is not ours
    return samples
