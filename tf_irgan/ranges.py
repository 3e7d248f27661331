"""How the values of a raw frame map to [0, 1]: `--ir-range` and `--vis-range`.

Thermal cores (FLIR Boson/Tau, most thermal datasets) store radiometric counts in 16-bit
files, typically a narrow band such as 7000-8530 of 0-65535, or 12/14-bit values in a 16-bit
container. Divided by 65535 such a frame is nearly flat, and a model fuses it as an IR image
with no detail. The specifications:

- `auto` (the default): 8-bit images and frames that use most of their container are scaled
  by the container (255; 4095, 16383 or 65535 for 12/14/16-bit data in a 16-bit file); a
  16-bit frame whose values span under a quarter of its container is stretched from its 0.5th
  to its 99.5th percentile, with a note. Per frame, so a video's brightness may flicker: use
  fixed bounds for sequences.
- `full`: scale by the file's type (255 or 65535), as tf-irgan 0.3 did.
- `LOW,HIGH`: fixed raw values (counts), the same mapping for every frame of a folder or video.
- `pLOW,pHIGH`: each frame's own percentiles, e.g. `p1,p99`.

Values outside the mapped range are clipped to [0, 1]. Float images are left as they are read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tf_irgan.errors import UserError
from tf_irgan.rows import bands_of, by_rows

AUTO_PERCENTILES = (0.5, 99.5)
NARROW = 0.25  # a 16-bit frame whose percentile band spans less than this share is stretched
CONTAINERS = (4095, 16383, 65535)  # 12, 14 and 16 bits in a 16-bit file


@dataclass(frozen=True)
class ValueRange:
    mode: str            # "auto", "full", "fixed" or "percentile"
    low: float = 0.0     # raw value (fixed) or percentile (percentile)
    high: float = 0.0

    def __str__(self):
        if self.mode == "fixed":
            return f"{self.low:g},{self.high:g}"
        if self.mode == "percentile":
            return f"p{self.low:g},p{self.high:g}"
        return self.mode


AUTO, FULL = ValueRange("auto"), ValueRange("full")


def parse_range(text, option: str = "--ir-range") -> ValueRange:
    """`auto`, `full`, `LOW,HIGH` or `pLOW,pHIGH`; a one-line error naming the option otherwise."""
    if isinstance(text, ValueRange):
        return text
    spec = str(text).strip().lower()
    if spec in ("auto", "full"):
        return ValueRange(spec)
    parts = spec.split(",")
    hint = (f"{option} {text}: use auto, full, LOW,HIGH (raw values, e.g. 7000,8600) or "
            "pLOW,pHIGH (percentiles, e.g. p1,p99)")
    if len(parts) != 2:
        raise UserError(hint)
    percentile = all(p.strip().startswith("p") for p in parts)
    if not percentile and any(p.strip().startswith("p") for p in parts):
        raise UserError(hint)
    try:
        low, high = (float(p.strip().lstrip("p")) for p in parts)
    except ValueError:
        raise UserError(hint) from None
    if not low < high:
        raise UserError(f"{option} {text}: LOW must be below HIGH")
    if percentile and not (0 <= low and high <= 100):
        raise UserError(f"{option} {text}: percentiles lie in 0-100")
    return ValueRange("percentile" if percentile else "fixed", low, high)


def option_for(label: str) -> str:
    """The command-line option that sets the range of a `label` image ("IR", "visible")."""
    return "--ir-range" if label == "IR" else "--vis-range"


def container_of(image: np.ndarray) -> float:
    """The largest value the frame's data can hold: 255 for 8 bits; for a 16-bit file the
    smallest of 12/14/16 bits that holds its maximum."""
    if image.dtype == np.uint8:
        return 255.0
    top = max((float(part.max()) for part in bands_of(image) if part.size), default=0.0)
    return float(next(c for c in CONTAINERS if top <= c))


def to_unit(image: np.ndarray, value_range: ValueRange, name: str, label: str = "IR",
            notes: list | None = None) -> np.ndarray:
    """An integer frame (any number of channels) as float32 in [0, 1] under `value_range`.
    Computed a band of rows at a time, its percentiles from a histogram: no full-size float
    temporaries (`tf_irgan.rows`)."""
    return mapped(image, *unit_bounds(image, value_range, name, label, notes))


def unit_bounds(image: np.ndarray, value_range: ValueRange, name: str, label: str = "IR",
                notes: list | None = None) -> tuple[float, float]:
    """(low, high): the raw values `value_range` maps to 0 and 1 for this integer frame; what
    `auto` did goes into `notes`. A large image keeps its integers and maps a band of rows at a
    time (`images.ImageRows`)."""
    full = 255.0 if image.dtype == np.uint8 else 65535.0
    mode = value_range.mode
    if mode == "full":
        if image.dtype == np.uint16 and notes is not None:
            low, high = percentiles(image, AUTO_PERCENTILES)
            if high - low < NARROW * full:
                # A raw thermal frame in a sliver of the 16-bit scale: as asked, but the result
                # is one flat gray and the IR's content is lost in the fusion.
                notes.append(f"{name}: {label} values {low:.0f}-{high:.0f} fill only "
                             f"{(high - low) / full:.1%} of 0-{int(full)} under "
                             f"{option_for(label)} full, so the {label} comes out nearly flat; "
                             f"{option_for(label)} auto stretches it, LOW,HIGH fixes one mapping")
        return 0.0, full
    if mode == "fixed":
        if value_range.high > full:
            raise UserError(f"{name}: range {value_range} is beyond this {int(full).bit_length()}-bit "
                            f"image's values (0-{int(full)}); give bounds in its own units")
        return value_range.low, value_range.high
    if mode == "percentile":
        return _stretch(image, value_range.low, value_range.high)
    # auto
    if image.dtype == np.uint8:
        return 0.0, 255.0
    container = container_of(image)
    low, high = percentiles(image, AUTO_PERCENTILES)
    if high - low < NARROW * container:
        if notes is not None:
            notes.append(f"{name}: {label} frame with values {low:.0f}-{high:.0f} only, of "
                         f"0-{container:.0f} ({int(container).bit_length()}-bit); stretched from its {AUTO_PERCENTILES[0]:g}th to its "
                         f"{AUTO_PERCENTILES[1]:g}th percentile ({option_for(label)} full keeps the "
                         "file's scale, LOW,HIGH fixes one mapping for a sequence)")
        return _stretch(image, *AUTO_PERCENTILES)
    if container != 65535 and notes is not None:
        notes.append(f"{name}: {int(container).bit_length()}-bit values in a 16-bit file; "
                     f"scaled by {container:.0f}")
    return 0.0, container


def mapped(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """(image - low) / (high - low) clipped to [0, 1], as float32, a band of rows at a time."""
    return by_rows(lambda part: mapped_rows(part, low, high), np.empty(image.shape, np.float32),
                   image)


def mapped_rows(part: np.ndarray, low: float, high: float) -> np.ndarray:
    """`mapped` for one band, which it may hold whole."""
    out = part.astype(np.float32)
    out -= np.float32(low)
    out /= np.float32(high - low)
    return np.clip(out, 0.0, 1.0, out=out)


def _stretch(image: np.ndarray, low_pct: float, high_pct: float) -> tuple[float, float]:
    low, high = percentiles(image, (low_pct, high_pct))
    if high <= low:  # a flat frame: nothing to stretch
        return 0.0, max(high, 1.0)
    return low, high


def percentiles(image: np.ndarray, qs) -> tuple:
    """np.percentile(image, qs) (linear interpolation) of an 8/16-bit image, from its histogram,
    counted a band of rows at a time: no sorted float copy of the whole image."""
    counts = np.zeros(65536 if image.dtype == np.uint16 else 256, np.int64)
    for part in bands_of(image):
        counts += np.bincount(part.ravel(), minlength=len(counts))
    order = np.cumsum(counts)
    total = int(order[-1])
    values = []
    for q in qs:
        index = q / 100 * (total - 1)
        lower = int(np.floor(index))
        below = float(np.searchsorted(order, lower, side="right"))
        above = float(np.searchsorted(order, min(lower + 1, total - 1), side="right"))
        values.append(below + (index - lower) * (above - below))
    return tuple(values)
