"""Registration: the homography that maps an infrared image onto the visible image's frame.

Visible and IR images do not share intensities (a warm road is dark in one and bright in the
other), but they share where many edges are. So:

1. The IR is stretched onto the visible frame as if both cameras saw the same field of view
   (the convention of registered pairs of any size ratio, `images.check_aspect`).
2. Both become edge maps that ignore polarity and local contrast (`structure`).
3. Blocks of the visible map are looked up in the IR map (normalised cross-correlation), coarse
   to fine: far on the coarsest level (~12 % of the frame), a few pixels on the finer ones.
4. RANSAC fits a transform to the blocks with a clear match, so that blocks fooled by a heat
   halo or a shadow are outliers rather than a bias.
5. The simplest kind of transform the evidence asks for is kept, the identity (the pair as it
   came) included: each kind is fitted on the blocks of one half of the frame (a checkerboard
   of tiles) and scored on the other half's edges; a more general kind must win a t-test
   (`select`). The kept fit is then refined on every pixel (ECC on the edge-strength maps,
   `refine`).
6. An expected error from how the two halves' fits disagree, and a confidence calibrated on it
   and on whether a dense fit found apart from the blocks (`dense_start`) agrees with the
   transform (`expected_error`, `Registration.confidence`).
7. A pair is refused, with the reason, when too few blocks agree, when they cover too little of
   the frame, when the transform is degenerate or leaves too little overlap, or when its
   expected error is over 5 px: never a silently wrong warp. The finest blocks start from the
   coarser levels' fit or from a dense one (`dense_start`), whichever lines the edges up
   better; a refusal is estimated again from the other start before it stands.

The homography maps IR pixel centres (x, y) to visible pixel coordinates; the transform file
(`Registration.to_json`) stores it with the confidence and what was tried. docs/registration.md
has the method's reasons, its accuracy on known deformations and its limits.
"""

from __future__ import annotations

import json
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property

import cv2
import numpy as np
# Student's t quantiles from scipy.special: scipy.stats would add 1.2 s to the import (a video's
# first frame and every `register` call pay it).
from scipy.special import stdtrit

from tf_irgan.errors import UserError
from tf_irgan.images import data_mask, to_gray

MODELS = ("homography", "affine", "similarity", "shift")   # `--model`: the most general kind
# Work on the visible frame reduced to at most this many pixels on its long side (the result is
# scaled back): 640x480 is aligned at full resolution, larger frames at this size.
WORK_SIZE = 640
# Per level, coarsest first (the coarsest has a long side of 120-240 px): block size, search
# reach (share of the level's long side, each way; at least MIN_REACH px), RANSAC threshold
# (level pixels). The coarsest level finds shifts of ~12 % of the frame; each finer one only
# corrects what the one before left (elastic parts, the coarse level's half pixel). The RANSAC
# threshold and the block margin below were set on the tuning split (docs/registration.md,
# session 13): a pair's parallax leaves a homography residuals of 1-2 px, which a 2 px
# threshold cut from the agreeing blocks.
LEVELS = ((32, 0.12, 3.0), (48, 0.03, 3.0), (64, 0.012, 3.0))
MIN_REACH = 6
REFINE = 1               # extra passes of the finest level
MIN_BLOCK_SCORE = 0.2    # correlation of a block's edge maps at its best shift ...
MIN_BLOCK_MARGIN = 0.03  # ... and by how much (relative) it beats any other shift
PERSPECTIVE_GAIN = 0.8   # a homography must leave at most this share of the affine fit's RMS
# Refusals (set on warped RoadScene training pairs and on unrelated pairs made from them,
# docs/registration.md).
MIN_INLIERS = 8          # blocks agreeing with the fitted transform, on every level
MIN_INLIER_SHARE = 0.3   # ... of the clear blocks, on the finest level
MIN_SPREAD = 0.2         # share of the frame inside the agreeing blocks' hull
MIN_OVERLAP = 0.3        # share of the visible frame the IR must cover
MAX_AREA_CHANGE = 2.0    # the IR's area on the visible frame vs. the stretched start
MIN_EDGES = 0.01         # share of pixels with clear edges, in each image
MIN_SIDE = 64            # px, the visible image: smaller frames hold too few blocks
MIN_IR_SIDE = 16         # px, the IR image
ADVICE = "check that both images show the same scene (and that VIS comes first)"
FUSE_ADVICE = ADVICE + ", or fuse unregistered with --register-fallback"
FLAT_BAND = 4 / 255      # a 1-99 percentile band narrower than this is a flat image
# A transform whose expected error is over MAX_EXPECTED_ERROR px is refused. Its confidence,
# the chance that it is within 5 px: the chance of an error over 5 px is
# 1 / (1 + (CONFIDENCE_MIDPOINT / expected error) ** CONFIDENCE_POWER), one half at the
# midpoint, times CONFIRMED_FACTOR where a dense fit found apart from the blocks lies within
# CONFIRMED_PX of the transform (`Registration.confirmed`). Fitted by maximum likelihood on
# warped training pairs with the midpoint at the refusal's limit, so that an unconfirmed
# transform is refused where its confidence is under one half
# (`benchmarks/bench_registration.py --split tuning`; issue 32, docs/registration.md,
# session 19), never on the pairs reported.
MAX_EXPECTED_ERROR = 5.0
CONFIDENCE_MIDPOINT = 5.0
CONFIDENCE_POWER = 1.3
CONFIRMED_FACTOR = 0.13
CONFIRMED_PX = 2.0
MIN_EXPECTED_ERROR = 0.1  # px the curve takes at least: an expected error of 0 is not a proof


@dataclass
class Registration:
    homography: np.ndarray          # 3x3: IR pixel (x, y, 1) -> visible pixel coordinates
    vis_size: tuple                 # (width, height) of the visible frame
    ir_size: tuple                  # (width, height) of the IR image
    model: str = "homography"
    inliers: int = 0                # blocks of the finest level agreeing with the transform
    matches: int = 0                # blocks of the finest level with a clear match
    residual: float = 0.0           # median distance of the agreeing blocks, visible pixels
    spread: float = 0.0             # share of the frame inside the agreeing blocks' hull
    overlap: float = 0.0            # share of the visible frame covered by the IR
    tried: list = field(default_factory=list)
    expected_error: float = float("nan")   # px of the visible frame, see `expected_error`
    refined: bool = False           # whether the dense refinement moved the block fit
    tests: dict = field(default_factory=dict)   # the model selection's held-out comparisons
    # What the agreeing blocks alone say: the most general kind allowed, fitted to all of them
    # by least squares (IR pixel -> visible pixel), before the selection, NEAR and the dense
    # refinement; None where they collapse the frame. The benchmark's second relative truth
    # (docs/registration.md); not written to the transform file.
    blocks_homography: np.ndarray | None = None
    # Mean distance (px of the visible frame) between the transform and the dense fit found on
    # every pixel from the identity (`dense_start`), apart from the blocks; NaN without one.
    dense_distance: float = float("nan")

    @property
    def confirmed(self) -> bool:
        """Whether the dense fit, found apart from the blocks, agrees with the transform: two
        estimates that rarely go wrong the same way (issue 32: of the tuning split's accepted
        warps that agree so, 1 of 167 is off by over 5 px; of the others, 16 of 124)."""
        return self.dense_distance <= CONFIRMED_PX   # False for NaN

    @property
    def confidence(self) -> float:
        """0-1: the chance that the transform is within 5 px of the truth on average, from its
        expected error (`expected_error`) and whether the dense fit confirms it (`confirmed`),
        by the curve fitted on warped training pairs (CONFIDENCE_MIDPOINT; docs/registration.md:
        unconfirmed, about one in six transforms with an expected error of 1-2 px was off by
        more than 5 px, one in three at 2-5 px; confirmed, about one in 300)."""
        if not math.isfinite(self.expected_error):
            return 0.0
        expected = max(self.expected_error, MIN_EXPECTED_ERROR)
        wrong = 1.0 / (1.0 + (CONFIDENCE_MIDPOINT / expected) ** CONFIDENCE_POWER)
        # The agreement counts within the refusal's limit only: past it, the blocks' evidence
        # is refused whatever agrees with it (measured: no refused tuning or validation warp
        # was confirmed).
        if self.confirmed and expected <= MAX_EXPECTED_ERROR:
            wrong *= CONFIRMED_FACTOR
        return 1.0 - wrong

    def describe(self) -> str:
        """One line for the notes: the transform against the plain edge-to-edge stretch, how
        sure, how much of the frame has no IR."""
        (vw, vh), (iw, ih) = self.vis_size, self.ir_size
        confirmed = (", confirmed by a dense fit found apart from the blocks" if self.confirmed
                     else "")
        sure = (f"expected error {self.expected_error:.1f} px, confidence {self.confidence:.3f}"
                f"{confirmed}; {self.inliers} of {self.matches} matched blocks agree")
        second = (self.tests or {}).get("second_start")
        if isinstance(second, dict):
            # Right less often than a first start's (docs/registration.md, session 18): say so.
            sure += (f"; found from the second of the blocks' two starts (the first was "
                     f"refused: {second.get('first_refused', 'no reason given')})")
        if self.model == "identity":
            near = (self.tests or {}).get("near")
            try:
                why = (f"the best transform ({near['kind']}) would move it by "
                       f"{near['moved_px']:.1f} px, within the method's own play "
                       f"({near['limit_px']:.1f} px)")
            except (TypeError, KeyError, ValueError):   # none, or a hand-edited file's
                why = "no transform fits the pair's edges clearly better"
            return f"registration kept the IR as it is (stretched edge to edge): {why} ({sure})"
        centre = apply_homography(self.homography, [[(iw - 1) / 2, (ih - 1) / 2]])[0]
        shift = centre - [(vw - 1) / 2, (vh - 1) / 2]
        zoom = math.sqrt(abs(np.linalg.det(self.homography[:2, :2])) / (vw / iw * vh / ih))
        return (f"registered the IR onto the visible frame ({self.model}): against the "
                f"edge-to-edge stretch, centre moved ({shift[0]:+.1f}, {shift[1]:+.1f}) px, zoom "
                f"{zoom:.3f}; {sure}; {1 - self.overlap:.1%} of the frame has no IR data")

    def enlarged(self, vis_factor: int, ir_factor: int, vis_size, ir_size) -> "Registration":
        """This registration of two images reduced by whole-number block means (`vis_factor`,
        `ir_factor`), as the registration of the full images (`vis_size`, `ir_size`)."""
        def full(to_vis):
            if to_vis is None:
                return None
            to_vis = (np.linalg.inv(scaling(1 / vis_factor, 1 / vis_factor)) @ to_vis
                      @ scaling(1 / ir_factor, 1 / ir_factor))
            return to_vis / to_vis[2, 2]
        tests, near = self.tests, self.tests.get("near")
        if near:   # NEAR's move, given in the reduced image's px
            tests = {**tests, "near": {**near, "moved_px": near["moved_px"] * vis_factor,
                                       "limit_px": near["limit_px"] * vis_factor}}
        return replace(self, homography=full(self.homography),
                       blocks_homography=full(self.blocks_homography), vis_size=tuple(vis_size),
                       ir_size=tuple(ir_size), residual=self.residual * vis_factor,
                       expected_error=self.expected_error * vis_factor,
                       dense_distance=self.dense_distance * vis_factor, tests=tests)

    def map_points(self, points) -> np.ndarray:
        """IR pixel coordinates (N, 2) -> visible pixel coordinates (N, 2)."""
        return apply_homography(self.homography, points)

    def to_json(self) -> str:
        data = {"homography": self.homography.tolist(),
                "convention": "visible (x, y, 1) ~ H @ IR (x, y, 1); pixel centres at integers",
                "vis_size": list(self.vis_size), "ir_size": list(self.ir_size),
                "model": self.model, "confidence": round(self.confidence, 4),
                "expected_error_px": round(self.expected_error, 3),
                "dense_distance_px": (round(self.dense_distance, 3)
                                      if math.isfinite(self.dense_distance) else None),
                "refined": self.refined,
                "selection": self.tests, "inliers": self.inliers, "matches": self.matches,
                "residual_px": round(self.residual, 3), "spread": round(self.spread, 4),
                "overlap": round(self.overlap, 4), "tried": self.tried}
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, name: str = "transform") -> "Registration":
        try:
            data = json.loads(text)
            matrix = np.array(data["homography"], dtype=np.float64)
            if matrix.shape != (3, 3) or not np.isfinite(matrix).all():
                raise ValueError("not a finite 3x3 matrix")
            return cls(matrix, tuple(data["vis_size"]), tuple(data["ir_size"]),
                       data.get("model", "homography"), data.get("inliers", 0),
                       data.get("matches", 0), data.get("residual_px", 0.0),
                       data.get("spread", 0.0), data.get("overlap", 0.0), data.get("tried", []),
                       float(data.get("expected_error_px", "nan")), data.get("refined", False),
                       data.get("selection") or {}, blocks_homography=None,
                       dense_distance=float("nan" if data.get("dense_distance_px") is None
                                            else data["dense_distance_px"]))
        except (ValueError, KeyError, TypeError) as error:
            raise UserError(f"{name}: not a transform file written by `tf-irgan register` "
                            f"({error}); register the pair again") from None


def apply_homography(matrix, points) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    mapped = np.c_[points, np.ones(len(points))] @ np.asarray(matrix).T
    return mapped[:, :2] / mapped[:, 2:]


# ---------------------------------------------------------------- edge maps

# An edge map is blurred by the least of BLURS that leaves the image's noise a mean gradient
# magnitude under NOISE_EDGES (a clear edge of the [0, 1] band has ~0.1-1): a dark visible
# frame at night, its 1-99 % band stretched to [0, 1], carries noise of sigma ~0.06, and at the
# least blur half its edge map would be noise. NOISE_GRADIENT: the mean gradient magnitude that
# white noise of unit sigma leaves after each blur and the 3x3 Sobel (measured). Gradients at
# NOISE_FLOOR times the noise's own level get little weight.
BLURS = (1.0, 1.5, 2.0, 3.0)
NOISE_GRADIENT = {1.0: 1.44, 1.5: 0.766, 2.0: 0.461, 3.0: 0.213}
NOISE_EDGES = 0.03
NOISE_FLOOR = 2.0
# A frame whose noise would ask for more than the least blur is first denoised by non-local means
# (OpenCV's, at DENOISE_STRENGTH times the measured noise, with its default patch and search
# windows): a blur of 2-3 px erases the fine edges the blocks match on, while averaging similar
# patches keeps them (issue 32, session 16: the validation split's night rows 74-75 -> 78-84 %
# of the warps within 5 px). OpenCV's non-local means takes 8 bits: the stretched band's range
# is kept within DENOISE_RANGE, whose 255 steps (5/255 of the band) are finer than the noise
# that calls for denoising (over NOISE_EDGES / NOISE_GRADIENT[1.0] = 0.021).
DENOISE_STRENGTH = 0.7
DENOISE_WINDOWS = (7, 21)      # px: the patches compared, the area searched for similar ones
DENOISE_RANGE = (-2.0, 3.0)    # of the stretched band; a hot spot beyond is clipped (keeps its edge)
_LAPLACE_DIFFERENCE = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def noise_level(gray: np.ndarray) -> float:
    """The standard deviation of an image's white noise, from its response to a filter that
    cancels smooth content (Immerkaer 1996: one pass, little moved by edges)."""
    if min(gray.shape) < 3:
        return 0.0
    response = cv2.filter2D(gray.astype(np.float32), cv2.CV_32F, _LAPLACE_DIFFERENCE)
    return float(math.sqrt(math.pi / 2) * np.abs(response[1:-1, 1:-1]).mean() / 6)


def structure(gray: np.ndarray) -> np.ndarray:
    """(H, W, 2) edge map: the gradient's orientation as a doubled angle (cos 2t, sin 2t), so an
    edge dark-to-bright in one modality and bright-to-dark in the other is the same edge,
    weighted by the gradient magnitude over its local mean, so a faint edge in one modality
    counts as much as a strong one in the other. A noisy image is blurred more and its
    noise-level gradients get little weight (BLURS, NOISE_FLOOR): noise is not an edge."""
    noise = noise_level(gray)
    sigma = _blur_for(noise)
    smooth = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), sigma)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    square = gx * gx + gy * gy
    magnitude = np.sqrt(square)
    local = cv2.GaussianBlur(magnitude, (0, 0), 8 * sigma)
    # Flat regions stay flat, not amplified noise.
    floor = max(0.1 * float(magnitude.mean()), NOISE_FLOOR * NOISE_GRADIENT[sigma] * noise) + 1e-6
    weight = np.minimum(magnitude / (local + floor), 4.0)
    square += 1e-12
    return np.dstack([weight * (gx * gx - gy * gy) / square,
                      weight * 2 * gx * gy / square]).astype(np.float32)


def _blur_for(noise: float) -> float:
    """The least of BLURS that leaves white noise of this level a mean gradient under
    NOISE_EDGES (the largest where none does)."""
    return next((b for b in BLURS if NOISE_GRADIENT[b] * noise <= NOISE_EDGES), BLURS[-1])


def denoised(gray: np.ndarray) -> np.ndarray:
    """`gray` (float32, its 1-99 percentile band stretched to [0, 1]) with its white noise
    removed by non-local means where `structure`'s least blur would not take it (see
    DENOISE_STRENGTH); the same array otherwise."""
    noise = noise_level(gray)
    if _blur_for(noise) == BLURS[0] or not math.isfinite(noise):
        return gray
    low = min(0.0, max(DENOISE_RANGE[0], float(gray.min())))
    high = max(1.0, min(DENOISE_RANGE[1], float(gray.max())))
    eight_bit = np.round(np.clip((gray - low) / (high - low), 0, 1) * 255).astype(np.uint8)
    eight_bit = cv2.fastNlMeansDenoising(eight_bit, None,
                                         DENOISE_STRENGTH * noise * 255 / (high - low),
                                         *DENOISE_WINDOWS)
    return eight_bit.astype(np.float32) * np.float32((high - low) / 255) + np.float32(low)


def edge_share(gray: np.ndarray) -> float:
    """Share of pixels whose gradient is clear of noise (flat images have almost none)."""
    smooth = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 1.0)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    return float((np.hypot(gx, gy) > 0.1).mean())   # 0.1 ~ a step of 2.5 % of the range


def _data_levels(mask, size, levels) -> list:
    """The data mask on the work frame's pyramid, finest first, as float32 0/1, shrunk by the
    reach of the edge filters (a blur of 1 px and a 3x3 Sobel) so no edge of the frame is left."""
    work = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    square = np.ones((9, 9), np.uint8)
    return [cv2.erode((level > 0.999).astype(np.uint8), square).astype(np.float32)
            for level in _pyramid(work, levels)]


# ---------------------------------------------------------------- threads

# OpenCV's calls here release the interpreter's lock, and most of a registration's time is spent
# in many small ones (block correlations, per-tile scores) that OpenCV does not split across
# cores by itself: independent ones run on a few threads. The outcome does not depend on it
# (each result is computed whole by one thread, and they are gathered in order).
WORKERS = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
              else os.cpu_count() or 1)   # the cores this process may use
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_in_pool = threading.local()


def _mark_worker():
    _in_pool.active = True


def _forget_pool():
    """In a forked child: the parent's pool came without its threads (and its lock may have
    been held at the fork), so the child makes its own."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _each(function, items) -> list:
    """`[function(item) for item in items]`, the items on the registration's threads. Inline
    with one core, one item, or when called from one of those threads (no waiting on itself)."""
    global _pool
    items = list(items)
    if WORKERS < 2 or len(items) < 2 or getattr(_in_pool, "active", False):
        return [function(item) for item in items]
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(WORKERS, "tf-irgan-registration", initializer=_mark_worker)
        pool = _pool
    return list(pool.map(function, items))


# ---------------------------------------------------------------- coordinate frames

def scaling(sx: float, sy: float) -> np.ndarray:
    """Pixel-centre scaling: pixel i of an image resized by s lies at (i + 0.5) * s - 0.5."""
    return np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], np.float64)


def _pyramid(image: np.ndarray, levels: int) -> list:
    """Finest first; level k is the image resized by exactly 1/2^k (INTER_AREA)."""
    out = [image]
    for _ in range(levels - 1):
        h, w = out[-1].shape
        out.append(cv2.resize(out[-1], (max(1, w // 2), max(1, h // 2)),
                              interpolation=cv2.INTER_AREA))
    return out


def _level_change(matrix, factor_x, factor_y) -> np.ndarray:
    """A vis->IR warp on one level expressed on a level `factor` times larger."""
    s = scaling(factor_x, factor_y)
    return s @ matrix @ np.linalg.inv(s)


# ---------------------------------------------------------------- block matching

def _blocks(shape, size):
    """Top-left corners of blocks of `size` with half-overlap covering a frame."""
    h, w = shape
    ys = range(0, max(1, h - size + 1), size // 2)
    xs = range(0, max(1, w - size + 1), size // 2)
    return [(y, x) for y in ys for x in xs]


def _subpixel(scores, y, x) -> tuple[float, float]:
    """The peak of a parabola through the best score and its neighbours, per axis."""
    def offset(m, c, p):
        denominator = m - 2 * c + p
        return 0.0 if abs(denominator) < 1e-9 else float(np.clip(0.5 * (m - p) / denominator, -1, 1))
    h, w = scores.shape
    dy = offset(scores[y - 1, x], scores[y, x], scores[y + 1, x]) if 0 < y < h - 1 else 0.0
    dx = offset(scores[y, x - 1], scores[y, x], scores[y, x + 1]) if 0 < x < w - 1 else 0.0
    return y + dy, x + dx


def _matches(vis_map, ir_on_vis, inside, size, reach):
    """Per block of the visible frame: where its IR content (already roughly aligned) lies in
    the visible image, if the correlation peak is clear. Returns (points on the IR-on-visible
    frame, matching visible points, peak scores)."""
    h, w = vis_map.shape[:2]
    size = min(size, h, w) // 2 * 2   # small frames: blocks no larger than the frame
    values = 2 * size * size          # of a block's two-channel map
    strength = _edge_strength(vis_map)
    strong = strength > np.percentile(strength, 75)
    # Per block, from summed-area tables: pixels outside the IR, strong edge pixels, and the
    # sum and the sum of squares of the IR map's values (its variance: a flat block is skipped).
    outside = cv2.integral((~inside).astype(np.uint8))
    strong_count = cv2.integral(strong.astype(np.uint8))
    ir_sum, ir_squares = cv2.integral2(ir_on_vis, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)

    def count(table, y, x):
        total = table[y + size, x + size] - table[y, x + size] - table[y + size, x] + table[y, x]
        return total.sum() if np.ndim(total) else total

    def usable(block):
        y, x = block
        if count(outside, y, x) or count(strong_count, y, x) < 0.05 * size * size:
            return False
        mean = count(ir_sum, y, x) / values
        return count(ir_squares, y, x) / values - mean * mean >= 1e-8   # a deviation of 1e-4

    def match(block):
        """(IR-on-visible point, visible point, peak score) of one block, or None."""
        y, x = block
        template = ir_on_vis[y:y + size, x:x + size]
        y0, y1 = max(0, y - reach), min(h, y + size + reach)
        x0, x1 = max(0, x - reach), min(w, x + size + reach)
        result = cv2.matchTemplate(vis_map[y0:y1, x0:x1], template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (bx, by) = cv2.minMaxLoc(result)
        # A clear peak: the best score away from it is lower by a margin.
        r = 2
        masked = result.copy()
        masked[max(0, by - r):by + r + 1, max(0, bx - r):bx + r + 1] = -1
        if best < MIN_BLOCK_SCORE or best - masked.max() < MIN_BLOCK_MARGIN * best:
            return None
        # A peak on the search window's edge may be the slope toward a shift beyond the reach
        # (unless that edge is the image's own): such blocks agree with each other and would
        # carry a wrong fit.
        rows, columns = result.shape
        if ((by == 0 and y0 > 0) or (by == rows - 1 and y1 < h)
                or (bx == 0 and x0 > 0) or (bx == columns - 1 and x1 < w)):
            return None
        py, px = _subpixel(result, by, bx)
        centre = np.array([x + size / 2 - 0.5, y + size / 2 - 0.5])
        return centre, centre + np.array([x0 + px - x, y0 + py - y]), best

    def matches(numbers):
        return [(n, match(blocks[n])) for n in numbers]

    blocks = [block for block in _blocks((h, w), size) if usable(block)]
    # Interleaved runs of blocks, a few per thread (one block is too little work to hand over),
    # gathered back in the blocks' order: RANSAC's outcome depends on the order of its points.
    runs = max(1, min(len(blocks), 2 * WORKERS))
    parts = _each(matches, [range(i, len(blocks), runs) for i in range(runs)])
    found = sorted((pair for part in parts for pair in part if pair[1] is not None),
                   key=lambda pair: pair[0])
    src = [m[0] for _, m in found]
    dst = [m[1] for _, m in found]
    scores = [m[2] for _, m in found]
    return np.array(src).reshape(-1, 2), np.array(dst).reshape(-1, 2), np.array(scores)


def _fit(src, dst, model, threshold):
    """A robust fit (RANSAC) of src -> dst; (3x3 matrix, inlier mask) or (None, None)."""
    if len(src) < MIN_INLIERS:
        return None, None
    if model == "affine":
        matrix, inliers = cv2.estimateAffine2D(src, dst, method=cv2.RANSAC,
                                               ransacReprojThreshold=threshold, maxIters=4000,
                                               confidence=0.999)
        if matrix is not None:
            matrix = np.vstack([matrix, [0, 0, 1]])
    else:
        matrix, inliers = cv2.findHomography(src, dst, cv2.RANSAC, threshold, maxIters=4000,
                                             confidence=0.999)
    if matrix is None:
        return None, None
    matrix, inliers = matrix.astype(np.float64), inliers.ravel().astype(bool)
    if model == "homography" and inliers.sum() >= 3:
        # Perspective only where the matches ask for it: the two perspective terms extrapolate
        # wildly outside the matched region, so keep the affine fit of the same inliers unless
        # the homography fits them clearly better.
        a, b = src[inliers], dst[inliers]
        affine = np.linalg.lstsq(np.c_[a, np.ones(len(a))], b, rcond=None)[0].T
        affine = np.vstack([affine, [0, 0, 1]])
        def rms(m):
            return float(np.sqrt(np.mean(np.sum((apply_homography(m, a) - b) ** 2, axis=1))))
        if rms(matrix) > PERSPECTIVE_GAIN * rms(affine):
            matrix = affine
            inliers = np.linalg.norm(apply_homography(affine, src) - dst, axis=1) < threshold
    return matrix, inliers


def _ir_positions(to_vis, ir_size, vis_size, rows=None):
    """For every visible pixel centre, where it lies on the IR (map_x, map_y, float32) and
    whether that is on the IR image (its pixels' outer edges included); for rows top..bottom-1
    only with `rows`. Computed pixel by pixel (no matrix product, whose blocking would depend on
    the size), so a band's positions are exactly the whole frame's."""
    (w, h), (iw, ih) = vis_size, ir_size
    top, bottom = rows or (0, h)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(top, bottom, dtype=np.float64))
    m = np.linalg.inv(to_vis)
    depth = m[2, 0] * xs + m[2, 1] * ys + m[2, 2]
    map_x = (m[0, 0] * xs + m[0, 1] * ys + m[0, 2]) / depth
    map_y = (m[1, 0] * xs + m[1, 1] * ys + m[1, 2]) / depth
    inside = (map_x >= -0.5) & (map_x <= iw - 0.5) & (map_y >= -0.5) & (map_y <= ih - 0.5)
    return map_x.astype(np.float32), map_y.astype(np.float32), inside


def _overlap(to_vis, ir_size, vis_size) -> float:
    return float(_ir_positions(to_vis, ir_size, vis_size)[2].mean())


def degenerate(to_vis, ir_size, vis_size) -> str | None:
    """Why a homography (IR -> visible) cannot be a camera pair's, or None."""
    w, h = ir_size
    corners = apply_homography(to_vis, [[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5],
                                        [-0.5, h - 0.5]])
    if not np.isfinite(corners).all():
        return "the transform sends the IR to infinity"
    edges = np.roll(corners, -1, axis=0) - corners
    following = np.roll(edges, -1, axis=0)
    turns = edges[:, 0] * following[:, 1] - edges[:, 1] * following[:, 0]
    if not (np.all(turns > 0) or np.all(turns < 0)):
        return "the transform folds the IR image over itself"
    area = 0.5 * abs(np.sum(corners[:, 0] * np.roll(corners[:, 1], -1)
                            - np.roll(corners[:, 0], -1) * corners[:, 1]))
    change = area / (vis_size[0] * vis_size[1])
    if not 1 / MAX_AREA_CHANGE <= change <= MAX_AREA_CHANGE:
        return f"the IR would cover {change:.2f}x the visible frame's area"
    # Opposite sides of a camera pair's overlap stay near parallel.
    for a, b in ((0, 2), (1, 3)):
        u, v = edges[a], -edges[b]
        cos = u @ v / (np.linalg.norm(u) * np.linalg.norm(v))
        if cos < math.cos(math.radians(20)):
            return "the transform is strongly perspective (opposite sides 20 degrees apart)"
    return None


# ---------------------------------------------------------------- model selection

# Simplest first. "identity" is the edge-to-edge stretch: a pair registered by its makers.
KINDS = ("identity", "shift", "similarity", "affine", "homography")
TILE = 64                # px of the work frame: the unit of held-out evidence (halved per
                         # level above it: a fit on a coarse level, for a small IR, has as many)
# A more general kind must beat the kept one by a one-sided t-test on the per-tile score
# differences: at level LEAVE_IDENTITY shared by the kinds tried against the identity (moving an
# aligned pair is the costly mistake; a small frame has few tiles and must show more), at
# SELECT from one fitted kind to a more general one.
LEAVE_IDENTITY = 0.001
SELECT = 0.025
# ... unless two independent halves of the blocks already contradict the identity: both folds'
# fits move the frame by more than FAR px of the work frame and lie within two thirds of that of
# each other (an aligned pair's blocks, matched from the identity, cannot agree on such a move;
# misled ones rarely agree across folds). The tiles then confirm it at LEAVE_FAR per kind.
FAR = 3.0
LEAVE_FAR = 0.004
# A kept transform that moves the frame by less than NEAR px of the work frame (mean over it) is
# not made: the method's own error is 1-2 px, a correction that small cannot be told from it,
# and moving an aligned pair is the costly mistake (issue 32: pairs made aligned by their own
# registration and registered again were moved by 1-2 px, 9 of 98 on the tuning split, once
# the tiles stopped favouring the identity; none with this).
NEAR = 1.5
MIN_FOLD_POINTS = 4      # agreeing blocks a fold needs to fit any model


def _gain(differences) -> tuple[float, float]:
    """The mean of paired differences and its standard error (never 0), for the one-sided
    t-tests by which a more general kind must beat the one kept."""
    differences = np.asarray(differences, np.float64)
    return (float(differences.mean()),
            float(differences.std(ddof=1) / math.sqrt(len(differences))) + 1e-9)


def invertible(matrix) -> bool:
    """Whether a 3x3 transform is finite and does not collapse the plane (np.linalg.inv would
    raise on it, or return a warp that sends the frame to a line)."""
    return bool(np.isfinite(matrix).all() and abs(np.linalg.det(matrix)) > 1e-9)


def fit_model(src, dst, kind: str) -> np.ndarray:
    """The least-squares transform of `kind` taking src (N, 2) to dst (N, 2), as a 3x3 matrix."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    if kind == "identity":
        return np.eye(3)
    if kind == "shift":
        matrix = np.eye(3)
        matrix[:2, 2] = (dst - src).mean(axis=0)
        return matrix
    if kind == "similarity":
        # As complex numbers, a similarity is b = z a + t.
        a = (src[:, 0] - src[:, 0].mean()) + 1j * (src[:, 1] - src[:, 1].mean())
        b = (dst[:, 0] - dst[:, 0].mean()) + 1j * (dst[:, 1] - dst[:, 1].mean())
        z = np.vdot(a, b) / max(np.vdot(a, a).real, 1e-12)
        rotation = np.array([[z.real, -z.imag], [z.imag, z.real]])
        matrix = np.eye(3)
        matrix[:2, :2] = rotation
        matrix[:2, 2] = dst.mean(axis=0) - rotation @ src.mean(axis=0)
        return matrix
    if kind == "affine":
        affine = np.linalg.lstsq(np.c_[src, np.ones(len(src))], dst, rcond=None)[0].T
        return np.vstack([affine, [0, 0, 1]])
    matrix, _ = cv2.findHomography(src, dst, 0)
    if matrix is None:   # degenerate points: the affine fit stands in
        return fit_model(src, dst, "affine")
    return matrix / matrix[2, 2]


_CHANNEL_SUM = np.ones((1, 2), np.float32)   # cv2.transform with it sums a map's two channels


def _dot(first, second) -> np.ndarray:
    """Per pixel, the dot product of two (H, W, 2) edge maps (OpenCV: 4x numpy's time less)."""
    return cv2.transform(cv2.multiply(first, second), _CHANNEL_SUM)


def _edge_strength(edge_map) -> np.ndarray:
    """Per pixel, the length of an (H, W, 2) edge map's vector: how much edge there is."""
    return np.sqrt(_dot(edge_map, edge_map))


class _Tiles:
    """The work frame cut into tiles of about TILE px in a checkerboard of two folds: a model
    is fitted on the blocks of one fold and scored on the pixels of the other. The frame is
    split evenly (0.75-1.25 TILE a side where a side holds two tiles or more; one tile
    where it is shorter than 1.5 TILE): whole tiles from the top left would leave a
    sliver at the right and bottom edges (a 577 px wide frame: a column 1 px wide), whose few
    pixels, where an edge-to-edge stretch lines the images' borders up, scored like a whole
    tile and kept the identity against a right transform (issue 32)."""

    def __init__(self, shape, size=TILE):
        self.shape, self.size = tuple(shape), size
        h, w = self.shape
        self.columns, self.rows = max(1, round(w / size)), max(1, round(h / size))
        self.xs = np.linspace(0, w, self.columns + 1).round().astype(int)
        self.ys = np.linspace(0, h, self.rows + 1).round().astype(int)
        tx, ty = np.arange(self.count) % self.columns, np.arange(self.count) // self.columns
        self.fold = (tx + ty) % 2
        self.area = self.sums(np.ones(self.shape, np.float32))

    @property
    def count(self) -> int:
        return self.columns * self.rows

    def sums(self, values) -> np.ndarray:
        """Per tile (row by row), the sum of `values` (H, W float32), from a summed-area table."""
        table = cv2.integral(values, sdepth=cv2.CV_64F)[np.ix_(self.ys, self.xs)]
        return (table[1:, 1:] - table[:-1, 1:] - table[1:, :-1] + table[:-1, :-1]).ravel()

    def fold_of(self, points) -> np.ndarray:
        """The fold of the tile each point (x, y) lies in: tile i holds [xs[i], xs[i + 1])."""
        points = np.asarray(points)
        x = np.clip(np.searchsorted(self.xs, points[:, 0], "right") - 1, 0, self.columns - 1)
        y = np.clip(np.searchsorted(self.ys, points[:, 1], "right") - 1, 0, self.rows - 1)
        return self.fold[y * self.columns + x]

    def scores(self, vis_map, ir_map, to_ir) -> np.ndarray:
        """Per tile, the normalised correlation of the visible edge map with the IR's resampled
        by `to_ir` (visible -> IR); NaN where a tile has too little of both."""
        h, w = vis_map.shape[:2]
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        warped = cv2.warpPerspective(ir_map, to_ir, (w, h), flags=flags)
        inside = (cv2.warpPerspective(np.ones(ir_map.shape[:2], np.float32), to_ir, (w, h),
                                      flags=flags) > 0.999).astype(np.float32)
        product = self.sums(_dot(vis_map, warped) * inside)
        vis_energy = self.sums(_dot(vis_map, vis_map) * inside)
        ir_energy = self.sums(_dot(warped, warped) * inside)
        covered = self.sums(inside) / self.area
        # An edge map's energy per pixel is ~0.1-1 where there are edges; a tile with almost
        # none on either side says nothing about where the edges are.
        usable = (covered > 0.5) & (vis_energy > 0.02 * self.area) & (ir_energy > 0.02 * self.area)
        with np.errstate(invalid="ignore", divide="ignore"):
            result = product / np.sqrt(vis_energy * ir_energy)
        return np.where(usable, result, np.nan)


def select(vis_map, ir_map, src, dst, most_general: str = "homography", tile: int = TILE):
    """The simplest transform kind the evidence asks for. Each kind up to `most_general` is fitted
    on the agreeing blocks of one fold of tiles and scored on the other fold's edge maps
    (held-out, both ways round); a more general kind replaces the one kept only when its
    held-out scores beat it by a one-sided t-test on the per-tile differences (LEAVE_IDENTITY,
    SELECT), or, on a pair clearly moved, when its fits put the held-out blocks nearer their
    matches (SELECT). So an aligned pair stays at the identity unless its edges say otherwise,
    and perspective terms are kept only where they fit what they were not fitted on. Returns
    (kind, evidence)."""
    tiles = _Tiles(vis_map.shape[:2], tile)
    folds = tiles.fold_of(dst)
    fold_fits = {}
    if min((folds == f).sum() for f in (0, 1)) >= MIN_FOLD_POINTS:
        for kind in KINDS[1:KINDS.index(most_general) + 1]:
            fits = [fit_model(src[folds != fold], dst[folds != fold], kind) for fold in (0, 1)]
            # A fold's blocks that collapse the frame (all on a line, or sent to one point) say
            # nothing for this kind: it is not a candidate.
            if all(invertible(fitted) for fitted in fits):
                fold_fits[kind] = fits
    # Every fit's scores on the tiles (all of them independent: on the registration's threads).
    warps = [np.eye(3)] + [np.linalg.inv(fitted) for fits in fold_fits.values() for fitted in fits]
    tile_scores = _each(lambda warp: tiles.scores(vis_map, ir_map, warp), warps)
    held = {"identity": tile_scores[0]}
    for number, kind in enumerate(fold_fits):
        scores = np.full(tiles.count, np.nan)
        for fold in (0, 1):
            on_fold = tiles.fold == fold
            scores[on_fold] = tile_scores[1 + 2 * number + fold][on_fold]
        held[kind] = scores

    def off_blocks(kind):
        """Per block, how far the kind's fit to the other fold's blocks puts it from its match."""
        distances = np.empty(len(src))
        for fold in (0, 1):
            on_fold = folds == fold
            distances[on_fold] = np.linalg.norm(
                apply_homography(fold_fits[kind][fold], src[on_fold]) - dst[on_fold], axis=1)
        return distances

    kept, tests = "identity", {}
    for kind in list(held)[1:]:
        difference = held[kind] - held[kept]
        difference = difference[np.isfinite(difference)]
        if len(difference) < 4:
            continue
        gain, error = _gain(difference)
        level = SELECT
        if kept == "identity":
            level = LEAVE_FAR if _far(fold_fits[kind], tiles.shape) else (
                LEAVE_IDENTITY / (len(held) - 1))
        needed = float(stdtrit(len(difference) - 1, 1 - level))
        tests[kind] = {"against": kept, "gain": round(gain, 5), "t": round(gain / error, 2),
                       "needed": round(needed, 2), "level": level, "tiles": int(len(difference))}
        if gain > needed * error:
            kept = kind
        elif kept != "identity" and _far(fold_fits[kept], tiles.shape):
            # A pair clearly moved (FAR): between two fitted kinds the blocks decide too. The
            # tiles' correlation, over squares of 64 px of cross-modal edges, hardly tells a
            # shift from a homography a few pixels away (issue 32: such pairs were refused, the
            # shift kept and the homography through the same, right, blocks 5-8 px from it);
            # the blocks, matched to a fraction of a pixel, do: the more general kind is kept
            # when its fits put the other fold's blocks nearer where they matched (the per-block
            # differences, one-sided t-test at SELECT) and the tiles score it higher, however
            # slightly. (A fit that sends a block to infinity says nothing here.)
            # Not against the identity, nor near it: small moves are the tiles' to judge
            # (this test there moved pairs made aligned, docs/registration.md).
            closer = off_blocks(kept) - off_blocks(kind)
            if not np.isfinite(closer).all():
                continue
            block_gain, block_error = _gain(closer)
            tests[kind]["blocks_t"] = round(block_gain / block_error, 2)
            if gain > 0 and block_gain > stdtrit(len(closer) - 1, 1 - SELECT) * block_error:
                kept, tests[kind]["by"] = kind, "blocks"
    return kept, {"held_out": {k: _mean(v) for k, v in held.items()},
                  "tests": tests, "fold_fits": fold_fits}


def _far(fits, shape) -> bool:
    """Whether both folds' fits (IR -> visible) put the frame more than FAR px from the identity
    and agree within two thirds of that: each within a third of their middle (see FAR)."""
    first, second = (np.linalg.inv(fitted) for fitted in fits)
    away = min(mean_distance(first, np.eye(3), shape), mean_distance(second, np.eye(3), shape))
    return away > FAR and 0.5 * mean_distance(first, second, shape) < away / 3


def _mean(scores) -> float:
    """The mean of the usable tiles' scores; NaN (without numpy's warning) when there are none."""
    usable = scores[np.isfinite(scores)]
    return float(usable.mean()) if len(usable) else float("nan")


# ---------------------------------------------------------------- dense refinement

REFINE_BLUR = 1.5        # px of the work frame: the edge-strength maps' blur, the refinement's reach
MAX_REFINE = 4.0         # px of the work frame a refinement may move the block fit on average
MIN_UPGRADE = 0.75       # px of the work frame a more general refined kind must move the frame
MOTIONS = {"shift": cv2.MOTION_TRANSLATION, "similarity": cv2.MOTION_AFFINE,
           "affine": cv2.MOTION_AFFINE, "homography": cv2.MOTION_HOMOGRAPHY}


def _grid(shape, step=16):
    h, w = shape
    ys, xs = np.mgrid[step // 2:h:step, step // 2:w:step]
    return np.c_[xs.ravel(), ys.ravel()].astype(np.float64)


def mean_distance(first, second, shape) -> float:
    """Mean distance between where two visible->IR warps send a grid over the visible frame."""
    grid = _grid(shape)
    return float(np.linalg.norm(apply_homography(first, grid) - apply_homography(second, grid),
                                axis=1).mean())


ECC_STEPS = (30, 5)      # iterations at half and at full resolution


def _halved(image):
    return cv2.resize(image, (max(1, image.shape[1] // 2), max(1, image.shape[0] // 2)),
                      interpolation=cv2.INTER_AREA)


def _ecc(template, image, warp, motion, steps) -> np.ndarray:
    """One run of OpenCV's ECC from `warp` (3x3, template -> image); the result as 3x3."""
    start = (warp / warp[2, 2]).astype(np.float32)
    if motion != cv2.MOTION_HOMOGRAPHY:
        start = start[:2].copy()
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, steps, 1e-4)
    _, found = cv2.findTransformECC(template, image, start, motion, criteria, None, 1)
    found = found.astype(np.float64)
    return np.vstack([found, [0, 0, 1]]) if found.shape[0] == 2 else found


DENSE_STEPS = (40, 20, 8)   # ECC iterations at 1/4, 1/2 and the full work frame


def dense_start(vis_map, ir_map) -> np.ndarray | None:
    """A homography (visible -> IR, work frame) found on every pixel from the identity: ECC
    between the edge-strength maps, coarse to fine (blurred 1.5 px on each level, so the reach
    at 1/4 is ~6 px of the work frame and more as it converges). Blocks need clear,
    independent peaks and fail on plain or small frames; this needs neither, and where the
    coarse blocks went astray it is a second start for the finest blocks (issue 32: with it,
    63 % of the tuning warps within 5 px against 60 %, docs/registration.md). None when ECC
    does not converge or folds the frame flat."""
    vis_strength, ir_strength = _each(_edge_strength, (vis_map, ir_map))
    warp = np.eye(3)
    for k, steps in zip((2, 1, 0), DENSE_STEPS):
        factor = 2 ** -k
        size = (max(1, round(vis_strength.shape[1] * factor)),
                max(1, round(vis_strength.shape[0] * factor)))
        if min(size) < 16:
            continue
        here = scaling(factor, factor)
        template, image = (cv2.GaussianBlur(cv2.resize(m, size, interpolation=cv2.INTER_AREA),
                                            (0, 0), REFINE_BLUR)
                           for m in (vis_strength, ir_strength))
        try:
            found = _ecc(template, image, here @ warp @ np.linalg.inv(here),
                         cv2.MOTION_HOMOGRAPHY, steps)
        except cv2.error:
            return None
        warp = np.linalg.inv(here) @ found @ here
    # A finite but folded-flat result cannot be inverted for the checks that follow.
    return warp if invertible(warp) else None


def refine(vis_map, ir_map, warp, kind, tile: int = TILE):
    """The block fit (visible -> IR, work frame) refined on every pixel: ECC (OpenCV's enhanced
    correlation) between the two images' edge-strength maps, which are polarity-free like the
    blocks' maps, within the kind the selection kept (a similarity is refined as an affine
    transform and brought back to the nearest similarity). Blocks average a few dozen
    template positions; the whole overlap pins the transform down further. Kept only when it
    stays near the block fit and raises the edge maps' correlation; the identity is never
    refined (an aligned pair stays as it is). Returns (warp, whether refined)."""
    if kind == "identity":
        return warp, False
    def strength(edge_map):
        return cv2.GaussianBlur(_edge_strength(edge_map), (0, 0), REFINE_BLUR)
    motion = MOTIONS[kind]
    vis_strength, ir_strength = _each(strength, (vis_map, ir_map))
    # Half resolution first (most of the way, at a quarter of the cost), then a few steps on
    # the full work frame.
    half = scaling(0.5, 0.5)
    try:
        found = _ecc(_halved(vis_strength), _halved(ir_strength), half @ warp @ np.linalg.inv(half),
                     motion, ECC_STEPS[0])
        found = _ecc(vis_strength, ir_strength, np.linalg.inv(half) @ found @ half, motion,
                     ECC_STEPS[1])
    except cv2.error:   # did not converge: the block fit stands
        return warp, False
    shape = vis_map.shape[:2]
    if kind == "similarity":
        grid = _grid(shape)
        similarity = fit_model(apply_homography(found, grid), grid, "similarity")
        if not invertible(similarity):
            return warp, False
        found = np.linalg.inv(similarity)
    if not invertible(found) or mean_distance(found, warp, shape) > MAX_REFINE:
        return warp, False
    tiles = _Tiles(shape, tile)
    refined, block_fit = _each(lambda to_ir: _mean(tiles.scores(vis_map, ir_map, to_ir)),
                               (found, warp))
    if not refined > block_fit:
        return warp, False   # (also when no tile is usable: NaN compares false)
    return found, True


def _clearly_better(maps, warp, than, tile: int = TILE) -> bool:
    """Whether `warp` raises the per-tile correlation over `than` (one-sided t-test, SELECT)."""
    tiles = _Tiles(maps[0].shape[:2], tile)
    with_warp, with_than = _each(lambda to_ir: tiles.scores(*maps, to_ir), (warp, than))
    difference = with_warp - with_than
    difference = difference[np.isfinite(difference)]
    if len(difference) < 4:
        return False
    gain, error = _gain(difference)
    return bool(gain > stdtrit(len(difference) - 1, 1 - SELECT) * error)


def expected_error(evidence, kind, general, warp, most_general, shape) -> float:
    """How far (work-frame px, mean over the frame) the transform is likely to be off, from two
    parts: half the distance between the fits of `kind` to the two folds' blocks (they
    disagree as much as the blocks are noisy or misled), and the distance to `general`, the
    most general kind's fit to all blocks (IR -> visible; what a kind kept as simpler leaves
    out, if the blocks are right). Calibrated on warped training pairs (docs/registration.md)."""
    noise = 0.0
    if kind != "identity":
        first, second = evidence["fold_fits"][kind]
        noise = 0.5 * mean_distance(np.linalg.inv(first), np.linalg.inv(second), shape)
    if not invertible(general):
        return math.inf   # refused as uncertain
    left_out = mean_distance(warp, np.linalg.inv(general), shape) if kind != most_general else 0.0
    error = math.hypot(noise, left_out)
    return error if math.isfinite(error) else math.inf   # (a fit that sends the grid to infinity)


# ---------------------------------------------------------------- the entry point

def register(vis: np.ndarray, ir: np.ndarray, model: str = "homography",
             vis_name: str = "visible", ir_name: str = "IR", advice: str = ADVICE) -> Registration:
    """The transform that maps `ir` onto `vis`'s frame (float arrays in [0, 1], gray or RGB, any
    size ratio). Raises UserError when the pair cannot be registered with confidence; its
    message ends with `advice`."""
    if model not in MODELS:
        raise UserError(f"--model {model}: use {' or '.join(MODELS)}")
    vis_gray, ir_gray = _stretched(_gray(vis)), _stretched(_gray(ir))
    # The blocks are matched on the visible frame (the IR is enlarged onto it), so the visible
    # image needs room for them; a small IR needs only a few pixels of structure per block.
    for gray, name, least in ((vis_gray, vis_name, MIN_SIDE), (ir_gray, ir_name, MIN_IR_SIDE)):
        if min(gray.shape) < least:
            raise Refused(f"{name}: {gray.shape[1]}x{gray.shape[0]} is too small to register "
                          f"(at least {least} px a side)")
        if edge_share(gray) < MIN_EDGES:
            raise Refused(f"{name}: too flat to register (almost no edges); {advice}",
                          "too flat to register")
    pair = _WorkPair(vis_gray, ir_gray)
    try:
        return _estimate(pair, model, vis_name, ir_name, advice)
    except Refused as refused:
        # The finest blocks had two starts (what the coarser levels found and the dense fit)
        # and followed the one that lined the edges up better. Where that led to a refusal,
        # the other may still lead to a transform that passes every check (issue 32: on the
        # validation split 10 more warps registered, 8 of them within 5 px, the other two
        # 5.6 and 6.7 px off; docs/registration.md, session 18).
        other = pair.other_start()
        if other is None:
            raise
        try:
            result = _estimate(pair, model, vis_name, ir_name, advice, start=other)
        except Refused:
            raise refused from None
        result.tests["second_start"] = {"start": pair.started, "first_refused": refused.reason}
        return result


class _WorkPair:
    """A pair on the work frame, as both starts of the finest blocks use it: the visible frame
    reduced to WORK_SIZE and the IR stretched onto it (denoised where noisy), their pyramids,
    where each has data, and what is computed once for both starts (the edge maps per level,
    the dense start)."""

    def __init__(self, vis_gray: np.ndarray, ir_gray: np.ndarray):
        self.vis_size, self.ir_size = vis_gray.shape[::-1], ir_gray.shape[::-1]
        (vw, vh), (iw, ih) = self.vis_size, self.ir_size
        self.work = min(1.0, WORK_SIZE / max(vh, vw))
        ww, wh = max(1, round(vw * self.work)), max(1, round(vh * self.work))
        vis_work = cv2.resize(vis_gray, (ww, wh), interpolation=cv2.INTER_AREA)
        ir_work = cv2.resize(ir_gray, (ww, wh), interpolation=cv2.INTER_AREA if iw > ww else
                             cv2.INTER_LINEAR)
        vis_work, ir_work = _each(denoised, (vis_work, ir_work))
        self.levels = max(1, int(math.log2(max(ww, wh) / 120)) + 1)
        self.vis_levels = _pyramid(vis_work, self.levels)
        self.ir_levels = _pyramid(ir_work, self.levels)
        # Where each image has data (not a black frame or an empty corner), per level.
        self.vis_data = _data_levels(data_mask(vis_gray), (ww, wh), self.levels)
        self.ir_data = _data_levels(data_mask(ir_gray), (ww, wh), self.levels)
        # The finest level that must give a fit: the IR's own resolution (an IR smaller than
        # the work frame, enlarged onto it, has no finer detail to match), the full work frame
        # otherwise.
        ratio = min(ww / iw, wh / ih)
        self.required = 0 if ratio <= 1.5 else min(self.levels - 1, int(round(math.log2(ratio))))
        self._maps: dict = {}
        self.started = None   # the start the finest blocks took, as `tried` names it

    def maps(self, k: int) -> tuple:
        """(visible, IR) edge maps of level k, without the frames' borders."""
        if k not in self._maps:
            self._maps[k] = tuple(_each(lambda level: structure(level[0]) * level[1][..., None],
                                        ((self.vis_levels[k], self.vis_data[k]),
                                         (self.ir_levels[k], self.ir_data[k]))))
        return self._maps[k]

    @cached_property
    def dense(self) -> np.ndarray | None:
        """`dense_start` on the finest level, None where it fails or folds the frame."""
        vis_map, ir_map = self.maps(0)
        h, w = vis_map.shape[:2]
        start = dense_start(vis_map, ir_map)
        usable = start is not None and degenerate(np.linalg.inv(start), (w, h), (w, h)) is None
        return start if usable else None

    def other_start(self) -> str | None:
        """The start of the finest blocks not taken (`_estimate`'s `start`), where there was
        a choice."""
        if self.started is None or self.dense is None:
            return None
        return "coarse" if self.started == "dense" else "dense"


def _estimate(pair: _WorkPair, model: str, vis_name: str, ir_name: str, advice: str,
              start: str = "better") -> Registration:
    """`register` on a prepared pair: blocks coarse to fine, the selection, the refinement, the
    expected error and the checks. `start`: the finest blocks' start, "coarse" (what the
    coarser levels found: their blocks' fit, the identity where there is no coarser level),
    "dense" (`dense_start`) or "better" (whichever lines the edges up better)."""
    (vw, vh), (iw, ih) = pair.vis_size, pair.ir_size
    levels, vis_levels, work = pair.levels, pair.vis_levels, pair.work
    warp = np.eye(3)   # work-frame vis -> work-frame IR, on the current level
    tried, inliers, matches, residual, spread = [], 0, 0, float("nan"), 0.0
    carried = 0.0      # the reach of a level that found too few matches, passed to the next
    # The finest level runs again REFINE times: its blocks, matched once the IR is already
    # close, are matched on less distorted content (the pass whose blocks agree most is kept).
    schedule = list(reversed(range(levels))) + [0] * REFINE
    agreeing = {}             # per level: the kept pass's agreeing blocks
    kept = {}                 # per level: the kept pass's evidence (see below)
    for number, k in enumerate(schedule):
        if 0 < number and k < schedule[number - 1]:
            (h0, w0), (h1, w1) = vis_levels[k + 1].shape, vis_levels[k].shape
            warp = _level_change(warp, w1 / w0, h1 / h0)
        vis_map, ir_map = pair.maps(k)
        h, w = vis_map.shape[:2]
        size, reach_share, threshold = LEVELS[min(number, len(LEVELS) - 1)]
        reach_share = max(reach_share, carried)
        reach = max(MIN_REACH, int(round(reach_share * max(h, w))))
        started = "blocks" if number else "identity"
        if k == 0 and number == levels - 1:
            # The finest blocks start from the coarse blocks' fit or from a dense one,
            # whichever lines the edges up better unless `start` says which (the selection
            # below still holds the result out against the identity).
            dense = pair.dense
            if dense is not None and start != "coarse":
                follow = start == "dense"
                if not follow:
                    tiles = _Tiles((h, w), TILE)
                    on_dense, on_blocks = _each(
                        lambda to_ir: _mean(tiles.scores(vis_map, ir_map, to_ir)), (dense, warp))
                    follow = on_dense > on_blocks or not np.isfinite(on_blocks)
                if follow:
                    warp, reach = dense, max(MIN_REACH, int(round(LEVELS[-1][1] * max(h, w))))
                    started = "dense"
            pair.started = started
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        ir_on_vis = cv2.warpPerspective(ir_map, warp, (w, h), flags=flags)
        inside = cv2.warpPerspective(np.ones(ir_map.shape[:2], np.float32), warp, (w, h),
                                     flags=flags) > 0.999
        points, found, _ = _matches(vis_map, ir_on_vis, inside, size, reach)
        ir_points = apply_homography(warp, points) if len(points) else points
        fitted, mask = _fit(ir_points, found, model, threshold)
        step = {"level": f"1/{2 ** k}" if k else "1", "size": [w, h], "block": size,
                "reach_px": reach, "clear_blocks": int(len(points)),
                "inliers": int(mask.sum()) if mask is not None else 0, "start": started}
        tried.append(step)
        if fitted is None or mask.sum() < MIN_INLIERS or not invertible(fitted):
            # Too few matches here (small or plain images at coarse levels): the next, finer
            # level searches as far, with more blocks. Only the last level's failure is final.
            carried, step["used"] = reach_share, False
            continue
        carried, step["used"] = 0.0, True
        spread = _spread(found[mask], (w, h))
        step["spread"] = round(spread, 3)
        warp = np.linalg.inv(fitted)
        inliers, matches = int(mask.sum()), int(len(points))
        error = np.linalg.norm(apply_homography(fitted, ir_points[mask]) - found[mask], axis=1)
        residual = float(np.median(error)) / (work * 2 ** -k)   # in visible pixels
        # Of a level's passes, the one with the most agreeing blocks stands (as RANSAC keeps
        # the model with the most inliers): a pass matched from the one before is not always
        # better (blocks re-matched around a fit a few pixels off at the frame's edges can
        # agree on less; issue 32: 71 % of the tuning warps within 5 px against 69 %).
        if k not in kept or inliers >= kept[k][0]:
            kept[k] = (inliers, matches, residual, spread, (ir_points[mask], found[mask]))
        inliers, matches, residual, spread, agreeing[k] = kept[k]
    required = pair.required
    if not agreeing or min(agreeing) > required:
        last = tried[-1]
        detail = "at full detail" if required == 0 else f"at 1/{2 ** required} (the IR's detail)"
        _refuse(ir_name, vis_name, f"too few edges match ({last['inliers']} consistent blocks "
                f"of {last['clear_blocks']} clear ones {detail}, at least {MIN_INLIERS} "
                "needed)", advice)
    # Selection and refinement on the finest level with a fit.
    finest = min(agreeing)
    maps_here, shape = pair.maps(finest), vis_levels[finest].shape
    tile = max(16, TILE >> finest)
    chosen, evidence = select(*maps_here, *agreeing[finest], model, tile)
    warp = fit_model(*agreeing[finest], chosen)
    if not invertible(warp):
        _refuse(ir_name, vis_name, "the agreeing blocks collapse the frame (they lie on a line)",
                advice)
    warp = np.linalg.inv(warp)
    warp, refined = refine(*maps_here, warp, chosen, tile)
    if chosen not in ("identity", model) and model in evidence["fold_fits"]:
        # Fitted to half the blocks, the more general kinds' extra terms are noisy; refined on
        # every pixel they are not: keep them where they raise the tiles' correlation clearly.
        # Both are fitted on the pixels they are scored on: the more general one must also
        # move the frame by more than a refinement's own play. (Not where the most general
        # kind's fold fits collapse the frame: `select` dropped it, it has no expected error.)
        general, better = refine(*maps_here, warp, model, tile)
        if (better and mean_distance(general, warp, shape) > MIN_UPGRADE
                and _clearly_better(maps_here, general, warp, tile)):
            warp, chosen, refined = general, model, True
    if chosen != "identity" and (moved := mean_distance(warp, np.eye(3), shape)) < (
            NEAR * 2 ** -finest):
        # A move within the method's own play (NEAR): the pair stays as it is, and says so.
        evidence["tests"]["near"] = {"kind": chosen,
                                     "moved_px": round(moved / (work * 2 ** -finest), 2),
                                     "limit_px": round(NEAR / work, 2)}
        warp, chosen, refined = np.eye(3), "identity", False
    blocks_fit = fit_model(*agreeing[finest], model)   # what the agreeing blocks alone say
    expected = expected_error(evidence, chosen, blocks_fit, warp, model, shape) / (
        work * 2 ** -finest)
    to_vis = _full_frame(warp, shape, vis_levels[0].shape, (vw, vh), (iw, ih))
    blocks_to_vis = (_full_frame(np.linalg.inv(blocks_fit), shape, vis_levels[0].shape,
                                 (vw, vh), (iw, ih)) if invertible(blocks_fit) else None)
    # The dense fit, found on every pixel apart from the blocks (from the identity): where it
    # lies near the transform, two estimates agree that rarely go wrong the same way.
    dense_distance = float("nan")
    if pair.dense is not None:
        (h0, w0), (hf, wf) = vis_levels[0].shape, shape
        dense_distance = mean_distance(_level_change(warp, w0 / wf, h0 / hf), pair.dense,
                                       (h0, w0)) / work
    result = Registration(to_vis, (vw, vh), (iw, ih), chosen, inliers, matches, residual,
                          spread, _overlap(to_vis, (iw, ih), (vw, vh)), tried, expected, refined,
                          evidence["tests"], blocks_to_vis, dense_distance)
    check(result, vis_name, ir_name, advice)
    return result


def _full_frame(warp, level_shape, work_shape, vis_size, ir_size) -> np.ndarray:
    """A visible -> IR warp of one level of the work frame's pyramid as the transform of the
    full images: IR pixel -> visible pixel, normalised."""
    (h_here, w_here), (wh, ww), (vw, vh), (iw, ih) = level_shape, work_shape, vis_size, ir_size
    warp = _level_change(warp, ww / w_here, wh / h_here)
    to_vis = np.linalg.inv(scaling(iw / ww, ih / wh) @ warp @ scaling(ww / vw, wh / vh))
    return to_vis / to_vis[2, 2]


def _spread(points, size) -> float:
    """Share of the frame inside the convex hull of the matched points: a transform fitted on
    one corner extrapolates badly everywhere else."""
    if len(points) < 3:
        return 0.0
    hull = cv2.convexHull(points.astype(np.float32))
    return float(cv2.contourArea(hull) / (size[0] * size[1]))


class Refused(UserError):
    """A pair that cannot be registered with confidence; `reason` without the advice."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message


def _refuse(ir_name, vis_name, reason, advice):
    raise Refused(f"{ir_name}: not registered onto {vis_name}: {reason}; {advice}", reason)


def check(result: Registration, vis_name="visible", ir_name="IR", advice=ADVICE) -> None:
    """Refuse a registration that is degenerate, covers too little or stands out too little."""
    why = degenerate(result.homography, result.ir_size, result.vis_size)
    if why:
        _refuse(ir_name, vis_name, why, advice)
    if result.overlap < MIN_OVERLAP:
        _refuse(ir_name, vis_name, f"the IR would cover only {result.overlap:.0%} of the "
                f"visible frame (at least {MIN_OVERLAP:.0%})", advice)
    if math.isinf(result.expected_error):   # NaN: a transform file of an older version
        _refuse(ir_name, vis_name, "uncertain: a fit to the agreeing blocks collapses the frame "
                "or sends it to infinity", advice)
    if math.isfinite(result.expected_error) and result.expected_error > MAX_EXPECTED_ERROR:
        _refuse(ir_name, vis_name, f"uncertain: the evidence leaves an expected error of "
                f"{result.expected_error:.1f} px (at most {MAX_EXPECTED_ERROR:g} px: the blocks "
                "of two halves of the frame disagree, or disagree with the transform kept)",
                advice)
    share = result.inliers / max(1, result.matches)
    if share < MIN_INLIER_SHARE or result.spread < MIN_SPREAD:
        _refuse(ir_name, vis_name, f"low confidence ({result.inliers} of {result.matches} "
                f"matched blocks agree, over {result.spread:.0%} of the frame; needs "
                f"{MIN_INLIER_SHARE:.0%} and {MIN_SPREAD:.0%}: a transform fitted on a small "
                "part of the frame swings elsewhere)", advice)


# A stream warps every frame with one registration: the positions are computed once for it
# (5 ms a 640x480 frame), for frames up to this many pixels (a still pair's are used once, and
# a large one's would stay in memory).
POSITIONS_KEPT, POSITIONS_PIXELS = 2, 1 << 22
_positions: dict = {}


def _positions_for(result: Registration):
    """`_ir_positions` of a registration, with the mask's complement (None when the IR covers
    the whole frame); kept for the last POSITIONS_KEPT registrations of frame-sized images."""
    key = (result.homography.tobytes(), tuple(result.ir_size), tuple(result.vis_size))
    if key in _positions:
        return _positions[key]
    map_x, map_y, inside = _ir_positions(result.homography, result.ir_size, result.vis_size)
    found = (map_x, map_y, inside, None if inside.all() else ~inside)
    if inside.size <= POSITIONS_PIXELS:
        while len(_positions) >= POSITIONS_KEPT:
            _positions.pop(next(iter(_positions)))
        _positions[key] = found
    return found


def warp_onto(ir: np.ndarray, result: Registration, fill: float = 0.0):
    """The IR resampled onto the visible frame: (image, mask), mask True where IR data exists
    (every visible pixel centre that falls on an IR pixel); pixels without data get `fill`."""
    map_x, map_y, inside, outside = _positions_for(result)
    # Replicated borders: a centre within half a pixel of the IR's edge is still on the IR.
    image = cv2.remap(np.asarray(ir, np.float32), map_x, map_y, cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
    if outside is not None:
        np.copyto(image, np.float32(fill), where=outside if image.ndim == 2 else outside[..., None])
    return image, inside


# `fuse --register` on a large pair (`_large`): the estimate works on block means of both
# images, reduced to at most this many pixels a side and read a band of rows at a time (it
# works on a WORK_SIZE frame anyway), and the IR is warped a band of rows at a time
# (`WarpedRows`): neither image is held whole as float.
REDUCED_SIDE = 4 * WORK_SIZE


def _large(image) -> bool:
    from tf_irgan.rowfiles import STREAM_PIXELS

    return hasattr(image, "rows") and image.shape[0] * image.shape[1] >= STREAM_PIXELS


def register_rows(vis, ir, **kwargs) -> Registration:
    """`register` of two images given as arrays or rows (`images.ImageRows`): a large one is
    reduced by whole-number block means to at most REDUCED_SIDE a side first, and the transform
    is given for the full images."""
    factors = [max(1, math.ceil(max(image.shape[:2]) / REDUCED_SIDE)) if _large(image) else 1
               for image in (vis, ir)]
    if factors == [1, 1]:
        return register(*(i.whole() if hasattr(i, "rows") else i for i in (vis, ir)), **kwargs)
    small = register(*(_block_means(image, f) for image, f in zip((vis, ir), factors)), **kwargs)
    return small.enlarged(*factors, (vis.shape[1], vis.shape[0]), (ir.shape[1], ir.shape[0]))


def _block_means(image, factor: int) -> np.ndarray:
    """The gray of `image` (arrays or rows) reduced by block means of factor x factor pixels
    (the last rows and columns that do not fill a block are left out), a band at a time."""
    from tf_irgan.rows import band_rows

    if not hasattr(image, "rows"):
        from tf_irgan.images import ImageRows
        image = ImageRows.of(image)
    height, width = (image.shape[0] // factor, image.shape[1] // factor)
    out = np.empty((height, width), np.float32)
    step = max(1, band_rows(image.shape[1]) // factor) * factor
    for top in range(0, height * factor, step):
        bottom = min(height * factor, top + step)
        gray = _gray(image.rows(top, bottom))[:, :width * factor]
        out[top // factor:bottom // factor] = gray.reshape(
            (bottom - top) // factor, factor, width, factor).mean(axis=(1, 3))
    return out


class WarpedRows:
    """`onto_visible`'s result for a large pair: the IR resampled onto the visible frame a band
    of rows at a time (`rows(top, bottom)`, as `warp_onto` gives the whole), the visible image
    standing in where the IR has no data. Each band reads only the IR rows it lands on."""

    def __init__(self, vis, ir, result: Registration):
        self.vis, self.ir, self.result = vis, ir, result
        self.shape = tuple(vis.shape[:2]) + tuple(ir.shape[2:])
        self.ndim = len(self.shape)

    def rows(self, top, bottom):
        from tf_irgan.rows import band_rows

        out = np.empty((bottom - top,) + self.shape[1:], np.float32)
        # The positions and the stand-in's color conversion make float64 arrays of their own:
        # a megapixel at a time.
        step = band_rows(self.shape[1], 1 << 20)
        for start in range(top, bottom, step):
            end = min(bottom, start + step)
            part = out[start - top:end - top]
            part[...] = _stand_in(self.vis.rows(start, end), self.ir.ndim)
            self._warp_into(part, start, end)
        return out

    def _warp_into(self, out, top, bottom):
        ih = self.result.ir_size[1]
        map_x, map_y, inside = _ir_positions(self.result.homography, self.result.ir_size,
                                             self.result.vis_size, (top, bottom))
        if inside.any():
            # The IR rows the band's pixels fall between (linear interpolation: floor and the
            # next), so the remap reads exactly what it would on the whole IR.
            first = int(np.clip(np.floor(map_y[inside].min()) - 1, 0, ih - 1))
            last = int(np.clip(np.ceil(map_y[inside].max()) + 2, first + 1, ih))
            source = np.asarray(self.ir.rows(first, last), np.float32)
            warped = cv2.remap(source, map_x, map_y - np.float32(first), cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
            np.copyto(out, warped, where=inside if out.ndim == 2 else inside[..., None])

    def whole(self) -> np.ndarray:
        return self.rows(0, self.shape[0])


def _stand_in(vis: np.ndarray, ir_ndim: int) -> np.ndarray:
    """The visible image in the IR's form (gray or RGB), to stand in where the IR has no data."""
    if ir_ndim == 3 and vis.ndim == 2:
        return np.repeat(vis[..., None], 3, axis=2)
    if ir_ndim == 2 and vis.ndim == 3:
        # `to_gray`'s luminance by OpenCV's per-pixel product (float32): its float64 matrix
        # product costs ~10 ms a 640x480 frame, and a registered stream pays it every frame.
        from tf_irgan.color import COLOR_SPACES
        return COLOR_SPACES["ycbcr"].luminance(np.asarray(vis[..., :3], np.float32))
    return np.array(vis, np.float32)


def onto_visible(vis, ir, notes: list, vis_name="visible", ir_name="IR", fallback: bool = False,
                 result: Registration | None = None):
    """`fuse --register`: the IR registered and resampled onto the visible frame. Where it has
    no data the visible image stands in for it, so the fused image there follows the visible
    image (no black band, nothing invented). With `fallback`, a pair that cannot be registered is returned
    as it is, with a note; otherwise the refusal is raised. `result`: a registration of this
    pair made before (folder mode registers every pair before fusing any). Arrays, or rows
    (`images.ImageRows`): a large pair is registered on reduced copies and warped a band of rows
    at a time (`WarpedRows`), a small one as arrays."""
    try:
        result = result or register_rows(vis, ir, vis_name=vis_name, ir_name=ir_name,
                                         advice=FUSE_ADVICE)
    except Refused as refusal:
        if not fallback:
            raise
        notes.append(f"{ir_name}: not registered onto {vis_name} ({refusal.reason}); fused "
                     "as it is (--register-fallback)")
        return ir
    if _large(vis):
        notes.append(result.describe() + ("; there the visible image stands in for it"
                                          if result.overlap < 1 else ""))
        return WarpedRows(vis, ir, result)
    vis, ir = (i.whole() if hasattr(i, "rows") else i for i in (vis, ir))
    warped, inside = warp_onto(ir, result)
    outside = _positions_for(result)[3]
    if outside is not None:   # where the IR has no data (none: the IR covers the frame)
        np.copyto(warped, _stand_in(vis, ir.ndim),
                  where=outside if warped.ndim == 2 else outside[..., None])
    notes.append(result.describe() + ("; there the visible image stands in for it"
                                      if outside is not None else ""))
    return warped


def _stretched(gray: np.ndarray) -> np.ndarray:
    """The 1-99 percentile band mapped to [0, 1]: raw thermal counts in a narrow band of a
    16-bit range register like any 8-bit frame. A flat image stays flat (and is refused)."""
    low, high = np.percentile(gray, (1, 99))
    if high - low < FLAT_BAND:
        return np.zeros_like(gray)
    return ((gray - low) / (high - low)).astype(np.float32)   # unclipped: hot spots keep edges


def _gray(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float32)
    return to_gray(image[..., :3] if image.ndim == 3 else image)
