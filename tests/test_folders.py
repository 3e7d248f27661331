"""Folders and the mistakes users make with them (issue 22): outputs inside inputs, two images
of one name, `-o` naming a folder, swapped arguments; the folder mode's manifest and summary."""

import csv
import shutil

import cv2
import numpy as np
import pytest

from cli_helpers import one_line_error, run

from tf_irgan.images import read_image


@pytest.fixture
def pairs(tmp_path, copy_roadscene):
    vi_dir, ir_dir, names = copy_roadscene(tmp_path / "data", 2)
    return vi_dir, ir_dir, names


@pytest.mark.parametrize("where", ["vi", "vi/fused", "ir"])
def test_out_dir_in_an_input_folder_is_refused(pairs, where):
    vi_dir, ir_dir, _ = pairs
    out = vi_dir.parent / where
    before = sorted(p.name for p in vi_dir.iterdir())
    one_line_error(run(["fuse", "--vis-dir", vi_dir, "--ir-dir", ir_dir, "--out-dir", out,
                          "--method", "average"]), "--out-dir", "input folder")
    assert sorted(p.name for p in vi_dir.iterdir()) == before  # nothing written


def test_translate_out_dir_in_its_input_folder_is_refused(pairs):
    vi_dir, _, _ = pairs
    one_line_error(run(["translate", "--in-dir", vi_dir, "--out-dir", vi_dir / "ir"]),
                    "input folder")


def test_two_images_of_one_name_are_refused_naming_both(pairs):
    vi_dir, ir_dir, names = pairs
    # An earlier output saved beside its input: a.png next to a.jpg.
    shutil.copy(ir_dir / f"{names[0]}.jpg", vi_dir / f"{names[0]}.png")
    one_line_error(run(["fuse", "--vis-dir", vi_dir, "--ir-dir", ir_dir,
                          "--out-dir", vi_dir.parent / "out", "--method", "average"]),
                    f"{names[0]}.jpg", f"{names[0]}.png", "two images named")
    one_line_error(run(["translate", "--in-dir", vi_dir, "--out-dir", vi_dir.parent / "t"]),
                    "two images named")


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_output_naming_a_folder_says_so(pairs, tmp_path, overwrite):
    vi_dir, ir_dir, names = pairs
    folder = tmp_path / "results"
    folder.mkdir()
    one_line_error(run(["fuse", vi_dir / f"{names[0]}.jpg", ir_dir / f"{names[0]}.jpg",
                          "-o", folder, "--method", "average", *overwrite]),
                    str(folder), "is a folder", "fused.png")


def test_color_ir_with_gray_visible_gets_a_swapped_note(pairs, tmp_path):
    vi_dir, ir_dir, names = pairs
    out = tmp_path / "f.png"
    gray_vis = tmp_path / "gray.png"
    cv2.imwrite(str(gray_vis), cv2.imread(str(vi_dir / f"{names[0]}.jpg"), cv2.IMREAD_GRAYSCALE))
    # The user passes the color visible frame as IR and the gray thermal frame as visible.
    result = run(["fuse", ir_dir / f"{names[0]}.jpg", vi_dir / f"{names[0]}.jpg", "-o", out,
                   "--method", "average"])
    assert result.exit_code == 0, result.output
    assert "look swapped" in result.stderr
    # The right order, and two gray images, get no such note.
    for vis, ir in ((vi_dir / f"{names[0]}.jpg", ir_dir / f"{names[0]}.jpg"),
                    (gray_vis, ir_dir / f"{names[0]}.jpg")):
        result = run(["fuse", vis, ir, "-o", out, "--method", "average", "--overwrite"])
        assert result.exit_code == 0 and "swapped" not in result.stderr


def test_folder_of_mixed_ratios_writes_manifest_and_names_both_presets(pairs, tmp_path):
    vi_dir, ir_dir, names = pairs
    small = cv2.imread(str(ir_dir / f"{names[1]}.jpg"), cv2.IMREAD_GRAYSCALE)
    (ir_dir / f"{names[1]}.jpg").unlink()
    h, w = small.shape
    cv2.imwrite(str(ir_dir / f"{names[1]}.png"), cv2.resize(small, (w // 4, h // 4),
                                                              interpolation=cv2.INTER_AREA))
    out = tmp_path / "fused"
    result = run(["fuse", "--vis-dir", vi_dir, "--ir-dir", ir_dir, "--out-dir", out])
    assert result.exit_code == 0, (result.output, result.exception)
    assert "ddcgan-ir-vis x 1" in result.stdout and "ddcgan-ir-vis-x4 x 1" in result.stdout
    assert "--preset NAME keeps one" in result.stdout
    # Not a terminal: one line per image on stderr, no progress bar.
    assert "fusing 1/2" in result.stderr and "fusing 2/2" in result.stderr
    with open(out / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["fused"] for r in rows] == [str(out / f"{n}.png") for n in names]
    assert [r["method"] for r in rows] == ["ddcgan-ir-vis", "ddcgan-ir-vis-x4"]
    assert float(rows[0]["size_ratio"]) == pytest.approx(1.0)
    assert float(rows[1]["size_ratio"]) == pytest.approx(4.0, abs=0.1)
    assert "luminance" in rows[0]["notes"] or rows[0]["notes"] == ""
    # A second run refuses the manifest like any other existing output.
    again = run(["fuse", "--vis-dir", vi_dir, "--ir-dir", ir_dir, "--out-dir", out,
                  "--preset", "ddcgan-ir-vis"])
    one_line_error(again, "already exists")
    # With --preset, one model serves the folder.
    result = run(["fuse", "--vis-dir", vi_dir, "--ir-dir", ir_dir, "--out-dir", out,
                   "--preset", "ddcgan-ir-vis-x4", "--overwrite"])
    assert result.exit_code == 0 and "ddcgan-ir-vis-x4 x 2" in result.stdout
    assert "keeps one" not in result.stdout
    assert np.all([(out / f"{n}.png").exists() for n in names])


def _medical_pair(shared_data, tmp_path):
    folder = shared_data / "mri_pet42"
    name = sorted(p.name for p in (folder / "MRI").iterdir())[0]
    gray = tmp_path / "ct.png"  # a gray second image, as a CT is
    cv2.imwrite(str(gray), cv2.imread(str(folder / "PET" / name), cv2.IMREAD_GRAYSCALE))
    return folder / "MRI" / name, folder / "PET" / name, gray


def test_gray_second_image_for_a_pet_preset_gets_a_note(shared_data, tmp_path):
    mri, pet, gray = _medical_pair(shared_data, tmp_path)
    result = run(["fuse", mri, gray, "-o", tmp_path / "f.png", "--preset", "ddcgan-mri-pet-x4"])
    assert result.exit_code == 0, result.output
    assert "trained on color PET" in result.stderr and "--modality mri-ct" in result.stderr
    result = run(["fuse", mri, pet, "-o", tmp_path / "g.png", "--preset", "ddcgan-mri-pet-x4"])
    assert result.exit_code == 0 and "trained on" not in result.stderr


def test_ct_goes_to_its_own_preset(shared_data, tmp_path):
    mri, _, gray = _medical_pair(shared_data, tmp_path)
    result = run(["fuse", mri, gray, "-o", tmp_path / "f.png", "--modality", "mri-ct"])
    assert result.exit_code == 0, result.output
    assert "with ddcgan-mri-ct\n" in result.stdout and "trained on" not in result.stderr
    assert read_image(tmp_path / "f.png").ndim == 2             # both gray: the result is gray
    # Without --modality a gray slice beside an MRI is told as a CT by its content.
    result = run(["fuse", mri, gray, "-o", tmp_path / "g.png"])
    assert result.exit_code == 0 and "with ddcgan-mri-ct\n" in result.stdout, result.output


def test_spect_goes_to_its_own_preset(shared_data, tmp_path):
    folder = shared_data / "spect_mri_harvard" / "test"
    name = sorted(p.name for p in (folder / "MRI").iterdir())[0]
    result = run(["fuse", folder / "MRI" / name, folder / "SPECT" / name, "-o", tmp_path / "f.png",
                  "--modality", "mri-spect"])
    assert result.exit_code == 0, result.output
    assert "ddcgan-mri-spect" in result.stdout and "not with" not in result.stderr
    # Without --modality the SPECT/ folder says what the second image is.
    result = run(["fuse", folder / "MRI" / name, folder / "SPECT" / name, "-o", tmp_path / "g.png"])
    assert result.exit_code == 0, result.output
    assert "ddcgan-mri-spect" in result.stdout and "fused as mri-spect" in result.stderr
    assert np.array_equal(cv2.imread(str(tmp_path / "f.png")), cv2.imread(str(tmp_path / "g.png")))


def test_evaluate_compares_several_fused_folders(pairs, tmp_path):
    vi_dir, ir_dir, names = pairs
    for method in ("average", "laplacian"):
        result = run(["fuse", "--vis-dir", vi_dir, "--ir-dir", ir_dir, "--out-dir",
                       tmp_path / method, "--method", method, "--gray"])
        assert result.exit_code == 0, result.output
    markdown, figure, table = tmp_path / "rank.md", tmp_path / "rank.png", tmp_path / "rank.csv"
    result = run(["evaluate", "fusion", "--ir-dir", ir_dir, "--vis-dir", vi_dir,
                   "--fused-dir", f"avg={tmp_path / 'average'}", "--fused-dir", tmp_path / "laplacian",
                   "--markdown", markdown, "--figure", figure, "--csv", table])
    assert result.exit_code == 0, (result.output, result.exception)
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["method", "EN"]
    assert lines[2].startswith("avg ") and lines[3].startswith("laplacian ")
    assert "means over 2 images" in result.stdout
    text = markdown.read_text()
    assert "| `avg` |" in text and "| `laplacian` |" in text
    rows = list(csv.DictReader(open(table)))
    assert {(r["method"], r["image"]) for r in rows} == {
        (m, i) for m in ("avg", "laplacian") for i in names + ["mean"]}
    assert figure.stat().st_size > 1000
    # The Laplacian pyramid beats averaging on Qabf on real pairs: the table ranks them.
    qabf = {r["method"]: float(r["Qabf"]) for r in rows if r["image"] == "mean"}
    assert qabf["laplacian"] > qabf["avg"]
    # A folder that misses a pair is refused, naming it.
    (tmp_path / "laplacian" / f"{names[1]}.png").unlink()
    one_line_error(run(["evaluate", "fusion", "--ir-dir", ir_dir, "--vis-dir", vi_dir,
                          "--fused-dir", tmp_path / "average", "--fused-dir", tmp_path / "laplacian"]),
                    "laplacian")
    one_line_error(run(["evaluate", "fusion", "--ir-dir", ir_dir, "--vis-dir", vi_dir,
                          "--fused-dir", tmp_path / "average", "--fused-dir",
                          f"average={tmp_path / 'laplacian'}"]), "two folders named average")
