"""`tf-irgan fuse | checkpoints | prepare | train` through Click's runner, on real RoadScene pairs
copied to tmp folders, with the tiny presets of conftest.py."""

import json

import cv2
import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from tf_irgan.cli.main import cli
from tf_irgan.images import read_image, to_gray, write_image


def _run(args, **kwargs):
    return CliRunner().invoke(cli, [str(a) for a in args], **kwargs)


def _ok(result):
    assert result.exit_code == 0, (result.output, result.exception)
    assert "Traceback" not in result.output
    return result


def _assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert str(fragment) in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture
def pairs(tmp_path, copy_roadscene):
    """Three real RoadScene pairs: vi/ (RGB JPEG) and ir/ (gray JPEG), same size."""
    vi_dir, ir_dir, names = copy_roadscene(tmp_path / "data", 3)
    return {"vi": vi_dir, "ir": ir_dir, "names": names,
            "vis": vi_dir / f"{names[0]}.jpg", "ir_file": ir_dir / f"{names[0]}.jpg"}


def _quarter(path, out):
    """The image at 1/4 size per side (area), as a PNG."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    small = cv2.resize(image, (image.shape[1] // 4, image.shape[0] // 4), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(out), small)
    return out


# ---------------------------------------------------------------- fuse

def test_fuse_single_pair_same_size(pairs, tiny_presets, tmp_path):
    out = tmp_path / "fused.png"
    result = _ok(_run(["fuse", pairs["vis"], pairs["ir_file"], "-o", out,
                       "--checkpoint", tiny_presets["x1"]]))
    assert f"wrote {out}" in result.stdout and "tiny-x1" in result.stdout
    fused = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    vis = cv2.imread(str(pairs["vis"]), cv2.IMREAD_UNCHANGED)
    assert fused.shape == vis.shape and fused.dtype == np.uint8  # color kept, visible size


def test_fuse_x4_with_quarter_ir_and_gray_16bit_output(pairs, tiny_presets, tmp_path):
    ir_small = _quarter(pairs["ir_file"], tmp_path / "ir_small.png")
    out = tmp_path / "fused.tif"
    _ok(_run(["fuse", pairs["vis"], ir_small, "-o", out, "--checkpoint", tiny_presets["x4"],
              "--gray", "--bit-depth", "16"]))
    fused = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    vis = cv2.imread(str(pairs["vis"]), cv2.IMREAD_UNCHANGED)
    assert fused.shape == vis.shape[:2] and fused.dtype == np.uint16


def test_fuse_note_for_inexact_ratio(tiny_presets, tmp_path):
    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / "v.png"), (rng.random((61, 97)) * 255).astype(np.uint8))
    cv2.imwrite(str(tmp_path / "i.png"), (rng.random((17, 27)) * 255).astype(np.uint8))
    result = _ok(_run(["fuse", tmp_path / "v.png", tmp_path / "i.png", "-o", tmp_path / "f.png",
                       "--checkpoint", tiny_presets["x4"]]))
    assert "note:" in result.stderr and "resampled" in result.stderr
    assert cv2.imread(str(tmp_path / "f.png"), cv2.IMREAD_UNCHANGED).shape == (61, 97)


def test_fuse_folder_mode(pairs, tiny_presets, tmp_path):
    out_dir = tmp_path / "fused"
    result = _ok(_run(["fuse", "--vis-dir", pairs["vi"], "--ir-dir", pairs["ir"], "--out-dir", out_dir,
                       "--checkpoint", tiny_presets["x1"]]))
    assert f"wrote 3 fused images to {out_dir} with tiny-x1 x 3;" in result.stdout
    assert sorted(p.name for p in out_dir.iterdir()) == sorted([f"{n}.png" for n in pairs["names"]]
                                                               + ["manifest.csv"])
    for name in pairs["names"]:
        vis = cv2.imread(str(pairs["vi"] / f"{name}.jpg"), cv2.IMREAD_UNCHANGED)
        assert cv2.imread(str(out_dir / f"{name}.png"), cv2.IMREAD_UNCHANGED).shape == vis.shape


def test_fuse_method_average(pairs, tmp_path):
    out = tmp_path / "avg.png"
    result = _ok(_run(["fuse", pairs["vis"], pairs["ir_file"], "-o", out, "--method", "average",
                       "--gray"]))
    assert "(average)" in result.stdout
    expected = (to_gray(read_image(pairs["vis"])) + read_image(pairs["ir_file"])) / 2
    np.testing.assert_allclose(read_image(out), expected, atol=1 / 255 + 1e-6)


def test_fuse_16bit_png_input_works(tiny_presets, tmp_path):
    rng = np.random.default_rng(1)
    cv2.imwrite(str(tmp_path / "v16.png"), (rng.random((48, 64)) * 65535).astype(np.uint16))
    cv2.imwrite(str(tmp_path / "i16.png"), (rng.random((48, 64)) * 65535).astype(np.uint16))
    result = _ok(_run(["fuse", tmp_path / "v16.png", tmp_path / "i16.png", "-o", tmp_path / "f.png",
                       "--checkpoint", tiny_presets["x1"]]))
    assert "Error" not in result.output
    assert cv2.imread(str(tmp_path / "f.png"), cv2.IMREAD_UNCHANGED).shape == (48, 64)


def test_fuse_overwrite_flag(pairs, tmp_path):
    out = tmp_path / "avg.png"
    out.write_bytes(b"old bytes")
    _ok(_run(["fuse", pairs["vis"], pairs["ir_file"], "-o", out, "--method", "average", "--overwrite"]))
    assert read_image(out).shape[:2] == read_image(pairs["vis"]).shape[:2]


def test_checkpoints_lists_presets(tiny_presets, monkeypatch):
    monkeypatch.setenv("TF_IRGAN_PRESETS", str(tiny_presets["dir"]))
    result = _ok(_run(["checkpoints"]))
    out = result.stdout
    assert "tiny-x4" in out and "tiny-x1" in out
    assert "scale 4x" in out and "scale 1x" in out
    assert str(tiny_presets["x4"]) in out


def test_fuse_by_preset_name(pairs, tiny_presets, tmp_path, monkeypatch):
    monkeypatch.setenv("TF_IRGAN_PRESETS", str(tiny_presets["dir"]))
    _ok(_run(["fuse", pairs["vis"], pairs["ir_file"], "-o", tmp_path / "f.png", "--checkpoint", "tiny-x1"]))
    assert (tmp_path / "f.png").is_file()


# ---------------------------------------------------------------- fuse: bad inputs

def test_error_missing_file(pairs, tmp_path):
    out = tmp_path / "out.png"
    missing = tmp_path / "missing.png"
    result = _run(["fuse", missing, pairs["ir_file"], "-o", out, "--method", "average"])
    _assert_one_line_error(result, missing, "not found")
    assert not out.exists()


def test_error_corrupt_image(pairs, tmp_path):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    out = tmp_path / "out.png"
    result = _run(["fuse", pairs["vis"], corrupt, "-o", out])
    _assert_one_line_error(result, corrupt)
    assert not out.exists()


def test_error_empty_folder(pairs, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _run(["fuse", "--vis-dir", empty, "--ir-dir", pairs["ir"], "--out-dir", tmp_path / "out"])
    _assert_one_line_error(result, empty)
    assert not (tmp_path / "out").exists()


def test_error_unmatched_names(pairs, tmp_path):
    (pairs["ir"] / f"{pairs['names'][1]}.jpg").rename(pairs["ir"] / "renamed.jpg")
    result = _run(["fuse", "--vis-dir", pairs["vi"], "--ir-dir", pairs["ir"], "--out-dir",
                   tmp_path / "out", "--method", "average"])
    _assert_one_line_error(result, f"{pairs['names'][1]}.jpg", "renamed.jpg", pairs["ir"])
    assert not (tmp_path / "out").exists()


def test_error_different_aspect_ratio(pairs, tmp_path):
    ir = cv2.imread(str(pairs["ir_file"]), cv2.IMREAD_UNCHANGED)
    squashed = tmp_path / "squashed.png"
    cv2.imwrite(str(squashed), cv2.resize(ir, (ir.shape[1] // 2, ir.shape[0])))
    out = tmp_path / "out.png"
    result = _run(["fuse", pairs["vis"], squashed, "-o", out])
    _assert_one_line_error(result, squashed, "aspect ratio")
    assert not out.exists()


def test_error_unsupported_ratio(pairs, tiny_presets, tmp_path):
    ir = cv2.imread(str(pairs["ir_file"]), cv2.IMREAD_UNCHANGED)
    tiny = tmp_path / "tenth.png"
    cv2.imwrite(str(tiny), cv2.resize(ir, (ir.shape[1] // 10, ir.shape[0] // 10)))
    out = tmp_path / "out.png"
    _assert_one_line_error(_run(["fuse", pairs["vis"], tiny, "-o", out]), tiny, "smaller")
    # A tenth given to a 4x model (a same-size IR is reduced 4x, with a note).
    _assert_one_line_error(_run(["fuse", pairs["vis"], tiny, "-o", out,
                                 "--checkpoint", tiny_presets["x4"]]), tiny, "trained for 4x")
    assert not out.exists()


def test_error_swapped_inputs(pairs, tmp_path):
    small_vis = _quarter(pairs["vis"], tmp_path / "small_vis.png")
    result = _run(["fuse", small_vis, pairs["ir_file"], "-o", tmp_path / "out.png"])
    _assert_one_line_error(result, pairs["ir_file"], "visible image first")


def test_error_output_exists_keeps_old_bytes(pairs, tmp_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    result = _run(["fuse", pairs["vis"], pairs["ir_file"], "-o", out, "--method", "average"])
    _assert_one_line_error(result, out, "--overwrite")
    assert out.read_bytes() == b"precious"
    # Folder mode checks every output before fusing any.
    out_dir = tmp_path / "outs"
    out_dir.mkdir()
    (out_dir / f"{pairs['names'][2]}.png").write_bytes(b"keep")
    result = _run(["fuse", "--vis-dir", pairs["vi"], "--ir-dir", pairs["ir"], "--out-dir", out_dir,
                   "--method", "average"])
    _assert_one_line_error(result, f"{pairs['names'][2]}.png")
    assert [p.name for p in out_dir.iterdir()] == [f"{pairs['names'][2]}.png"]
    assert (out_dir / f"{pairs['names'][2]}.png").read_bytes() == b"keep"


def test_error_usage(pairs, tmp_path):
    _assert_one_line_error(_run(["fuse", pairs["vis"], pairs["ir_file"]]), "-o")
    _assert_one_line_error(_run(["fuse", pairs["vis"], pairs["ir_file"], "-o", tmp_path / "o.png",
                                 "--vis-dir", pairs["vi"]]), "either")
    _assert_one_line_error(_run(["fuse", pairs["vis"], pairs["ir_file"], "-o", tmp_path / "o.png",
                                 "--checkpoint", tmp_path]), tmp_path, "config.json")


# ---------------------------------------------------------------- prepare and train

@pytest.fixture
def prepared(pairs, tmp_path):
    out = tmp_path / "patches.h5"
    result = _ok(_run(["prepare", "--vis-dir", pairs["vi"], "--ir-dir", pairs["ir"], "-o", out,
                       "--patch", 32, "--stride", 64, "--scale", 4, "--holdout-every", 3]))
    assert f"to {out}" in result.stdout and "held out" in result.stdout
    return out


def test_prepare_writes_hdf5(prepared, pairs):
    with h5py.File(prepared, "r") as f:
        assert f["detail"].shape[1:] == (32, 32) and f["intensity"].shape[1:] == (8, 8)
        assert len(f["detail"]) == len(f["intensity"]) == len(f["source"]) > 10
        assert json.loads(f.attrs["held_out"]) == [pairs["names"][2]]
        assert f.attrs["scale"] == 4


def test_prepare_refuses_existing_output(prepared, pairs):
    before = prepared.read_bytes()
    result = _run(["prepare", "--vis-dir", pairs["vi"], "--ir-dir", pairs["ir"], "-o", prepared])
    _assert_one_line_error(result, prepared, "--overwrite")
    assert prepared.read_bytes() == before


@pytest.mark.slow
def test_train_two_steps_then_refuse_existing_run(prepared, tmp_path):
    run_dir = tmp_path / "run"
    args = ["train", "--data", prepared, "--out", run_dir, "--steps", 2, "--batch-size", 2,
            "--patch", 32, "--checkpoint-every", 1, "--quiet"]
    result = _ok(_run(args))
    assert "done: 2 batches" in result.stdout
    assert {"run.json", "checkpoints", "logs", "model", "last_session.json"} <= \
        {p.name for p in run_dir.iterdir()}
    run = json.loads((run_dir / "run.json").read_text())
    assert run["config"]["patch"] == 32 and run["config"]["batch_size"] == 2
    assert (run_dir / "model" / "model.weights.h5").is_file()

    before = (run_dir / "run.json").read_bytes()
    _assert_one_line_error(_run(args), run_dir, "--resume")
    assert (run_dir / "run.json").read_bytes() == before

    # --resume continues to 3 batches.
    result = _ok(_run(["train", "--data", prepared, "--out", run_dir, "--steps", 3, "--resume",
                       "--quiet"]))
    assert "done: 3 batches" in result.stdout
    assert len(json.loads((run_dir / "run.json").read_text())["commands"]) == 2


def test_train_patch_size_must_match_the_file(prepared, tmp_path):
    result = _run(["train", "--data", prepared, "--out", tmp_path / "run", "--steps", 1, "--quiet"])
    _assert_one_line_error(result, prepared, "--patch 32")
    assert not (tmp_path / "run").exists()


def test_train_resume_on_empty_folder(prepared, tmp_path):
    (tmp_path / "empty").mkdir()
    result = _run(["train", "--data", prepared, "--out", tmp_path / "empty", "--resume", "--quiet"])
    _assert_one_line_error(result, tmp_path / "empty", "run.json")


def test_train_corrupt_hdf5(tmp_path):
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(np.random.default_rng(2).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    result = _run(["train", "--data", corrupt, "--out", tmp_path / "run", "--steps", 1,
                   "--patch", 32, "--quiet"])
    _assert_one_line_error(result, corrupt, "HDF5")
    assert not (tmp_path / "run").exists()


def test_train_wrong_layout_hdf5(tmp_path):
    wrong = tmp_path / "wrong.h5"
    with h5py.File(wrong, "w") as f:
        f.create_dataset("images", data=np.zeros((4, 32, 32), np.float32))
    result = _run(["train", "--data", wrong, "--out", tmp_path / "run", "--steps", 1, "--patch", 32,
                   "--quiet"])
    _assert_one_line_error(result, wrong, "images")
    assert not (tmp_path / "run").exists()


def test_train_scale_mismatch(prepared, tmp_path):
    result = _run(["train", "--data", prepared, "--out", tmp_path / "run", "--steps", 1,
                   "--patch", 32, "--scale", 1, "--quiet"])
    _assert_one_line_error(result, prepared, "--scale 4")


# ---------------------------------------------------------------- conventions

@pytest.mark.parametrize("name,args,fragment", [
    ("out.gif", [], "unsupported output format"),
    ("out.jpg", ["--bit-depth", "16"], "16-bit output needs .png or .tif"),
])
def test_output_format_is_checked_before_any_work(pairs, tmp_path, monkeypatch, name, args, fragment):
    import tf_irgan.pipelines.fusion as fusion

    def never(*a, **k):
        raise AssertionError("fused before the output path was checked")
    monkeypatch.setattr(fusion, "fuse_images", never)
    out = tmp_path / name
    result = _run(["fuse", pairs["vis"], pairs["ir_file"], "-o", out, *args])
    _assert_one_line_error(result, out, fragment)
    assert not out.exists()


def test_train_progress_goes_to_stderr_as_plain_lines(prepared, tmp_path):
    result = _ok(_run(["train", "--data", prepared, "--out", tmp_path / "run", "--steps", 4,
                       "--batch-size", 2, "--patch", 32, "--log-every", 2]))
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith("batch ")]
    assert [line.split()[1] for line in progress] == ["2/4", "4/4"]
    assert "d_detail_loss" in progress[0] and "s/batch" in progress[0]
    assert result.stdout.strip().splitlines() == [line for line in result.stdout.strip().splitlines()
                                                  if line.startswith("done: 4 batches")]


@pytest.mark.slow
def test_same_seed_gives_the_same_weights(prepared, tmp_path):
    """The same command run twice, in two processes as a user would (same --seed,
    --deterministic), ends with identical weights and losses."""
    import subprocess
    import sys

    from tf_irgan.presets import load_preset

    weights = []
    for run in ("a", "b"):
        proc = subprocess.run(
            [sys.executable, "-c", "from tf_irgan.cli.main import cli; cli()", "train",
             "--data", str(prepared), "--out", str(tmp_path / run), "--steps", "3",
             "--batch-size", "2", "--patch", "32", "--seed", "7", "--deterministic", "--quiet"],
            capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        weights.append([w.numpy() for w in load_preset(tmp_path / run / "model").model.weights])
    assert len(weights[0]) == len(weights[1]) > 10
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
    losses = [json.loads((tmp_path / run / "last_session.json").read_text())["losses"]
              for run in ("a", "b")]
    assert losses[0] == losses[1]


def test_old_spellings_work_but_leave_help():
    """One word per meaning: "preset" for saved models; the old spellings are hidden."""
    import re
    commands = re.findall(r"^  (\S+)", _ok(_run(["--help"])).stdout.split("Commands:")[1], re.M)
    assert "presets" in commands and "checkpoints" not in commands and "campaign" in commands
    for command, new, old in (("fuse", "--preset", "--checkpoint"), ("translate", "--preset", "--checkpoint"),
                              ("train", "--config", "--preset"), ("report", "--no-presets", "--no-checkpoints")):
        text = _ok(_run([command, "--help"])).stdout
        assert new in text and old not in text.replace(new, ""), command
    assert "PRESET" in _ok(_run(["export", "--help"])).stdout
    assert "--time-limit" in _ok(_run(["train", "--help"])).stdout


def test_model_options_come_from_the_models(tmp_path):
    """--scale is DDcGAN's, --direction pix2pix's: each refused with the other model, and run.json
    files written before 0.3 (with them as fields of their own) still read."""
    from tf_irgan.training import TrainOptions

    help_text = _ok(_run(["train", "--help"])).stdout
    assert "ddcgan: visible/IR size ratio" in help_text and "pix2pix: visible -> infrared" in help_text
    result = _run(["train", "--model", "ddcgan", "--direction", "ir2vis", "--data", tmp_path, "--out", tmp_path / "r"])
    _assert_one_line_error(result, "--direction is an option of --model pix2pix")
    result = _run(["train", "--model", "pix2pix", "--scale", "1", "--data", tmp_path, "--out", tmp_path / "r"])
    _assert_one_line_error(result, "--scale is an option of --model ddcgan")
    assert not (tmp_path / "r").exists()
    old = TrainOptions.from_dict({"data": "d", "out": "o", "scale": 1, "direction": None, "preset": "fast"})
    assert old.model_options == {"scale": 1} and old.config == "fast"


def test_inference_commands_on_another_keras_backend_are_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    vis = tmp_path / "v.png"
    write_image(vis, np.zeros((32, 32), np.float32))
    for args in (["fuse", vis, vis, "-o", tmp_path / "f.png"], ["translate", vis, "-o", tmp_path / "t.png"],
                 ["export", "pix2pix-vis2ir", "-o", tmp_path / "e"]):
        _assert_one_line_error(_run(args), "KERAS_BACKEND=jax", "TensorFlow backend")
    assert not any(p.name in ("f.png", "t.png", "e") for p in tmp_path.iterdir())


@pytest.mark.parametrize("command", ["fuse", "translate", "register"])
def test_an_input_is_never_an_output_even_with_overwrite(tmp_path, shared_data, command):
    import shutil
    from cli_helpers import one_line_error
    name = sorted(p.name for p in (shared_data / "roadscene" / "vi").iterdir())[0]
    vis, ir = tmp_path / "vis.jpg", tmp_path / "ir.jpg"
    shutil.copy(shared_data / "roadscene" / "vi" / name, vis)
    shutil.copy(shared_data / "roadscene" / "ir" / name, ir)
    (tmp_path / "link.jpg").symlink_to(vis)
    before = vis.read_bytes()
    inputs = [vis] if command == "translate" else [vis, ir]
    for output in (vis, tmp_path / "link.jpg"):
        result = CliRunner().invoke(cli, [command, *map(str, inputs), "-o", str(output),
                                          "--overwrite"])
        one_line_error(result, "is also an input")
    assert vis.read_bytes() == before


def test_a_nan_output_is_an_error_not_an_image(tmp_path, shared_data):
    """Bytes damaged inside a weight array (here: a kernel set to NaN): the result is refused,
    where it was written as a near-black image with exit 0."""
    import shutil
    from cli_helpers import one_line_error
    from tf_irgan.presets import resolve
    preset = shutil.copytree(resolve("ddcgan-ir-vis"), tmp_path / "damaged")
    meta = json.loads((preset / "metadata.json").read_text())
    del meta["sha256"]  # as a preset saved before 0.5: no digest catches it first
    (preset / "metadata.json").write_text(json.dumps(meta))
    with h5py.File(preset / "model.weights.h5", "r+") as f:
        kernels = []
        f.visititems(lambda name, item: kernels.append(name)
                     if isinstance(item, h5py.Dataset) and item.ndim == 4 else None)
        data = f[kernels[0]][()]
        data.flat[0] = np.nan
        f[kernels[0]][...] = data
    name = sorted(p.name for p in (shared_data / "tno" / "vi").iterdir())[0]
    result = CliRunner().invoke(cli, ["fuse", str(shared_data / "tno" / "vi" / name),
                                      str(shared_data / "tno" / "ir" / name), "-o",
                                      str(tmp_path / "fused.png"), "--preset", str(preset)])
    one_line_error(result, "NaN or infinite", "re-export or re-download")
    assert not (tmp_path / "fused.png").exists()


def test_a_nan_result_is_refused_before_it_is_written(tmp_path):
    from tf_irgan.errors import UserError
    from tf_irgan.presets import check_finite, read_preset, resolve
    preset = read_preset(resolve("ddcgan-ir-vis"))
    with pytest.raises(UserError, match="NaN or infinite values"):
        check_finite(np.array([[0.5, np.nan]]), preset, "vis.png")
    check_finite(np.array([[0.5, 1.0]]), preset, "vis.png")


@pytest.mark.parametrize("damage", ["bytes-start", "bytes-middle", "bytes-end", "truncated",
                                    "task-edited", "metadata-missing", "modality-edited"])
def test_a_damaged_shipped_preset_is_a_one_line_error(tmp_path, shared_data, damage):
    import shutil
    from cli_helpers import one_line_error
    from tf_irgan.presets import resolve
    preset = shutil.copytree(resolve("ddcgan-mri-pet-x4"), tmp_path / "damaged")
    weights = preset / "model.weights.h5"
    data = bytearray(weights.read_bytes())
    if damage.startswith("bytes"):
        at = {"bytes-start": 100, "bytes-middle": len(data) // 2, "bytes-end": len(data) - 50}[damage]
        data[at:at + 16] = np.random.default_rng(0).integers(0, 256, 16, dtype=np.uint8).tobytes()
        weights.write_bytes(bytes(data))
        expected = "SHA-256"
    elif damage == "truncated":
        weights.write_bytes(bytes(data[: len(data) // 3]))
        expected = "SHA-256"
    elif damage == "task-edited":
        config = json.loads((preset / "config.json").read_text())
        config["task"] = "translation"
        (preset / "config.json").write_text(json.dumps(config))
        expected = "SHA-256"
    elif damage == "modality-edited":   # would fuse MRI/PET as IR/visible: gray, no PET color
        meta = json.loads((preset / "metadata.json").read_text())
        meta["modality"] = "ir-vis"
        (preset / "metadata.json").write_text(json.dumps(meta))
        expected = "metadata.json: its modality or color_space field differs"
    else:
        (preset / "metadata.json").unlink()
        expected = "metadata.json: is missing"
    mri = shared_data / "mri_pet42" / "MRI"
    name = sorted(p.name for p in mri.iterdir())[0]
    result = CliRunner().invoke(cli, ["fuse", str(mri / name), str(shared_data / "mri_pet42" / "PET" / name),
                                      "-o", str(tmp_path / "fused.png"), "--preset", str(preset)])
    one_line_error(result, expected, "re-export or re-download")
    assert not (tmp_path / "fused.png").exists()


def test_an_edited_task_is_refused_without_a_digest(tmp_path):
    import shutil
    from tf_irgan.errors import UserError
    from tf_irgan.presets import load_preset, resolve
    preset = shutil.copytree(resolve("ddcgan-ir-vis"), tmp_path / "edited")
    meta = json.loads((preset / "metadata.json").read_text())
    del meta["sha256"]
    (preset / "metadata.json").write_text(json.dumps(meta))
    config = json.loads((preset / "config.json").read_text())
    config["task"] = "translation"
    (preset / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="does not fit its network"):
        load_preset(preset)


@pytest.mark.skipif(__import__("importlib").util.find_spec("torch") is not None,
                    reason="torch is installed here")
def test_a_backend_whose_package_is_missing_names_the_extra(tmp_path):
    import os
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-c", "from tf_irgan.cli.main import cli; cli()", "train",
                           "--data", str(tmp_path), "--out", str(tmp_path / "run")],
                          env=dict(os.environ, KERAS_BACKEND="torch"), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1 and 'tf-irgan[torch]' in lines[0], proc.stderr


def test_one_writer_per_folder_the_second_is_refused_with_the_holders_pid(tmp_path):
    import multiprocessing
    from tf_irgan.errors import UserError
    from tf_irgan.files import exclusive
    ready, release = multiprocessing.Event(), multiprocessing.Event()

    def hold():
        with exclusive(tmp_path / "out"):
            ready.set()
            release.wait(30)
    holder = multiprocessing.get_context("fork").Process(target=hold)
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(UserError, match=f"pid {holder.pid}"):
            with exclusive(tmp_path / "out"):
                pass
    finally:
        release.set()
        holder.join(30)
    with exclusive(tmp_path / "out"):  # free again once the holder is gone
        pass


def test_a_killed_holder_leaves_no_lock(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    code = ("import time; from tf_irgan.files import exclusive\n"
            f"with exclusive({str(tmp_path / 'out')!r}):\n    print('held', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    from tf_irgan.files import exclusive
    with exclusive(tmp_path / "out"):
        pass


@pytest.mark.parametrize("command", ["fuse", "translate", "train", "export"])
def test_a_busy_output_is_refused_by_every_writer(tmp_path, shared_data, command):
    from cli_helpers import one_line_error
    from tf_irgan.files import exclusive
    out = tmp_path / "out"
    road = shared_data / "roadscene"
    args = {"fuse": ["fuse", "--vis-dir", road / "vi", "--ir-dir", road / "ir", "--out-dir", out],
            "translate": ["translate", "--in-dir", road / "vi", "--out-dir", out],
            "train": ["train", "--data", road, "--out", out, "--steps", 1],
            "export": ["export", "ddcgan-ir-vis", "-o", out]}[command]
    with exclusive(out, folder=command != "train"):  # a run's lock sits beside its folder
        result = CliRunner().invoke(cli, [str(a) for a in args])
    one_line_error(result, "in use by another tf-irgan process", f"pid {__import__('os').getpid()}")
    assert not out.exists() or not any(out.iterdir())  # the holder's lock, gone with it


# A training-only install (no TensorFlow, the jax extra), simulated by an import hook that
# refuses `tensorflow` in a fresh interpreter.
_WITHOUT_TENSORFLOW = """
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Refuse())
from tf_irgan.cli.main import cli
cli.main(sys.argv[1:], prog_name="tf-irgan")
"""


def _without_tensorflow(args, **environment):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"} | environment
    return subprocess.run([sys.executable, "-c", _WITHOUT_TENSORFLOW, *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=300)


def test_help_and_messages_work_on_an_install_without_tensorflow(tmp_path):
    # The issue: on a JAX-only install `train --help` failed unless KERAS_BACKEND was set, and
    # `fuse` sent users in a circle (unset KERAS_BACKEND, then: TensorFlow is missing).
    done = _without_tensorflow(["train", "--help"])
    assert done.returncode == 0 and "--config" in done.stdout and "pyramid" in done.stdout, done.stderr
    assert _without_tensorflow(["--help"]).returncode == 0
    done = _without_tensorflow(["fuse", "a.png", "b.png", "-o", tmp_path / "f.png"],
                               KERAS_BACKEND="jax")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "pip install" in lines[0] and "tensorflow-cpu" in lines[0]
    assert "unset KERAS_BACKEND for them" not in lines[0]
