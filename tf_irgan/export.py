"""SavedModel export for TF Serving, for every task.

Layout: `OUT/<version>/` (saved_model.pb, variables/, assets/tf_irgan_preset.json), which
`tensorflow/serving` loads as is with OUT as the model base path (docs/serving.md).
Two signatures: `serving_default` takes float32 images in [0, 1] named by the task's input roles
(fusion: "vis" (B, H, W, 1) and "ir" (B, h, w, 1); translation: "image" (B, H, W, C)) and returns
the output role ("fused", "translated"); `serving_uint8` the same in uint8 0-255;
`serving_bytes` takes encoded image files ("<role>_bytes", one string per batch item, base64 in
REST JSON) and returns PNG files ("<output>_bytes"), each image at its own size. Any size: the
functions are the task pipeline's graph part (`tf_irgan.pipelines.<task>.serving_graph`), the
code `tf-irgan fuse`/`translate` run, on the whole image instead of tiles.
"""

from __future__ import annotations

import json
from pathlib import Path

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
