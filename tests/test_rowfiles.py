"""Large files decoded and encoded a band of rows at a time (`tf_irgan.rowfiles`, issue 30): the
same pixels as OpenCV's whole-file decode and encode, and `fuse` writing the same result."""

import cv2
import numpy as np
import pytest

from cli_helpers import run
from tf_irgan import rowfiles


def _bgr(image):
    return image[..., ::-1] if image.ndim == 3 else image


def _random(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    image = (rng.random(shape) * np.iinfo(dtype).max).astype(dtype)
    image[: shape[0] // 3] = np.linspace(0, np.iinfo(dtype).max, shape[1]).astype(dtype)[:, None] \
        if image.ndim == 3 else np.linspace(0, np.iinfo(dtype).max, shape[1]).astype(dtype)
    return image


@pytest.mark.parametrize("shape, dtype", [((97, 61, 3), np.uint8), ((83, 70), np.uint16),
                                          ((40, 33, 3), np.uint16), ((50, 9), np.uint8)])
def test_png_rows_written_as_they_come_decode_to_the_same_pixels(shape, dtype, tmp_path):
    image = _random(shape, dtype)
    writer = rowfiles.PngRows(tmp_path / "a.png", shape, dtype)
    for top in range(0, shape[0], 17):
        writer[top:top + 17] = image[top:top + 17]
    writer.close()
    np.testing.assert_array_equal(_bgr(cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED)),
                                  image)


def test_png_rows_out_of_order_or_missing_are_refused(tmp_path):
    writer = rowfiles.PngRows(tmp_path / "a.png", (10, 8), np.uint8)
    writer[0:4] = np.zeros((4, 8), np.uint8)
    with pytest.raises(ValueError, match="in order"):
        writer[5:6] = np.zeros((1, 8), np.uint8)
    with pytest.raises(ValueError, match="4 of 10 rows"):
        writer.close()
    writer.abandon()


@pytest.mark.parametrize("name, image, gray", [
    ("rgb.png", _random((300, 41, 3), np.uint8, 1), False),
    ("gray16.tif", _random((300, 37), np.uint16, 2), False),
    ("rgba.png", _random((300, 23, 4), np.uint8, 3), False),
    ("gray-as-rgb.png", np.repeat(_random((300, 29), np.uint8, 4)[..., None], 3, axis=2), True)])
def test_a_streamed_file_gives_the_rows_opencv_decodes(name, image, gray, tmp_path, monkeypatch):
    """Requests that overlap, go back a little (kept rows) and far (the file is read again)."""
    from tf_irgan.images import decode_image

    monkeypatch.setattr(rowfiles, "STREAM_PIXELS", 1)
    monkeypatch.setattr(rowfiles, "KEEP_ROWS", 64)
    path = tmp_path / name
    cv2.imwrite(str(path), image[..., [2, 1, 0, 3][:image.shape[2]]] if image.ndim == 3 else image)
    expected = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    expected = expected[..., 2::-1] if expected.ndim == 3 else expected
    expected = expected[..., 0] if gray else expected
    rows = decode_image(path, stream=True)
    assert isinstance(rows.pixels, rowfiles.RowReader) and rows.shape == expected.shape
    np.testing.assert_array_equal(rows.whole(), decode_image(path).whole())
    reader = rowfiles.open_rows(path, image.shape[1], image.shape[0])
    reader = reader.first_channel() if gray else reader
    passes = reader.passes
    for top, bottom in [(0, 100), (90, 200), (150, 160), (10, 20), (200, 300), (250, 260)]:
        np.testing.assert_array_equal(reader[top:bottom], expected[top:bottom])
    assert reader.passes == passes + 1   # only (10, 20) went back past the kept rows


def test_a_streamed_16_bit_frame_maps_its_values_as_a_decoded_one(tmp_path, monkeypatch):
    from tf_irgan.images import decode_image

    monkeypatch.setattr(rowfiles, "STREAM_PIXELS", 1)
    frame = (7000 + _random((120, 90), np.uint16) // 40).astype(np.uint16)   # a sliver of 16 bits
    cv2.imwrite(str(tmp_path / "ir.png"), frame)
    for value_range in ("auto", "p2,p98", None):
        notes_stream, notes_whole = [], []
        streamed = decode_image(tmp_path / "ir.png", value_range, notes_stream, stream=True)
        whole = decode_image(tmp_path / "ir.png", value_range, notes_whole)
        assert isinstance(streamed.pixels, rowfiles.RowReader)
        assert (streamed.low, streamed.high) == (whole.low, whole.high)
        assert notes_stream == notes_whole


def _pair(tmp_path, size=(210, 170)):
    rng = np.random.default_rng(5)
    vis = cv2.GaussianBlur((rng.random(size + (3,)) * 255).astype(np.uint8), (5, 5), 0)
    ir = cv2.GaussianBlur((rng.random(size) * 255).astype(np.uint8), (3, 3), 0)
    ir[:, :3] = 0   # a black frame: filled from the visible image, read in a first pass
    cv2.imwrite(str(tmp_path / "v.png"), vis[..., ::-1])
    cv2.imwrite(str(tmp_path / "i.png"), ir)
    return tmp_path / "v.png", tmp_path / "i.png"


def _small_tiles(monkeypatch):
    """The generator in tiles of 64 rows: several bands on a small image."""
    from tf_irgan.pipelines import fusion

    original = fusion.run_generator
    monkeypatch.setattr(fusion, "run_generator",
                        lambda *args, **kwargs: original(*args, **{**kwargs, "tile": 64}))


@pytest.mark.parametrize("extra", [[], ["--method", "laplacian"], ["--stretch"],
                                   ["--bit-depth", "16"]])
def test_fuse_streams_a_large_pair_to_the_same_file(extra, tmp_path, monkeypatch):
    """With the streaming threshold lowered, `fuse` decodes both inputs as streams and encodes
    the PNG as its rows come: the same pixels as the whole-file path, over several tiles."""
    vis, ir = _pair(tmp_path)
    _small_tiles(monkeypatch)
    whole = run(["fuse", vis, ir, "-o", tmp_path / "whole.png", *extra])
    assert whole.exit_code == 0, whole.output
    monkeypatch.setattr(rowfiles, "STREAM_PIXELS", 1)
    written = []
    monkeypatch.setattr(rowfiles.PngRows, "close", lambda self, close=rowfiles.PngRows.close:
                        written.append(self.shape) or close(self))
    streamed = run(["fuse", vis, ir, "-o", tmp_path / "streamed.png", *extra])
    assert streamed.exit_code == 0, streamed.output
    assert written == [(210, 170, 3)]
    assert not list(tmp_path.glob(".*partial"))
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "streamed.png"), cv2.IMREAD_UNCHANGED),
                                  cv2.imread(str(tmp_path / "whole.png"), cv2.IMREAD_UNCHANGED))


def test_a_fusion_that_fails_midway_leaves_no_file(tmp_path, monkeypatch):
    from tf_irgan.errors import UserError
    from tf_irgan.pipelines import fusion

    vis, ir = _pair(tmp_path)
    _small_tiles(monkeypatch)
    monkeypatch.setattr(rowfiles, "STREAM_PIXELS", 1)
    bands = []

    def failing(rows, preset, name):
        bands.append(len(rows))
        if len(bands) == 2:
            raise UserError(f"{name}: the model's output has NaN (injected)")
    monkeypatch.setattr(fusion, "check_finite", failing)
    result = run(["fuse", vis, ir, "-o", tmp_path / "out.png"])
    assert result.exit_code == 2 and "injected" in result.output
    assert not (tmp_path / "out.png").exists() and not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_truncated_large_file_is_an_error_not_rows_of_zeros(suffix, tmp_path, monkeypatch):
    from cli_helpers import one_line_error

    vis, ir = _pair(tmp_path)
    image = cv2.imread(str(vis))
    cv2.imwrite(str(tmp_path / f"v{suffix}"), image)
    data = (tmp_path / f"v{suffix}").read_bytes()
    (tmp_path / f"cut{suffix}").write_bytes(data[:len(data) // 2])
    monkeypatch.setattr(rowfiles, "STREAM_PIXELS", 1)
    result = run(["fuse", tmp_path / f"cut{suffix}", ir, "-o", tmp_path / "out.png",
                  "--method", "average"])
    one_line_error(result, f"cut{suffix}", "truncated or corrupt")
    assert not (tmp_path / "out.png").exists() and not list(tmp_path.glob(".*partial"))
