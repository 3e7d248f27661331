"""`tf-irgan evaluate fusion|translation` on real TNO pairs copied into tmp folders."""

import csv
import json
import shutil

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tf_irgan.baselines import average
from tf_irgan.cli.main import cli
from tf_irgan.images import read_image, to_gray, write_image
from tf_irgan.metrics import METRIC_NAMES, TRANSLATION_METRIC_NAMES, fusion_metrics
from tf_irgan.metrics.evaluate import evaluate_fusion_dirs

NAMES = ("07", "19", "20")  # the three smallest TNO pairs (256x256, 360x270)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def triples(tmp_path, shared_data):
    """ir/, vi/ with real TNO pairs and fused/ with their average, same file names."""
    folders = {role: tmp_path / role for role in ("ir", "vi", "fused")}
    for folder in folders.values():
        folder.mkdir()
    for name in NAMES:
        for role in ("ir", "vi"):
            shutil.copy(shared_data / "tno" / role / f"{name}.png", folders[role])
        vis = to_gray(read_image(folders["vi"] / f"{name}.png"))
        ir = to_gray(read_image(folders["ir"] / f"{name}.png"))
        write_image(folders["fused"] / f"{name}.png", average(vis, ir))
    return folders


def _fusion_args(folders):
    return ["evaluate", "fusion", "--ir-dir", str(folders["ir"]), "--vis-dir", str(folders["vi"]),
            "--fused-dir", str(folders["fused"])]


def _run(args):
    return CliRunner().invoke(cli, args)


def _assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


# ---------------------------------------------------------------- fusion

def test_fusion_writes_every_output(triples, tmp_path):
    outputs = {kind: tmp_path / "out" / f"scores.{kind}" for kind in ("json", "csv", "md", "png")}
    result = _run(_fusion_args(triples) + ["--json", str(outputs["json"]), "--csv", str(outputs["csv"]),
                                           "--markdown", str(outputs["md"]), "--figure", str(outputs["png"])])
    assert result.exit_code == 0, result.output
    table = result.stdout.splitlines()
    assert table[0].split() == ["image", *METRIC_NAMES]
    assert any(line.startswith("mean") for line in table)

    report = json.loads(outputs["json"].read_text())
    assert {"mean", "per_image", "conventions"} <= set(report)
    assert list(report["mean"]) == list(METRIC_NAMES)
    assert sorted(report["per_image"]) == list(NAMES)
    for scores in report["per_image"].values():
        assert list(scores) == list(METRIC_NAMES)
    for name in METRIC_NAMES:   # undefined values (Noise without flat blocks) are null
        per_image = [report["per_image"][image][name] for image in NAMES]
        defined = [value for value in per_image if value is not None]
        assert report["mean"][name] == (pytest.approx(np.mean(defined)) if defined else None)
    assert "nats" in report["conventions"]["MI"]

    rows = list(csv.reader(outputs["csv"].open()))
    assert rows[0] == ["image", *METRIC_NAMES]
    assert [row[0] for row in rows[1:]] == [*NAMES, "mean"]

    markdown = outputs["md"].read_text()
    assert markdown.startswith("| Image | EN (bits) |")
    assert "**mean**" in markdown
    assert outputs["png"].read_bytes()[:8] == PNG_SIGNATURE


def test_fusion_values_match_the_library(triples):
    report = evaluate_fusion_dirs(triples["ir"], triples["vi"], triples["fused"])
    name = NAMES[1]
    ir = to_gray(read_image(triples["ir"] / f"{name}.png"))
    vis = to_gray(read_image(triples["vi"] / f"{name}.png"))
    fused = read_image(triples["fused"] / f"{name}.png")
    assert report["per_image"][name] == pytest.approx(fusion_metrics(ir, vis, fused), nan_ok=True)
    assert report["notes"] == {}


def test_fusion_resizes_sources_of_a_smaller_fused_image(triples, tmp_path):
    name = NAMES[1]  # 360x270 -> 180x135, same aspect ratio
    fused_path = triples["fused"] / f"{name}.png"
    small = cv2.resize(read_image(fused_path), (180, 135), interpolation=cv2.INTER_AREA)
    write_image(fused_path, small, overwrite=True)
    out = tmp_path / "scores.json"
    result = _run(_fusion_args(triples) + ["--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["conventions"]["resized_images"] == [name]
    assert "180x135" in report["notes"][name] and "INTER_AREA" in report["notes"][name]
    assert f"note: {name}" in result.stderr and f"note: {name}" not in result.stdout


def test_missing_partner(triples):
    (triples["fused"] / f"{NAMES[0]}.png").unlink()
    _assert_one_line_error(_run(_fusion_args(triples)), "no partner", f"{NAMES[0]}.png")


def test_aspect_ratio_mismatch_names_the_files(triples):
    name = NAMES[1]
    fused_path = triples["fused"] / f"{name}.png"
    write_image(fused_path, read_image(fused_path)[:200, :], overwrite=True)  # 360x270 -> 360x200
    _assert_one_line_error(_run(_fusion_args(triples)), "aspect ratio", str(fused_path),
                           str(triples["ir"] / f"{name}.png"))


def test_empty_folder(triples):
    for path in triples["fused"].iterdir():
        path.unlink()
    _assert_one_line_error(_run(_fusion_args(triples)), "contains no images", str(triples["fused"]))


def test_existing_output_needs_overwrite(triples, tmp_path):
    out = tmp_path / "scores.json"
    out.write_text("keep me")
    _assert_one_line_error(_run(_fusion_args(triples) + ["--json", str(out)]), "already exists", "--overwrite")
    assert out.read_text() == "keep me"
    result = _run(_fusion_args(triples) + ["--json", str(out), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert list(json.loads(out.read_text())["mean"]) == list(METRIC_NAMES)


def test_unsupported_figure_format(triples, tmp_path):
    _assert_one_line_error(_run(_fusion_args(triples) + ["--figure", str(tmp_path / "bars.gif")]), ".png")


# ---------------------------------------------------------------- translation

def _translation_args(folders, *extra):
    return ["evaluate", "translation", "--pred-dir", str(folders["fused"]),
            "--target-dir", str(folders["ir"]), *extra]


def test_translation_outputs(triples, tmp_path):
    outputs = {kind: tmp_path / f"translation.{kind}" for kind in ("json", "md", "png")}
    result = _run(_translation_args(triples, "--input-dir", str(triples["vi"]),
                                    "--json", str(outputs["json"]), "--markdown", str(outputs["md"]),
                                    "--figure", str(outputs["png"])))
    assert result.exit_code == 0, result.output

    report = json.loads(outputs["json"].read_text())
    assert list(report["mean"]) == list(TRANSLATION_METRIC_NAMES) == ["MAE", "MSE", "PSNR", "SSIM"]
    for scores in report["per_image"].values():
        assert list(scores) == list(TRANSLATION_METRIC_NAMES)
        assert 0.0 < scores["MAE"] < 1.0 and 0.0 < scores["MSE"] < scores["MAE"]

    lines = outputs["md"].read_text().splitlines()
    assert lines[0].startswith("| Number | MAE | MSE |")
    assert lines[2].startswith("| 1 |")
    assert lines[-1].startswith("| Mean |")
    assert outputs["png"].read_bytes()[:8] == PNG_SIGNATURE


def test_translation_of_identical_folders_is_perfect(triples, tmp_path):
    out = tmp_path / "same.json"
    args = ["evaluate", "translation", "--pred-dir", str(triples["ir"]), "--target-dir", str(triples["ir"]),
            "--json", str(out)]
    assert _run(args).exit_code == 0
    mean = json.loads(out.read_text())["mean"]
    assert mean["MAE"] == 0.0 and mean["MSE"] == 0.0 and mean["PSNR"] == 100.0
    assert mean["SSIM"] == pytest.approx(1.0)


def test_translation_missing_partner_in_input_dir(triples):
    (triples["vi"] / f"{NAMES[2]}.png").unlink()
    _assert_one_line_error(_run(_translation_args(triples, "--input-dir", str(triples["vi"]))),
                           "no partner", "input folder")
