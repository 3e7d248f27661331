"""Image files read and written a band of rows at a time, for images too large to hold whole.

OpenCV decodes and encodes whole files: at 12000x12000 the two 8-bit inputs and the 8-bit result
alone hold about 1 GB, whatever the fusion around them does. Here a large input is decoded by
libvips (pyvips) as a stream, top to bottom, keeping only the rows the fusion still needs, and a
PNG result is encoded as its rows come (numpy filters, zlib). Memory then depends on the tile
and band sizes, not on the image (issue 30, docs/usage.md).

Why libvips: PNG rows are unfiltered left to right (the Average and Paeth filters depend on the
pixel just decoded), which numpy cannot vectorise; libvips is the library made for images larger
than memory, decodes PNG, TIFF and JPEG in strips, and ships as a wheel (pyvips-binary).
Encoding needs no such library: filtering for the encoder uses values already known, so it runs
on whole rows in numpy.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

# Files of at least this many pixels are decoded as streams (`RowReader`); smaller ones whole by
# OpenCV, as before (fast, and memory there is small anyway).
STREAM_PIXELS = 1 << 24
# Rows a reader keeps above the last one it was asked for: the fusion goes back by a tile's
# context (at most a few hundred rows) for its next band; further back, the file is read again.
KEEP_ROWS = 2048
_FORMATS = {"uchar": np.uint8, "ushort": np.uint16}
_STREAMED = (".png", ".tif", ".tiff", ".jpg", ".jpeg")


def open_rows(path: Path, width: int, height: int):
    """A `RowReader` for a large PNG/TIFF/JPEG of 8 or 16 bits, or None where the file is small,
    of another kind, or pyvips is missing (OpenCV decodes it whole then)."""
    if width * height < STREAM_PIXELS or min(width, height) < 8 or \
            path.suffix.lower() not in _STREAMED:
        return None
    try:
        import pyvips
    except (ImportError, OSError):   # OSError: the libvips library itself failed to load
        return None
    try:
        image = _open(path)
    except pyvips.Error:
        return None   # OpenCV's decode names the problem
    if image.format not in _FORMATS or image.bands not in (1, 2, 3, 4) or \
            image.interpretation not in ("b-w", "grey16", "srgb", "rgb16"):
        return None
    return RowReader(path, image)


def _open(path: Path):
    import pyvips

    # No operation cache: a streamed image can be read once, and a second pass must open the
    # file anew rather than be handed the exhausted one.
    pyvips.cache_set_max(0)
    # A truncated file is an error, not rows of zeros (libvips fills them in and warns by default).
    return pyvips.Image.new_from_file(str(path), access="sequential", fail_on="truncated")


class RowReader:
    """A decoded image's rows on demand, as numpy slicing gives them (`reader[top:bottom]`):
    (rows, W) gray or (rows, W, 3) RGB, in the file's integer type, alpha dropped. Rows are
    decoded in order; a request further back than `KEEP_ROWS` reads the file again from the top."""

    def __init__(self, path: Path, image):
        self.path = path
        self.dtype = np.dtype(_FORMATS[image.format])
        self._bands = image.bands
        color = image.bands >= 3
        self.shape = (image.height, image.width, 3) if color else (image.height, image.width)
        self.ndim = len(self.shape)
        self.passes = 0   # how many times the file was decoded (tests, the benchmark)
        self._restart(image)

    def _restart(self, image=None):
        import pyvips

        image = image if image is not None else _open(self.path)
        self._region = pyvips.Region.new(image)
        self._image = image   # the region needs its image alive
        self._start = self._end = 0
        self._rows = np.empty((0,) + self.shape[1:], self.dtype)
        self.passes += 1

    def __getitem__(self, index):
        if not isinstance(index, slice):
            raise TypeError("RowReader takes slices of rows")
        top, bottom, step = index.indices(self.shape[0])
        if step != 1:
            raise TypeError("RowReader takes contiguous rows")
        bottom = max(top, bottom)
        if top < self._start:
            self._restart()
        if bottom > self._end:
            # Rows decoded before `keep` are dropped; the ones after it are kept or decoded.
            keep = max(self._start, min(top, bottom - KEEP_ROWS))
            kept = self._rows[max(0, keep - self._start):]
            fresh = self._decode(max(self._end, keep), bottom)
            self._rows = np.concatenate([kept, fresh]) if len(kept) else np.ascontiguousarray(fresh)
            self._start, self._end = keep, bottom
        return self._rows[top - self._start:bottom - self._start]

    def _decode(self, top, bottom):
        import pyvips

        width = self.shape[1]
        try:
            data = self._region.fetch(0, top, width, bottom - top)
        except pyvips.Error as error:
            from tf_irgan.errors import UserError
            raise UserError(f"{self.path}: cannot be decoded at rows {top}-{bottom} ({_first_line(error)}); "
                            "the file may be truncated or corrupt: re-save it as PNG or TIFF") from None
        rows = np.frombuffer(data, self.dtype).reshape(bottom - top, width, self._bands)
        return rows[..., :3] if self.ndim == 3 else rows[..., 0]

    def first_channel(self) -> "RowReader":
        """This reader giving the first channel only (a gray image stored as color), from the top."""
        self.shape, self.ndim = self.shape[:2], 2
        self._restart()
        return self


def _first_line(error) -> str:
    return str(error).strip().splitlines()[-1].strip() if str(error).strip() else type(error).__name__


class PngRows:
    """A PNG written as its rows come, in order: `writer[top:bottom] = rows` (uint8 or uint16;
    (rows, W) gray or (rows, W, 3) RGB), then `close()`. Rows are Paeth-filtered and deflated
    a band at a time; nothing of the image is kept. Written to `path` as it is given: the caller
    makes it the hidden partial file that is renamed into place once complete. zlib `level` 1,
    as OpenCV's default: at 8000x8000 RGB 2.5 s against OpenCV's 1.2 s, and a smaller file."""

    def __init__(self, path: Path, shape: tuple, dtype, level: int = 1):
        self.path, self.shape, self.dtype = Path(path), tuple(shape), np.dtype(dtype)
        self.ndim = len(self.shape)
        height, width = self.shape[:2]
        channels = self.shape[2] if self.ndim == 3 else 1
        depth = 8 if self.dtype == np.uint8 else 16
        self._bytes_per_pixel = channels * depth // 8
        self._next = 0
        self._previous = np.zeros(width * self._bytes_per_pixel, np.uint8)   # the row above the first
        self._deflate = zlib.compressobj(level)
        self._file = open(self.path, "wb")
        self._file.write(b"\x89PNG\r\n\x1a\n")
        self._chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth,
                                         {1: 0, 3: 2}[channels], 0, 0, 0))

    def __setitem__(self, index, rows):
        top, bottom, _ = index.indices(self.shape[0])
        if top != self._next:
            raise ValueError(f"PNG rows must come in order: got row {top}, expected {self._next}")
        rows = np.asarray(rows, self.dtype)
        if self.dtype == np.uint16:
            rows = rows.astype(">u2")
        raw = rows.reshape(bottom - top, -1).view(np.uint8)
        # A few MiB of bytes at a time: the filter's int16 temporaries are 2x each.
        step = max(1, (1 << 22) // raw.shape[1])
        for start in range(0, len(raw), step):
            part = raw[start:start + step]
            filtered = _paeth_filtered(part, self._previous, self._bytes_per_pixel)
            self._write(self._deflate.compress(filtered.tobytes()))
            self._previous = part[-1].copy()
        self._next = bottom

    def _write(self, data: bytes):
        if data:
            self._chunk(b"IDAT", data)

    def _chunk(self, kind: bytes, data: bytes):
        self._file.write(struct.pack(">I", len(data)) + kind + data +
                         struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    def close(self):
        if self._next != self.shape[0]:
            raise ValueError(f"PNG has {self._next} of {self.shape[0]} rows")
        self._write(self._deflate.flush())
        self._chunk(b"IEND", b"")
        self._file.close()

    def abandon(self):
        self._file.close()


def _paeth_filtered(raw: np.ndarray, previous: np.ndarray, bpp: int) -> np.ndarray:
    """Rows of bytes (n, stride) with the PNG Paeth filter applied, each row led by its filter
    type (4): (n, stride + 1). `previous` is the row above the first (zeros at the top)."""
    x = raw.astype(np.int16)
    up = np.vstack([previous[None].astype(np.int16), x[:-1]])
    left = np.zeros_like(x)
    left[:, bpp:] = x[:, :-bpp]
    upper_left = np.zeros_like(x)
    upper_left[:, bpp:] = up[:, :-bpp]
    estimate = left + up - upper_left
    to_left, to_up, to_corner = (np.abs(estimate - left), np.abs(estimate - up),
                                 np.abs(estimate - upper_left))
    predictor = np.where((to_left <= to_up) & (to_left <= to_corner), left,
                         np.where(to_up <= to_corner, up, upper_left))
    out = np.empty((raw.shape[0], raw.shape[1] + 1), np.uint8)
    out[:, 0] = 4
    out[:, 1:] = (x - predictor).astype(np.uint8)   # modulo 256, as the format defines
    return out


class ResultFile:
    """Where `tf-irgan fuse` puts one result, written at `partial` (the hidden name that
    `files.atomic_path` renames into place): called with the result's (shape, dtype) by
    `fuse_images` (its `rows_out`), it gives a `PngRows` for a large PNG, else None (the result
    is then an array, encoded whole by `finish`)."""

    def __init__(self, partial: Path, target: Path):
        self.partial, self.target = Path(partial), Path(target)
        self.writer = None

    def __call__(self, shape, dtype):
        if self.target.suffix.lower() != ".png" or shape[0] * shape[1] < STREAM_PIXELS:
            return None
        self.writer = PngRows(self.partial, shape, dtype)
        return self.writer

    def finish(self, image, bit_depth: int) -> None:
        if image is self.writer and image is not None:
            self.writer.close()
        else:
            from tf_irgan.images import encoded_image
            self.partial.write_bytes(encoded_image(self.target, image, bit_depth))

    def abandon(self) -> None:
        if self.writer is not None:
            self.writer.abandon()
