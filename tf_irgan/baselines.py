"""Classical fusion baselines that every learned model should beat: average, maximum and a
Laplacian pyramid. Inputs are same-size grayscale float images in [0, 1]; outputs too."""

from __future__ import annotations

import cv2
import numpy as np

from tf_irgan.errors import UserError


def _check_pair(vis, ir) -> tuple[np.ndarray, np.ndarray]:
    vis = np.asarray(vis, dtype=np.float32)
    ir = np.asarray(ir, dtype=np.float32)
    if vis.ndim != 2 or ir.ndim != 2:
        raise UserError(f"baseline fusion needs grayscale images, got shapes {vis.shape} and "
                        f"{ir.shape}; convert color images with tf_irgan.images.to_gray")
    if vis.shape != ir.shape:
        raise UserError(f"visible {vis.shape[1]}x{vis.shape[0]} and IR {ir.shape[1]}x{ir.shape[0]} "
                        "differ in size; resize one to the other first")
    return vis, ir


def average(vis, ir) -> np.ndarray:
    """Pixel-wise mean of the two images."""
    vis, ir = _check_pair(vis, ir)
    return np.clip((vis + ir) / 2.0, 0.0, 1.0)


def maximum(vis, ir) -> np.ndarray:
    """Pixel-wise maximum: keeps hot IR targets and bright visible detail."""
    vis, ir = _check_pair(vis, ir)
    return np.clip(np.maximum(vis, ir), 0.0, 1.0)


def _laplacian_bands(image: np.ndarray, levels: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Detail bands (finest first) and the low-pass base of a Laplacian pyramid."""
    bands = []
    current = image
    for _ in range(levels):
        # A level below 2 pixels cannot be halved again; fewer levels beat a crash.
        if min(current.shape) < 2:
            break
        smaller = cv2.pyrDown(current)
        # Explicit dstsize restores odd sizes exactly (pyrDown rounds up).
        expanded = cv2.pyrUp(smaller, dstsize=(current.shape[1], current.shape[0]))
        bands.append(current - expanded)
        current = smaller
    return bands, current


def laplacian_pyramid(vis, ir, levels: int = 4) -> np.ndarray:
    """Laplacian-pyramid fusion: larger-magnitude detail wins, the base is averaged.

    `levels` is the number of detail bands (the base sits at 1/2^levels of the size); small
    images get fewer bands. Any size, odd ones included.
    """
    if levels < 0:
        raise UserError(f"pyramid levels must be 0 or more, got {levels}")
    vis, ir = _check_pair(vis, ir)
    vis_bands, vis_base = _laplacian_bands(vis, levels)
    ir_bands, ir_base = _laplacian_bands(ir, levels)
    fused = (vis_base + ir_base) / 2.0
    for vis_band, ir_band in zip(reversed(vis_bands), reversed(ir_bands)):
        detail = np.where(np.abs(vis_band) >= np.abs(ir_band), vis_band, ir_band)
        fused = cv2.pyrUp(fused, dstsize=(detail.shape[1], detail.shape[0])) + detail
    return np.clip(fused, 0.0, 1.0).astype(np.float32)


METHODS = {
    "average": average,
    "max": maximum,
    "laplacian": laplacian_pyramid,
}
# How `fuse` runs each a band of rows at a time on large images: (unit, margin), the band's
# first row on a multiple of `unit` (where the whole image's pyramid samples) and `margin` rows
# of context above and below, past the reach of the filters (the pyramid's 5x5 kernels, down
# and up four levels: under 64 rows). Each band then gives exactly its rows of the whole
# image's result.
BANDED = {"average": (1, 0), "max": (1, 0), "laplacian": (16, 128)}


class LinearMap:
    """The translation baseline: target = source @ weights + bias, one global linear map per
    output channel, fitted by least squares on training pairs (vis2ir: IR from R, G, B;
    ir2vis: each of R, G, B from IR). A learned translator has to beat it to be worth running."""

    def __init__(self, weights: np.ndarray, bias: np.ndarray):
        self.weights, self.bias = np.asarray(weights, np.float64), np.asarray(bias, np.float64)

    @classmethod
    def fit(cls, sources: list, targets: list, samples_per_pair: int = 20_000, seed: int = 0):
        """Fit on (H, W, C_in) / (H, W, C_out) pairs, from a random sample of each pair's pixels."""
        rng = np.random.default_rng(seed)
        xs, ys = [], []
        for source, target in zip(sources, targets):
            x = source.reshape(-1, source.shape[-1])
            y = target.reshape(-1, target.shape[-1])
            pick = rng.choice(len(x), min(samples_per_pair, len(x)), replace=False)
            xs.append(x[pick])
            ys.append(y[pick])
        x, y = np.concatenate(xs).astype(np.float64), np.concatenate(ys).astype(np.float64)
        design = np.concatenate([x, np.ones((len(x), 1))], axis=1)
        solution, *_ = np.linalg.lstsq(design, y, rcond=None)
        return cls(solution[:-1], solution[-1])

    def __call__(self, source: np.ndarray) -> np.ndarray:
        """(H, W, C_in) -> (H, W) for one output channel, (H, W, 3) for three."""
        out = np.clip(source.astype(np.float64) @ self.weights + self.bias, 0.0, 1.0).astype(np.float32)
        return out[..., 0] if out.shape[-1] == 1 else out
