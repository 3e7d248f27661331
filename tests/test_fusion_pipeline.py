"""Whole-image fusion (tf_irgan.pipelines.fusion) with tiny trained presets and the baselines."""

import cv2
import numpy as np
import pytest

from tf_irgan.baselines import average
from tf_irgan.presets import load_preset
from tf_irgan.color import replace_luma, rgb_to_ycbcr
from tf_irgan.data.patches import downsample_area
from tf_irgan.errors import UserError
from tf_irgan.images import read_image, to_gray
from tf_irgan.pipelines.fusion import align_ir, fuse_images, run_generator, size_ratio

RNG = np.random.default_rng(5)


def _smooth(h, w, channels=None):
    """A smooth random image (so that resampling is meaningful), values in [0, 1]."""
    import cv2
    shape = (max(h // 4, 2), max(w // 4, 2)) + ((channels,) if channels else ())
    small = RNG.random(shape).astype(np.float32)
    return np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), 0, 1)


def test_x4_any_size(tiny_presets):
    vis = _smooth(61, 97)            # 97 x 61 visible: not a multiple of 4
    ir = _smooth(16, 25)             # 25 x 16 IR: ceil(97/4) x ceil(61/4), taken as it is
    result = fuse_images(vis, ir, checkpoint=str(tiny_presets["x4"]))
    assert result.image.shape == (61, 97)
    assert result.image.dtype == np.float32
    assert 0.0 <= result.image.min() and result.image.max() <= 1.0
    assert result.method == "ddcgan" and result.checkpoint == "tiny-x4"
    assert result.notes == []
    # floor(97/4) x floor(61/4) is taken too (edge-padded), also without a note.
    floor = fuse_images(vis, _smooth(15, 24), checkpoint=str(tiny_presets["x4"]))
    assert floor.image.shape == (61, 97) and floor.notes == []


def test_x4_inexact_ir_is_resampled_with_a_note(tiny_presets):
    vis = _smooth(61, 97)
    ir = _smooth(17, 27)             # 27 x 17: about 1/3.6, neither grid
    result = fuse_images(vis, ir, checkpoint=str(tiny_presets["x4"]), ir_name="ir.png")
    assert result.image.shape == (61, 97)
    assert len(result.notes) == 1
    assert "ir.png" in result.notes[0] and "resampled" in result.notes[0]


def test_x4_exact_quarter_needs_no_note(tiny_presets):
    vis, ir = _smooth(64, 96), _smooth(16, 24)
    result = fuse_images(vis, ir, checkpoint=str(tiny_presets["x4"]))
    assert result.image.shape == (64, 96) and result.notes == []


def test_x1_odd_size(tiny_presets):
    vis, ir = _smooth(45, 71), _smooth(45, 71)
    result = fuse_images(vis, ir, checkpoint=str(tiny_presets["x1"]))
    assert result.image.shape == (45, 71) and result.notes == []
    assert result.checkpoint == "tiny-x1"


def test_rgb_visible_keeps_its_chrominance(tiny_presets):
    vis = 0.25 + 0.5 * _smooth(40, 56, channels=3)
    ir = _smooth(10, 14)
    color = fuse_images(vis, ir, checkpoint=str(tiny_presets["x4"]))
    gray = fuse_images(vis, ir, checkpoint=str(tiny_presets["x4"]), gray=True)
    assert color.image.shape == (40, 56, 3) and gray.image.shape == (40, 56)
    # The gray result is the fused luminance; the color one puts it under the visible chroma.
    np.testing.assert_allclose(color.image, replace_luma(vis, gray.image), atol=1e-6)
    inside = ((color.image > 1e-3) & (color.image < 1 - 1e-3)).all(axis=-1)
    assert inside.mean() > 0.5  # most pixels unclipped, where chroma must match exactly
    np.testing.assert_allclose(rgb_to_ycbcr(color.image)[inside][:, 1:],
                               rgb_to_ycbcr(vis)[inside][:, 1:], atol=1e-4)
    np.testing.assert_allclose(rgb_to_ycbcr(color.image)[inside][:, 0], gray.image[inside], atol=1e-4)
    # `color_later` (a video stream's second thread): the intensity now, the same color later.
    later = fuse_images(vis, ir, checkpoint=str(tiny_presets["x4"]), color_later=True)
    assert later.image.shape == (40, 56) and later.colorize is not None
    np.testing.assert_array_equal(later.image, gray.image)
    np.testing.assert_allclose(later.colorize(later.image), color.image, atol=1e-6)
    assert fuse_images(vis[..., 0], ir, checkpoint=str(tiny_presets["x4"]), color_later=True).colorize is None


def test_color_ir_is_reduced_to_luminance(tiny_presets):
    vis, ir = _smooth(32, 32), _smooth(8, 8, channels=3)
    result = fuse_images(vis, ir, checkpoint=str(tiny_presets["x4"]))
    assert result.image.shape == (32, 32)
    assert any("luminance" in note for note in result.notes)
    same = fuse_images(vis, to_gray(ir), checkpoint=str(tiny_presets["x4"]))
    np.testing.assert_allclose(result.image, same.image, atol=1e-6)


def test_different_aspect_ratio_is_refused(tiny_presets):
    with pytest.raises(UserError) as err:
        fuse_images(_smooth(64, 64), _smooth(16, 24), checkpoint=str(tiny_presets["x4"]),
                    vis_name="v.png", ir_name="i.png")
    assert "i.png" in str(err.value) and "aspect ratio" in str(err.value)
    with pytest.raises(UserError, match="aspect ratio"):
        size_ratio((100, 100), (100, 50))


def test_same_size_ir_given_to_a_4x_model_is_reduced_with_a_note(tiny_presets):
    """What the model's setting records: an IR at 1/4, here made by block means (the SavedModel
    does the same)."""
    vis, ir = _smooth(64, 64), _smooth(64, 64)
    given = fuse_images(vis, ir, checkpoint=str(tiny_presets["x4"]), ir_name="thermal.png")
    assert any("thermal.png" in note and "reduced 4x" in note for note in given.notes)
    reduced = ir.reshape(16, 4, 16, 4).mean(axis=(1, 3))
    assert np.allclose(given.image, fuse_images(vis, reduced, checkpoint=str(tiny_presets["x4"])).image,
                       atol=1e-5)


@pytest.mark.parametrize("vis_size,ir_size,preset", [
    ((100, 100), (10, 10), "x4"),    # ratio 10
    ((64, 64), (16, 16), "x1"),      # ratio 4 given to a same-size model
])
def test_ratio_the_model_cannot_serve_is_refused(tiny_presets, vis_size, ir_size, preset):
    with pytest.raises(UserError) as err:
        fuse_images(_smooth(*vis_size), _smooth(*ir_size), checkpoint=str(tiny_presets[preset]),
                    ir_name="thermal.png")
    message = str(err.value)
    assert "thermal.png" in message and "trained for" in message


def test_ratio_without_any_model_is_refused_before_loading():
    with pytest.raises(UserError) as err:
        fuse_images(_smooth(100, 100), _smooth(10, 10), ir_name="thermal.png")
    assert "thermal.png" in str(err.value) and "10.00x smaller" in str(err.value)


@pytest.mark.parametrize("with_checkpoint", [False, True])
def test_ir_larger_than_visible_suggests_swapping(tiny_presets, with_checkpoint):
    checkpoint = str(tiny_presets["x4"]) if with_checkpoint else None
    with pytest.raises(UserError) as err:
        fuse_images(_smooth(16, 16), _smooth(64, 64), checkpoint=checkpoint, ir_name="thermal.png")
    message = str(err.value)
    assert "thermal.png" in message and "larger" in message
    assert "visible image first" in message


@pytest.mark.parametrize("preset,shape", [("x4", (70, 90)), ("x1", (50, 66))])
def test_tiles_equal_one_pass(tiny_presets, preset, shape):
    model = load_preset(tiny_presets[preset]).model
    scale = 4 if preset == "x4" else 1
    vis = _smooth(*shape)
    ir = align_ir(shape, _smooth(*shape), scale, [])
    whole = run_generator(model, vis, ir, scale, tile=10_000)
    tiled = run_generator(model, vis, ir, scale, tile=32, margin=16)
    assert whole.shape == tiled.shape == shape
    np.testing.assert_allclose(tiled, whole, atol=1e-4)
    # Without a margin the tile borders show: the margin is what makes tiles independent.
    seams = run_generator(model, vis, ir, scale, tile=32, margin=0)
    assert np.abs(seams - whole).max() > 1e-3


def test_align_ir_exact_and_inexact():
    notes = []
    ir = _smooth(16, 24)
    assert align_ir((64, 96), ir, 4, notes) is ir and notes == []
    ceil = _smooth(16, 25)
    assert align_ir((61, 97), ceil, 4, notes) is ceil and notes == []  # ceil(61/4) x ceil(97/4)
    floor = _smooth(15, 24)
    padded = align_ir((61, 97), floor, 4, notes)
    assert padded.shape == (16, 25) and notes == []
    np.testing.assert_array_equal(padded[:15, :24], floor)
    np.testing.assert_array_equal(padded[15, :24], floor[14])  # edge-padded
    out = align_ir((61, 97), _smooth(17, 27), 4, notes)
    assert out.shape == (16, 25) and len(notes) == 1
    full = _smooth(64, 96)
    np.testing.assert_allclose(align_ir((64, 96), full, 4, []), downsample_area(full, 4), atol=1e-6)


def test_baseline_method(tiny_presets):
    vis, ir = _smooth(40, 48, channels=3), _smooth(40, 48)
    result = fuse_images(vis, ir, method="average", gray=True)
    assert result.checkpoint is None and result.method == "average"
    np.testing.assert_allclose(result.image, average(to_gray(vis), ir), atol=1e-6)
    # A smaller IR is resized for a baseline, and said so.
    small = fuse_images(to_gray(vis), _smooth(10, 12), method="average")
    assert small.image.shape == (40, 48) and any("resized" in n for n in small.notes)
    with pytest.raises(UserError, match="--method"):
        fuse_images(vis, ir, method="median")
    with pytest.raises(UserError, match="--checkpoint"):
        fuse_images(vis, ir, method="average", checkpoint=str(tiny_presets["x4"]))


def test_preset_folder_errors(tmp_path):
    with pytest.raises(UserError) as err:
        load_preset(tmp_path)
    assert str(tmp_path) in str(err.value) and "config.json" in str(err.value)
    with pytest.raises(UserError, match="no such preset"):
        load_preset("no-such-model-name")


def test_registered_pair_with_other_pixel_aspect_is_fused_with_notes(tiny_presets):
    # Like RoadScene's vi_hr/ir pairs: ratio ~3.3 per side, aspect ratios 9 % apart.
    result = fuse_images(_smooth(100, 200), _smooth(30, 55), checkpoint=str(tiny_presets["x4"]),
                         ir_name="thermal.png")
    assert result.image.shape == (100, 200)
    assert any("aspect ratio differs" in note and "thermal.png" in note for note in result.notes)
    assert any("resampled onto the visible frame" in note for note in result.notes)


@pytest.mark.parametrize("ratio,expected", [(1.0, "ddcgan-ir-vis"), (1.9, "ddcgan-ir-vis"),
                                            (2.0, "ddcgan-ir-vis-x4"), (2.9, "ddcgan-ir-vis-x4"),
                                            (6.0, "ddcgan-ir-vis-x4")])
def test_default_checkpoint_by_ratio(ratio, expected):
    from tf_irgan.pipelines.fusion import default_checkpoint
    assert default_checkpoint(ratio) == expected


def test_stretch_maps_the_fused_range_to_full_scale(tiny_presets):
    vis, ir = _smooth(32, 32) * 0.5 + 0.2, _smooth(8, 8) * 0.5 + 0.2
    plain = fuse_images(vis, ir, checkpoint=str(tiny_presets["x4"]))
    stretched = fuse_images(vis, ir, checkpoint=str(tiny_presets["x4"]), stretch=True)
    low, high = plain.image.min(), plain.image.max()
    assert high - low < 0.9  # the plain output does not span the range ...
    assert stretched.image.min() == 0.0 and stretched.image.max() == pytest.approx(1.0)
    assert np.allclose(stretched.image, (plain.image - low) / (high - low), atol=1e-6)
    assert any("--stretch" in note for note in stretched.notes)


@pytest.mark.parametrize("preset", ["ddcgan-ir-vis-x4-salient", "ddcgan-ir-vis-residual"])
def test_bf16_inference_stays_within_a_level_of_float32(preset, shared_data):
    """Issue 12: the bf16 path really computes in bfloat16, and a shipped model's output moves
    by well under one 8-bit level on average on a real pair."""
    from tf_irgan.images import read_image

    tno = shared_data / "tno"
    vis, ir = read_image(tno / "vi" / "10.png")[:160, :200], read_image(tno / "ir" / "10.png")[:160, :200]
    dtypes = {layer.name: layer.compute_dtype for layer in load_preset(preset, "bf16").model._flatten_layers()
              if type(layer).__name__ == "ReflectConv"}
    # Only the one-channel head stays float32, by design (ddcgan.Generator).
    assert dtypes.pop("head") == "float32"
    assert len(dtypes) > 5 and set(dtypes.values()) == {"bfloat16"}, dtypes
    fp32 = fuse_images(vis, ir, preset=preset, precision="fp32").image
    bf16 = fuse_images(vis, ir, preset=preset, precision="bf16").image
    assert bf16.dtype == np.float32 and bf16.shape == fp32.shape
    levels = np.abs(bf16 - fp32) * 255
    assert 0 < levels.mean() < 0.5 and levels.max() < 4, (levels.mean(), levels.max())


def test_auto_precision_is_float32_without_native_bf16(monkeypatch):
    import tf_irgan.presets as presets

    monkeypatch.setattr(presets, "bf16_is_native", lambda: False)
    assert load_preset("ddcgan-ir-vis-x4", "auto") is load_preset("ddcgan-ir-vis-x4", "fp32")
    monkeypatch.setattr(presets, "bf16_is_native", lambda: True)
    assert load_preset("ddcgan-ir-vis-x4", "auto") is load_preset("ddcgan-ir-vis-x4", "bf16")
    with pytest.raises(UserError, match="--precision fp64"):
        load_preset("ddcgan-ir-vis-x4", "fp64")


def test_an_ir_black_frame_is_filled_from_the_visible_image_not_printed(shared_data):
    """An IR whose edge rows and columns hold no data (a thermal core's black frame): the fused
    image there follows the visible image, and the first rows with data show no dark line."""
    vis = read_image(shared_data / "roadscene" / "vi" / "FLIR_00060.jpg")
    ir = read_image(shared_data / "roadscene" / "ir" / "FLIR_00060.jpg")
    framed = ir.copy()
    framed[:12], framed[:, -8:] = 0.0, 0.0
    plain = fuse_images(vis, ir, gray=True, precision="fp32")
    result = fuse_images(vis, framed, gray=True, precision="fp32")
    assert any("12 border row(s) and 8 column(s)" in note and "fill in" in note for note in result.notes)
    for rows in (slice(0, 12), slice(12, 16), slice(16, 24)):   # the frame and just inside it
        band = (rows, slice(0, -8))
        assert abs(result.image[band].mean() - plain.image[band].mean()) < 0.03, rows
    # the visible image's details are there in the frame
    detail = lambda image: image[2:10, 10:-18] - cv2.GaussianBlur(image, (0, 0), 2)[2:10, 10:-18]
    assert np.corrcoef(detail(result.image).ravel(), detail(to_gray(vis)).ravel())[0, 1] > 0.7
    # A white (overexposed) flat row is scene: kept as it is; so is a wide black band (a sky
    # clipped to black by a range), which a frame is not.
    white = ir.copy()
    white[:5] = 1.0
    assert not any("border row" in note for note in fuse_images(vis, white, gray=True).notes)
    clipped = ir.copy()
    clipped[:60] = 0.0
    assert not any("border row" in note for note in fuse_images(vis, clipped, gray=True).notes)


def test_a_file_fuses_a_band_at_a_time_to_the_same_integers(tiny_presets, tmp_path, monkeypatch):
    """`tf-irgan fuse` hands the files' integers over (`ImageRows`) and gets integers back,
    made a band of rows at a time (bounded memory, issue 30): the same pixels as the float path,
    over several tiles and with a black frame filled."""
    import cv2

    from tf_irgan.images import decode_image, quantized
    from tf_irgan.pipelines import fusion

    monkeypatch.setattr(fusion, "TILE", 48)
    rng = np.random.default_rng(3)
    vis = (rng.random((150, 130, 3)) * 255).astype(np.uint8)
    ir = cv2.GaussianBlur((rng.random((150, 130)) * 255).astype(np.uint8), (5, 5), 0)
    ir[:4] = 0
    cv2.imwrite(str(tmp_path / "v.png"), vis[..., ::-1])
    cv2.imwrite(str(tmp_path / "i.png"), ir)
    bands = []
    original = fusion.run_generator

    def counted(*args, sink=None, **kwargs):
        def each(top, rows):
            bands.append(top)
            sink(top, rows)
        return original(*args, sink=each if sink else None, tile=48, **kwargs)
    monkeypatch.setattr(fusion, "run_generator", counted)
    rows = fuse_images(decode_image(tmp_path / "v.png"), decode_image(tmp_path / "i.png"),
                       checkpoint=str(tiny_presets["x1"]), bit_depth=8)
    whole = fuse_images(vis / np.float32(255), ir / np.float32(255),
                        checkpoint=str(tiny_presets["x1"]))
    assert len(bands) >= 3 and rows.image.dtype == np.uint8
    assert any("border row" in note for note in rows.notes)
    np.testing.assert_array_equal(rows.image, quantized(whole.image))


def test_writing_integers_leaves_them_as_they_were(tmp_path):
    import cv2

    from tf_irgan.images import write_image

    image = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    kept = image.copy()
    write_image(tmp_path / "a.png", image)
    np.testing.assert_array_equal(image, kept)
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "a.png"))[..., ::-1], kept)


@pytest.mark.parametrize("method", ["average", "max", "laplacian"])
def test_baselines_fuse_a_band_at_a_time_to_the_same_pixels(method, tmp_path, monkeypatch):
    """`--method average|max|laplacian` on a file: bands of rows (bounded memory, issue 30), the
    same result as the whole-image computation of the baseline, its color put back (the
    pyramid's bands with their context: odd sizes, several bands, each on its grid)."""
    import cv2

    from tf_irgan import baselines, rows
    from tf_irgan.color import COLOR_SPACES
    from tf_irgan.images import decode_image, quantized

    monkeypatch.setattr(rows, "BAND_PIXELS", 131 * 20)   # bands of 20 rows (16 for the pyramid)
    rng = np.random.default_rng(4)
    vis = cv2.GaussianBlur((rng.random((333, 131, 3)) * 255).astype(np.uint8), (3, 3), 0)
    ir = (rng.random((333, 131)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "v.png"), vis[..., ::-1])
    cv2.imwrite(str(tmp_path / "i.png"), ir)
    calls = []
    original = baselines.METHODS[method]
    monkeypatch.setitem(baselines.METHODS, method, lambda a, b: calls.append(len(a)) or original(a, b))
    banded = fuse_images(decode_image(tmp_path / "v.png"), decode_image(tmp_path / "i.png"),
                         method=method, bit_depth=8)
    space = COLOR_SPACES["ycbcr"]
    vis_f = vis / np.float32(255)
    expected = space.restore_color(original(space.luminance(vis_f), ir / np.float32(255)), vis_f)
    assert len(calls) >= 8 and max(calls) < 333 and banded.image.dtype == np.uint8
    np.testing.assert_array_equal(banded.image, quantized(np.clip(expected, 0, 1)))
