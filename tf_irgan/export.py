"""SavedModel export for TF Serving.

Two signatures: `serving_default` takes float32 images in [0, 1] ("vis" (B, H, W, 1) and "ir"
(B, H/s, W/s, 1)) and returns "fused" (B, H, W, 1); `serving_uint8` takes and returns uint8
0-255. Any size: the serving functions are the fusion pipeline's graph part
(`tf_irgan.pipelines.fusion.fuse_tensor`: IR alignment, reflect padding, the generator, crop),
the same code `tf-irgan fuse` runs, on the whole image instead of tiles.
"""

from __future__ import annotations

from pathlib import Path

from tf_irgan.errors import UserError


def export_saved_model(name_or_dir, out, overwrite: bool = False) -> Path:
    import keras
    import tensorflow as tf

    from tf_irgan.files import atomic_path, check_outputs
    from tf_irgan.pipelines.fusion import fuse_tensor
    from tf_irgan.presets import load_preset

    out = Path(out)
    check_outputs([out], overwrite, folders=True)
    preset = load_preset(name_or_dir)
    if preset.task != "fusion":
        raise UserError(f"{preset.path}: is a {preset.task} model; this release exports fusion "
                        "presets only")
    model, scale = preset.model, preset.scale

    float_spec = tf.TensorSpec([None, None, None, 1], tf.float32)
    uint8_spec = tf.TensorSpec([None, None, None, 1], tf.uint8)

    @tf.function(input_signature=[float_spec, float_spec])
    def serving_default(vis, ir):
        return {"fused": fuse_tensor(model, vis, ir, scale)}

    @tf.function(input_signature=[uint8_spec, uint8_spec])
    def serving_uint8(vis, ir):
        fused = fuse_tensor(model, tf.cast(vis, tf.float32) / 255.0, tf.cast(ir, tf.float32) / 255.0,
                            scale)
        return {"fused": tf.cast(tf.round(fused * 255.0), tf.uint8)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serving_default)
    archive.add_endpoint("serving_uint8", serving_uint8)
    with atomic_path(out, overwrite=True, folder=True) as tmp:
        tmp.rmdir()  # ExportArchive creates the folder itself
        archive.write_out(str(tmp), verbose=False)
    return out
