"""Registration: the homography that maps an infrared image onto the visible image's frame.

Visible and IR images do not share intensities (a warm road is dark in one and bright in the
other), but they share where many edges are. So:

1. The IR is stretched onto the visible frame as if both cameras saw the same field of view
   (the convention of registered pairs of any size ratio, `images.check_aspect`).
2. Both become edge maps that ignore polarity and local contrast (`structure`).
3. Blocks of the visible map are looked up in the IR map (normalised cross-correlation), coarse
   to fine: far on the coarsest level (~12 % of the frame), a few pixels on the finer ones.
4. RANSAC fits the transform to the blocks with a clear match, so that blocks fooled by a heat
   halo or a shadow are outliers rather than a bias; perspective terms only where the matches
   ask for them.
5. A pair is refused, with the reason, when too few blocks agree, when they cover too little of
   the frame, when the transform is degenerate or leaves too little overlap: never a silently
   wrong warp.

The homography maps IR pixel centres (x, y) to visible pixel coordinates; the transform file
(`Registration.to_json`) stores it with the confidence and what was tried. docs/registration.md
has the method's reasons, its accuracy on known deformations and its limits.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from tf_irgan.errors import UserError
from tf_irgan.images import to_gray

MODELS = ("homography", "affine")
# Work on the visible frame reduced to at most this many pixels on its long side (the result is
# scaled back): 640x480 is aligned at full resolution, larger frames at this size.
WORK_SIZE = 640
# Per level, coarsest first (the coarsest has a long side of 120-240 px): block size, search
# reach (share of the level's long side, each way; at least MIN_REACH px), RANSAC threshold
# (level pixels). The coarsest level finds shifts of ~12 % of the frame; each finer one only
# corrects what the one before left (elastic parts, the coarse level's half pixel).
LEVELS = ((32, 0.12, 2.0), (48, 0.03, 2.0), (64, 0.012, 2.0))
MIN_REACH = 6
REFINE = 1               # extra passes of the finest level
MIN_BLOCK_SCORE = 0.2    # correlation of a block's edge maps at its best shift ...
MIN_BLOCK_MARGIN = 0.05  # ... and by how much (relative) it beats any other shift
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

    @property
    def confidence(self) -> float:
        """0-1: the share of matched blocks that agree, times min(1, agreeing / 40): many
        blocks, most of them consistent, is what an unrelated pair never gives."""
        return float(self.inliers / max(1, self.matches) * min(1.0, self.inliers / 40))

    def describe(self) -> str:
        """One line for the notes: the transform against the plain edge-to-edge stretch, how
        sure, how much of the frame has no IR."""
        (vw, vh), (iw, ih) = self.vis_size, self.ir_size
        centre = apply_homography(self.homography, [[(iw - 1) / 2, (ih - 1) / 2]])[0]
        shift = centre - [(vw - 1) / 2, (vh - 1) / 2]
        zoom = math.sqrt(abs(np.linalg.det(self.homography[:2, :2])) / (vw / iw * vh / ih))
        return (f"registered the IR onto the visible frame: against the edge-to-edge stretch, "
                f"centre moved ({shift[0]:+.1f}, {shift[1]:+.1f}) px, zoom {zoom:.3f}; "
                f"{self.inliers} of {self.matches} matched blocks agree (confidence "
                f"{self.confidence:.2f}); {1 - self.overlap:.1%} of the frame has no IR data")

    def map_points(self, points) -> np.ndarray:
        """IR pixel coordinates (N, 2) -> visible pixel coordinates (N, 2)."""
        return apply_homography(self.homography, points)

    def to_json(self) -> str:
        data = {"homography": self.homography.tolist(),
                "convention": "visible (x, y, 1) ~ H @ IR (x, y, 1); pixel centres at integers",
                "vis_size": list(self.vis_size), "ir_size": list(self.ir_size),
                "model": self.model, "confidence": round(self.confidence, 4),
                "inliers": self.inliers, "matches": self.matches,
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
                       data.get("spread", 0.0), data.get("overlap", 0.0), data.get("tried", []))
        except (ValueError, KeyError, TypeError) as error:
            raise UserError(f"{name}: not a transform file written by `tf-irgan register` "
                            f"({error}); register the pair again") from None


def apply_homography(matrix, points) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    mapped = np.c_[points, np.ones(len(points))] @ np.asarray(matrix).T
    return mapped[:, :2] / mapped[:, 2:]


# ---------------------------------------------------------------- edge maps

def structure(gray: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """(H, W, 2) edge map: the gradient's orientation as a doubled angle (cos 2t, sin 2t), so an
    edge dark-to-bright in one modality and bright-to-dark in the other is the same edge,
    weighted by the gradient magnitude over its local mean, so a faint edge in one modality
    counts as much as a strong one in the other."""
    smooth = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), sigma)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    square = gx * gx + gy * gy
    magnitude = np.sqrt(square)
    local = cv2.GaussianBlur(magnitude, (0, 0), 8 * sigma)
    floor = 0.1 * float(magnitude.mean()) + 1e-6   # flat regions stay flat, not amplified noise
    weight = np.minimum(magnitude / (local + floor), 4.0)
    square += 1e-12
    return np.dstack([weight * (gx * gx - gy * gy) / square,
                      weight * 2 * gx * gy / square]).astype(np.float32)


def edge_share(gray: np.ndarray) -> float:
    """Share of pixels whose gradient is clear of noise (flat images have almost none)."""
    smooth = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 1.0)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    return float((np.hypot(gx, gy) > 0.1).mean())   # 0.1 ~ a step of 2.5 % of the range


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
    strength = np.linalg.norm(vis_map, axis=2)
    strong = strength > np.percentile(strength, 75)
    src, dst, scores = [], [], []
    size = min(size, h, w) // 2 * 2   # small frames: blocks no larger than the frame
    for y, x in _blocks((h, w), size):
        if not inside[y:y + size, x:x + size].all():
            continue
        template = ir_on_vis[y:y + size, x:x + size]
        if template.std() < 1e-4 or strong[y:y + size, x:x + size].mean() < 0.05:
            continue
        y0, y1 = max(0, y - reach), min(h, y + size + reach)
        x0, x1 = max(0, x - reach), min(w, x + size + reach)
        result = cv2.matchTemplate(vis_map[y0:y1, x0:x1], template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (bx, by) = cv2.minMaxLoc(result)
        # A clear peak: the best score away from it is lower by a margin.
        r = 2
        masked = result.copy()
        masked[max(0, by - r):by + r + 1, max(0, bx - r):bx + r + 1] = -1
        if best < MIN_BLOCK_SCORE or best - masked.max() < MIN_BLOCK_MARGIN * best:
            continue
        # A peak on the search window's edge may be the slope toward a shift beyond the reach
        # (unless that edge is the image's own): such blocks agree with each other and would
        # carry a wrong fit.
        rows, columns = result.shape
        if ((by == 0 and y0 > 0) or (by == rows - 1 and y1 < h)
                or (bx == 0 and x0 > 0) or (bx == columns - 1 and x1 < w)):
            continue
        py, px = _subpixel(result, by, bx)
        centre = np.array([x + size / 2 - 0.5, y + size / 2 - 0.5])
        src.append(centre)
        dst.append(centre + np.array([x0 + px - x, y0 + py - y]))
        scores.append(best)
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


def _ir_positions(to_vis, ir_size, vis_size):
    """For every visible pixel centre, where it lies on the IR (map_x, map_y, float32) and
    whether that is on the IR image (its pixels' outer edges included)."""
    (w, h), (iw, ih) = vis_size, ir_size
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    points = np.stack([xs, ys, np.ones_like(xs)], axis=-1) @ np.linalg.inv(to_vis).T
    map_x, map_y = points[..., 0] / points[..., 2], points[..., 1] / points[..., 2]
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
    vh, vw = vis_gray.shape
    ih, iw = ir_gray.shape
    # The work frame: the visible frame reduced to WORK_SIZE; the IR stretched onto it.
    work = min(1.0, WORK_SIZE / max(vh, vw))
    ww, wh = max(1, round(vw * work)), max(1, round(vh * work))
    vis_work = cv2.resize(vis_gray, (ww, wh), interpolation=cv2.INTER_AREA)
    ir_work = cv2.resize(ir_gray, (ww, wh), interpolation=cv2.INTER_AREA if iw > ww else
                         cv2.INTER_LINEAR)
    levels = max(1, int(math.log2(max(ww, wh) / 120)) + 1)
    vis_levels, ir_levels = _pyramid(vis_work, levels), _pyramid(ir_work, levels)
    warp = np.eye(3)   # work-frame vis -> work-frame IR, on the current level
    tried, inliers, matches, residual, spread = [], 0, 0, float("nan"), 0.0
    carried = 0.0      # the reach of a level that found too few matches, passed to the next
    # The finest level runs again REFINE times: its blocks, matched once the IR is already
    # close, are matched on less distorted content.
    schedule = list(reversed(range(levels))) + [0] * REFINE
    maps = {}
    for number, k in enumerate(schedule):
        if 0 < number and k < schedule[number - 1]:
            (h0, w0), (h1, w1) = vis_levels[k + 1].shape, vis_levels[k].shape
            warp = _level_change(warp, w1 / w0, h1 / h0)
        if k not in maps:   # the finest level's extra passes reuse its maps
            maps[k] = structure(vis_levels[k]), structure(ir_levels[k])
        vis_map, ir_map = maps[k]
        h, w = vis_map.shape[:2]
        size, reach_share, threshold = LEVELS[min(number, len(LEVELS) - 1)]
        reach_share = max(reach_share, carried)
        reach = max(MIN_REACH, int(round(reach_share * max(h, w))))
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        ir_on_vis = cv2.warpPerspective(ir_map, warp, (w, h), flags=flags)
        inside = cv2.warpPerspective(np.ones(ir_map.shape[:2], np.float32), warp, (w, h),
                                     flags=flags) > 0.999
        points, found, _ = _matches(vis_map, ir_on_vis, inside, size, reach)
        ir_points = apply_homography(warp, points) if len(points) else points
        fitted, mask = _fit(ir_points, found, model, threshold)
        step = {"level": f"1/{2 ** k}" if k else "1", "size": [w, h], "block": size,
                "reach_px": reach, "clear_blocks": int(len(points)),
                "inliers": int(mask.sum()) if mask is not None else 0}
        tried.append(step)
        if fitted is None or mask.sum() < MIN_INLIERS:
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
    if not any(step["used"] and step["level"] == "1" for step in tried):
        last = tried[-1]
        _refuse(ir_name, vis_name, f"too few edges match ({last['inliers']} consistent blocks "
                f"of {last['clear_blocks']} clear ones at full detail, at least {MIN_INLIERS} "
                "needed)", advice)
    # Work-frame vis -> work-frame IR, to full-size IR -> full-size visible.
    vis_to_work = scaling(ww / vw, wh / vh)
    ir_from_work = scaling(iw / ww, ih / wh)
    to_vis = np.linalg.inv(ir_from_work @ warp @ vis_to_work)
    to_vis /= to_vis[2, 2]
    result = Registration(to_vis, (vw, vh), (iw, ih), model, inliers, matches, residual,
                          spread, _overlap(to_vis, (iw, ih), (vw, vh)), tried)
    check(result, vis_name, ir_name, advice)
    return result


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
    share = result.inliers / max(1, result.matches)
    if share < MIN_INLIER_SHARE or result.spread < MIN_SPREAD:
        _refuse(ir_name, vis_name, f"low confidence ({result.inliers} of {result.matches} "
                f"matched blocks agree, over {result.spread:.0%} of the frame; needs "
                f"{MIN_INLIER_SHARE:.0%} and {MIN_SPREAD:.0%}: a transform fitted on a small "
                "part of the frame swings elsewhere)", advice)


def warp_onto(ir: np.ndarray, result: Registration, fill: float = 0.0):
    """The IR resampled onto the visible frame: (image, mask), mask True where IR data exists
    (every visible pixel centre that falls on an IR pixel); pixels without data get `fill`."""
    map_x, map_y, inside = _ir_positions(result.homography, result.ir_size, result.vis_size)
    # Replicated borders: a centre within half a pixel of the IR's edge is still on the IR.
    image = cv2.remap(ir.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
    image[~inside] = fill
    return image, inside


def onto_visible(vis: np.ndarray, ir: np.ndarray, notes: list, vis_name="visible",
                 ir_name="IR", fallback: bool = False,
                 result: Registration | None = None) -> np.ndarray:
    """`fuse --register`: the IR registered and resampled onto the visible frame. Where it has
    no data the visible image stands in for it, so the fused image there follows the visible
    image (no black band, nothing invented). With `fallback`, a pair that cannot be registered is returned
    as it is, with a note; otherwise the refusal is raised. `result`: a registration of this
    pair made before (folder mode registers every pair before fusing any)."""
    try:
        result = result or register(vis, ir, vis_name=vis_name, ir_name=ir_name,
                                    advice=FUSE_ADVICE)
    except Refused as refusal:
        if not fallback:
            raise
        notes.append(f"{ir_name}: not registered onto {vis_name} ({refusal.reason}); fused "
                     "as it is (--register-fallback)")
        return ir
    warped, inside = warp_onto(ir, result)
    if ir.ndim == 3 and vis.ndim == 2:
        stand_in = np.repeat(vis[..., None], 3, axis=2)
    elif ir.ndim == 2 and vis.ndim == 3:
        stand_in = _gray(vis)
    else:
        stand_in = vis
    warped[~inside] = stand_in[~inside]
    notes.append(result.describe() + ("; there the visible image stands in for it"
                                      if not inside.all() else ""))
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
