"""Reading, writing and pairing images (tf_irgan.images) and the color transforms (tf_irgan.color)."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from tf_irgan.color import (ihs_to_rgb, replace_intensity, replace_luma, rgb_to_ihs, rgb_to_ycbcr,
                            ycbcr_to_rgb)
from tf_irgan.errors import UserError
from tf_irgan.images import list_images, pair_folders, read_image, to_gray, write_image

RNG = np.random.default_rng(1234)


def _write(path, array):
    assert cv2.imwrite(str(path), array), path
    return path


def _bgr8(h=20, w=30):
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


# ---------------------------------------------------------------- reading, formats and scaling

def test_read_8bit_png_color_is_rgb_scaled_by_255(tmp_path):
    bgr = _bgr8()
    image = read_image(_write(tmp_path / "c.png", bgr))
    assert image.dtype == np.float32 and image.shape == (20, 30, 3)
    np.testing.assert_allclose(image, bgr[..., ::-1] / 255.0, atol=1e-7)


def test_read_8bit_png_gray(tmp_path):
    gray = RNG.integers(0, 256, (17, 23), dtype=np.uint8)
    gray[0, 0], gray[0, 1] = 0, 255
    image = read_image(_write(tmp_path / "g.png", gray))
    assert image.shape == (17, 23) and image.dtype == np.float32
    np.testing.assert_allclose(image, gray / 255.0, atol=1e-7)
    assert image.min() == 0.0 and image.max() == 1.0


def test_read_16bit_png_scaled_by_65535(tmp_path):
    gray = RNG.integers(0, 65536, (16, 24), dtype=np.uint16)
    gray[0, 0], gray[0, 1] = 0, 65535
    image = read_image(_write(tmp_path / "g16.png", gray))
    assert image.shape == (16, 24)
    np.testing.assert_allclose(image, gray / 65535.0, atol=1e-7)
    assert image.max() == 1.0
    # 257 must read as 257/65535 (~0.004), which 8-bit scaling (or truncation) would get wrong.
    gray[1, 0] = 257
    np.testing.assert_allclose(read_image(_write(tmp_path / "g16b.png", gray))[1, 0], 257 / 65535.0,
                               rtol=1e-6)


def test_read_16bit_png_color(tmp_path):
    bgr = RNG.integers(0, 65536, (12, 14, 3), dtype=np.uint16)
    image = read_image(_write(tmp_path / "c16.png", bgr))
    np.testing.assert_allclose(image, bgr[..., ::-1] / 65535.0, atol=1e-7)


def test_read_16bit_tiff(tmp_path):
    gray = RNG.integers(0, 65536, (18, 21), dtype=np.uint16)
    image = read_image(_write(tmp_path / "g16.tif", gray))
    assert image.shape == (18, 21)
    np.testing.assert_allclose(image, gray / 65535.0, atol=1e-7)


def test_read_float_tiff_in_unit_range_is_kept_and_out_of_range_is_stretched(tmp_path):
    values = RNG.random((10, 12)).astype(np.float32)
    np.testing.assert_allclose(read_image(_write(tmp_path / "f.tiff", values)), values, atol=1e-7)
    wide = values * 300.0 - 50.0
    stretched = read_image(_write(tmp_path / "wide.tiff", wide))
    np.testing.assert_allclose(stretched, (wide - wide.min()) / (wide.max() - wide.min()), atol=1e-5)


def test_read_bmp(tmp_path):
    bgr = _bgr8(9, 11)
    image = read_image(_write(tmp_path / "c.bmp", bgr))
    np.testing.assert_allclose(image, bgr[..., ::-1] / 255.0, atol=1e-7)


def test_read_jpeg_color_approximately(tmp_path):
    # Smooth content so that JPEG's loss stays small; RGB order must be right.
    y, x = np.mgrid[0:32, 0:40]
    bgr = np.dstack([x * 6, y * 7, np.full_like(x, 200)]).astype(np.uint8)
    path = tmp_path / "c.jpg"
    assert cv2.imwrite(str(path), bgr, [cv2.IMWRITE_JPEG_QUALITY, 100])
    image = read_image(path)
    assert image.shape == (32, 40, 3)
    assert np.abs(image - bgr[..., ::-1] / 255.0).mean() < 0.01
    assert image[..., 0].mean() > 0.7  # red is the constant 200 channel (BGR order on disk)


def test_gray_stored_as_three_channels_becomes_2d(tmp_path):
    gray = RNG.integers(0, 256, (15, 19), dtype=np.uint8)
    for suffix in (".png", ".bmp", ".jpg"):
        image = read_image(_write(tmp_path / f"g3{suffix}", np.dstack([gray] * 3)))
        assert image.shape == (15, 19), suffix
        if suffix != ".jpg":
            np.testing.assert_allclose(image, gray / 255.0, atol=1e-7)


def test_rgba_becomes_rgb_alpha_dropped(tmp_path):
    bgra = RNG.integers(0, 256, (10, 13, 4), dtype=np.uint8)
    image = read_image(_write(tmp_path / "rgba.png", bgra))
    assert image.shape == (10, 13, 3)
    np.testing.assert_allclose(image, bgra[..., 2::-1] / 255.0, atol=1e-7)


def test_gray_with_alpha_becomes_2d(tmp_path):
    gray = RNG.integers(0, 256, (10, 13), dtype=np.uint8)
    bgra = np.dstack([gray, gray, gray, np.full_like(gray, 128)])
    image = read_image(_write(tmp_path / "ga.png", bgra))
    assert image.shape == (10, 13)
    np.testing.assert_allclose(image, gray / 255.0, atol=1e-7)


def test_values_always_in_unit_range(tmp_path):
    for i, array in enumerate([_bgr8(), RNG.integers(0, 65536, (9, 9), dtype=np.uint16)]):
        image = read_image(_write(tmp_path / f"{i}.png", array))
        assert image.min() >= 0.0 and image.max() <= 1.0


def test_to_gray_is_bt601_luma():
    rgb = RNG.random((6, 7, 3)).astype(np.float32)
    expected = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    np.testing.assert_allclose(to_gray(rgb), expected, atol=1e-6)
    gray = rgb[..., 0]
    assert to_gray(gray) is gray


# ---------------------------------------------------------------- reading errors

def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere" / "missing.png"
    with pytest.raises(UserError) as err:
        read_image(path)
    assert str(path) in str(err.value) and "not found" in str(err.value)


def test_corrupt_file_names_the_path(tmp_path):
    path = tmp_path / "corrupt.png"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(UserError) as err:
        read_image(path)
    assert str(path) in str(err.value) and "decoded" in str(err.value)


def test_empty_file_and_folder_given_as_image(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(UserError, match="empty.png"):
        read_image(empty)
    with pytest.raises(UserError, match="folder"):
        read_image(tmp_path)


def test_tiny_image_is_refused(tmp_path):
    path = _write(tmp_path / "tiny.png", np.zeros((4, 30), np.uint8))
    with pytest.raises(UserError) as err:
        read_image(path)
    assert str(path) in str(err.value)


def test_empty_folder_names_the_folder(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "notes.txt").write_text("not an image")
    with pytest.raises(UserError) as err:
        list_images(folder)
    assert str(folder) in str(err.value)
    with pytest.raises(UserError) as err:
        list_images(tmp_path / "absent")
    assert str(tmp_path / "absent") in str(err.value)


def test_pair_folders_matches_by_stem(tmp_path):
    vis, ir = tmp_path / "vi", tmp_path / "ir"
    vis.mkdir()
    ir.mkdir()
    for name in ("b", "a", "c"):
        _write(vis / f"{name}.png", _bgr8(8, 8))
        _write(ir / f"{name}.bmp", np.zeros((8, 8), np.uint8))  # extensions may differ
    (vis / ".hidden.png").write_bytes(b"x")
    pairs = pair_folders(vis, ir)
    assert [p.name for p in pairs] == ["a", "b", "c"]
    assert pairs[0].vis == vis / "a.png" and pairs[0].ir == ir / "a.bmp"


def test_pair_folders_unmatched_names_the_files_and_folders(tmp_path):
    vis, ir = tmp_path / "vi", tmp_path / "ir"
    vis.mkdir()
    ir.mkdir()
    for name in ("a", "b"):
        _write(vis / f"{name}.png", np.zeros((8, 8), np.uint8))
    _write(ir / "a.png", np.zeros((8, 8), np.uint8))
    _write(ir / "zz.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(UserError) as err:
        pair_folders(vis, ir)
    message = str(err.value)
    assert "b.png" in message and str(ir) in message
    assert "zz.png" in message and str(vis) in message


# ---------------------------------------------------------------- writing

def test_write_refuses_existing_file_and_keeps_its_bytes(tmp_path):
    path = _write(tmp_path / "out.png", _bgr8())
    before = path.read_bytes()
    with pytest.raises(UserError) as err:
        write_image(path, np.zeros((20, 30), np.float32))
    assert str(path) in str(err.value) and "--overwrite" in str(err.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no partial file left
    write_image(path, np.zeros((20, 30), np.float32), overwrite=True)
    assert path.read_bytes() != before
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).max() == 0


def test_write_read_round_trip_8_and_16_bit(tmp_path):
    rgb = RNG.random((12, 16, 3)).astype(np.float32)
    gray = RNG.random((12, 16)).astype(np.float32)
    back = read_image(write_image(tmp_path / "rgb.png", rgb))
    assert back.shape == (12, 16, 3)
    np.testing.assert_allclose(back, rgb, atol=0.5 / 255 + 1e-6)
    back16 = read_image(write_image(tmp_path / "g16.tif", gray, bit_depth=16))
    np.testing.assert_allclose(back16, gray, atol=0.5 / 65535 + 1e-6)
    assert cv2.imread(str(tmp_path / "g16.tif"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    # Out-of-range values are clipped, not wrapped.
    clipped = read_image(write_image(tmp_path / "clip.png", np.full((9, 9), 1.7, np.float32)))
    assert clipped.min() == 1.0


def test_write_refuses_bad_format_and_depth(tmp_path):
    with pytest.raises(UserError, match="unsupported output format"):
        write_image(tmp_path / "x.gif", np.zeros((8, 8), np.float32))
    with pytest.raises(UserError, match="16-bit"):
        write_image(tmp_path / "x.jpg", np.zeros((8, 8), np.float32), bit_depth=16)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- color transforms

def test_ycbcr_round_trip_and_values():
    rgb = RNG.random((32, 32, 3)).astype(np.float32)
    ycbcr = rgb_to_ycbcr(rgb)
    np.testing.assert_allclose(ycbcr_to_rgb(ycbcr), rgb, atol=1e-5)
    np.testing.assert_allclose(ycbcr[..., 0], 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1]
                               + 0.114 * rgb[..., 2], atol=1e-6)
    assert ycbcr[..., 1:].min() >= 0.0 and ycbcr[..., 1:].max() <= 1.0
    # Pure colors: red has Cr = 1, blue has Cb = 1 (full-range BT.601).
    np.testing.assert_allclose(rgb_to_ycbcr(np.array([1.0, 0, 0]))[2], 1.0, atol=1e-6)
    np.testing.assert_allclose(rgb_to_ycbcr(np.array([0, 0, 1.0]))[1], 1.0, atol=1e-6)


def test_gray_rgb_has_neutral_chroma():
    gray = RNG.random((10, 10)).astype(np.float32)
    ycbcr = rgb_to_ycbcr(np.dstack([gray] * 3))
    np.testing.assert_allclose(ycbcr[..., 1:], 0.5, atol=1e-6)
    np.testing.assert_allclose(ycbcr[..., 0], gray, atol=1e-6)
    ihs = rgb_to_ihs(np.dstack([gray] * 3))
    np.testing.assert_allclose(ihs[..., 0], gray, atol=1e-6)  # I/sqrt(3) is the channel mean
    np.testing.assert_allclose(ihs[..., 1:], 0.0, atol=1e-6)


def test_ihs_round_trip_and_intensity_is_mean():
    rgb = RNG.random((32, 32, 3)).astype(np.float32)
    ihs = rgb_to_ihs(rgb)
    np.testing.assert_allclose(ihs_to_rgb(ihs), rgb, atol=1e-5)
    np.testing.assert_allclose(ihs[..., 0], rgb.mean(axis=-1), atol=1e-6)
    np.testing.assert_allclose(ihs[..., 2], (rgb[..., 0] - rgb[..., 1]) / np.sqrt(2), atol=1e-6)


def test_replace_luma_and_intensity_keep_color():
    base = 0.3 + 0.4 * RNG.random((16, 16, 1)).astype(np.float32)
    rgb = np.clip(base + 0.05 * (RNG.random((16, 16, 3)) - 0.5), 0, 1).astype(np.float32)
    new = (0.35 + 0.3 * RNG.random((16, 16))).astype(np.float32)
    out = replace_luma(rgb, new)
    np.testing.assert_allclose(rgb_to_ycbcr(out)[..., 0], new, atol=1e-5)
    np.testing.assert_allclose(rgb_to_ycbcr(out)[..., 1:], rgb_to_ycbcr(rgb)[..., 1:], atol=1e-5)
    out = replace_intensity(rgb, new)
    np.testing.assert_allclose(rgb_to_ihs(out)[..., 0], new, atol=1e-5)
    np.testing.assert_allclose(rgb_to_ihs(out)[..., 1:], rgb_to_ihs(rgb)[..., 1:], atol=1e-5)



def test_the_planes_gamut_fit_is_the_reference_one():
    """`restore_color` (numpy and OpenCV, on planes) computes `fit_gamut`'s numbers: random
    intensities under strong colors, neutral pixels and the cube's corners included."""
    from tf_irgan.color import COLOR_SPACES, fit_gamut

    rng = np.random.default_rng(2)
    rgb = rng.random((40, 50, 3)).astype(np.float32)
    rgb[:5] = rgb[:5, :, :1]                          # gray pixels: no chroma
    rgb[5:8, :, :] = [1.0, 0.0, 0.0]                  # a saturated red
    intensity = rng.random((40, 50)).astype(np.float32)
    intensity[10:12] = 1.0
    intensity[12:14] = 0.0
    for space in COLOR_SPACES.values():
        chroma = (rgb.astype(np.float64) @ (space.inverse[:, 1:] @ space.forward[1:]).T).astype(np.float32)
        expected = fit_gamut(intensity[..., None], chroma, np)
        np.testing.assert_allclose(space.restore_color(intensity, rgb), expected, atol=2e-6)

def _huge_png(path, side):
    """A PNG whose header says side x side and that holds no pixel data: what a user's
    425 KB 20000x20000 file costs before any pixel is read."""
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0,
                                                                     0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def test_an_image_over_the_pixel_limit_is_refused_from_its_header(tmp_path, monkeypatch):
    huge = _huge_png(tmp_path / "huge.png", 20000)
    with pytest.raises(UserError, match=r"huge.png: 20000x20000 is 400 million pixels, over the "
                                        r"limit of 200 million.*TF_IRGAN_MAX_PIXELS"):
        read_image(huge)
    # The limit is the user's to set; a wrong setting is named.
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), np.zeros((40, 50), np.uint8))
    monkeypatch.setenv("TF_IRGAN_MAX_PIXELS", "1000")
    with pytest.raises(UserError, match="small.png: 50x40 is 0 million pixels"):
        read_image(small)
    monkeypatch.setenv("TF_IRGAN_MAX_PIXELS", "2000")
    assert read_image(small).shape == (40, 50)
    monkeypatch.setenv("TF_IRGAN_MAX_PIXELS", "lots")
    with pytest.raises(UserError, match="TF_IRGAN_MAX_PIXELS=lots: give a positive number"):
        read_image(small)


@pytest.mark.parametrize("command", [["fuse", "{huge}", "{huge}", "-o", "{out}"],
                                     ["translate", "{huge}", "-o", "{out}"],
                                     ["register", "{huge}", "{huge}", "-o", "{out}"]])
def test_commands_refuse_a_huge_image_before_taking_memory(tmp_path, command):
    # The issue: a 20000x20000 PNG cost 4.1 GB before it was refused. Measured in a process of
    # its own: the refusal comes before a model (or TensorFlow) is loaded.
    import subprocess
    import sys

    huge = _huge_png(tmp_path / "huge.png", 20000)
    arguments = [part.format(huge=huge, out=tmp_path / "out.png") for part in command]
    if not Path("/proc/self/status").exists():
        pytest.skip("peak memory read from /proc (Linux)")
    # VmHWM: the peak of this process's own memory since exec (ru_maxrss would carry the
    # forking test process's peak over).
    probe = ("import re, sys\n"
             "from tf_irgan.cli.main import cli\n"
             "try:\n    cli.main(sys.argv[1:], prog_name='tf-irgan')\n"
             "except SystemExit as stop:\n    code = stop.code\n"
             "peak = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
             "print('PEAK', peak, code)\n")
    done = subprocess.run([sys.executable, "-c", probe, *arguments], capture_output=True, text=True,
                          timeout=120)
    peak, code = done.stdout.split("PEAK")[1].split()
    assert code == "2" and "20000x20000 is 400 million pixels" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert int(peak) < 500 * 1024, f"peak RSS {int(peak) // 1024} MB"
    assert not (tmp_path / "out.png").exists()


def test_band_by_band_conversions_equal_the_whole_image(tmp_path, monkeypatch):
    """Reading, ranges, color and writing run a band of rows at a time (`tf_irgan.rows`: a
    12000x12000 color fusion went from an out-of-memory kill at 21 GB to 6.7 GB); with bands of
    a few rows every result equals the whole-image computation."""
    from tf_irgan import rows
    from tf_irgan.color import COLOR_SPACES
    from tf_irgan.images import quantized
    from tf_irgan.ranges import parse_range, to_unit

    rng = np.random.default_rng(3)
    rgb = rng.random((61, 47, 3)).astype(np.float32)
    level = rng.random((61, 47)).astype(np.float32)
    raw = rng.integers(7000, 8600, (61, 47)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "c.png"), (rgb * 255).astype(np.uint8))
    whole = {}
    for bands in (False, True):
        if bands:
            monkeypatch.setattr(rows, "BAND_PIXELS", 100)      # two rows a band
        got = {}
        for name, space in COLOR_SPACES.items():
            got[name + " luminance"] = space.luminance(rgb)
            got[name + " color"] = space.restore_color(level, rgb)
        got["range"] = to_unit(raw, parse_range("auto"), "raw.png", "IR", [])
        got["read"] = read_image(tmp_path / "c.png")
        got["quantized"] = quantized(rgb, 16)
        if not bands:
            whole = got
    for key, value in got.items():   # OpenCV's vector and tail loops may differ by an ulp
        np.testing.assert_allclose(value, whole[key], rtol=0, atol=2e-7, err_msg=key)
    # and the whole-image definitions they replace
    manual = np.clip((raw.astype(np.float32) - np.percentile(raw, 0.5)) /
                     (np.percentile(raw, 99.5) - np.percentile(raw, 0.5)), 0, 1)
    np.testing.assert_allclose(got["range"], manual, atol=1e-6)
    np.testing.assert_array_equal(got["quantized"], np.round(np.clip(rgb, 0, 1) * 65535).astype(np.uint16))


def test_flat_border_reads_the_same_from_the_edges_as_from_every_band(monkeypatch):
    """A one-band image whose four edges all vary has no border (told from the edges alone);
    any flat edge sends it through the full scan, which must give what a band-by-band scan of
    the same image gives."""
    from tf_irgan import images
    from tf_irgan.images import ImageRows, flat_border

    rng = np.random.default_rng(3)
    cases = []
    for top, bottom, left, right, value in [(0, 0, 0, 0, 0.0), (3, 0, 0, 0, 0.0), (0, 2, 0, 5, 0.0),
                                            (4, 4, 6, 6, 0.1), (0, 0, 1, 0, 0.9)]:
        image = rng.random((40, 56), dtype=np.float32)
        image[:top] = value
        image[40 - bottom:] = value
        image[:, :left] = value
        image[:, 56 - right:] = value
        cases.append(((top, bottom, left, right), image))
    whole = [flat_border(ImageRows.of(image)) for _, image in cases]
    monkeypatch.setattr(images, "band_rows", lambda width, pixels=None: 7)   # several bands
    banded = [flat_border(ImageRows.of(image)) for _, image in cases]
    assert whole == banded
    assert [border[:4] for border in whole] == [sides for sides, _ in cases]
    assert whole[0] == (0, 0, 0, 0, 0.0) and whole[3][4] == pytest.approx(0.1)
    assert flat_border(ImageRows.of(np.full((40, 56), 0.5, np.float32))) is None
