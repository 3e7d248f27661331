"""MRI/PET fusion: the IHS transform, the PET's color kept, sizes, the medical training data,
the export and the report's medical set."""

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tf_irgan.cli.main import cli
from tf_irgan.color import COLOR_SPACES, ihs_to_rgb, rgb_to_ihs
from tf_irgan.errors import UserError
from tf_irgan.images import read_image, write_image
from tf_irgan.pipelines.fusion import fuse_images

SHIPPED = "ddcgan-mri-pet-x4"


def _pair(shared_data, name="11.png", folder="mri_pet42"):
    base = shared_data / folder
    return read_image(base / "MRI" / name), read_image(base / "PET" / name)


def _hue_degrees(rgb):
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb, np.float32), cv2.COLOR_RGB2HSV)
    return hsv[..., 0], hsv[..., 1], hsv[..., 2]


# ------------------------------------------------------------------ the transform

def test_ihs_forward_and_inverse_are_exact_inverses():
    rgb = np.random.default_rng(0).random((37, 53, 3)).astype(np.float32)
    assert np.abs(ihs_to_rgb(rgb_to_ihs(rgb)) - rgb).max() < 1e-5
    ihs = rgb_to_ihs(rgb)
    # I = (R+G+B)/sqrt3 (returned /sqrt3, the channel mean), v1 = (R+G-2B)/sqrt6, v2 = (R-G)/sqrt2
    assert np.allclose(ihs[..., 0], rgb.mean(-1), atol=1e-6)
    assert np.allclose(ihs[..., 1], (rgb[..., 0] + rgb[..., 1] - 2 * rgb[..., 2]) / np.sqrt(6), atol=1e-6)
    assert np.allclose(ihs[..., 2], (rgb[..., 0] - rgb[..., 1]) / np.sqrt(2), atol=1e-6)


@pytest.mark.parametrize("space", ["ihs", "ycbcr"])
def test_tensor_color_restore_inverts_the_transform(space):
    """The TF ops the pipeline and its SavedModel share: an image's own intensity under its own
    color gives the image back."""
    import tensorflow as tf

    rgb = np.random.default_rng(1).random((1, 20, 30, 3)).astype(np.float32)
    color_space = COLOR_SPACES[space]
    intensity = color_space.luminance_tensor(tf.constant(rgb))
    assert np.allclose(intensity.numpy()[0, ..., 0], color_space.luminance(rgb[0]), atol=1e-6)
    back = color_space.restore_color_tensor(intensity, tf.constant(rgb)).numpy()
    assert np.abs(back - rgb).max() < 1e-5
    # Another intensity, out of gamut in places: numpy (baselines) and TF (model, SavedModel) agree.
    other = np.random.default_rng(2).random((20, 30)).astype(np.float32)
    in_numpy = color_space.restore_color(other, rgb[0])
    in_tf = color_space.restore_color_tensor(tf.constant(other[None, ..., None]), tf.constant(rgb)).numpy()[0]
    assert np.abs(in_numpy - in_tf).max() < 1e-5
    assert np.allclose(color_space.luminance(in_numpy), other, atol=1e-5)  # the intensity is kept


@pytest.mark.parametrize("space", ["ihs", "ycbcr"])
def test_out_of_gamut_colors_lose_saturation_not_hue(space):
    """A bright saturated red given a higher intensity: clipping R, G, B one by one would turn
    it orange; the pipeline shrinks the color instead, so the hue and the intensity stay."""
    color_space = COLOR_SPACES[space]
    orange = np.array([[[0.9, 0.4, 0.1]]], np.float32)
    out = color_space.restore_color(np.array([[0.8]], np.float32), orange)
    assert (out >= 0).all() and (out <= 1).all()
    assert color_space.luminance(out)[0, 0] == pytest.approx(0.8, abs=1e-5)
    hue_in, _, _ = _hue_degrees(orange)
    hue_out, saturation, _ = _hue_degrees(out)
    assert hue_out[0, 0] == pytest.approx(hue_in[0, 0], abs=0.5) and saturation[0, 0] > 0.1
    # What clipping R, G, B one by one would have given: another hue.
    gray = 0.8 - color_space.luminance(orange)[0, 0]
    clipped = np.clip(orange + gray, 0, 1) if space == "ihs" else None
    if clipped is not None:
        assert abs(_hue_degrees(clipped)[0][0, 0] - hue_in[0, 0]) > 3


# ------------------------------------------------------------------ the pipeline

def test_fused_result_is_color_at_the_mri_size(tiny_medical_preset, shared_data):
    mri, pet = _pair(shared_data)
    assert mri.ndim == 2 and pet.ndim == 3  # the MRI is gray stored as RGB: read as gray
    result = fuse_images(mri, pet, preset=str(tiny_medical_preset))
    assert result.image.shape == mri.shape + (3,)
    assert any("reduced 4x" in note for note in result.notes)  # a PET at the MRI size


@pytest.mark.parametrize("height,width", [(256, 256), (255, 253)])
def test_pet_at_a_quarter_and_at_full_size_agree(tiny_medical_preset, shared_data, height, width):
    """A full-size PET is reduced by block means; given already reduced (on the grid of 1/4,
    rounded up), the generator sees the same intensity, and the color, enlarged exactly 4x onto
    the MRI's frame, lands in the same place, only blurrier."""
    import tensorflow as tf

    from tf_irgan.pipelines.fusion import reduce_to_scale

    mri, pet = _pair(shared_data, "20.png")
    mri, pet = mri[:height, :width], pet[:height, :width]
    small = reduce_to_scale(tf.constant(pet[None]), 4).numpy()[0]
    assert small.shape == (-(-height // 4), -(-width // 4), 3)
    full = fuse_images(mri, pet, preset=str(tiny_medical_preset)).image
    quarter = fuse_images(mri, small, preset=str(tiny_medical_preset)).image
    assert full.shape == quarter.shape == (height, width, 3)
    assert np.abs(full.mean(-1) - quarter.mean(-1)).mean() < 0.01
    chroma = [image - image.mean(-1, keepdims=True) for image in (full, quarter)]
    assert np.abs(chroma[0] - chroma[1]).mean() < 0.02
    # ... and measurably less than with the color shifted by 2 pixels.
    shifted = np.roll(chroma[1], 2, axis=1)
    assert np.abs(chroma[0] - chroma[1]).mean() < 0.8 * np.abs(chroma[0] - shifted).mean()


def test_gray_pet_gives_a_gray_result(tiny_medical_preset, shared_data):
    mri, pet = _pair(shared_data)
    gray_pet = COLOR_SPACES["ihs"].luminance(pet)
    result = fuse_images(mri, gray_pet, preset=str(tiny_medical_preset))
    assert result.image.ndim == 2
    assert any("gray PET" in note for note in result.notes)


def test_color_mri_is_reduced_with_a_note(tiny_medical_preset, shared_data):
    mri, pet = _pair(shared_data)
    tinted = np.stack([mri, mri * 0.9, mri * 0.8], axis=-1)
    result = fuse_images(tinted, pet, preset=str(tiny_medical_preset), vis_name="mri.png")
    assert any("mri.png" in note and "intensity" in note for note in result.notes)
    assert result.image.shape == mri.shape + (3,)


def test_mri_pet_without_a_preset_uses_the_shipped_model_of_its_size_ratio(shared_data):
    mri, pet = _pair(shared_data)
    result = fuse_images(mri, pet, modality="mri-pet")
    assert result.preset == "ddcgan-mri-pet" and result.image.shape == (256, 256, 3)
    small = cv2.resize(pet, (64, 64), interpolation=cv2.INTER_AREA)
    result = fuse_images(mri, small, modality="mri-pet")
    assert result.preset == SHIPPED and result.image.shape == (256, 256, 3)


@pytest.mark.parametrize("preset", [SHIPPED, "ddcgan-mri-pet"])
def test_hue_of_the_pet_is_kept_on_saturated_pixels(shared_data, preset):
    """Mean hue difference between PET and result on the PET's saturated pixels, below 5 degrees,
    on real pairs through each shipped PET model."""
    for name in ("11.png", "30.png", "45.png"):
        mri, pet = _pair(shared_data, name)
        fused = fuse_images(mri, pet, preset=preset).image
        hue_pet, saturation, value = _hue_degrees(pet)
        hue_fused, _, _ = _hue_degrees(fused)
        saturated = (saturation > 0.5) & (value > 0.2)
        assert saturated.sum() > 500, name
        difference = np.abs(hue_pet - hue_fused)[saturated]
        difference = np.minimum(difference, 360 - difference)
        assert difference.mean() < 5.0, (name, difference.mean())


@pytest.mark.parametrize("pet_size,message", [
    (512, "larger per side than the MRI"),   # PET larger than the MRI
    (32, "trained for 4x"),                  # ratio 8
])
def test_sizes_the_model_cannot_serve_are_refused(tiny_medical_preset, shared_data, pet_size, message):
    mri, pet = _pair(shared_data)
    resized = cv2.resize(pet, (pet_size, pet_size), interpolation=cv2.INTER_AREA)
    with pytest.raises(UserError) as err:
        fuse_images(mri, resized, preset=str(tiny_medical_preset), ir_name="pet.png")
    assert "pet.png" in str(err.value) and message in str(err.value)


def test_fuse_command_with_ycbcr_and_folder_mode(tiny_medical_preset, shared_data, tmp_path):
    base = shared_data / "mri_pet42"
    runner = CliRunner()
    out = tmp_path / "fused.png"
    result = runner.invoke(cli, ["fuse", str(base / "MRI" / "11.png"), str(base / "PET" / "11.png"),
                                 "--preset", str(tiny_medical_preset), "-o", str(out),
                                 "--color-space", "ycbcr"])
    assert result.exit_code == 0, result.output
    in_ycbcr = read_image(out)
    assert in_ycbcr.shape == (256, 256, 3)
    mri, pet = _pair(shared_data)
    in_ihs = fuse_images(mri, pet, preset=str(tiny_medical_preset)).image
    assert np.abs(in_ycbcr - in_ihs).max() > 10 / 255   # another intensity and another color
    for role in ("MRI", "PET"):
        (tmp_path / role).mkdir()
        for name in ("11.png", "12.png"):
            (tmp_path / role / name).write_bytes((base / role / name).read_bytes())
    result = runner.invoke(cli, ["fuse", "--vis-dir", str(tmp_path / "MRI"), "--ir-dir",
                                 str(tmp_path / "PET"), "--out-dir", str(tmp_path / "out"),
                                 "--preset", str(tiny_medical_preset)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["11.png", "12.png", "manifest.csv"]


# ------------------------------------------------------------------ training data and preset

def test_medical_training_uses_the_pet_intensity(tiny_medical_preset, shared_data):
    from tf_irgan.data.datasets import load_training_patches
    from tf_irgan.data.patches import downsample_area

    meta = json.loads((tiny_medical_preset / "metadata.json").read_text())
    assert (meta["modality"], meta["color_space"], meta["color_role"]) == ("mri-pet", "ihs", "pet")
    config = json.loads((tiny_medical_preset / "config.json").read_text())
    assert config["input_roles"] == ["mri", "pet"]
    folder = shared_data / "pet_mri_harvard" / "test"
    patches = load_training_patches(folder, 4, patch=64, stride=192, modality="mri-pet")
    first = sorted((folder / "PET").iterdir())[0]
    pet = read_image(first)
    assert np.allclose(patches.intensity[0], downsample_area(pet.mean(-1)[:64, :64], 4), atol=1e-5)
    with pytest.raises(UserError, match="MRI/"):
        load_training_patches(shared_data / "roadscene", 4, modality="mri-pet")


@pytest.mark.slow
@pytest.mark.parametrize("which", ["tiny", "shipped"])
def test_export_equals_fuse_with_color_pet(which, request, shared_data, tmp_path):
    """`tf-irgan export ddcgan-mri-pet-x4`: the MRI and the color PET in, the color result out,
    equal to `tf-irgan fuse` within 1/255 (PET at the MRI's size and at 1/4)."""
    import tensorflow as tf

    from tf_irgan.export import export_saved_model

    tiny_medical_preset = (request.getfixturevalue("tiny_medical_preset") if which == "tiny"
                           else SHIPPED)
    export_saved_model(str(tiny_medical_preset), tmp_path / "served")
    served = tf.saved_model.load(str(tmp_path / "served" / "1")).signatures["serving_uint8"]
    mri, pet = _pair(shared_data, "30.png")
    for given in (pet, pet.reshape(64, 4, 64, 4, 3).mean(axis=(1, 3))):
        given = np.round(given * 255) / 255   # what a uint8 client sends
        # fp32 as the SavedModel (where bfloat16 is native, fuse's "auto" would compute in it)
        reference = write_image(tmp_path / "cli.png", fuse_images(mri, given, preset=str(
            tiny_medical_preset), precision="fp32").image, overwrite=True)
        out = served(mri=tf.constant(np.round(mri * 255).astype(np.uint8)[None, ..., None]),
                     pet=tf.constant(np.round(given * 255).astype(np.uint8)[None]))["fused"]
        difference = np.abs(out.numpy()[0].astype(int) - np.round(read_image(reference) * 255))
        assert out.shape == (1, 256, 256, 3) and difference.max() <= 1


def test_evaluate_fusion_scores_the_ihs_intensity(tiny_medical_preset, shared_data, tmp_path):
    base = shared_data / "mri_pet42"
    (tmp_path / "fused").mkdir()
    mri, pet = _pair(shared_data)
    write_image(tmp_path / "fused" / "11.png", fuse_images(mri, pet, preset=str(tiny_medical_preset)).image)
    for role in ("MRI", "PET"):
        (tmp_path / role).mkdir()
        (tmp_path / role / "11.png").write_bytes((base / role / "11.png").read_bytes())
    args = ["evaluate", "fusion", "--ir-dir", str(tmp_path / "PET"), "--vis-dir", str(tmp_path / "MRI"),
            "--fused-dir", str(tmp_path / "fused")]
    results = {}
    for space in ("ihs", "ycbcr"):
        out = tmp_path / f"{space}.json"
        result = CliRunner().invoke(cli, args + ["--color-space", space, "--json", str(out)])
        assert result.exit_code == 0, result.output
        results[space] = json.loads(out.read_text())
    assert "IHS" in results["ihs"]["conventions"]["color"]
    # Each space scores its own channel: the numbers are the metrics of that channel's
    # intensity, computed here directly, and the channels differ (the PET's luma is not its IHS
    # intensity). (How far apart the two MI values are depends on the tiny model's colors,
    # which vary with the libraries' versions: 0.1 % apart once, 0.02 % in a fresh install of
    # 2026-12-04.)
    from tf_irgan.metrics.fusion import fusion_metrics

    images = [read_image(path) for path in (base / "PET" / "11.png", base / "MRI" / "11.png",
                                            tmp_path / "fused" / "11.png")]
    assert not np.allclose(COLOR_SPACES["ihs"].luminance(images[0]),
                           COLOR_SPACES["ycbcr"].luminance(images[0]), atol=1e-2)
    for space in ("ihs", "ycbcr"):
        channels = [COLOR_SPACES[space].luminance(i) if i.ndim == 3 else i for i in images]
        expected = fusion_metrics(*channels)["MI"]
        assert results[space]["mean"]["MI"] == pytest.approx(expected, rel=1e-6), space


def test_report_medical_set_is_in_color(tiny_medical_preset, tmp_path, monkeypatch, shared_data):
    from tf_irgan.report import ReportOptions, generate_report

    monkeypatch.setenv("TF_IRGAN_PRESETS", str(tiny_medical_preset.parent))
    output = tmp_path / "results.md"
    report = generate_report(ReportOptions(data_root=shared_data, output=output, limit=2,
                                           sets=("medical",), methods=[tiny_medical_preset.name, "average"]))
    medical = report["sets"]["medical"]
    assert set(medical["methods"]) == {tiny_medical_preset.name, "average"}
    assert "IHS" in medical["description"]
    figure = cv2.imread(str(tmp_path / "figures" / "medical_examples.png"), cv2.IMREAD_UNCHANGED)
    assert figure.ndim == 3 and figure.shape[2] == 3
    assert "MRI-PET-42" in output.read_text()


def test_prepared_medical_patches_select_the_medical_setting(shared_data, tmp_path):
    from types import SimpleNamespace

    from tf_irgan.models.ddcgan import DDcGAN

    base = shared_data / "pet_mri_harvard" / "test"
    out = tmp_path / "medical.h5"
    result = CliRunner().invoke(cli, ["prepare", "--vis-dir", str(base / "MRI"), "--ir-dir",
                                      str(base / "PET"), "-o", str(out), "--patch", "64",
                                      "--stride", "96"])
    assert result.exit_code == 0, result.output
    assert "IHS intensity" in result.output  # the note: PET/ implies --color-space ihs
    options = SimpleNamespace(data=str(out), config="fast", model_options={"scale": 4}, batch_size=None,
                              learning_rate=None, patch=64, overrides=None)
    assert DDcGAN.config_from_options(options).modality == "mri-pet"
    options.data = str(base)  # the folder itself: MRI/ and PET/ inside
    assert DDcGAN.config_from_options(options).modality == "mri-pet"
    options.overrides = {"modality": "ct-pet"}
    with pytest.raises(UserError, match="ct-pet"):
        DDcGAN.config_from_options(options)


def test_baselines_fuse_mri_pet_in_color_when_told(tiny_medical_preset, shared_data, tmp_path):
    base = shared_data / "mri_pet42"
    args = ["fuse", str(base / "MRI" / "11.png"), str(base / "PET" / "11.png")]
    runner = CliRunner()
    result = runner.invoke(cli, args + ["--method", "average", "--modality", "mri-pet",
                                        "-o", str(tmp_path / "avg.png")])
    assert result.exit_code == 0, result.output
    average = read_image(tmp_path / "avg.png")
    mri, pet = _pair(shared_data)
    assert average.shape == (256, 256, 3)
    # The intensity is the mean of the MRI and the PET's IHS intensity; the color is the PET's.
    expected = (mri + pet.mean(-1)) / 2
    inside = average.max(-1) < 0.99  # where no channel clipped
    assert np.abs(average.mean(-1) - expected)[inside].mean() < 2 / 255
    result = runner.invoke(cli, args + ["--preset", str(tiny_medical_preset), "--modality", "ir-vis",
                                        "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2 and "fuses mri-pet" in result.output


# ------------------------------------------------------------------ MRI-SPECT

def test_spect_preset_fuses_a_test_pair_in_color_and_keeps_the_hue(shared_data):
    """`ddcgan-mri-spect` on real pairs of its set's test split: the MRI's size, the SPECT's
    color (mean hue difference on its saturated pixels below 5 degrees), the MRI's edges."""
    folder = "spect_mri_harvard/test"
    names = sorted(p.name for p in (shared_data / folder / "MRI").iterdir())
    for name in names[:3]:
        mri = read_image(shared_data / folder / "MRI" / name)
        spect = read_image(shared_data / folder / "SPECT" / name)
        result = fuse_images(mri, spect, modality="mri-spect")
        assert result.preset == "ddcgan-mri-spect"
        fused = result.image
        assert fused.shape == mri.shape[:2] + (3,) and np.isfinite(fused).all()
        hue_in, saturation, value = _hue_degrees(spect)
        hue_out, _, _ = _hue_degrees(fused)
        saturated = (saturation > 0.5) & (value > 0.2)
        if saturated.sum() < 200:
            continue
        difference = np.abs(hue_in - hue_out)[saturated]
        difference = np.minimum(difference, 360 - difference)
        assert difference.mean() < 5.0, (name, difference.mean())


# ------------------------------------------------------------------ MRI-CT

def test_ct_preset_fuses_a_test_pair_in_gray_and_keeps_the_bone(shared_data):
    """`ddcgan-mri-ct` on real pairs of its set's test split: gray in, gray out at the MRI's
    size, and the CT's bright bone kept (where the CT is bright, the result is nearly as bright:
    the skull's ring does not fade into the MRI's dark rim)."""
    folder = "ct_mri_harvard/test"
    names = sorted(p.name for p in (shared_data / folder / "MRI").iterdir())
    for name in names[:3]:
        mri = read_image(shared_data / folder / "MRI" / name)
        ct = read_image(shared_data / folder / "CT" / name)
        mri, ct = (image if image.ndim == 2 else image.mean(-1) for image in (mri, ct))
        result = fuse_images(mri, ct, modality="mri-ct")
        assert result.preset == "ddcgan-mri-ct" and not result.notes
        fused = result.image
        assert fused.shape == mri.shape and np.isfinite(fused).all()
        bone = ct > 0.8
        assert bone.sum() > 100 and fused[bone].mean() > 0.9 * ct[bone].mean(), name


def test_modalities_are_read_from_folder_names(tmp_path):
    from tf_irgan.modalities import detect_modality, modality_of_folder
    for name, expected in (("PET", "mri-pet"), ("SPECT", "mri-spect"), ("ct", "mri-ct"), ("ir", None)):
        (tmp_path / name).mkdir()
        assert modality_of_folder(tmp_path / name) == expected
    data = tmp_path / "data"
    (data / "MRI").mkdir(parents=True)
    (data / "SPECT").mkdir()
    assert detect_modality(data) == "mri-spect"


@pytest.mark.parametrize("name,modality,data", [("ddcgan-mri-spect", "mri-spect", "spect_mri_harvard/train"),
                                                ("ddcgan-mri-ct", "mri-ct", "ct_mri_harvard/train")])
def test_presets_lists_the_medical_presets_with_their_data(name, modality, data):
    result = CliRunner().invoke(cli, ["presets"])
    assert result.exit_code == 0
    block = result.output.split(f"{name}\n", 1)[1].split("\n\n")[0]
    assert modality in block and data in block


def _first_pairs(shared_data, detail, intensity, count):
    folder = shared_data / detail
    names = sorted(p.name for p in folder.iterdir())[:count]
    return [(folder / n, shared_data / intensity / n) for n in names]


@pytest.mark.parametrize("detail, intensity, expected", [
    ("pet_mri_harvard/test/MRI", "pet_mri_harvard/test/PET", "mri-pet"),
    ("spect_mri_harvard/test/MRI", "spect_mri_harvard/test/SPECT", "mri-pet"),   # color, unnamed
    ("ct_mri_harvard/test/MRI", "ct_mri_harvard/test/CT", "mri-ct"),
    ("roadscene/vi", "roadscene/ir", None), ("tno/vi", "tno/ir", None), ("roadscene/ir", "roadscene/vi", None)])
def test_medical_pairs_are_told_from_camera_pairs_by_their_content(shared_data, detail, intensity, expected):
    from tf_irgan.modalities import modality_of_images
    for first, second in _first_pairs(shared_data, detail, intensity, 6):
        second = second if second.exists() else next(second.parent.glob(second.stem + ".*"))
        assert modality_of_images(first, second)[0] == expected, (first, second)


def test_black_or_flat_images_are_not_taken_for_slices(tmp_path):
    from tf_irgan.modalities import modality_of_images
    black = np.zeros((64, 64), np.uint8)
    frame = black.copy()
    frame[:, :16] = 200    # a quarter of data, three quarters black: slice-like
    for name, image in (("black.png", black), ("frame.png", frame)):
        cv2.imwrite(str(tmp_path / name), image)
    assert modality_of_images(tmp_path / "black.png", tmp_path / "black.png")[0] is None
    assert modality_of_images(tmp_path / "frame.png", tmp_path / "black.png")[0] is None
    assert modality_of_images(tmp_path / "frame.png", tmp_path / "frame.png")[0] == "mri-ct"


def test_fuse_tells_a_pet_pair_in_unnamed_folders_by_content(shared_data, tmp_path):
    import shutil
    (first, second), = _first_pairs(shared_data, "spect_mri_harvard/test/MRI",
                                    "spect_mri_harvard/test/SPECT", 1)
    a, b = tmp_path / "a.png", tmp_path / "spect-slice.png"   # the file's name says SPECT
    shutil.copy(first, a)
    shutil.copy(second, b)
    result = CliRunner().invoke(cli, ["fuse", str(a), str(b), "-o", str(tmp_path / "f.png")])
    assert result.exit_code == 0, result.output
    assert "fused as mri-spect" in result.output and "ddcgan-mri-spect" in result.output
    fused = read_image(tmp_path / "f.png")
    assert fused.ndim == 3 and np.ptp(fused, axis=-1).max() > 0.2   # the SPECT's color kept
