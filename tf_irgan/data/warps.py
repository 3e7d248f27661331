"""Known deformations of a registered pair, to measure registration (tests, benchmarks/), and
`night`, the night version of a day frame that selection and benchmarks use.

`random_warp` takes an IR image registered with its visible image and returns it seen by
another camera: a random perspective (its four corners moved ~`displacement` visible pixels) with
a mild smooth non-rigid part (RMS `elastic` pixels), at an optional other size. It keeps the
truth: for every pixel of the new IR image, where it lies on the visible frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Warp:
    image: np.ndarray      # the deformed IR image
    truth: np.ndarray      # (H, W, 2): visible-frame (x, y) of each pixel of `image`
    source: np.ndarray     # (H, W, 2): the same points in the original IR's pixels
    homography: np.ndarray  # the perspective part alone (image pixel -> visible frame)


def random_warp(ir: np.ndarray, vis_shape, rng: np.random.Generator, displacement: float = 17.0,
                elastic: float = 1.0, out_scale: float = 1.0) -> Warp:
    """`ir` (registered edge to edge with a visible image of `vis_shape`) deformed and resized
    to `out_scale` x its size. Corner moves are uniform in a square whose mean length is
    `displacement`; the non-rigid part is a 4x4 grid of normal offsets, smoothly interpolated."""
    vh, vw = vis_shape[:2]
    ih, iw = ir.shape[:2]
    oh, ow = max(8, round(ih * out_scale)), max(8, round(iw * out_scale))
    # The undeformed mapping: the new image's pixel centres spread over the visible frame.
    sx, sy = vw / ow, vh / oh
    src = np.float32([[-0.5, -0.5], [ow - 0.5, -0.5], [ow - 0.5, oh - 0.5], [-0.5, oh - 0.5]])
    dst = np.c_[(src[:, 0] + 0.5) * sx - 0.5, (src[:, 1] + 0.5) * sy - 0.5]
    half = displacement / 0.765  # the mean length of a uniform point in [-a, a]^2 is 0.765 a
    moved = (dst + rng.uniform(-half, half, size=(4, 2))).astype(np.float32)
    homography = cv2.getPerspectiveTransform(src, moved).astype(np.float64)
    xs, ys = np.meshgrid(np.arange(ow, dtype=np.float64), np.arange(oh, dtype=np.float64))
    points = np.stack([xs, ys, np.ones_like(xs)], axis=-1) @ homography.T
    truth = points[..., :2] / points[..., 2:]
    if elastic > 0:
        grid = rng.normal(0, 1, size=(4, 4, 2)).astype(np.float32)
        field = cv2.resize(grid, (ow, oh), interpolation=cv2.INTER_CUBIC).astype(np.float64)
        field *= elastic / (np.sqrt((field ** 2).sum(-1).mean()) + 1e-12)
        truth = truth + field
    # Sample the IR where each new pixel lies: visible frame -> IR pixel centres.
    map_x = ((truth[..., 0] + 0.5) * iw / vw - 0.5).astype(np.float32)
    map_y = ((truth[..., 1] + 0.5) * ih / vh - 0.5).astype(np.float32)
    # Outside the original, mirrored content: a camera sees more scene there, not a black
    # wedge whose straight edges would be easy to match.
    image = cv2.remap(ir.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REFLECT_101)
    return Warp(image, truth.astype(np.float32), np.dstack([map_x, map_y]), homography)


def end_point_error(homography: np.ndarray, warp: Warp, vis_shape, step: int = 8,
                    base: np.ndarray | None = None) -> float:
    """Mean distance on the visible frame between where `homography` (IR image -> visible)
    and the truth put the deformed image's pixels (every `step`-th pixel whose true position
    lies inside the visible frame). The truth takes the original pair as registered edge to
    edge, or, given `base` (original IR pixel -> visible), as registered by that homography:
    real pairs are off by a few pixels themselves (docs/registration.md)."""
    vh, vw = vis_shape[:2]
    if base is None:
        truth = warp.truth[::step, ::step].reshape(-1, 2).astype(np.float64)
    else:
        source = warp.source[::step, ::step].reshape(-1, 2).astype(np.float64)
        points = np.c_[source, np.ones(len(source))] @ np.asarray(base).T
        truth = points[:, :2] / points[:, 2:]
    ys, xs = np.mgrid[0:warp.truth.shape[0]:step, 0:warp.truth.shape[1]:step]
    points = np.c_[xs.ravel(), ys.ravel(), np.ones(xs.size)] @ homography.T
    mapped = points[:, :2] / points[:, 2:]
    inside = ((truth[:, 0] >= 0) & (truth[:, 0] <= vw - 1)
              & (truth[:, 1] >= 0) & (truth[:, 1] <= vh - 1))
    return float(np.linalg.norm(mapped[inside] - truth[inside], axis=1).mean())


NIGHT_GAIN, NIGHT_GAMMA, NIGHT_NOISE = 0.2, 1.5, 0.01


def night(vis: np.ndarray, seed: int) -> np.ndarray:
    """A night version of a day frame: darker (gamma 1.5, x0.2), sensor noise, 8-bit again."""
    noise = np.random.default_rng(seed).normal(0, NIGHT_NOISE, vis.shape)
    return (np.round(np.clip(vis ** NIGHT_GAMMA * NIGHT_GAIN + noise, 0, 1) * 255) / 255).astype(
        np.float32)
