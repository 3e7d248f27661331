"""The translation pipeline: one image of any size through a pix2pix generator.
`tf-irgan translate`, the report and the SavedModel export go through it.

1. Channels (numpy): a color image given to a 1-channel model is reduced to its luminance, a
   gray image given to a 3-channel model is repeated over three channels, each with a note.
2. The graph part (TF ops, `translate_tensor`): mirror-pad to the U-Net's multiple (2**depth),
   centred so that both borders get the same context, run the generator in inference mode
   (batch norm on its moving statistics, dropout off), crop back. The content is never resized:
   the output has the input's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tf_irgan.errors import UserError
from tf_irgan.images import level_statistics, to_gray
from tf_irgan.presets import check_finite

DEFAULT_PRESET = "pix2pix-vis2ir"
# An input is unlike a preset's training inputs (`input_levels` in its metadata) when its mean
# level lies this far outside theirs, or its contrast (std) below half their lowest or above
# twice their highest: a night street given to a daytime model comes out a confident grey.
LEVEL_MARGIN, CONTRAST_FACTOR = 0.1, 2.0


@dataclass
class TranslateResult:
    image: np.ndarray          # float32 [0, 1], (H, W) or (H, W, 3)
    preset: str
    notes: list = field(default_factory=list)


def _mirror_indices(length, before, after):
    """Indices of a sequence of `length` extended by `before`/`after` mirrored samples (edge
    not repeated, any amount: the mirror repeats with period 2 * (length - 1))."""
    import tensorflow as tf

    positions = tf.range(-before, length + after)
    period = tf.maximum(2 * (length - 1), 1)
    folded = tf.math.floormod(positions, period)
    return tf.where(folded < length, folded, period - folded)


def mirror_pad_to_multiple(images, multiple: int):
    """(B, H, W, C) -> (padded, (top, left)): mirrored on all sides to multiples of `multiple`,
    centred. Unlike tf.pad(REFLECT), any amount of padding works, even beyond the image size."""
    import tensorflow as tf

    height, width = tf.shape(images)[1], tf.shape(images)[2]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    top, left = pad_h // 2, pad_w // 2
    rows = _mirror_indices(height, top, pad_h - top)
    cols = _mirror_indices(width, left, pad_w - left)
    return tf.gather(tf.gather(images, rows, axis=1), cols, axis=2), (top, left)


def translate_tensor(model, images):
    """(B, H, W, C_in) float32 [0, 1] -> (B, H, W, C_out): pad, generate, crop."""
    import tensorflow as tf

    height, width = tf.shape(images)[1], tf.shape(images)[2]
    padded, (top, left) = mirror_pad_to_multiple(images, model.multiple)
    out = tf.cast(model(padded, training=False), tf.float32)
    return tf.clip_by_value(out[:, top:top + height, left:left + width, :], 0.0, 1.0)


def serving_graph(preset):
    """The SavedModel's part of this pipeline: ({input role: channels}, function -> output).
    Channels are the model's own; the CLI's color/gray conversion is the client's job there."""
    model = preset.model
    return {preset.input_roles[0]: model.in_channels}, lambda image: translate_tensor(model, image)


def unlike_training(image: np.ndarray, levels: dict | None) -> str | None:
    """How an input differs from a preset's training inputs (`input_levels`: the range of their
    mean level and contrast), or None when it lies within them (or nothing is recorded)."""
    if not levels:
        return None
    mean, std = level_statistics(image)
    (low, high), (flat, busy) = levels["mean"], levels["std"]
    said = []
    if not low - LEVEL_MARGIN <= mean <= high + LEVEL_MARGIN:
        said.append(f"mean level {mean:.2f}, its training inputs {low:.2f}-{high:.2f}")
    if not flat / CONTRAST_FACTOR <= std <= busy * CONTRAST_FACTOR:
        said.append(f"contrast (std) {std:.2f}, its training inputs {flat:.2f}-{busy:.2f}")
    return "; ".join(said) or None


def translate_image(image: np.ndarray, preset=None, name: str = "input",
                    precision: str = "auto") -> TranslateResult:
    """Translate one image (float [0, 1], gray (H, W) or RGB (H, W, 3)) with a translation
    preset (default: pix2pix-vis2ir); `precision` as in `fuse_images`."""
    import tensorflow as tf

    from tf_irgan.presets import load_preset

    loaded = load_preset(preset or DEFAULT_PRESET, precision)
    if loaded.task != "translation":
        raise UserError(f"{preset}: is a {loaded.task} model; translate needs a translation preset "
                        "(see `tf-irgan presets`)")
    model, notes = loaded.model, []
    if model.in_channels == 1 and image.ndim == 3:
        image = to_gray(image)
        notes.append(f"{name}: color input reduced to its luminance for the 1-channel {loaded.name}")
    if model.in_channels == 3 and image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
        notes.append(f"{name}: gray input repeated over three channels for the color {loaded.name}")
    unlike = unlike_training(image, loaded.metadata.get("input_levels"))
    if unlike:
        notes.append(f"{name}: unlike what {loaded.name} was trained on ({unlike}); expect a "
                     "less faithful result, or train on images like it (`tf-irgan train`)")
    if image.ndim == 2:
        image = image[..., None]
    out = translate_tensor(model, tf.constant(image[None], tf.float32)).numpy()[0]
    out = out[..., 0] if out.shape[-1] == 1 else out
    check_finite(out, loaded, name)
    return TranslateResult(out.astype(np.float32), loaded.name, notes)
