"""Color transforms that let a single-channel fusion model keep an input's color.

YCbCr (ITU-R BT.601, full range as in JPEG) for visible images: fuse Y, put Cb/Cr back.
IHS (the linear variant DDcGAN uses for PET): I = (R+G+B)/sqrt(3), v1 = (R+G-2B)/sqrt(6),
v2 = (R-G)/sqrt(2). The matrix is orthonormal, so the inverse is its transpose. `rgb_to_ihs`
returns I rescaled to [0, 1] (I / sqrt(3), the channel mean) so it can feed a model directly.
"""

import numpy as np

_YCBCR = np.array([[0.299, 0.587, 0.114],
                   [-0.168736, -0.331264, 0.5],
                   [0.5, -0.418688, -0.081312]], dtype=np.float64)
_YCBCR_INV = np.linalg.inv(_YCBCR)

_IHS = np.array([[1 / np.sqrt(3), 1 / np.sqrt(3), 1 / np.sqrt(3)],
                 [1 / np.sqrt(6), 1 / np.sqrt(6), -2 / np.sqrt(6)],
                 [1 / np.sqrt(2), -1 / np.sqrt(2), 0.0]], dtype=np.float64)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] -> (Y, Cb, Cr) with Y in [0, 1] and Cb, Cr centred on 0.5."""
    out = rgb.astype(np.float64) @ _YCBCR.T
    out[..., 1:] += 0.5
    return out.astype(np.float32)


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    centred = ycbcr.astype(np.float64).copy()
    centred[..., 1:] -= 0.5
    return np.clip(centred @ _YCBCR_INV.T, 0.0, 1.0).astype(np.float32)


def rgb_to_ihs(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] -> (I/sqrt(3) in [0, 1], v1, v2)."""
    out = rgb.astype(np.float64) @ _IHS.T
    out[..., 0] /= np.sqrt(3)
    return out.astype(np.float32)


def ihs_to_rgb(ihs: np.ndarray) -> np.ndarray:
    scaled = ihs.astype(np.float64).copy()
    scaled[..., 0] *= np.sqrt(3)
    return np.clip(scaled @ _IHS, 0.0, 1.0).astype(np.float32)


def replace_luma(rgb: np.ndarray, luma: np.ndarray) -> np.ndarray:
    """Put a new Y channel under an RGB image's chrominance."""
    ycbcr = rgb_to_ycbcr(rgb)
    ycbcr[..., 0] = luma
    return ycbcr_to_rgb(ycbcr)


def replace_intensity(rgb: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    """Put a new IHS intensity under an RGB image's hue and saturation (v1, v2)."""
    ihs = rgb_to_ihs(rgb)
    ihs[..., 0] = intensity
    return ihs_to_rgb(ihs)


class _ColorSpace:
    """How a single-channel model's output goes back under a color input's color."""

    def __init__(self, name, luminance, replace_luminance, forward):
        self.name, self.luminance, self.replace_luminance = name, luminance, replace_luminance
        self.forward = forward  # 3x3 matrix: (intensity in [0, 1], two color channels) = forward @ rgb
        self.inverse = np.linalg.inv(forward)

    def luminance_tensor(self, rgb):
        """The intensity channel of (B, H, W, 3) RGB tensors, (B, H, W, 1)."""
        import tensorflow as tf

        weights = tf.constant(self.forward[0][:, None], tf.float32)
        return tf.tensordot(rgb, weights, axes=[[3], [0]])

    def restore_color_tensor(self, intensity, colored):
        """RGB at the size of `intensity` (B, H, W, 1) with the color of `colored` (B, h, w, 3):
        the color channels are taken from `colored`, upsampled bicubically when it is smaller,
        and the inverse transform applied. The fusion pipeline and its SavedModel both use this."""
        import tensorflow as tf

        forward = tf.constant(self.forward[1:].T, tf.float32)
        color = tf.tensordot(colored, forward, axes=[[3], [0]])
        size = tf.shape(intensity)[1:3]
        color = tf.cond(tf.reduce_all(tf.equal(tf.shape(color)[1:3], size)),
                        lambda: color, lambda: tf.image.resize(color, size, method="bicubic"))
        inverse = tf.constant(self.inverse.T, tf.float32)
        rgb = tf.tensordot(tf.concat([tf.cast(intensity, tf.float32), color], axis=-1), inverse,
                           axes=[[3], [0]])
        return tf.clip_by_value(rgb, 0.0, 1.0)


# The color space a preset fuses in is named by its metadata ("color_space"; YCbCr if absent).
# Both forward matrices give the intensity in [0, 1] (IHS: I / sqrt(3), the channel mean).
COLOR_SPACES = {
    "ycbcr": _ColorSpace("ycbcr", lambda rgb: rgb_to_ycbcr(rgb)[..., 0], replace_luma, _YCBCR),
    "ihs": _ColorSpace("ihs", lambda rgb: rgb_to_ihs(rgb)[..., 0], replace_intensity,
                       _IHS * np.array([[1 / np.sqrt(3)], [1.0], [1.0]])),
}
