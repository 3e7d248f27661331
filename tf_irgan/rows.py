"""Whole-image arithmetic a band of rows at a time.

numpy evaluates `a.astype(np.float64) @ m` or `np.clip(x * 255, 0, 255)` by making full-size
temporaries, several per expression: on a 12000x12000 color image one such line costs gigabytes
(a fusion of that size was ended by the out-of-memory killer at 21 GB). Running the same
expression on bands of rows gives the same numbers with temporaries the size of one band.
"""

from __future__ import annotations

import numpy as np

# Pixels per band: 4 Mi pixels keeps a float64 RGB temporary at 96 MiB, and bands of a 640x480
# frame are the whole frame (no overhead where images are small).
BAND_PIXELS = 1 << 22


def band_rows(width: int, pixels: int | None = None) -> int:
    """Rows per band for an image `width` pixels wide."""
    return max(1, (pixels or BAND_PIXELS) // max(1, width))


def bands_of(image):
    """Bands of rows of an array (any channels), or of anything sliced by rows as one is (a
    streamed file, `rowfiles.RowReader`), top to bottom."""
    step = band_rows(int(np.prod(image.shape[1:])))
    for top in range(0, image.shape[0], step):
        yield image[top:top + step]


def by_rows(function, out: np.ndarray, *arrays: np.ndarray, pixels: int | None = None) -> np.ndarray:
    """out[r0:r1] = function(*(a[r0:r1] for a in arrays)) for bands of rows; returns `out`.
    Every array has the image's rows first; `function` must be elementwise or per pixel
    along the rows (no neighbourhoods)."""
    height = out.shape[0]
    step = band_rows(out.shape[1] if out.ndim > 1 else 1, pixels)
    for top in range(0, height, step):
        band = slice(top, min(height, top + step))
        out[band] = function(*(a[band] for a in arrays))
    return out
