"""Inference speed and memory: fuse one visible/IR pair through `tf_irgan.pipelines.fusion.fuse_images`.

    python benchmarks/bench_fuse.py --checkpoint ddcgan-ir-vis-x4 [--precisions fp32 bf16] [--runs 5] [--write]

The pair is TNO 10 (640x480, from the shared data folder) unless --vis/--ir are given; it is
resized to --width x --height when those differ. A checkpoint trained at scale s gets the IR
image reduced by s x s block means first, so nothing is resampled inside fuse_images.

Reported: the first call (preset load + graph tracing), the median and minimum wall time of
--runs further calls, achieved GFLOP/s = 2 * generator.macs_per_pixel() * pixels / median
(the nominal work for the output pixels; the overlap of inference tiles is extra, uncounted
work), and the process's peak resident memory (resource.getrusage, includes TensorFlow itself).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shlex
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DOC = REPO / "docs" / "benchmarks.md"
DOC_HEADER = """# Benchmarks

Appended by `python benchmarks/bench_fuse.py --write` and `python benchmarks/bench_train.py --write`
(see benchmarks/README.md). Each section names the machine, its load when measured, and the
command; numbers from a loaded machine are upper bounds on time.
"""


# ---------------------------------------------------------------- shared helpers (bench_train imports them)

def import_tensorflow(threads: int | None = None):
    """TensorFlow without its start-up chatter; optionally pinned to `threads` intra-op threads."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tf_irgan.cli.main import import_tensorflow_quietly
    import_tensorflow_quietly()
    import tensorflow as tf
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    return tf


def peak_rss_mib() -> float:
    """Peak resident set size of this process (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def machine() -> str:
    """One line: CPU model and cores, GPUs, load average, TensorFlow and Keras versions."""
    import keras
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    vector = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not vector:
                # One CPU name covers hosts with and without AVX-512/bf16: name what this one has.
                flags = set(line.split(":", 1)[1].split())
                wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
                vector = " (" + ", ".join(f for f in wanted if f in flags) + ")"
    except OSError:
        pass
    cpu += vector
    gpus = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        gpus.append(details.get("device_name", gpu.name))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (f"{cpu}, {os.cpu_count()} logical CPUs; GPU: {', '.join(gpus) or 'none'}; "
            f"load average {load}; TensorFlow {tf.__version__}, Keras {keras.__version__}")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def append_section(path: Path, title: str, body: str) -> Path:
    """Append `## title` + body to the benchmarks page (created with a header if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.exists() else DOC_HEADER
    path.write_text(text.rstrip() + f"\n\n## {title}\n\n{body.rstrip()}\n")
    return path


def publish(table: str, notes: str, write: bool, doc: Path, title: str):
    """Print the table and notes; with --write, append them to the benchmarks page."""
    print(table)
    print(notes)
    if write:
        heading = f"{title}, {time.strftime('%Y-%m-%d')}"
        print(f"appended to {append_section(doc, heading, table + chr(10) + notes)}")


def median_seconds(run, warmup: int, runs: int) -> float:
    """Median wall time of `runs` calls of `run()` after `warmup` untimed ones."""
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        run()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def command_line() -> str:
    return shlex.join(["python", *sys.argv])


# ---------------------------------------------------------------- the benchmark

def load_pair(vis_path, ir_path, width, height):
    import cv2

    from tf_irgan.images import read_image, to_gray

    vis, ir = to_gray(read_image(vis_path)), to_gray(read_image(ir_path))

    def fit(image):
        if image.shape == (height, width):
            return image
        shrink = image.shape[0] * image.shape[1] > width * height
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return fit(vis), fit(ir)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="ddcgan-ir-vis-x4",
                        help="shipped name or preset folder (default: %(default)s)")
    parser.add_argument("--vis", type=Path, help="visible image (default: TNO 10 from the shared data)")
    parser.add_argument("--ir", type=Path, help="IR image at the visible size (default: TNO 10)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--runs", type=int, default=5, help="timed calls after the warm-up (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls first (default 1)")
    parser.add_argument("--threads", type=int, help="TensorFlow intra-op threads (default: all cores)")
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "bf16"], default=["fp32"],
                        help="generator arithmetic, one row each, measured in turn in one process")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time the pipeline's stages: checks, IR alignment, the generator "
                             "on the whole padded image in one pass, the tiled pass, color")
    parser.add_argument("--write", action="store_true", help="append the table to docs/benchmarks.md")
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC, help="page for --write")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 1:
        parser.error("--runs and --warmup must be at least 1")

    from tf_irgan.report import default_data_root
    tno = default_data_root() / "tno"
    vis_path = args.vis or tno / "vi" / "10.png"
    ir_path = args.ir or tno / "ir" / "10.png"

    import_tensorflow(args.threads)
    from tf_irgan.presets import load_preset
    from tf_irgan.data.patches import downsample_area
    from tf_irgan.errors import UserError
    from tf_irgan.pipelines.fusion import fuse_images

    try:
        vis, ir_full = load_pair(vis_path, ir_path, args.width, args.height)
        preset = load_preset(args.checkpoint)
    except UserError as err:
        print(f"Error: {err}", file=sys.stderr)
        return 2
    scale = preset.scale
    if args.width % scale or args.height % scale:
        parser.error(f"--width/--height must be multiples of the checkpoint's scale {scale}")
    ir = downsample_area(ir_full, scale)
    pixels = args.width * args.height
    macs = preset.model.macs_per_pixel()

    rows = []
    for precision in args.precisions:
        began = time.perf_counter()
        load_preset(args.checkpoint, precision)
        load_seconds = time.perf_counter() - began

        def fuse():
            return fuse_images(vis, ir, checkpoint=args.checkpoint, gray=True, precision=precision)

        began = time.perf_counter()
        fuse()
        first = time.perf_counter() - began
        for _ in range(args.warmup - 1):
            fuse()
        times = []
        for _ in range(args.runs):
            began = time.perf_counter()
            fuse()
            times.append(time.perf_counter() - began)
        median = statistics.median(times)
        gflops = 2 * macs * pixels / median / 1e9
        rows.append([preset.name, precision, f"{args.width}x{args.height}", f"{ir.shape[1]}x{ir.shape[0]}",
                     str(args.runs), f"{load_seconds + first:.2f}", f"{median:.3f}", f"{min(times):.3f}",
                     f"{gflops:.1f}", f"{peak_rss_mib():.0f}"])

    header = ["checkpoint", "precision", "visible", "IR", "runs", "first call s", "median s", "min s",
              "GFLOP/s", "peak RSS MiB"]
    table = markdown_table(header, rows)
    info = machine()
    notes = (f"Machine: {info}.\n\nCommand: `{command_line()}`; input `{vis_path.name}` / `{ir_path.name}`"
             f"; {macs / 1e3:.1f} k multiply-adds per output pixel; first call = preset load "
             f"+ first fuse (the first precision's load also reads the files); peak RSS is the "
             f"process's so far; intra-op threads: {args.threads or 'default'}.\n")
    publish(table, notes, args.write, args.doc, "Fusion (inference)")
    if args.breakdown:
        stages = breakdown(preset, vis, ir, args.runs)
        total = stages["whole fuse_images (gray)"]
        rows = [[name, f"{seconds:.3f}", f"{100 * seconds / total:.1f} %"] for name, seconds in stages.items()]
        notes = ("Median of --runs calls per stage, in one process. \"tiled pass\" is what "
                 "`fuse_images` runs; its excess over the one-pass generator is the tiles' overlap; "
                 "\"color\" is putting the fused luminance back under an RGB visible image (YCbCr).\n")
        publish(markdown_table(["stage", "median s", "share of fuse_images"], rows), notes,
                args.write, args.doc, f"Fusion pipeline stages, {preset.name}, {args.width}x{args.height}")
    return 0


def breakdown(preset, vis, ir, runs: int) -> dict:
    """Median seconds of each stage of the fusion pipeline on one pair."""
    import numpy as np
    import tensorflow as tf

    from tf_irgan.color import replace_luma
    from tf_irgan.images import to_gray
    from tf_irgan.pipelines import fusion

    scale = preset.scale
    rgb = np.clip(np.stack([vis * 0.9, vis, vis * 1.1], axis=-1), 0, 1).astype(np.float32)
    aligned = fusion.align_ir(vis.shape, ir, scale, [])

    def whole_pass():
        padded = fusion.pad_to_multiple(tf.constant(vis[None, :, :, None]), scale)
        return preset.model({"detail": padded, "intensity": tf.constant(aligned[None, :, :, None])},
                            training=False).numpy()

    stages = {
        "checks (to_gray, aspect, ratio)": lambda: (to_gray(vis), to_gray(ir),
                                                    fusion.size_ratio(vis.shape, ir.shape)),
        "IR alignment (align_ir, TF ops)": lambda: fusion.align_ir(
            vis.shape, np.pad(ir, ((0, 1), (0, 1)), mode="edge"), scale, []),
        "generator, whole padded image, one pass": whole_pass,
        "generator, tiled pass (run_generator)": lambda: fusion.run_generator(preset.model, vis, aligned, scale),
        "color (replace_luma, YCbCr)": lambda: replace_luma(rgb, vis),
        "whole fuse_images (gray)": lambda: fusion.fuse_images(vis, ir, preset=str(preset.path), gray=True),
    }
    return {name: median_seconds(run, 1, runs) for name, run in stages.items()}


if __name__ == "__main__":
    sys.exit(main())
