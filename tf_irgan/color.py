"""Color transforms that let a single-channel fusion model keep an input's color.

YCbCr (ITU-R BT.601, full range as in JPEG) for visible images: fuse Y, put Cb/Cr back.
IHS (the linear variant DDcGAN uses for PET): I = (R+G+B)/sqrt(3), v1 = (R+G-2B)/sqrt(6),
v2 = (R-G)/sqrt(2). The matrix is orthonormal, so the inverse is its transpose. `rgb_to_ihs`
returns I rescaled to [0, 1] (I / sqrt(3), the channel mean) so it can feed a model directly.
"""

import numpy as np

from tf_irgan.rows import by_rows

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
    """Put a new Y channel under an RGB image's chrominance (hue kept where it leaves the gamut)."""
    return COLOR_SPACES["ycbcr"].restore_color(luma, rgb)


def replace_intensity(rgb: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    """Put a new IHS intensity under an RGB image's hue and saturation (v1, v2)."""
    return COLOR_SPACES["ihs"].restore_color(intensity, rgb)


def fit_gamut(gray, chroma, ops):
    """gray + t * chroma with, per pixel, the largest t in [0, 1] that keeps R, G and B in [0, 1].

    A new intensity under strong color can leave the RGB cube; clipping each channel on its own
    would turn a bright saturated red towards yellow. Shrinking the chroma instead keeps the hue
    (and the intensity), losing only saturation. `gray` (..., 1), `chroma` (..., 3): the RGB
    offset of the color channels (zero for gray); `ops` is numpy or tensorflow, so that the
    pipeline and its SavedModel compute the same thing.
    """
    tiny = 1e-6
    up = (1.0 - gray) / ops.maximum(chroma, tiny)       # channels the color pushes up
    down = gray / ops.maximum(-chroma, tiny)            # channels it pushes down
    limit = ops.where(chroma > tiny, up, ops.where(chroma < -tiny, down, ops.ones_like(chroma)))
    t = ops.minimum(ops.minimum(limit[..., 0:1], limit[..., 1:2]), limit[..., 2:3])
    t = ops.minimum(ops.maximum(t, 0.0), 1.0)
    return ops.minimum(ops.maximum(gray + t * chroma, 0.0), 1.0)


def _fit_gamut_planes(level, planes):
    """`fit_gamut` in numpy and OpenCV on planes (float32 (H, W) each: the intensity, and the
    RGB offset of the color per channel), the same numbers to float rounding: the chroma may
    grow until the channel it pushes furthest up reaches 1, (1 - level) / max(offset), and the
    one it pushes furthest down reaches 0, level / -min(offset); the smaller, at most 1, scales
    it. Planes, not (H, W, 3) arrays: numpy reduces and selects along a trailing axis of 3
    several times slower, and OpenCV's split of one costs more than the whole fit here."""
    import cv2

    tiny = np.float32(1e-6)   # a neutral channel sets no limit (its bound is then over 1)
    highest = cv2.max(cv2.max(planes[0], planes[1]), planes[2])
    lowest = cv2.min(cv2.min(planes[0], planes[1]), planes[2])
    np.maximum(highest, tiny, out=highest)
    np.minimum(lowest, -tiny, out=lowest)
    t = np.subtract(np.float32(1.0), level, dtype=np.float32)
    np.divide(t, highest, out=t)
    np.divide(level, lowest, out=lowest)
    np.negative(lowest, out=lowest)
    np.minimum(t, lowest, out=t)
    np.clip(t, 0.0, 1.0, out=t)
    out = []
    for plane in planes:
        channel = cv2.multiply(plane, t)
        cv2.add(channel, level, dst=channel)
        out.append(np.clip(channel, 0.0, 1.0, out=channel))
    return cv2.merge(out)


class _ColorSpace:
    """How a single-channel model's output goes back under a color input's color.

    `forward` (3x3) maps RGB to (intensity in [0, 1], two color channels that are 0 for gray);
    the first column of its inverse is (1, 1, 1), so RGB = intensity + the color channels' offset.
    """

    def __init__(self, name, forward):
        self.name = name
        self.forward = forward
        self.inverse = np.linalg.inv(forward)

    def luminance(self, rgb: np.ndarray) -> np.ndarray:
        """The intensity channel of an RGB array (..., 3), float32; an image a band of rows at a
        time (`tf_irgan.rows`: a whole-image float64 copy of a large image is gigabytes)."""
        if rgb.ndim != 3:
            return (rgb.astype(np.float64) @ self.forward[0]).astype(np.float32)
        import cv2

        weights = self.forward[:1].astype(np.float32)

        def band(part):   # OpenCV's per-pixel product: ~10x numpy's on (H, W, 3) arrays
            return cv2.transform(np.ascontiguousarray(part, np.float32), weights)
        return by_rows(band, np.empty(rgb.shape[:-1], np.float32), rgb)

    def restore_color(self, intensity: np.ndarray, colored: np.ndarray) -> np.ndarray:
        """RGB with `intensity` (H, W) and the color of `colored` (H, W, 3), in numpy (no
        TensorFlow: the baselines run without it); a band of rows at a time, as `luminance`."""
        # float32, as the TF ops compute it (`restore_color_tensor`); OpenCV's per-pixel matrix
        # product is ~10x numpy's on (H, W, 3) arrays, which matters at video rates.
        import cv2

        per_pixel = (self.inverse[:, 1:] @ self.forward[1:]).astype(np.float32)

        def band(level, color):
            color = np.ascontiguousarray(color, np.float32)
            planes = [cv2.transform(color, per_pixel[c:c + 1]) for c in range(3)]
            gray = np.ascontiguousarray(level, np.float32)
            return _fit_gamut_planes(gray, planes).reshape(color.shape)
        return by_rows(band, np.empty(colored.shape, np.float32), intensity, colored)

    def luminance_tensor(self, rgb):
        """The intensity channel of (B, H, W, 3) RGB tensors, (B, H, W, 1)."""
        import tensorflow as tf

        weights = tf.constant(self.forward[0][:, None], tf.float32)
        return tf.tensordot(rgb, weights, axes=[[3], [0]])

    def restore_color_tensor(self, intensity, colored):
        """`restore_color` in TF ops for (B, H, W, 1) and (B, H, W, 3) tensors (a smaller color
        image is first brought to the frame by `pipelines.fusion.align_color_tensor`). The fusion
        pipeline and its SavedModel both use this."""
        import tensorflow as tf

        forward = tf.constant(self.forward[1:].T, tf.float32)
        color = tf.tensordot(colored, forward, axes=[[3], [0]])
        chroma = tf.tensordot(color, tf.constant(self.inverse[:, 1:].T, tf.float32), axes=[[3], [0]])
        return fit_gamut(tf.cast(intensity, tf.float32), chroma, tf)


# The color space a preset fuses in is named by its metadata ("color_space"; YCbCr if absent).
# Both forward matrices give the intensity in [0, 1] (IHS: I / sqrt(3), the channel mean).
COLOR_SPACES = {
    "ycbcr": _ColorSpace("ycbcr", _YCBCR),
    "ihs": _ColorSpace("ihs", _IHS * np.array([[1 / np.sqrt(3)], [1.0], [1.0]])),
}
