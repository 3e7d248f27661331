"""Image pairs -> training patches, and the HDF5 files that hold them.

The project's layout: datasets `vis` (N, p, p) and `ir` (N, p/s, p/s), float32 in [0, 1],
`source` (N,) the index of the pair each patch came from, and provenance attributes.
The official DDcGAN code's layout (MATLAB-written) is read too: one dataset `data` that h5py
sees as (N, 2, W, H), channel 0 visible, channel 1 IR at full resolution.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import h5py
import numpy as np

from tf_irgan.version import __version__
from tf_irgan.errors import UserError
from tf_irgan.files import atomic_path
from tf_irgan.color import COLOR_SPACES
from tf_irgan.data.pairs import holdout_split  # noqa: F401  (the one rule; also imported from here)
from tf_irgan.images import ImagePair, check_aspect, pair_folders, read_image


SCALES = (1, 2, 4, 8)  # visible/IR size ratios per side that patches (and models) are cut for


def check_scale(scale: int) -> int:
    if scale not in SCALES:
        raise UserError(f"--scale {scale} is not supported; use one of {', '.join(map(str, SCALES))}")
    return scale


@dataclass
class PatchSet:
    detail: np.ndarray               # (N, p, p) float32: visible, MRI
    intensity: np.ndarray            # (N, p/s, p/s) float32: IR, PET (SPECT, CT)
    scale: int
    source: np.ndarray | None = None  # (N,) pair index
    attrs: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.detail)


def downsample_area(images: np.ndarray, scale: int) -> np.ndarray:
    """Block mean over scale x scale cells: what a sensor with `scale`-times larger pixels sees."""
    if scale == 1:
        return images
    *lead, h, w = images.shape
    h, w = h - h % scale, w - w % scale
    blocks = images[..., :h, :w].reshape(*lead, h // scale, scale, w // scale, scale)
    return blocks.mean(axis=(-3, -1), dtype=np.float32)


def load_pair_gray(pair: ImagePair, color_space: str = "ycbcr", ranges=None,
                   notes: list | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The channels a fusion model sees, the IR's at the visible size (resized if it differs):
    color images are reduced to the color space's intensity (YCbCr: BT.601 Y; IHS: the PET's
    I/sqrt(3), the channel mean). `ranges` ({"ir": ..., "vis": ...}, `tf_irgan.ranges`; default
    auto) maps raw frames to [0, 1] as `fuse` does."""
    intensity = COLOR_SPACES[color_space].luminance
    ranges = ranges or {}
    images = (read_image(pair.vis, ranges.get("vis", "auto"), notes, "visible"),
              read_image(pair.ir, ranges.get("ir", "auto"), notes, "IR"))
    vis, ir = (intensity(image) if image.ndim == 3 else image for image in images)
    if vis.shape != ir.shape:
        check_aspect(ir.shape, vis.shape, pair.ir, pair.vis)
        ir = cv2.resize(ir, (vis.shape[1], vis.shape[0]), interpolation=cv2.INTER_CUBIC)
    return vis, np.clip(ir, 0, 1)


def extract_patches(vis: np.ndarray, ir: np.ndarray, patch: int, stride: int, scale: int):
    """All patch x patch windows at `stride` from a same-size pair; IR windows downsampled by scale."""
    if patch % scale:
        raise UserError(f"--patch {patch} is not a multiple of --scale {scale}")
    h, w = vis.shape
    if h < patch or w < patch:
        return np.empty((0, patch, patch), np.float32), np.empty((0,) + (patch // scale,) * 2, np.float32)
    windows = np.lib.stride_tricks.sliding_window_view
    vis_p = windows(vis, (patch, patch))[::stride, ::stride].reshape(-1, patch, patch)
    ir_p = windows(ir, (patch, patch))[::stride, ::stride].reshape(-1, patch, patch)
    return np.ascontiguousarray(vis_p, np.float32), downsample_area(np.ascontiguousarray(ir_p), scale)


def patches_from_folders(vis_dir, ir_dir, patch=84, stride=14, scale=4, holdout_every=0,
                         progress=None, color_space: str = "ycbcr", ranges=None,
                         notes: list | None = None) -> PatchSet:
    if stride < 1:
        raise UserError(f"--stride {stride} must be at least 1")
    pairs, held = holdout_split(pair_folders(vis_dir, ir_dir), holdout_every)
    vis_all, ir_all, source = [], [], []
    for index, pair in enumerate(progress(pairs) if progress else pairs):
        vis, ir = load_pair_gray(pair, color_space, ranges, notes)
        v, i = extract_patches(vis, ir, patch, stride, scale)
        vis_all.append(v)
        ir_all.append(i)
        source.append(np.full(len(v), index, np.int32))
    total = sum(len(v) for v in vis_all)
    if total == 0:
        raise UserError(f"{vis_dir}: every image is smaller than the {patch}x{patch} patch; "
                        "lower --patch")
    attrs = {"layout": "tf-irgan-patches-v1", "patch": patch, "stride": stride, "scale": scale,
             "detail_dir": str(vis_dir), "intensity_dir": str(ir_dir),
             "pairs": json.dumps([p.name for p in pairs]),
             "held_out": json.dumps([p.name for p in held]),
             "intensity_downsampling": f"area (block mean) {scale}x{scale}",
             "color_space": color_space,
             "intensity_range": str((ranges or {}).get("ir", "auto")),
             "detail_range": str((ranges or {}).get("vis", "auto")),
             "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "tf_irgan_version": __version__}
    return PatchSet(np.concatenate(vis_all), np.concatenate(ir_all), scale,
                    np.concatenate(source), attrs)


def write_patches(path, patches: PatchSet, overwrite=False) -> Path:
    """Write the project's layout; the file appears under its name only once complete."""
    with atomic_path(path, overwrite) as tmp, h5py.File(tmp, "w") as f:
        for name in ("detail", "intensity"):
            stack = getattr(patches, name)
            f.create_dataset(name, data=stack, chunks=(min(len(patches), 256),) + stack.shape[1:])
        if patches.source is not None:
            f.create_dataset("source", data=patches.source)
        for key, value in patches.attrs.items():
            f.attrs[key] = value
    return Path(path)


def write_official_layout(path, vis: np.ndarray, ir_full: np.ndarray):
    """Write patches as MATLAB would for the official code (h5py sees (N, 2, W, H)); for tests
    and for users who want to feed our patches to the original TF1 code."""
    data = np.stack([vis, ir_full], axis=1).transpose(0, 1, 3, 2)
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=data.astype(np.float32))


def read_patches(path, scale: int | None = None) -> PatchSet:
    """Load a patch file of either layout into memory (27k pairs load in about a second)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found; create it with `tf-irgan prepare`")
    try:
        with h5py.File(path, "r") as f:
            for names in (("detail", "intensity"), FORMER_DATASETS):
                if all(name in f for name in names):
                    return _read_project_layout(f, path, scale, *names)
            if "data" in f:
                return _read_official_layout(f, path, scale)
            found = ", ".join(sorted(f.keys())) or "nothing"
    except OSError as err:
        raise UserError(f"{path}: not a readable HDF5 file ({err.__class__.__name__}); "
                        "re-create it with `tf-irgan prepare`") from None
    raise UserError(f"{path}: holds {found}, not patch datasets ('detail'/'intensity' or the official 'data'); "
                    "re-create it with `tf-irgan prepare`")


# Patch files written before the two inputs were named detail and intensity.
FORMER_DATASETS = ("vis", "ir")


def _read_project_layout(f, path, scale, detail_name, intensity_name):
    vis, ir = f[detail_name], f[intensity_name]
    if vis.ndim != 3 or ir.ndim != 3 or len(vis) != len(ir) or vis.shape[1] != vis.shape[2]:
        raise UserError(f"{path}: '{detail_name}' {vis.shape} and '{intensity_name}' {ir.shape} are "
                        "not matching patch stacks; re-create it with `tf-irgan prepare`")
    file_scale = vis.shape[1] // ir.shape[1]
    if file_scale * ir.shape[1] != vis.shape[1]:
        raise UserError(f"{path}: visible patches {vis.shape[1]} px are not a whole multiple of IR "
                        f"patches {ir.shape[1]} px; re-create it with `tf-irgan prepare`")
    if scale is not None and file_scale != scale:
        raise UserError(f"{path}: was prepared for --scale {file_scale}, not {scale}; train with "
                        f"--scale {file_scale} or run `tf-irgan prepare --scale {scale}`")
    # Plain Python values (h5py gives numpy scalars), so that attrs serialise to JSON as read.
    attrs = {k: (v.decode() if isinstance(v, bytes) else v.item() if isinstance(v, np.generic) else v)
             for k, v in f.attrs.items()}
    source = f["source"][...] if "source" in f else None
    return PatchSet(vis[...].astype(np.float32), ir[...].astype(np.float32), file_scale, source, attrs)


def _read_official_layout(f, path, scale):
    data = f["data"]
    if data.ndim != 4 or data.shape[1] != 2 or data.shape[2] != data.shape[3]:
        raise UserError(f"{path}: dataset 'data' has shape {data.shape}, expected (N, 2, W, H) as "
                        "written by the official MATLAB script")
    scale = scale or 4
    arrays = data[...].astype(np.float32).transpose(0, 1, 3, 2)
    if arrays.shape[2] % scale:
        raise UserError(f"{path}: {arrays.shape[2]}-pixel patches cannot be downsampled by {scale}")
    return PatchSet(arrays[:, 0], downsample_area(arrays[:, 1], scale), scale,
                    attrs={"layout": "official-matlab"})
