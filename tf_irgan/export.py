"""SavedModel export for TF Serving.

Two signatures: `serving_default` takes float32 images in [0, 1] ("vis" (B, H, W, 1) and "ir"
(B, H/s, W/s, 1)) and returns "fused" (B, H, W, 1); `serving_uint8` takes and returns uint8
0-255. The visible size need not be a multiple of the scale: the serving function reflect-pads
to one and crops back, like `tf-irgan fuse`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tf_irgan.errors import UserError


def export_saved_model(name_or_dir, out, overwrite: bool = False) -> Path:
    import keras
    import tensorflow as tf
    from tf_irgan.checkpoints import load_preset

    out = Path(out)
    if out.exists() and not overwrite:
        raise UserError(f"{out}: already exists; pass --overwrite or choose another folder")
    preset = load_preset(name_or_dir)
    model, scale = preset.model, preset.scale

    def fuse_float(vis, ir):
        height, width = tf.shape(vis)[1], tf.shape(vis)[2]
        pad_h, pad_w = (-height) % scale, (-width) % scale
        vis_padded = tf.pad(vis, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="REFLECT")
        ir_h, ir_w = (height + pad_h) // scale, (width + pad_w) // scale
        ir_fit = tf.image.resize(ir, tf.stack([ir_h, ir_w]), method="bicubic")
        ir_fit = tf.where(tf.reduce_all(tf.shape(ir)[1:3] == tf.stack([ir_h, ir_w])), ir, ir_fit)
        fused = model({"vis": vis_padded, "ir": tf.clip_by_value(ir_fit, 0.0, 1.0)}, training=False)
        return fused[:, :height, :width, :]

    float_spec = tf.TensorSpec([None, None, None, 1], tf.float32)
    uint8_spec = tf.TensorSpec([None, None, None, 1], tf.uint8)

    @tf.function(input_signature=[float_spec, float_spec])
    def serving_default(vis, ir):
        return {"fused": fuse_float(vis, ir)}

    @tf.function(input_signature=[uint8_spec, uint8_spec])
    def serving_uint8(vis, ir):
        fused = fuse_float(tf.cast(vis, tf.float32) / 255.0, tf.cast(ir, tf.float32) / 255.0)
        return {"fused": tf.cast(tf.round(tf.clip_by_value(fused, 0.0, 1.0) * 255.0), tf.uint8)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serving_default)
    archive.add_endpoint("serving_uint8", serving_uint8)
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    archive.write_out(str(tmp), verbose=False)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out
