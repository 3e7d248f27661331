"""Raw frames: `--ir-range auto|full|LOW,HIGH|pLOW,pHIGH` (issue 22)."""

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tf_irgan.cli.main import cli
from tf_irgan.errors import UserError
from tf_irgan.images import read_image
from tf_irgan.ranges import AUTO_PERCENTILES, ValueRange, parse_range, to_unit


@pytest.mark.parametrize("text,expected", [
    ("auto", ValueRange("auto")), ("FULL", ValueRange("full")),
    ("7000,8600", ValueRange("fixed", 7000, 8600)), ("p1,p99", ValueRange("percentile", 1, 99)),
    (" p0.5 , p99.5 ", ValueRange("percentile", 0.5, 99.5))])
def test_parse(text, expected):
    assert parse_range(text) == expected


@pytest.mark.parametrize("text", ["", "7000", "9,3", "p1,99", "a,b", "p1,p101", "1,2,3"])
def test_parse_refuses_with_the_option_name(text):
    with pytest.raises(UserError, match="--vis-range"):
        parse_range(text, "--vis-range")


def _counts(ir8: np.ndarray) -> np.ndarray:
    """An 8-bit IR frame as radiometric counts 7000-8530 of a 16-bit file."""
    return (7000 + ir8.astype(np.float64) * 6).astype(np.uint16)


def test_auto_stretches_narrow_16_bit_frames_and_leaves_8_bit_ones():
    rng = np.random.default_rng(0)
    ir8 = rng.integers(0, 256, (40, 50)).astype(np.uint8)
    notes = []
    unit = to_unit(_counts(ir8), ValueRange("auto"), "f.png", "IR", notes)
    low, high = np.percentile(ir8.astype(np.float64), AUTO_PERCENTILES)
    expected = np.clip((ir8 - low) / (high - low), 0, 1)
    np.testing.assert_allclose(unit, expected, atol=1e-5)
    assert len(notes) == 1 and "values 70" in notes[0] and "--ir-range full" in notes[0]
    # full keeps 0.3's scale: nearly flat.
    flat = to_unit(_counts(ir8), ValueRange("full"), "f.png")
    assert flat.max() - flat.min() < 0.03
    # 8-bit: auto changes nothing and says nothing.
    notes = []
    np.testing.assert_array_equal(to_unit(ir8, ValueRange("auto"), "f.png", "IR", notes),
                                  ir8.astype(np.float32) / 255)
    assert notes == []


def test_auto_scales_12_bit_data_by_its_container():
    data = np.linspace(0, 4095, 64 * 64).reshape(64, 64).astype(np.uint16)
    notes = []
    unit = to_unit(data, ValueRange("auto"), "f.tif", "IR", notes)
    assert unit.max() == pytest.approx(1.0) and "12-bit" in notes[0]


def test_fixed_bounds_map_every_frame_the_same_way():
    """A sequence: two frames of different content get one mapping, so equal counts give equal
    values (no flicker), unlike per-frame percentiles."""
    rng = np.random.default_rng(1)
    a = rng.integers(7000, 8000, (30, 30)).astype(np.uint16)
    b = rng.integers(7500, 8600, (30, 30)).astype(np.uint16)
    a[0, 0] = b[0, 0] = 7800
    fixed = ValueRange("fixed", 7000, 8600)
    assert to_unit(a, fixed, "a")[0, 0] == to_unit(b, fixed, "b")[0, 0] == pytest.approx(0.5)
    per_frame = ValueRange("percentile", 1, 99)
    assert to_unit(a, per_frame, "a")[0, 0] != pytest.approx(to_unit(b, per_frame, "b")[0, 0], abs=0.05)
    with pytest.raises(UserError, match="beyond"):
        to_unit(np.zeros((8, 8), np.uint8), fixed, "8bit.png")


def test_raw_counts_fuse_like_the_8_bit_frame_stretched(shared_data, tmp_path):
    """The issue's check: the shared IR scaled into counts 7000-8530 fuses with `auto` within
    2/255 of the 8-bit IR stretched by the same percentiles."""
    name = sorted(p.name for p in (shared_data / "roadscene" / "ir").iterdir())[3]
    vis_path = shared_data / "roadscene" / "vi" / name
    ir8 = cv2.imread(str(shared_data / "roadscene" / "ir" / name), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(tmp_path / "counts.png"), _counts(ir8))
    low, high = np.percentile(ir8.astype(np.float64), AUTO_PERCENTILES)
    stretched = np.clip((ir8 - low) / (high - low), 0, 1)
    cv2.imwrite(str(tmp_path / "stretched.png"), np.round(stretched * 255).astype(np.uint8))
    outputs = {}
    for source in ("counts", "stretched"):
        out = tmp_path / f"fused-{source}.png"
        result = CliRunner().invoke(cli, ["fuse", str(vis_path), str(tmp_path / f"{source}.png"),
                                          "-o", str(out), "--gray", "--precision", "fp32"])
        assert result.exit_code == 0, (result.output, result.exception)
        assert ("percentile" in result.stderr) == (source == "counts")
        outputs[source] = cv2.imread(str(out), cv2.IMREAD_UNCHANGED).astype(np.float64)
    assert np.abs(outputs["counts"] - outputs["stretched"]).max() <= 2
    # --ir-range full: the flat frame of 0.3, far from it.
    out = tmp_path / "full.png"
    CliRunner().invoke(cli, ["fuse", str(vis_path), str(tmp_path / "counts.png"), "-o", str(out),
                             "--gray", "--ir-range", "full"])
    assert np.abs(cv2.imread(str(out), cv2.IMREAD_UNCHANGED) - outputs["stretched"]).mean() > 10


def test_bad_range_is_one_line(shared_data, tmp_path):
    name = sorted(p.name for p in (shared_data / "roadscene" / "ir").iterdir())[3]
    result = CliRunner().invoke(cli, ["fuse", str(shared_data / "roadscene" / "vi" / name),
                                      str(shared_data / "roadscene" / "ir" / name), "-o",
                                      str(tmp_path / "f.png"), "--ir-range", "9,3"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and "--ir-range" in result.stderr


def test_read_image_drops_alpha_before_mapping(tmp_path):
    rgba = np.zeros((16, 16, 4), np.uint16)
    rgba[..., :3] = np.linspace(7000, 7100, 16 * 16).reshape(16, 16, 1).astype(np.uint16)
    rgba[..., 3] = 65535
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    image = read_image(tmp_path / "a.png", "auto", [], "IR")
    assert image.ndim == 2 and image.max() == pytest.approx(1.0) and image.min() == pytest.approx(0.0)


def test_full_on_a_raw_frame_in_a_sliver_of_its_range_says_so():
    # The issue: `--ir-range full` on raw counts that fill a sliver of 0-65535 erased the IR
    # (one flat gray) without a word.
    raw = (np.random.default_rng(0).integers(0, 600, (32, 40)) + 7000).astype(np.uint16)
    notes = []
    out = to_unit(raw, parse_range("full", "--ir-range"), "raw.png", "IR", notes)
    assert np.allclose(out, raw / 65535.0)                      # done as asked ...
    assert len(notes) == 1 and "fill only 0.9% of 0-65535 under --ir-range full" in notes[0]
    assert "--ir-range auto" in notes[0]                        # ... with the way out
    wide = np.linspace(0, 65535, 32 * 40).reshape(32, 40).astype(np.uint16)
    quiet = []
    to_unit(wide, parse_range("full", "--ir-range"), "wide.png", "IR", quiet)
    assert quiet == []
