"""Full disks and read-only targets (issue 30): every write ends in a one-line error naming the
target, leaves no partial file, and training stops at its last complete checkpoint and resumes.

The fast tier injects the failures (the OS's ENOSPC, h5py's and TensorFlow's wordings of it)
into writes; the slow tier trains (an injected full disk at a checkpoint, a damaged history on
resume) and fills a real 9 MB tmpfs where this machine lets a test mount one (root)."""

import errno
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tf_irgan.errors import UserError
from tf_irgan.files import atomic_path, write_failure
from tf_irgan.images import write_image

from cli_helpers import one_line_error, run


def _leftovers(folder: Path) -> list:
    return sorted(p.name for p in Path(folder).rglob("*") if p.name.endswith(".partial"))


@pytest.mark.parametrize("error", [
    OSError(errno.ENOSPC, "No space left on device"),
    OSError("Unable to synchronously create file (file write failed: time = Mon, errno = 28, "
            "error message = 'No space left on device')"),                      # h5py's wording
    RuntimeError("/x/saved_model.pb.tmp1; No space left on device"),            # TensorFlow's
])
def test_a_full_disk_is_one_line_naming_the_target_and_leaves_no_partial(tmp_path, error):
    target = tmp_path / "out" / "fused.png"
    with pytest.raises(UserError, match=r"out/fused.png: not written: the disk is full; nothing "
                                        r"of it was left there"):
        with atomic_path(target) as partial:
            partial.write_bytes(b"half an image")
            raise error
    assert not target.exists() and _leftovers(tmp_path) == []


def test_a_failure_inside_a_folder_being_written_names_the_folder(tmp_path):
    # A preset or a SavedModel is a folder written under a partial name; a file inside it that
    # meets the full disk must not send the user to a hidden path.
    from tf_irgan.files import write_bytes

    def fill(_):
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(UserError, match=r"^\S*served/1: not written: the disk is full"):
        with atomic_path(tmp_path / "served" / "1", folder=True) as partial:
            with atomic_path(partial / "assets.json") as inner:
                fill(inner)
    with pytest.raises(UserError, match=r"model: not written: the disk is full"):
        with atomic_path(tmp_path / "model", folder=True) as partial:
            write_bytes(partial / "config.json", b"{}")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert _leftovers(tmp_path) == [] and not (tmp_path / "model").exists()


def test_a_read_only_target_is_named_and_other_errors_pass_through(tmp_path):
    assert "cannot be written" in write_failure(OSError(errno.EROFS, "Read-only file system"))
    assert write_failure(ValueError("a bug")) is None
    with pytest.raises(ValueError, match="a bug"):   # not a disk problem: not disguised as one
        with atomic_path(tmp_path / "a.png") as partial:
            partial.write_bytes(b"x")
            raise ValueError("a bug")
    assert _leftovers(tmp_path) == []


def test_writing_an_image_on_a_full_disk(tmp_path, monkeypatch):
    def full(self, data):
        Path.open(self, "wb").write(data[:10])   # a part lands, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device", str(self))
    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(UserError, match="fused.png: not written: the disk is full"):
        write_image(tmp_path / "fused.png", np.zeros((16, 16), np.float32))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_training_stops_at_its_last_complete_checkpoint_and_resumes(tmp_path, monkeypatch,
                                                                    copy_roadscene):
    # The issue: a failed checkpoint left a 1 MB `.partial` that kept the disk full, and a
    # preset export on a full disk crashed the interpreter.
    import h5py

    from tf_irgan import checkpoints
    from tf_irgan.training import TrainOptions, train

    copy_roadscene(tmp_path / "data", 1)
    real_file, opened = h5py.File, []

    def file(name, mode="r", *args, **kwargs):
        if mode == "w":
            opened.append(name)
            if len(opened) == 2:   # the second checkpoint meets a full disk half way
                Path(name).write_bytes(b"\0" * 1000)
                raise OSError(f"Unable to synchronously create file (errno = 28, error message "
                              f"= 'No space left on device')")
        return real_file(name, mode, *args, **kwargs)
    monkeypatch.setattr(h5py, "File", file)
    options = dict(data=str(tmp_path / "data"), out=str(tmp_path / "run"), config="paper",
                   steps=3, batch_size=2, patch=32, stride=64, checkpoint_every=1)
    with pytest.raises(UserError, match=r"training stopped at batch 2: .*ckpt-2.h5: not written: "
                                        r"the disk is full.*the last complete checkpoint \(batch "
                                        r"1\) is kept; continue with --resume"):
        train(TrainOptions(**options, command="full"), verbose=False)
    assert _leftovers(tmp_path / "run") == []
    assert sorted(checkpoints.saved(tmp_path / "run" / "checkpoints")) == [1]
    monkeypatch.setattr(h5py, "File", real_file)   # space freed
    result = train(TrainOptions(**options, resume=True, command="resumed"), verbose=False)
    assert result.batches == 3 and (tmp_path / "run" / "model" / "metadata.json").exists()


# ---------------------------------------------------------------- a real full disk (slow)

@pytest.fixture
def small_disk(tmp_path):
    """A 9 MB tmpfs, mounted for the test and unmounted after; skipped where mounting is not
    allowed (not root, a container without the capability)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=9000k", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:   # lazily: a file a failed command left open must not keep the mount alive
        subprocess.run(["umount", "--lazy", str(mount)], capture_output=True)


def _fill(disk: Path, leave_kb: int):
    free = shutil.disk_usage(disk).free // 1024
    (disk / "fill").write_bytes(b"\0" * max(0, free - leave_kb) * 1024)


@pytest.mark.slow
def test_commands_on_a_really_full_disk(small_disk, shared_data, tmp_path):
    examples = Path(__file__).resolve().parents[1] / "examples"
    _fill(small_disk, 50)
    one_line_error(run(["fuse", examples / "vis.png", examples / "ir.png", "-o",
                        small_disk / "fused.png", "--method", "average"]),
                   "fused.png: not written: the disk is full")
    one_line_error(run(["export", "ddcgan-ir-vis", "-o", small_disk / "served"]),
                   "not written: the disk is full")
    # A video: OpenCV's writer says nothing when the disk fills; the frame count read back does.
    import cv2

    clips = []
    for name in ("vis", "ir"):
        clips.append(tmp_path / f"{name}.mkv")
        writer = cv2.VideoWriter(str(clips[-1]), cv2.VideoWriter_fourcc(*"FFV1"), 25, (160, 120))
        for t in range(10):
            writer.write(np.random.default_rng(t).integers(0, 255, (120, 160, 3), np.uint8))
        writer.release()
    one_line_error(run(["fuse", *clips, "-o", small_disk / "fused.mkv", "--method", "average"]),
                   "fused.mkv: not written")
    assert _leftovers(small_disk) == [] and not (small_disk / "fused.png").exists()
    assert [p.name for p in small_disk.iterdir()] == ["fill"]


@pytest.mark.slow
def test_training_on_a_really_full_disk_keeps_its_checkpoint_and_resumes(small_disk,
                                                                        copy_roadscene, tmp_path):
    vi_dir, _, _ = copy_roadscene(tmp_path / "data", 1)
    arguments = ["train", "--model", "ddcgan", "--config", "paper", "--data", vi_dir.parent,
                 "--steps", "3", "--checkpoint-every", "1", "--batch-size", "2", "--patch", "32",
                 "--stride", "64", "--out", small_disk / "run", "--quiet"]
    one_line_error(run(arguments), "the disk is full")   # one 9 MB checkpoint fits, not two
    assert _leftovers(small_disk) == []
    kept = sorted(p.name for p in (small_disk / "run" / "checkpoints").iterdir())
    assert kept == ["ckpt-1.h5"]
    # Space freed (here: the run moved to a disk with room), it resumes from batch 1.
    moved = shutil.copytree(small_disk / "run", tmp_path / "run")
    arguments[arguments.index(small_disk / "run")] = moved
    result = run(arguments + ["--resume"])
    assert result.exit_code == 0, result.output
    assert (moved / "model" / "metadata.json").exists()


@pytest.mark.slow
def test_a_damaged_history_is_said_and_kept_on_resume(tmp_path, copy_roadscene, capsys):
    # The issue: an empty history.csv silently dropped batches from the record on resume.
    from tf_irgan.training import TrainOptions, train

    copy_roadscene(tmp_path / "data", 1)
    options = dict(data=str(tmp_path / "data"), out=str(tmp_path / "run"), config="paper",
                   batch_size=2, patch=32, stride=64, checkpoint_every=1, log_every=1)
    train(TrainOptions(**options, steps=2, command="first"), verbose=False)
    history = tmp_path / "run" / "history.csv"
    history.write_text("batch,something else\n1,2\n")            # edited by hand
    capsys.readouterr()
    train(TrainOptions(**options, steps=3, resume=True, command="again"), verbose=False)
    said = capsys.readouterr().err
    assert "history.csv is missing, empty or not this run's" in said
    assert "history.csv.unreadable-2" in said
    assert (tmp_path / "run" / "history.csv.unreadable-2").read_text() == "batch,something else\n1,2\n"
    assert [line.split(",")[0] for line in history.read_text().splitlines()] == ["batch", "3"]


def test_a_history_row_the_disk_stopped_is_cut_off_and_named(tmp_path, monkeypatch):
    # history.csv grows by appends: one that fails half-way must not leave half a row behind.
    import csv

    from tf_irgan import training
    from tf_irgan.files import WriteFailed

    history = training.History(tmp_path / "history.csv", ["g_loss"], 0, True)
    history.add(1, {"g_loss": 1.5}, 1e-4, 2.0)
    whole = (tmp_path / "history.csv").read_text()

    class HalfWriter:
        def __init__(self, f):
            self.f = f

        def writerow(self, row):
            self.f.write("2,0.7")
            self.f.flush()
            raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(csv, "writer", HalfWriter)
    with pytest.raises(WriteFailed, match=r"history.csv: not written: the disk is full"):
        history.add(2, {"g_loss": 0.7}, 1e-4, 4.0)
    assert (tmp_path / "history.csv").read_text() == whole


def test_a_history_row_cut_short_is_dropped_on_resume(tmp_path):
    # A machine that stopped mid-append leaves a short last row; resuming keeps whole rows only.
    from tf_irgan import training

    path = tmp_path / "history.csv"
    path.write_text("batch,g_loss,learning_rate,seconds\n1,1.5,0.0001,2.0\n2,1.4,0.0001,4.0\n3\n")
    training.History(path, ["g_loss"], 3, True)
    assert [line.split(",")[0] for line in path.read_text().splitlines()] == ["batch", "1", "2"]
    assert _leftovers(tmp_path) == []
