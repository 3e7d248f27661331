"""Fusing whole images of any size with a trained generator or a classical baseline.

The visible image sets the output geometry. The IR image may be the same size or 1/scale per
side; when its size is not an exact fraction of the visible one it is resampled onto the visible
frame (and the caller is told). Images are reflect-padded to a multiple of the scale and cropped
back, never stretched, and processed in overlapping tiles so memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from tf_irgan.color import replace_luma
from tf_irgan.data.patches import downsample_area
from tf_irgan.errors import UserError
from tf_irgan.images import ASPECT_TOLERANCE

SAME_SIZE_MODEL, X4_MODEL = "ddcgan-ir-vis", "ddcgan-ir-vis-x4"
# A model trained at scale s > 1 serves size ratios in [s / 2, 1.5 s]; a same-size model serves
# [1 / 1.5, 2]. Ratios between two models go to the nearer one (in octaves), whose IR input is
# then resampled to its scale.
SLACK = 1.5
TILE, MARGIN = 512, 32  # MARGIN exceeds the generator's receptive radius (~12 px + one IR pixel)


@dataclass
class FuseResult:
    image: np.ndarray          # float32 [0, 1], (H, W) or (H, W, 3)
    method: str
    checkpoint: str | None = None
    notes: list = field(default_factory=list)


def size_ratio(vis_shape, ir_shape, vis_name="visible", ir_name="IR", notes=None) -> float:
    """Visible/IR size ratio per side; refuses pairs whose aspect ratios differ beyond
    ASPECT_TOLERANCE and, given `notes`, records a smaller difference there."""
    r_h, r_w = vis_shape[0] / ir_shape[0], vis_shape[1] / ir_shape[1]
    mismatch = abs(r_h - r_w) / max(r_h, r_w)
    if mismatch > ASPECT_TOLERANCE:
        raise UserError(f"{ir_name}: {ir_shape[1]}x{ir_shape[0]} does not have the aspect ratio of "
                        f"{vis_name} ({vis_shape[1]}x{vis_shape[0]}); crop both to the same field of view")
    if notes is not None and mismatch > 0.02:
        notes.append(f"{ir_name}: its aspect ratio differs from the visible image's by "
                     f"{mismatch:.0%}; taken as registered edge to edge")
    return (r_h + r_w) / 2


def default_checkpoint(ratio: float, ir_name="IR", vis_name="visible") -> str:
    if ratio < 1 / SLACK:
        raise UserError(f"{ir_name}: is {1 / ratio:.1f}x larger per side than {vis_name}; "
                        "pass the visible image first, then the IR image")
    if ratio < 2:
        return SAME_SIZE_MODEL
    if ratio <= 4 * SLACK:
        return X4_MODEL
    raise UserError(f"{ir_name}: is {ratio:.2f}x smaller per side than {vis_name}; the shipped models "
                    f"serve ~1x ({SAME_SIZE_MODEL}) and ~4x ({X4_MODEL}); resize the IR image or pass "
                    "--checkpoint with a model trained at that ratio")


def check_serves(scale: int, ratio: float, checkpoint: str, ir_name="IR"):
    if ratio < 1 / SLACK:  # no model fuses a larger IR image: the inputs are swapped
        raise UserError(f"{ir_name}: is {1 / ratio:.1f}x larger per side than the visible image; "
                        "pass the visible image first, then the IR image")
    low, high = (1 / SLACK, 2.0) if scale == 1 else (scale / 2, scale * SLACK)
    if not low <= ratio <= high:
        raise UserError(f"{ir_name}: the visible/IR size ratio is {ratio:.2f}, but {checkpoint} was "
                        f"trained for {scale}x; use a checkpoint trained near that ratio "
                        "(see `tf-irgan checkpoints`) or resize the IR image")


def align_ir(vis_shape, ir: np.ndarray, scale: int, notes: list, ir_name="IR") -> np.ndarray:
    """The IR image on the grid of the visible image padded to a multiple of scale.

    Accepted as they are: ceil(H/s) x ceil(W/s) (the padded grid) and floor(H/s) x floor(W/s)
    (an IR that covers the whole multiples of s; its missing last row/column is edge-padded).
    Anything else is resampled onto the visible frame first, so the geometry stays exact.
    """
    height, width = vis_shape
    ceil_shape = (-(-height // scale), -(-width // scale))
    floor_shape = (height // scale, width // scale)
    if ir.shape == ceil_shape:
        return ir
    if ir.shape == floor_shape:
        return np.pad(ir, ((0, ceil_shape[0] - floor_shape[0]), (0, ceil_shape[1] - floor_shape[1])),
                      mode="edge")
    full = cv2.resize(ir, (width, height), interpolation=cv2.INTER_CUBIC)
    notes.append(f"{ir_name}: {ir.shape[1]}x{ir.shape[0]} is not 1/{scale} of the visible "
                 f"{width}x{height}; resampled onto the visible frame")
    pad_h, pad_w = -height % scale, -width % scale
    full = np.pad(full, ((0, pad_h), (0, pad_w)), mode="reflect") if pad_h or pad_w else full
    return np.clip(downsample_area(full, scale), 0.0, 1.0)


def run_generator(model, vis: np.ndarray, ir: np.ndarray, scale: int,
                  tile: int = TILE, margin: int = MARGIN) -> np.ndarray:
    """Generator output for a visible luminance (H, W) and an IR image (ceil(H/s), ceil(W/s))."""
    height, width = vis.shape
    pad_h, pad_w = -height % scale, -width % scale
    if pad_h or pad_w:
        vis = np.pad(vis, ((0, pad_h), (0, pad_w)), mode="reflect")
    tile = max(scale, tile - tile % scale)
    margin = margin + (-margin % scale)
    full_h, full_w = vis.shape
    out = np.empty((full_h, full_w), np.float32)
    for y in range(0, full_h, tile):
        for x in range(0, full_w, tile):
            y0, x0 = max(0, y - margin), max(0, x - margin)
            y1, x1 = min(full_h, y + tile + margin), min(full_w, x + tile + margin)
            fused = _generate(model, vis[y0:y1, x0:x1],
                              ir[y0 // scale:y1 // scale, x0 // scale:x1 // scale])
            out[y:y + tile, x:x + tile] = fused[y - y0:y - y0 + tile, x - x0:x - x0 + tile]
    return out[:height, :width]


def _generate(model, vis, ir):
    batch = {"vis": vis[None, :, :, None].astype(np.float32), "ir": ir[None, :, :, None].astype(np.float32)}
    return model(batch, training=False).numpy()[0, :, :, 0]


def fuse_images(vis: np.ndarray, ir: np.ndarray, checkpoint=None, method: str = "ddcgan",
                gray: bool = False, vis_name: str = "visible", ir_name: str = "IR") -> FuseResult:
    """Fuse a visible image (gray or RGB) with an IR image; arrays float in [0, 1].

    Color visible input is fused on its luminance and gets its chrominance back (YCbCr) unless
    `gray`. `method` is "ddcgan" (a checkpoint; chosen by the size ratio when None) or one of
    the classical baselines.
    """
    from tf_irgan.images import to_gray

    notes = []
    vis_y, ir_g = to_gray(vis), to_gray(ir)
    if ir.ndim == 3:
        notes.append(f"{ir_name}: color IR reduced to its luminance")
    ratio = size_ratio(vis_y.shape, ir_g.shape, vis_name, ir_name, notes)
    if method == "ddcgan":
        from tf_irgan.checkpoints import load_preset
        name = checkpoint or default_checkpoint(ratio, ir_name, vis_name)
        preset = load_preset(name)
        check_serves(preset.scale, ratio, str(name), ir_name)
        small = align_ir(vis_y.shape, ir_g, preset.scale, notes, ir_name)
        fused = run_generator(preset.model, vis_y, small, preset.scale)
        used = preset.name
    else:
        from tf_irgan.baselines import METHODS
        if method not in METHODS:
            raise UserError(f"--method {method}: use ddcgan or one of {', '.join(METHODS)}")
        if checkpoint:
            raise UserError(f"--checkpoint applies to --method ddcgan, not {method}")
        if ir_g.shape != vis_y.shape:
            ir_g = np.clip(cv2.resize(ir_g, vis_y.shape[::-1], interpolation=cv2.INTER_CUBIC), 0, 1)
            notes.append(f"{ir_name}: resized to the visible size for the {method} baseline")
        fused, used = METHODS[method](vis_y, ir_g), None
    fused = np.clip(fused, 0.0, 1.0).astype(np.float32)
    if vis.ndim == 3 and not gray:
        fused = replace_luma(vis, fused)
    return FuseResult(fused, method, used, notes)
