"""Video fusion speed, end to end: decode both streams, fuse, restore color, encode.

    python benchmarks/bench_video.py [--frames 60] [--sizes 640x480 1280x1024] [--codec mjpg|ffv1]
                                     [--also PRESET ...] [--write]

The clips are made here from a shared pair (TNO 10, 640x480, gray visible and IR; RoadScene
FLIR_00060 for color): a slow pan across the pair enlarged to twice the frame, 1 level of sensor
noise per frame, written as Motion JPEG (.avi), the stream USB and IP cameras send (`--codec
ffv1`: lossless FFV1 in .mkv, whose frames of sensor noise cost ~30x as much to decode: at
1280x1024 about as much as the whole fusion, so it measures the decoder more than the fusion).
Each row is one `tf-irgan fuse VIS IR -o OUT.mp4` through `tf_irgan.pipelines.video`
(the model loaded and traced once before the clock starts, as a live stream pays once),
measured in the same run as the still pairs' default preset (`ddcgan-ir-vis`) and the
classical Laplacian pyramid (`--method laplacian`, OpenCV's pyramids) on the same frames, so the
ratio between them holds on another machine. Also: `--register` (estimated once, re-checked
every 250 frames), and the frame-to-frame change over still regions (`metrics.temporal`) of the
fused stream against its inputs'.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from records import DOC, publish

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


CODECS = {"mjpg": ("MJPG", ".avi"), "ffv1": ("FFV1", ".mkv")}


def make_clip(folder: Path, vis: np.ndarray, ir: np.ndarray, size, frames: int, seed: int = 0,
              codec: str = "mjpg"):
    """Two clips of `frames` frames of `size` (w, h) panning across the pair."""
    fourcc, suffix = CODECS[codec]
    width, height = size
    big = (width * 2, height * 2)
    vis, ir = cv2.resize(vis, big, interpolation=cv2.INTER_CUBIC), cv2.resize(ir, big, interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(seed)
    paths = folder / f"vis-{width}x{height}{suffix}", folder / f"ir-{width}x{height}{suffix}"
    writers = [cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*fourcc), 25, size) for p in paths]
    for t in range(frames):
        x = int(round(t * (big[0] - width) / max(1, frames - 1) * 0.5))
        y = int(round(t * (big[1] - height) / max(1, frames - 1) * 0.25))
        for image, writer in zip((vis, ir), writers):
            crop = image[y:y + height, x:x + width].astype(np.float32)
            crop += rng.normal(0, 1.0, crop.shape)
            frame = np.clip(np.round(crop), 0, 255).astype(np.uint8)
            writer.write(frame if frame.ndim == 3 else np.repeat(frame[..., None], 3, axis=2))
    for writer in writers:
        writer.release()
    return paths


def run(vis_path, ir_path, out: Path, method: str, register: bool, preset: str | None = None):
    from tf_irgan.pipelines.video import FusionStream, fuse_videos

    # Warm: the model loaded and traced for this frame size (what a live stream pays once).
    capture = [cv2.VideoCapture(str(p)) for p in (vis_path, ir_path)]
    FusionStream(preset, method=method).fuse(*(c.read()[1] for c in capture))
    for c in capture:
        c.release()
    stream = FusionStream(preset, method=method, register=register)
    first = []   # when the first frame was fused: the rate after it leaves out the start-up
    start = time.perf_counter()
    record = fuse_videos(vis_path, ir_path, out, stream, overwrite=True,
                         progress=lambda done, *_: first.append(time.perf_counter()) if done == 1 else None)
    end = time.perf_counter()
    return record.frames / (end - start), (record.frames - 1) / (end - first[0]), record.flicker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--sizes", nargs="+", default=["640x480", "1280x1024"])
    parser.add_argument("--also", nargs="*", default=[], metavar="PRESET",
                        help="More presets (names or folders) to time on the same clips, a column each.")
    parser.add_argument("--codec", choices=sorted(CODECS), default="mjpg",
                        help="How the input clips are written: mjpg (a camera's stream, the "
                        "default) or ffv1 (lossless, a costly decode).")
    parser.add_argument("--write", action="store_true", help=f"Append the table to {DOC}.")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sources = {"TNO 10 (gray)": (args.data / "tno" / "vi" / "10.png", args.data / "tno" / "ir" / "10.png"),
               "RoadScene FLIR_00060 (color)": (args.data / "roadscene" / "vi" / "FLIR_00060.jpg",
                                                args.data / "roadscene" / "ir" / "FLIR_00060.jpg")}
    rows = ["| clip | size | tf-irgan (video default) frames/s | with --register | "
            "after the first frame: without / with --register | "
            "`ddcgan-ir-vis` (still default) frames/s | "
            + "".join(f"`{Path(preset).name}` frames/s | " for preset in args.also)
            + "Laplacian pyramid frames/s | video default / pyramid | "
            "still-region change: fused / visible / IR (levels) |",
            "|---|---|---|---|---|---|---|---|---|" + "---|" * len(args.also)]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for label, (vis_file, ir_file) in sources.items():
            vis = cv2.imread(str(vis_file), cv2.IMREAD_UNCHANGED)
            ir = cv2.imread(str(ir_file), cv2.IMREAD_GRAYSCALE)
            for text in args.sizes:
                size = tuple(int(v) for v in text.split("x"))
                vis_path, ir_path = make_clip(folder, vis, ir, size, args.frames, codec=args.codec)
                model, model_after, flicker = run(vis_path, ir_path, folder / "f.mp4", "ddcgan", False)
                registered, registered_after, _ = run(vis_path, ir_path, folder / "r.mp4", "ddcgan", True)
                still, _, _ = run(vis_path, ir_path, folder / "s.mp4", "ddcgan", False, "ddcgan-ir-vis")
                also = [run(vis_path, ir_path, folder / "a.mp4", "ddcgan", False, preset)[0]
                        for preset in args.also]
                pyramid, _, _ = run(vis_path, ir_path, folder / "l.mp4", "laplacian", False)
                change = " / ".join(f"{flicker[k] * 255:.2f}" for k in ("fused", "visible", "ir"))
                row = (f"| {label} | {text} | {model:.1f} | {registered:.1f} | "
                       f"{model_after:.1f} / {registered_after:.1f} | {still:.1f} | "
                       + "".join(f"{rate:.1f} | " for rate in also)
                       + f"{pyramid:.1f} | {model / pyramid:.2f} | {change} |")
                print(row, flush=True)
                rows.append(row)
    publish("Video fusion",
            f"Command: `python benchmarks/bench_video.py --frames {args.frames} --sizes "
            f"{' '.join(args.sizes)} --codec {args.codec}" + "".join(f" --also {p}" for p in args.also)
            + f"`; {args.frames} frames per clip ({CODECS[args.codec][0]} in "
            f"{CODECS[args.codec][1]}), end to end (decode, fuse, "
            "color, encode to MPEG-4), the model loaded and traced before the clock starts; "
            "\"after the first frame\": the rate from the first fused frame to the end, which "
            "leaves out --register's first estimate (a live stream pays it once).",
            rows, args.write)

if __name__ == "__main__":
    main()
