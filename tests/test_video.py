"""Video (issue 31): two streams fused frame by frame with one setting for the whole stream.

Clips are made here from a shared RoadScene pair (a slow pan, sensor noise per frame, the IR
warped by a known homography where registration is tested) and written with OpenCV, lossless
(FFV1 in .mkv) so a decoded frame is the frame that was written."""

import csv

import cv2
import numpy as np
import pytest

from tf_irgan.errors import UserError
from tf_irgan.pipelines.fusion import fuse_images
from tf_irgan.pipelines.video import FusionStream, fuse_videos

from cli_helpers import one_line_error, run

SIZE = (256, 192)   # w, h


@pytest.fixture(scope="module")
def pair(shared_data):
    vis = cv2.imread(str(shared_data / "roadscene" / "vi" / "FLIR_00122.jpg"))
    ir = cv2.imread(str(shared_data / "roadscene" / "ir" / "FLIR_00122.jpg"), cv2.IMREAD_GRAYSCALE)
    return vis, ir


def _frames(pair, count, pan=2, noise=1.0, seed=0, shift_ir=None):
    """(visible BGR frames, IR gray frames): crops panning right by `pan` px a frame, noise per
    frame; `shift_ir(t)` -> (dx, dy) moves the IR content (a known, pure translation)."""
    vis, ir = pair
    rng = np.random.default_rng(seed)
    w, h = SIZE
    out_vis, out_ir = [], []
    for t in range(count):
        x, y = 20 + t * pan, 30
        dx, dy = shift_ir(t) if shift_ir else (0, 0)
        v = vis[y:y + h, x:x + w].astype(np.float32) + rng.normal(0, noise, (h, w, 3))
        i = ir[y - dy:y - dy + h, x - dx:x - dx + w].astype(np.float32) + rng.normal(0, noise, (h, w))
        out_vis.append(np.clip(np.round(v), 0, 255).astype(np.uint8))
        out_ir.append(np.clip(np.round(i), 0, 255).astype(np.uint8))
    return out_vis, out_ir


def _write(path, frames, fps=25):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps,
                             (frames[0].shape[1], frames[0].shape[0]))
    for frame in frames:
        writer.write(frame if frame.ndim == 3 else np.repeat(frame[..., None], 3, axis=2))
    writer.release()
    return path


def _read(path):
    capture, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def test_two_videos_are_fused_frame_by_frame_as_still_pairs(pair, tmp_path):
    vis, ir = _frames(pair, 6)
    vis_path, ir_path = _write(tmp_path / "vis.mkv", vis), _write(tmp_path / "ir.mkv", ir)
    out = tmp_path / "fused.mkv"
    result = run(["fuse", vis_path, ir_path, "-o", out])
    assert result.exit_code == 0, result.output
    # Same-size video goes to the video preset (the still pairs' default is ddcgan-ir-vis).
    assert "with ddcgan-ir-vis-video (6 frames" in result.output and "frame-to-frame change" in result.output
    fused = _read(out)
    assert len(fused) == 6 and fused[0].shape == (SIZE[1], SIZE[0], 3)
    assert np.abs(fused[0][..., 0].astype(int) - fused[0][..., 2]).mean() > 2   # color kept
    for number in (0, 5):   # each frame is the still pair's fusion (lossless codec: 1 level;
        # where the scene is still the stream averages with the last frame: about the noise)
        still = fuse_images(vis[number][..., ::-1] / 255.0, ir[number] / 255.0, video=True).image
        expected = np.round(np.clip(still, 0, 1) * 255)[..., ::-1]
        assert np.abs(fused[number].astype(np.float32) - expected).mean() < 0.6
    rows = list(csv.DictReader((tmp_path / "fused.mkv.csv").open()))
    assert [int(r["frame"]) for r in rows] == list(range(6))
    assert float(rows[5]["seconds"]) == pytest.approx(5 / 25)
    # A cut and review panels.
    panels = tmp_path / "panels.avi"
    result = run(["fuse", vis_path, ir_path, "-o", panels, "--side-by-side", "--start", "2",
                  "--frames", "3", "--method", "average"])
    assert result.exit_code == 0, result.output
    frames = _read(panels)
    assert len(frames) == 3 and frames[0].shape == (SIZE[1], 3 * SIZE[0], 3)
    assert [r["frame"] for r in csv.DictReader((tmp_path / "panels.avi.csv").open())] == ["2", "3", "4"]


def test_registration_is_estimated_once_reused_and_re_estimated_after_a_jump(pair, monkeypatch):
    # The IR content is 9 px right and 6 px down of the visible one, then the camera is bumped
    # at frame 6 (18 px right, 12 up).
    from tf_irgan import registration

    vis, ir = _frames(pair, 9, pan=1, shift_ir=lambda t: (9, 6) if t < 6 else (18, -12))
    calls = []
    real = registration.register
    monkeypatch.setattr(registration, "register", lambda *a, **k: calls.append(1) or real(*a, **k))
    stream = FusionStream(method="average", register=True, recheck_every=3, check_lag=0)
    results = [stream.fuse(v, i) for v, i in zip(vis, ir)]
    assert len(calls) == 3                       # frames 0, 3, 6: estimated once, checked twice
    assert results[0].notes and "registration estimated" in results[0].notes[0]
    assert not any(r.notes for r in results[1:6])
    assert any("re-estimated" in note for note in results[6].notes)
    moved = [note for note in stream.notes if "re-estimated" in note]
    assert len(moved) == 1 and moved[0].startswith("frame 6:")
    point = np.array([[120.0, 90.0]])
    # IR pixel (x, y) shows what the visible frame has at (x - dx, y - dy).
    # (The registration of one 256x192 frame: within its ~2 px accuracy, docs/registration.md.)
    np.testing.assert_allclose(stream.registration.map_points(point), point - [18, -12], atol=2.5)
    assert all(0.5 < r.confidence <= 1 for r in results)


def test_later_estimates_run_beside_the_fusion_and_are_used_a_fixed_number_of_frames_on(
        pair, monkeypatch):
    # The same bump at frame 6; checks every 3 frames, each used 2 frames after the frame it
    # was made on, whatever its thread took: the same input gives the same output.
    import threading

    from tf_irgan import registration

    vis, ir = _frames(pair, 12, pan=1, shift_ir=lambda t: (9, 6) if t < 6 else (18, -12))
    threads = []
    real = registration.register
    monkeypatch.setattr(registration, "register",
                        lambda *a, **k: threads.append(threading.current_thread()) or real(*a, **k))
    stream = FusionStream(method="average", register=True, recheck_every=3, check_lag=2)
    results = [stream.fuse(v, i) for v, i in zip(vis, ir)]
    # Frame 0 waits for its estimate; the checks of frames 3, 6 and 9 run in threads of their own.
    assert len(threads) == 4 and threads[0] is threading.main_thread()
    assert all(t is not threading.main_thread() for t in threads[1:])
    moved = [note for note in stream.notes if "re-estimated" in note]
    assert len(moved) == 1 and moved[0].startswith("frame 8: registration re-estimated "
                                                   "(estimated on frame 6)")
    assert any("re-estimated" in note for note in results[8].notes)
    point = np.array([[120.0, 90.0]])
    np.testing.assert_allclose(stream.registration.map_points(point), point - [18, -12], atol=2.5)


def test_a_stream_that_does_not_register_retries_now_and_then_not_every_frame(pair, monkeypatch):
    from tf_irgan import registration
    from tf_irgan.pipelines.video import RETRY_EVERY

    vis, ir = _frames(pair, RETRY_EVERY + 3, pan=1)
    calls = []

    def refuse(*args, **kwargs):
        calls.append(1)
        raise registration.Refused("IR: not registered: too few edges match", "too few edges match")

    monkeypatch.setattr(registration, "register", refuse)
    stream = FusionStream(method="average", register=True, check_lag=1)
    results = [stream.fuse(v, i) for v, i in zip(vis, ir)]
    assert len(calls) == 2                       # frame 0 and frame RETRY_EVERY
    assert "not registered yet (too few edges match)" in results[0].notes[0]
    assert all(r.confidence is None for r in results)
    # Fused as they come: the same as a stream that does not register.
    plain = FusionStream(method="average")
    for result, v, i in zip(results, vis, ir):
        np.testing.assert_allclose(result.image, plain.fuse(v, i).image, atol=1e-6)


def test_the_fused_stream_flickers_no_more_than_its_inputs(pair, tmp_path):
    # A still scene, new sensor noise on every frame: levels set once for the stream.
    vis, ir = _frames(pair, 6, pan=0, noise=1.5)
    record = fuse_videos(_write(tmp_path / "v.mkv", vis), _write(tmp_path / "i.mkv", ir),
                         tmp_path / "f.mkv", FusionStream())
    change = record.flicker
    assert change["fused"] <= max(change["visible"], change["ir"]), change


def test_the_stream_takes_arrays_as_cameras_give_them(pair):
    vis, ir = _frames(pair, 1)
    stream = FusionStream(method="average")
    bgr = stream.fuse(vis[0], ir[0]).image
    rgb = FusionStream(method="average", rgb=True).fuse(vis[0][..., ::-1], ir[0]).image
    np.testing.assert_allclose(bgr, rgb, atol=1e-6)
    floats = FusionStream(method="average").fuse(vis[0][..., ::-1] / 255.0, ir[0] / 255.0).image
    np.testing.assert_allclose(bgr, floats, atol=1e-6)
    with pytest.raises(UserError, match="IR frame 0: float values must be finite"):
        FusionStream(method="average").fuse(vis[0], np.full(ir[0].shape, np.nan, np.float32))


def test_gray_video_through_a_lossy_codec_stays_gray(pair, tmp_path):
    # Motion JPEG (what USB and IP cameras send) gives gray frames back with channels a level or
    # two apart: still a gray IR, not a color one reduced to its luminance (a note, and time).
    vis, ir = _frames(pair, 2)
    path = tmp_path / "ir.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, SIZE)
    for frame in ir:
        writer.write(np.repeat(frame[..., None], 3, axis=2))
    writer.release()
    coded = _read(path)
    spread = np.abs(np.diff(coded[0].astype(int), axis=2)).max()
    assert 0 < spread <= 3   # what the rule is for: the codec moved the channels apart
    stream = FusionStream(method="average")
    assert stream.frame_array(coded[0], "IR").ndim == 2
    fused = stream.fuse(vis[0], coded[0])
    assert not any("IR" in note for note in fused.notes)
    np.testing.assert_allclose(fused.ir_on_frame, coded[0][..., 1] / 255.0, atol=1e-6)
    # Also under fixed bounds (mapped after the check, on one channel).
    bounded = FusionStream(method="average", ranges={"ir": "20,230"})
    assert bounded.frame_array(coded[0], "IR").ndim == 2
    # A frame whose channels differ by more than a codec's rounding keeps its color; after it,
    # only equal channels make a gray frame (a dim color scene does not flip to gray).
    tinted = np.repeat(ir[0][..., None], 3, axis=2).astype(np.int16)
    tinted[::7, ::5, 2] += 6
    assert stream.frame_array(np.clip(tinted, 0, 255).astype(np.uint8), "IR").ndim == 3
    assert stream.frame_array(coded[1], "IR").ndim == 3
    assert stream.frame_array(np.repeat(ir[1][..., None], 3, axis=2), "IR").ndim == 2


def test_streams_that_would_drift_apart_and_bad_files_are_refused(pair, tmp_path):
    vis, ir = _frames(pair, 4)
    vis_path = _write(tmp_path / "vis.mkv", vis)
    short = _write(tmp_path / "short.mkv", ir[:3])
    fast = _write(tmp_path / "fast.mkv", ir, fps=30)
    out = tmp_path / "out.mp4"
    one_line_error(run(["fuse", vis_path, short, "-o", out]), "holds 4 frames", "--frames N")
    assert run(["fuse", vis_path, short, "-o", out, "--frames", "3", "--method", "average"]).exit_code == 0
    out.unlink()
    (tmp_path / "out.mp4.csv").unlink()
    one_line_error(run(["fuse", vis_path, fast, "-o", out]), "30 frames/s", "ffmpeg", "-r 25")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    one_line_error(run(["fuse", vis_path, broken, "-o", out]), "broken.mp4", "cannot be read")
    one_line_error(run(["fuse", vis_path, tmp_path / "missing.mkv", "-o", out]), "not found")
    one_line_error(run(["fuse", vis_path, tmp_path / "x.png", "-o", out]), "must be a video too")
    one_line_error(run(["fuse", vis_path, short, "-o", tmp_path / "o.webm"]), "must be a video too")
    one_line_error(run(["fuse", vis_path, vis_path, "-o", vis_path, "--overwrite"]), "vis.mkv")
    one_line_error(run(["fuse", vis_path, short, "-o", out, "--start", "9"]), "--start 9")
    one_line_error(run(["fuse", vis_path, short, "-o", out, "--bit-depth", "16", "--stretch"]),
                   "--stretch, --bit-depth: not for videos yet")
    one_line_error(run(["fuse", vis_path, short, "-o", out, "--ir-range", "p1,p99"]),
                   "one mapping for all its frames")
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))


def test_an_interrupted_run_leaves_nothing_under_the_final_name(pair, tmp_path):
    vis, ir = _frames(pair, 6)
    out = tmp_path / "fused.mp4"

    def stop(done, total, rate):
        if done == 3:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        fuse_videos(_write(tmp_path / "v.mkv", vis), _write(tmp_path / "i.mkv", ir), out,
                    FusionStream(method="average"), progress=stop)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["i.mkv", "v.mkv"]


def test_evaluate_video_measures_flicker_against_the_inputs(pair, tmp_path):
    vis, ir = _frames(pair, 5, pan=0, noise=1.5)
    vis_path, ir_path = _write(tmp_path / "v.mkv", vis), _write(tmp_path / "i.mkv", ir)
    assert run(["fuse", vis_path, ir_path, "-o", tmp_path / "f.mkv", "--method", "average"]).exit_code == 0
    # A fusion that flickers: every other frame eight levels brighter.
    flickering = [np.clip(f.astype(int) + 8 * (t % 2), 0, 255).astype(np.uint8)
                  for t, f in enumerate(_read(tmp_path / "f.mkv"))]
    _write(tmp_path / "bad.mkv", flickering)
    result = run(["evaluate", "video", "--vis", vis_path, "--ir", ir_path,
                  "--fused", f"steady={tmp_path / 'f.mkv'}", "--fused", f"bad={tmp_path / 'bad.mkv'}"])
    assert result.exit_code == 0, result.output
    rows = {line.split("|")[1].strip(): float(line.split("|")[6]) for line in result.output.splitlines()
            if line.startswith("| steady") or line.startswith("| bad")}
    assert rows["steady"] <= 1.0 < 2.0 < rows["bad"], rows
    one_line_error(run(["evaluate", "video", "--vis", vis_path, "--ir", ir_path, "--fused",
                        tmp_path / "none.mkv"]), "none.mkv", "cannot be read")


def _write_frames(folder, frames, name="frame{}.png"):
    folder.mkdir(parents=True)
    for t, frame in enumerate(frames):
        cv2.imwrite(str(folder / name.format(t + 1)), frame)   # frame1 ... frame12: name order
    return folder


def test_frame_folders_are_fused_as_a_stream_into_a_video_or_frames(pair, tmp_path):
    """`--sequence`: numbered frames of two streams (natural name order: frame2 before
    frame10), the same stream settings as videos, written as a video or as frames named as the
    visible ones, with the per-frame CSV."""
    vis, ir = _frames(pair, 12)
    vis_dir = _write_frames(tmp_path / "vis", vis)
    ir_dir = _write_frames(tmp_path / "ir", ir)
    out = tmp_path / "fused.mkv"
    result = run(["fuse", "--vis-dir", vis_dir, "--ir-dir", ir_dir, "--sequence", "-o", out,
                  "--fps", "30"])
    assert result.exit_code == 0, result.output
    as_video = _read(out)
    assert len(as_video) == 12
    rows = list(csv.DictReader((tmp_path / "fused.mkv.csv").open()))
    assert float(rows[3]["seconds"]) == pytest.approx(3 / 30, abs=1e-3)
    frames = tmp_path / "fused"
    result = run(["fuse", "--vis-dir", vis_dir, "--ir-dir", ir_dir, "--sequence", "--out-dir", frames])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in frames.iterdir())
    assert names == sorted([f"frame{t}.png" for t in range(1, 13)] + ["frames.csv"])
    for number in (1, 10):   # name order, not text order: frame10 is the tenth frame
        written = cv2.imread(str(frames / f"frame{number}.png"))
        assert np.abs(written.astype(int) - as_video[number - 1]).mean() < 0.5
        still = fuse_images(vis[number - 1][..., ::-1] / 255.0, ir[number - 1] / 255.0,
                            video=True).image
        expected = np.round(np.clip(still, 0, 1) * 255)[..., ::-1]
        assert np.abs(written.astype(np.float32) - expected).mean() < 0.6
    assert not [p for p in tmp_path.iterdir() if ".partial" in p.name]
    # refusals: unequal lengths, a corrupt frame, an output inside an input, a still-only option
    (ir_dir / "frame12.png").unlink()
    one_line_error(run(["fuse", "--vis-dir", vis_dir, "--ir-dir", ir_dir, "--sequence",
                        "-o", tmp_path / "x.mkv"]), "--frames N")
    (ir_dir / "frame12.png").write_bytes(b"not a png")
    one_line_error(run(["fuse", "--vis-dir", vis_dir, "--ir-dir", ir_dir, "--sequence",
                        "-o", tmp_path / "y.mkv"]), "frame12.png: cannot be decoded")
    assert not (tmp_path / "y.mkv").exists() and not (tmp_path / "y.mkv.csv").exists()
    one_line_error(run(["fuse", "--vis-dir", vis_dir, "--ir-dir", ir_dir, "--sequence",
                        "--out-dir", vis_dir / "out"]), "input folder")
    one_line_error(run(["fuse", "--vis-dir", vis_dir, "--ir-dir", ir_dir, "--sequence",
                        "-o", tmp_path / "z.mkv", "--stretch"]), "not for videos yet")


def test_raw_16_bit_streams_get_one_mapping_from_their_first_frame(pair):
    """A thermal core's raw counts (7000-8530 of 0-65535): divided by 65535 they are nearly flat.
    By default (auto) the first frame's percentiles map every frame, noted once; fixed bounds map
    every frame the same way; `full` keeps the file's scale and says what that does."""
    vis, ir = _frames(pair, 2)
    raw = [(7000 + frame.astype(np.uint16) * 6).astype(np.uint16) for frame in ir]
    raw[1][:8] = 9000   # hotter than anything in the first frame: clipped, not re-stretched
    auto = FusionStream(method="average")
    auto.fuse(vis[0], raw[0])
    low, high = np.percentile(raw[0], (0.5, 99.5))
    assert [note for note in auto.notes if f"{low:.0f}-{high:.0f}" in note
            and "whole stream" in note]
    image = auto.frame_array(raw[1], "IR")
    assert np.allclose(image, np.clip((raw[1].astype(np.float32) - low) / (high - low), 0, 1),
                       atol=1e-5)
    assert len(auto.notes) == 1
    mapped = FusionStream(method="average", ranges={"ir": "7000,8530"})
    image = mapped.frame_array(raw[1], "IR")
    assert np.allclose(image, np.clip((raw[1].astype(np.float32) - 7000) / 1530, 0, 1), atol=1e-6)
    assert not mapped.notes
    # A flat first frame (a shutter's flat-field frame) does not set the stream's mapping.
    shutter = FusionStream(method="average")
    flat = np.full(raw[0].shape, 7600, np.uint16)
    assert np.allclose(shutter.frame_array(flat, "IR"), 7600 / 16383, atol=1e-6)   # 14-bit
    shutter.frame_array(raw[0], "IR")
    assert np.allclose(shutter.frame_array(raw[1], "IR"),
                       np.clip((raw[1].astype(np.float32) - low) / (high - low), 0, 1), atol=1e-5)
    assert any("flat IR frame" in note for note in shutter.notes)
    full = FusionStream(method="average", ranges={"ir": "full"})
    assert np.allclose(full.frame_array(raw[0], "IR"), raw[0] / 65535.0, atol=1e-6)
    assert any("--ir-range 7" in note and "nearly flat" in note for note in full.notes)
    with pytest.raises(UserError, match="one mapping for all its frames"):
        FusionStream(ranges={"ir": "p1,p99"})


def test_sequences_that_cannot_be_one_stream_are_refused_before_harm(pair, tmp_path):
    vis, ir = _frames(pair, 3)
    vis_dir = _write_frames(tmp_path / "data" / "vis", vis)
    ir_dir = _write_frames(tmp_path / "data" / "ir", ir)
    # an output folder holding the inputs would be replaced whole: refused, inputs kept
    for out in (tmp_path / "data", tmp_path):
        one_line_error(run(["fuse", "--vis-dir", vis_dir, "--ir-dir", ir_dir, "--sequence",
                            "--out-dir", out, "--overwrite"]), "holds the input frames")
        assert len(list(vis_dir.iterdir())) == 3
    # a frame of another size, two files for one frame
    cv2.imwrite(str(ir_dir / "frame2.png"), ir[1][:100])
    one_line_error(run(["fuse", "--vis-dir", vis_dir, "--ir-dir", ir_dir, "--sequence",
                        "-o", tmp_path / "a.mkv"]), "frame2.png: 256x100")
    cv2.imwrite(str(vis_dir / "frame1.jpg"), vis[0])
    one_line_error(run(["fuse", "--vis-dir", vis_dir, "--ir-dir", ir_dir, "--sequence",
                        "-o", tmp_path / "b.mkv"]), "two images named frame1")
    assert not list(tmp_path.glob("*.mkv*"))


def test_streams_at_different_rates_are_paired_by_time(pair, tmp_path):
    """--pair-by time: a 10 frames/s IR beside a 30 frames/s visible stream: each visible frame
    with the IR frame nearest in time (each IR frame serves three), fused as that still pair."""
    vis, _ = _frames(pair, 10, noise=0)
    _, ir = _frames(pair, 9, pan=6, noise=0)   # the IR pans as fast per frame: a third the rate
    ir = ir[:3]
    vis_path, ir_path = _write(tmp_path / "vis.mkv", vis, fps=30), _write(tmp_path / "ir.mkv", ir, fps=10)
    out = tmp_path / "fused.mkv"
    one_line_error(run(["fuse", vis_path, ir_path, "-o", out]), "30 frames/s", "--pair-by time")
    result = run(["fuse", vis_path, ir_path, "-o", out, "--pair-by", "time", "--method", "average"])
    assert result.exit_code == 0, result.output
    assert "paired by time: 9 visible frames with 3 IR frames" in result.output
    assert "visible frames left out, with no IR frame within reach: 1" in result.output
    assert "0 before the IR stream begins, 1 after it ends" in result.output
    rows = list(csv.DictReader((tmp_path / "fused.mkv.csv").open()))
    # visible t = 0, 1/30, ... 0.3; IR t = 0, 0.1, 0.2: the nearest, within 0.075 s (0.3 is not)
    assert [(int(r["frame"]), int(r["ir_frame"])) for r in rows] == [
        (0, 0), (1, 0), (2, 1), (3, 1), (4, 1), (5, 2), (6, 2), (7, 2), (8, 2)]
    fused = _read(out)
    assert len(fused) == 9
    for number, ir_number in ((2, 1), (7, 2)):
        still = fuse_images(vis[number][..., ::-1] / 255.0, ir[ir_number] / 255.0, method="average").image
        expected = np.round(np.clip(still, 0, 1) * 255)[..., ::-1]
        assert np.abs(fused[number].astype(np.float32) - expected).mean() < 0.6


def test_frame_folders_named_by_their_times_are_paired_by_time(pair, tmp_path):
    """Frame files named by times (a ROS export's nanoseconds, say): an IR stream that starts
    later and drops a frame; visible frames without an IR frame near them are left out, said."""
    vis, ir = _frames(pair, 10, noise=0)
    start = 1_650_000_000_000_000_000
    step = 40_000_000   # 25 frames/s in nanoseconds
    vis_dir = tmp_path / "vis"
    vis_dir.mkdir()
    for k, frame in enumerate(vis):
        cv2.imwrite(str(vis_dir / f"{start + k * step}.png"), frame)
    ir_dir = tmp_path / "ir"
    ir_dir.mkdir()
    for k in (2, 3, 4, 7, 8, 9):   # begins two frames late, 5 and 6 dropped; 3 ms of jitter
        cv2.imwrite(str(ir_dir / f"{start + k * step + 3_000_000}.png"), ir[k])
    out = tmp_path / "fused"
    result = run(["fuse", "--vis-dir", vis_dir, "--ir-dir", ir_dir, "--sequence", "--out-dir", out,
                  "--pair-by", "time", "--method", "average"])
    assert result.exit_code == 0, result.output
    assert "2 before the IR stream begins, 0 after it ends, 2 in its gaps" in result.output
    rows = list(csv.DictReader((out / "frames.csv").open()))
    assert [(int(r["frame"]), int(r["ir_frame"])) for r in rows] == [
        (2, 0), (3, 1), (4, 2), (7, 3), (8, 4), (9, 5)]
    written = cv2.imread(str(out / f"{start + 7 * step}.png"))
    still = fuse_images(vis[7][..., ::-1] / 255.0, ir[7] / 255.0, method="average").image
    assert np.abs(written.astype(np.float32) - np.round(np.clip(still, 0, 1) * 255)[..., ::-1]).mean() < 0.6
    # A frame whose name holds no time, and times that go back, are refused before any work.
    (ir_dir / "still.png").write_bytes((ir_dir / f"{start + 2 * step + 3_000_000}.png").read_bytes())
    one_line_error(run(["fuse", "--vis-dir", vis_dir, "--ir-dir", ir_dir, "--sequence", "-o",
                        tmp_path / "x.mkv", "--pair-by", "time"]), "still.png", "holds no number")
    (ir_dir / "still.png").rename(ir_dir / "a1.png")
    one_line_error(run(["fuse", "--vis-dir", vis_dir, "--ir-dir", ir_dir, "--sequence", "-o",
                        tmp_path / "x.mkv", "--pair-by", "time"]), "not after the frame before it")
    assert not (tmp_path / "x.mkv").exists()
