"""Reading, writing and pairing images.

Every image enters the package as float32 in [0, 1]: (H, W) for grayscale, (H, W, 3) RGB for
color. Grayscale stored as three equal channels is reduced to (H, W) so that it is not mistaken
for color. All failures are `UserError`s whose message names the file and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tf_irgan.errors import UserError
from tf_irgan.files import check_outputs, write_bytes
from tf_irgan.rows import band_rows, bands_of, by_rows

# Registered pairs from two sensors need not have the same pixel aspect: RoadScene's
# high-resolution visible frames differ from their IR frames by up to 10 % in aspect ratio and
# are still registered edge to edge. Beyond this, two images cannot show the same field of view.
ASPECT_TOLERANCE = 0.15


def aspect_mismatch(shape_a, shape_b) -> float:
    """How far two images' aspect ratios are apart: |r_h - r_w| / max(r_h, r_w), where r_h and
    r_w are the per-side size ratios (0 for the same shape of scene)."""
    r_h, r_w = shape_a[0] / shape_b[0], shape_a[1] / shape_b[1]
    return abs(r_h - r_w) / max(r_h, r_w)


def check_aspect(shape, reference_shape, name, reference_name, notes=None) -> float:
    """The one aspect rule (fuse, prepare, evaluate): refuse a pair whose aspect ratios differ
    by more than ASPECT_TOLERANCE; record a difference above 2 % in `notes` when given.
    Returns the mismatch."""
    mismatch = aspect_mismatch(reference_shape, shape)
    if mismatch > ASPECT_TOLERANCE:
        raise UserError(f"{name} ({shape[1]}x{shape[0]}) and {reference_name} "
                        f"({reference_shape[1]}x{reference_shape[0]}) differ in aspect ratio by "
                        f"{mismatch:.0%} (at most {ASPECT_TOLERANCE:.0%} is taken as registered); "
                        "check the pairing or crop both to the same field of view")
    if notes is not None and mismatch > 0.02:
        notes.append(f"{name}: its aspect ratio differs from {reference_name}'s by {mismatch:.0%}; "
                     "taken as registered edge to edge")
    return mismatch

# Images above this many pixels are refused from their header, before any is decoded: a
# 20000x20000 PNG is 425 KB on disk and 1.6 GB as float32 per channel, and fusing it would take
# ~10x that. 200 million (e.g. 14000x14000) fits the 24 GB machines this was sized on; set
# TF_IRGAN_MAX_PIXELS for more (docs/usage.md, "What tf-irgan promises about your files").
MAX_PIXELS = 200_000_000
MAX_PIXELS_VARIABLE = "TF_IRGAN_MAX_PIXELS"


def max_pixels() -> int:
    import os

    text = os.environ.get(MAX_PIXELS_VARIABLE, "").strip()
    if not text:
        return MAX_PIXELS
    try:
        value = int(float(text))
        if value <= 0:
            raise ValueError
    except ValueError:
        raise UserError(f"{MAX_PIXELS_VARIABLE}={text}: give a positive number of pixels, e.g. "
                        f"{MAX_PIXELS}") from None
    return value


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file's header alone (Pillow reads no pixel data for this), or
    None where Pillow does not know the format (OpenCV may still decode it)."""
    from PIL import Image, UnidentifiedImageError

    guard = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None   # Pillow's own decompression-bomb guard: ours is `check_pixels`
    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = guard


def check_pixels(path: Path, width: int, height: int) -> None:
    limit = max_pixels()
    if width * height > limit:
        raise UserError(f"{path}: {width}x{height} is {width * height / 1e6:.0f} million pixels, "
                        f"over the limit of {limit / 1e6:.0f} million; crop or reduce it, or set "
                        f"{MAX_PIXELS_VARIABLE} higher if this machine has the memory (about "
                        f"45 bytes per pixel to fuse a color pair)")


def check_headers(paths) -> None:
    """Refuse any of `paths` over the pixel limit from its header, before a command loads its
    model or decodes anything (files that do not exist are left to `read_image` to name)."""
    for path in paths:
        path = Path(path)
        if path.is_file():
            size = header_size(path)
            if size is not None:
                check_pixels(path, *size)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
# Outputs: lossless PNG/TIFF (8 or 16 bit) and BMP; JPEG (8 bit, lossy) for previews.
WRITE_SUFFIXES = (".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg")


def read_image(path, value_range=None, notes: list | None = None, label: str = "IR") -> np.ndarray:
    """Read an 8/16-bit or float image as float32 in [0, 1]; (H, W) gray or (H, W, 3) RGB.

    `value_range` (`tf_irgan.ranges`: "auto", "full", "LOW,HIGH", "pLOW,pHIGH") says how an
    integer image's values map to [0, 1]; None scales by the file's type (255 or 65535). What
    `auto` did goes into `notes`, naming the file as a `label` image."""
    return decode_image(path, value_range, notes, label).whole()


@dataclass
class ImageRows:
    """An image as its file holds it (8/16-bit or float; gray or RGB, channels already fixed)
    and the values that map to 0 and 1: float32 rows in [0, 1] made on demand. A large image
    is fused a band of rows at a time from its integers, never held whole as float (4x the
    bytes of 8 bits). An array already in [0, 1] is its own rows (`of`)."""
    pixels: np.ndarray
    low: float = 0.0
    high: float = 1.0

    @classmethod
    def of(cls, image) -> "ImageRows":
        """Float arrays in [0, 1], as `tf_irgan.pipelines` take them, or ImageRows (or other
        rows, e.g. `registration.WarpedRows`) as they are."""
        return image if hasattr(image, "rows") else cls(np.asarray(image, np.float32))

    @property
    def shape(self) -> tuple:
        return self.pixels.shape

    @property
    def ndim(self) -> int:
        return self.pixels.ndim

    @property
    def _as_is(self) -> bool:
        return self.pixels.dtype == np.float32 and (self.low, self.high) == (0.0, 1.0)

    def rows(self, top: int, bottom: int) -> np.ndarray:
        """Rows top..bottom-1 as float32 in [0, 1] (a view when the pixels already are)."""
        from tf_irgan.ranges import mapped_rows

        part = self.pixels[top:bottom]
        return part if self._as_is else mapped_rows(part, self.low, self.high)

    def whole(self) -> np.ndarray:
        """The whole image as float32 in [0, 1], converted a band of rows at a time."""
        from tf_irgan.ranges import mapped

        return self.pixels if self._as_is else mapped(self.pixels, self.low, self.high)


def decode_image(path, value_range=None, notes: list | None = None,
                 label: str = "IR", stream: bool = False) -> ImageRows:
    """`read_image` without the float conversion: the file's pixels and their mapping to
    [0, 1] (`ImageRows`), for work done a band of rows at a time. With `stream`, a large
    PNG/TIFF/JPEG is not decoded here: its rows are decoded as they are asked for
    (`tf_irgan.rowfiles`), in order, so that the file is never held whole."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: file not found; check the path")
    if path.is_dir():
        raise UserError(f"{path}: is a folder, not an image; pass an image file")
    size = header_size(path)
    if size is not None:
        check_pixels(path, *size)
    image = None
    if stream and size is not None:
        from tf_irgan.rowfiles import open_rows
        image = open_rows(path, *size)
    if image is None:
        # imdecode on the raw bytes: imread mis-handles some non-ASCII paths and says nothing useful.
        raw = np.fromfile(str(path), dtype=np.uint8)
        image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
        del raw   # the file's bytes: not kept beside the image while it is converted
        if image is not None and size is None:
            check_pixels(path, image.shape[1], image.shape[0])
        if image is None:
            raise UserError(f"{path}: cannot be decoded as an image (corrupt or unsupported "
                            "format); re-save it as PNG or TIFF")
        image = _channels(image, path)
    elif image.ndim == 3 and _channels_equal_by_bands(image):
        image = image.first_channel()
    if image.dtype in (np.uint8, np.uint16):
        if value_range is None:
            return ImageRows(image, 0.0, 255.0 if image.dtype == np.uint8 else 65535.0)
        from tf_irgan.ranges import option_for, parse_range, unit_bounds
        return ImageRows(image, *unit_bounds(image, parse_range(value_range, option_for(label)),
                                             str(path), label, notes))
    if image.dtype not in (np.float32, np.float64):
        raise UserError(f"{path}: pixel type {image.dtype} is not supported; "
                        "save it as 8- or 16-bit PNG/TIFF")
    image = np.ascontiguousarray(image, dtype=np.float32)
    if _in_unit(image, path):
        return ImageRows(image)
    # Float TIFFs from other tools come in arbitrary units: stretch rather than clip.
    low, top = float(image.min()), float(image.max())
    return ImageRows(image, low, low + max(top - low, 1e-12))


def _channels(image: np.ndarray, path: Path) -> np.ndarray:
    """Gray (H, W) or RGB (H, W, 3) in the file's own type: alpha dropped, OpenCV's BGR turned
    round, a gray image stored as color made gray (before any conversion to float, which would
    quadruple what each copy costs)."""
    if image.ndim == 3:
        channels = image.shape[2]
        if channels in (1, 2):   # gray (+ alpha)
            image = image[..., 0]
        elif channels in (3, 4):
            image = image[..., 2::-1]   # BGR(A) -> RGB, alpha dropped
        else:
            raise UserError(f"{path}: has {channels} channels; expected gray, RGB or RGBA")
    if image.ndim == 3 and _channels_equal(image):
        image = image[..., 0]
    if image.ndim != 2 and image.ndim != 3:
        raise UserError(f"{path}: unexpected image shape {image.shape}")
    if min(image.shape[:2]) < 8:
        raise UserError(f"{path}: image is only {image.shape[1]}x{image.shape[0]} pixels; "
                        "use images at least 8 pixels on each side")
    return np.ascontiguousarray(image)


def _in_unit(image: np.ndarray, path: Path) -> bool:
    """Whether a float image lies in [0, 1]; NaN or infinite values are refused."""
    if not np.isfinite(image).all():
        raise UserError(f"{path}: contains NaN or infinite values; clean the image first")
    return not image.size or (float(image.min()) >= 0 and float(image.max()) <= 1.0)


def _channels_equal_by_bands(image) -> bool:
    """`_channels_equal` of a streamed image (`rowfiles.RowReader`), read a band at a time."""
    return all(_channels_equal(part) for part in bands_of(image))


def _channels_equal(image: np.ndarray) -> bool:
    return bool(np.array_equal(image[..., 0], image[..., 1])
                and np.array_equal(image[..., 0], image[..., 2]))


def check_image_output(path, overwrite: bool = False, bit_depth: int = 8) -> Path:
    """Refuse an output path before any work is done: unknown format, a 16-bit request the
    format cannot hold, an existing file (without `overwrite`) or a folder."""
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise UserError(f"{path}: is a folder; name an image file in it (e.g. {path / 'fused.png'}), "
                        "or use the folder options (--out-dir) for many images")
    if suffix not in WRITE_SUFFIXES:
        raise UserError(f"{path}: unsupported output format '{suffix}'; use "
                        f"{', '.join(WRITE_SUFFIXES)}")
    if bit_depth not in (8, 16):
        raise UserError(f"bit depth {bit_depth} is not supported; use 8 or 16")
    if bit_depth == 16 and suffix not in (".png", ".tif", ".tiff"):
        raise UserError(f"{path}: 16-bit output needs .png or .tif")
    check_outputs([path], overwrite)
    return path


def write_image(path, image: np.ndarray, overwrite: bool = False, bit_depth: int = 8) -> Path:
    """Write a [0, 1] float image (gray or RGB) as 8- or 16-bit, or integers of that depth as
    they are; refuses to overwrite by default.

    The file is written beside its target and renamed into place, so an interrupted write never
    leaves a truncated image under the final name.
    """
    path = check_image_output(path, overwrite, bit_depth)
    return write_bytes(path, encoded_image(path, image, bit_depth), overwrite)


def encoded_image(path, image: np.ndarray, bit_depth: int = 8) -> bytes:
    """`write_image`'s file contents, in the format `path`'s extension names."""
    suffix = Path(path).suffix.lower()
    if image.dtype == (np.uint8 if bit_depth == 8 else np.uint16):   # quantized already
        ok, encoded = _encoded_as_is(suffix, image)
    else:
        ok, encoded = cv2.imencode(suffix, quantized(image[..., ::-1] if image.ndim == 3 else image,
                                                     bit_depth))   # BGR for OpenCV
    if not ok:
        raise UserError(f"{path}: could not encode the image as {suffix}")
    return encoded.tobytes()


def _encoded_as_is(suffix: str, image: np.ndarray):
    """cv2.imencode of RGB integers without a BGR copy (a large image's copy would cost as much
    as the image): the channels are swapped in place for the encoder and swapped back."""
    if image.ndim != 3 or not image.flags.c_contiguous or not image.flags.writeable:
        return cv2.imencode(suffix, np.ascontiguousarray(image[..., ::-1] if image.ndim == 3 else image))
    cv2.cvtColor(image, cv2.COLOR_RGB2BGR, dst=image)
    try:
        return cv2.imencode(suffix, image)
    finally:
        cv2.cvtColor(image, cv2.COLOR_BGR2RGB, dst=image)


def data_mask(gray: np.ndarray) -> np.ndarray:
    """False on the rows and columns at the image's edges that hold one value only: the black
    frame around a thermal core's picture, which carries no data (registration ignores its edge;
    fusion fills it from the other image). A dark background inside the picture, as around a
    brain slice, is scene and stays."""
    border = flat_border(ImageRows.of(gray))
    if border is None:   # every row or every column holds one value: no data anywhere
        return np.zeros(gray.shape, bool)
    top, bottom, left, right, _ = border
    mask = np.zeros(gray.shape, bool)
    mask[top:gray.shape[0] - bottom, left:gray.shape[1] - right] = True
    return mask


def flat_border(gray) -> tuple | None:
    """(top, bottom, left, right, brightest): how many rows and columns at each edge hold one
    value only, and the brightest of those values (0 when there are none); None when every row
    or every column does. `gray` has `shape` and `rows(top, bottom)` (`ImageRows`, the fusion's
    `GrayRows`): it is read a band of rows at a time."""
    height, width = gray.shape
    step = band_rows(width)
    if step >= height:
        # The whole image in one band: where no edge row or column is flat (most pictures)
        # there is no border, which its four edges tell without the four full reductions
        # (~2 ms a 640x480 frame, on both frames of every video frame pair).
        whole = gray.rows(0, height)
        if all(edge.max() > edge.min() for edge in (whole[0], whole[-1], whole[:, 0], whole[:, -1])):
            return 0, 0, 0, 0, 0.0
    row_max, row_min = np.empty(height, np.float32), np.empty(height, np.float32)
    column_max = np.full(width, -np.inf, np.float32)
    column_min = np.full(width, np.inf, np.float32)
    for top in range(0, height, step):
        part = np.ascontiguousarray(gray.rows(top, min(height, top + step)), np.float32)
        # OpenCV's reductions: numpy's max and min over each axis cost ~4x as much, and this
        # runs on both frames of every video frame pair.
        row_max[top:top + len(part)] = cv2.reduce(part, 1, cv2.REDUCE_MAX)[:, 0]
        row_min[top:top + len(part)] = cv2.reduce(part, 1, cv2.REDUCE_MIN)[:, 0]
        np.maximum(column_max, cv2.reduce(part, 0, cv2.REDUCE_MAX)[0], out=column_max)
        np.minimum(column_min, cv2.reduce(part, 0, cv2.REDUCE_MIN)[0], out=column_min)
    sides = []
    for flat in (row_max == row_min, column_max == column_min):
        if flat.all():
            return None
        sides += [int(np.argmin(flat)), int(np.argmin(flat[::-1]))]
    top, bottom, left, right = sides
    brightest = max(float(row_max[:top].max(initial=0)), float(row_max[height - bottom:].max(initial=0)),
                    float(column_max[:left].max(initial=0)),
                    float(column_max[width - right:].max(initial=0)))
    return top, bottom, left, right, brightest


def level_statistics(image: np.ndarray) -> tuple[float, float]:
    """(mean, standard deviation) of an image's luminance in [0, 1]: how bright and how
    contrasted it is, what a model's training inputs are summarised by (`input_levels`)."""
    gray = to_gray(image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image)
    return float(gray.mean()), float(gray.std())


def quantized(image: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """A [0, 1] float image as 8- or 16-bit integers (rounded, clipped), a band of rows at a
    time."""
    top = 255.0 if bit_depth == 8 else 65535.0
    kind = np.uint8 if bit_depth == 8 else np.uint16
    return by_rows(lambda part: np.round(np.clip(part, 0.0, 1.0) * top).astype(kind),
                   np.empty(image.shape, kind), image)


def to_gray(image: np.ndarray) -> np.ndarray:
    """Luminance (BT.601 Y) of an RGB image; gray images pass through."""
    if image.ndim == 2:
        return image
    from tf_irgan.color import rgb_to_ycbcr
    return rgb_to_ycbcr(image)[..., 0]


@dataclass(frozen=True)
class ImagePair:
    name: str
    vis: Path
    ir: Path


def list_images(folder) -> list[Path]:
    folder = Path(folder)
    if not folder.exists():
        raise UserError(f"{folder}: folder not found; check the path")
    if not folder.is_dir():
        raise UserError(f"{folder}: is not a folder")
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise UserError(f"{folder}: contains no images ({', '.join(IMAGE_SUFFIXES)}); "
                        "point to the folder that holds them")
    return files


def images_by_stem(folder) -> dict[str, Path]:
    """The images of a folder by file name without extension; two files with one name (a.png
    and a.jpg: an earlier output beside its input?) are refused, naming both."""
    found: dict[str, Path] = {}
    for path in list_images(folder):
        if path.stem in found:
            raise UserError(f"{found[path.stem]} and {path.name}: two images named {path.stem} in "
                            f"{folder}; images are paired and written by name, keep one of them")
        found[path.stem] = path
    return found


def check_out_dir(out_dir, *inputs) -> None:
    """Refuse an output folder that is, or lies inside, an input folder: a later run over that
    folder would take the outputs for inputs."""
    out = Path(out_dir).resolve()
    for folder in inputs:
        source = Path(folder).resolve()
        if out == source or source in out.parents:
            raise UserError(f"--out-dir {out_dir}: is {'' if out == source else 'inside '}the input "
                            f"folder {folder}; write the results to a folder of their own")


def pair_folders(vis_dir, ir_dir, vis_label: str = "visible", ir_label: str = "IR") -> list[ImagePair]:
    """Pair images of two folders by file name (stem; the extensions may differ)."""
    vis = images_by_stem(vis_dir)
    ir = images_by_stem(ir_dir)
    only_vis = sorted(set(vis) - set(ir))
    only_ir = sorted(set(ir) - set(vis))
    if only_vis or only_ir:
        parts = []
        if only_vis:
            parts.append(f"{len(only_vis)} {vis_label} image(s) without partner in {ir_dir} "
                         f"(e.g. {vis[only_vis[0]].name})")
        if only_ir:
            parts.append(f"{len(only_ir)} {ir_label} image(s) without partner in {vis_dir} "
                         f"(e.g. {ir[only_ir[0]].name})")
        raise UserError("; ".join(parts) + "; pairs are matched by file name, rename or remove them")
    return [ImagePair(name, vis[name], ir[name]) for name in sorted(vis)]
