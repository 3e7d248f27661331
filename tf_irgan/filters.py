"""Fixed separable filters on (B, H, W, 1) images, renormalised at the borders.

One helper for the pyramid's binomial filters and the IR enlargements (bilinear, cubic): a 2-D
kernel that is the outer product of 1-D taps is two 1-D passes, and the border weights (what a
ones image would give) are a product of one column and one row, computed on those alone instead
of on a whole ones image. Every operation is in `keras.ops` and traces with unknown image sizes
(SavedModel signatures), so any size works, odd ones included.
"""

from __future__ import annotations

import numpy as np
from keras import ops


def along(images, taps, axis, stride=1, transpose=False):
    """`taps` (1-D, odd length unless transposed) along one axis (1: height, 2: width) with zero
    padding: plain (centred), every `stride`-th output (centred on inputs 0, stride, ...), or
    transposed at `stride` (input i spreads onto outputs around stride * i: an enlargement)."""
    shape = (len(taps), 1, 1, 1) if axis == 1 else (1, len(taps), 1, 1)
    kernel = ops.cast(ops.convert_to_tensor(np.asarray(taps, np.float32).reshape(shape)), images.dtype)
    strides = (stride, 1) if axis == 1 else (1, stride)
    if transpose:
        return ops.conv_transpose(images, kernel, strides=strides, padding="same")
    if stride == 1:
        return ops.conv(images, kernel, strides=1, padding="same")
    half = len(taps) // 2
    pad = [[0, 0], [half, half], [0, 0], [0, 0]] if axis == 1 else [[0, 0], [0, 0], [half, half], [0, 0]]
    return ops.conv(ops.pad(images, pad), kernel, strides=strides, padding="valid")


def separable(images, taps, stride=1, transpose=False):
    """`along` both axes; where taps fall outside the image they are dropped and the rest
    renormalised (for linear interpolation that is what clamped borders give)."""
    rows = ops.ones_like(images[:1, :, :1, :])      # (1, H, 1, 1)
    columns = ops.ones_like(images[:1, :1, :, :])   # (1, 1, W, 1)
    filtered = along(along(images, taps, 1, stride, transpose), taps, 2, stride, transpose)
    weights = along(rows, taps, 1, stride, transpose) * along(columns, taps, 2, stride, transpose)
    return filtered / weights
