"""`tf-irgan report` on two pairs per set: baselines only, then with a tiny checkpoint."""

import json

import pytest
from click.testing import CliRunner

from tf_irgan.cli.main import cli
from tf_irgan.metrics import METRIC_NAMES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TABLE_HEADER = "| Method | IR input | " + " | ".join(METRIC_NAMES).replace("Clip", "Clip %") + " |"


def _run(args):
    return CliRunner().invoke(cli, ["report", *args])


def _figures(folder, sets):
    return [folder / "figures" / f"{key}_{kind}.png" for key in sets for kind in ("examples", "metrics")]


@pytest.mark.slow
def test_baselines_only(tmp_path, shared_data):
    output = tmp_path / "docs" / "results.md"
    result = _run(["--data-root", str(shared_data), "--output", str(output), "--limit", "2",
                   "--no-checkpoints"])
    assert result.exit_code == 0, result.output
    markdown = output.read_text()
    assert markdown.startswith("# Results")
    assert "--limit 2 --no-checkpoints" in markdown.splitlines()[2]
    assert markdown.count(TABLE_HEADER) == 2  # TNO and RoadScene; MRI-PET skipped
    for row in ("| average (baseline) | full |", "| max (baseline) |", "| laplacian (baseline) |",
                "| CDDFuse (published) |", "| U2Fusion (published) |", "| TarDAL (published) |",
                "| average (reference) |"):
        assert row in markdown
    assert "## TNO-25 (2 pairs)" in markdown
    assert "## RoadScene, held-out pairs (2 pairs)" in markdown
    assert "## MRI-PET-42\n\nSkipped:" in markdown
    for figure in _figures(output.parent, ("tno", "roadscene")):
        data = figure.read_bytes()
        assert data[:8] == PNG_SIGNATURE and len(data) < 300_000
        assert f"]({figure.relative_to(output.parent).as_posix()})" in markdown

    report = json.loads((output.parent / "results.json").read_text())
    assert report["sets"]["medical"]["skipped"]
    tno = report["sets"]["tno"]
    assert tno["pairs"] == ["01", "02"]
    assert list(tno["methods"]) == ["average", "max", "laplacian"]
    assert list(tno["methods"]["average"]["mean"]) == list(METRIC_NAMES)
    # RoadScene without checkpoints: every 10th pair by name is held out.
    assert report["sets"]["roadscene"]["pairs"] == ["FLIR_00548", "FLIR_01945"]

    again = _run(["--data-root", str(shared_data), "--output", str(output), "--limit", "1",
                  "--no-presets"])
    assert again.exit_code == 2
    assert again.stderr.strip().startswith("Error: ") and "already exists" in again.stderr
    assert "--limit 2" in output.read_text()  # nothing was replaced


@pytest.mark.slow
def test_tiny_checkpoint(tmp_path, shared_data, monkeypatch):
    pytest.importorskip("tensorflow")
    from tf_irgan.presets import save_preset
    from tf_irgan.models.ddcgan import Generator

    generator = Generator(scale=4, growth=4, dense_layers=1, decoder_filters=(8,))
    generator.build_for_inference()
    held_out = ["FLIR_01945", "FLIR_04319", "FLIR_04726"]
    save_preset(tmp_path / "presets" / "tiny-x4", generator, task="fusion",
                metadata={"preset": "official", "scale": 4, "data": "test",
                          "held_out": json.dumps(held_out)})
    monkeypatch.setenv("TF_IRGAN_PRESETS", str(tmp_path / "presets"))

    output = tmp_path / "results.md"
    work = tmp_path / "work"
    result = _run(["--data-root", str(shared_data), "--output", str(output), "--limit", "2",
                   "--methods", "tiny-x4,average,laplacian", "--sets", "tno,roadscene,medical",
                   "--work-dir", str(work)])
    assert result.exit_code == 0, result.output
    markdown = output.read_text()
    assert "| `tiny-x4` | 1/4 (block mean) |" in markdown
    # A 4x checkpoint brings the Laplacian pyramid given the same reduced IR beside it.
    assert "| laplacian-ir4 (baseline) | 1/4 (block mean, bicubic back up) |" in markdown
    assert "## Shipped checkpoints" in markdown and "| `tiny-x4` | fusion | 4x |" in markdown
    assert 'no selected checkpoint fuses MRI with PET' in markdown
    for figure in _figures(tmp_path, ("tno", "roadscene")):
        assert figure.read_bytes()[:8] == PNG_SIGNATURE
    report = json.loads((tmp_path / "results.json").read_text())
    # The RoadScene set is the checkpoint's own hold-out list (first two with --limit 2).
    assert report["sets"]["roadscene"]["pairs"] == held_out[:2]
    assert (work / "roadscene" / "tiny-x4" / "FLIR_04319.png").is_file()
    assert (work / "tno" / "tiny-x4" / "01.png").is_file()
    assert list(report["sets"]["tno"]["methods"]) == ["tiny-x4", "average", "laplacian", "laplacian-ir4"]
    assert report["sets"]["tno"]["methods"]["laplacian-ir4"]["scale"] == 4


def test_reduced_ir_baseline_sees_what_a_4x_model_sees(shared_data):
    """laplacian-ir4 = the Laplacian pyramid given the IR reduced 4x by block means and enlarged
    exactly 4x (bicubic) back onto the visible frame, for a size that is no multiple of 4."""
    import cv2
    import numpy as np

    from tf_irgan.baselines import METHODS
    from tf_irgan.images import read_image, to_gray
    from tf_irgan.report.catalogue import Method
    from tf_irgan.report.scoring import fuse_pair

    vis = to_gray(read_image(shared_data / "tno" / "vi" / "01.png"))[:190, :251]
    ir = to_gray(read_image(shared_data / "tno" / "ir" / "01.png"))[:190, :251]
    padded = np.pad(ir, ((0, 2), (0, 1)), mode="reflect")  # 192 x 252
    small = padded.reshape(48, 4, 63, 4).mean(axis=(1, 3))
    up = np.clip(cv2.resize(small, (252, 192), interpolation=cv2.INTER_CUBIC)[:190, :251], 0, 1)
    reduced = fuse_pair(Method.reduced_ir_baseline("laplacian", 4), vis, ir)
    expected = np.clip(METHODS["laplacian"](vis, up), 0, 1)
    np.testing.assert_allclose(reduced, expected, atol=1e-5)
    full = fuse_pair(Method("laplacian", "baseline", baseline="laplacian"), vis, ir)
    assert np.abs(full - reduced).mean() > 1e-3  # the reduced IR changes the result


def test_unknown_method_is_one_line(tmp_path, shared_data):
    result = _run(["--data-root", str(shared_data), "--output", str(tmp_path / "r.md"),
                   "--no-presets", "--methods", "average,nope"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "nope" in lines[0], result.stderr
    assert not (tmp_path / "r.md").exists()


def test_zoom_window_goes_where_the_edges_are():
    import numpy as np

    from tf_irgan.report.figures import _crop, detail_window

    image = np.zeros((120, 200), np.float32)
    image[80:110, 150:190] = np.indices((30, 40)).sum(axis=0) % 2  # a checkerboard, bottom right
    rows, cols = detail_window(image)
    assert rows.stop - rows.start == 30 and cols.stop - cols.start == 30  # a quarter of 120
    assert rows.start >= 60 and cols.start >= 130
    small = _crop(np.zeros((30, 50)), (rows, cols), image.shape)  # an IR at 1/4: the same place
    assert set(small.shape) <= {7, 8}
