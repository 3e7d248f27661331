"""Peak memory of `tf-irgan fuse` on large images (issue 30: memory bounded by the work, not by
copies of the image).

    python benchmarks/bench_memory.py [--sizes 6000 12000] [--baseline DIR] [--write]

For each size N, a synthetic N x N pair (an 8-bit color visible image, an 8-bit gray IR of the
same size; smooth patterns and rectangles, so the PNGs stay small, the IR's rectangles moved) is
written to a temporary folder and fused by the CLI in a fresh process: with the default preset,
with it and `--register`, and with `--method average` (no model: what reading, color and writing
cost alone); with `--baseline DIR`, each also with the package of another checkout. The peak resident memory of each
child process comes from `os.wait4`, TensorFlow included. Measured in one run, so the ratio to
the image's own size (N^2 x 4 bytes: the color visible image and the gray IR in 8 bits)
carries to another machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from records import DOC, publish

REPO = Path(__file__).resolve().parents[1]


def make_pair(folder: Path, size: int) -> tuple[Path, Path]:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    level = (127 + 60 * np.sin(x / 150) + 40 * np.cos(y / 90)).astype(np.uint8)
    infrared = (127 + 80 * np.sin((x + y) / 200)).astype(np.uint8)
    del x, y
    # Rectangles with edges in both images, the IR's moved by 1 % of the size and of another
    # brightness: a scene `--register` can match (and must move back).
    rng, shift = np.random.default_rng(0), size // 100
    for _ in range(300):
        x0, y0 = (int(v) for v in rng.integers(0, size - size // 10, 2))
        w, h = (int(v) for v in rng.integers(size // 60, size // 12, 2))
        value = int(rng.integers(0, 256))
        cv2.rectangle(level, (x0, y0), (x0 + w, y0 + h), value, -1)
        cv2.rectangle(infrared, (x0 + shift, y0 - shift), (x0 + w + shift, y0 + h - shift),
                      255 - value, -1)
    visible = np.dstack([level, np.roll(level, 7, 1), np.roll(level, 13, 0)])
    paths = folder / f"vis{size}.png", folder / f"ir{size}.png"
    cv2.imwrite(str(paths[0]), visible, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    cv2.imwrite(str(paths[1]), infrared, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return paths


def peak_of(command: list, code: Path = REPO) -> tuple[float, float, int]:
    """(peak RSS MiB, seconds, exit code) of one child process running the package in `code`."""
    began = time.time()
    with tempfile.TemporaryFile() as errors:
        # From a folder of its own: `python -c` puts the working folder first on the path,
        # before PYTHONPATH, and a checkout there would be imported instead of `code`.
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors,
                                 env={**os.environ, "PYTHONPATH": str(code)},
                                 cwd=tempfile.gettempdir())
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            errors.seek(0)
            print(errors.read().decode(errors="replace").strip().splitlines()[-1:], flush=True)
    return usage.ru_maxrss / 1024, time.time() - began, child.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[6000, 12000])
    parser.add_argument("--write", action="store_true", help=f"Append the table to {DOC}.")
    parser.add_argument("--baseline", type=Path, help="Also run each case with the package from "
                        "this checkout (e.g. `git worktree add /tmp/base HEAD~1`), in the same run.")
    parser.add_argument("--make", nargs=2, metavar=("FOLDER", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        make_pair(Path(args.make[0]), int(args.make[1]))
        return
    cli = [sys.executable, "-c", "from tf_irgan.cli.main import cli; cli()", "fuse"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for size in args.sizes:
            # Made in a process of its own: a child forked from this one would start with this
            # one's resident memory (the pattern's float arrays), and wait4 would count it.
            subprocess.run([sys.executable, __file__, "--make", str(folder), str(size)], check=True)
            vis, ir = folder / f"vis{size}.png", folder / f"ir{size}.png"
            cases = (("ddcgan-ir-vis", []), ("ddcgan-ir-vis --register", ["--register"]),
                     ("--method average", ["--method", "average"]))
            for label, extra in cases:
                for code_label, path in (("this", REPO), ("baseline", args.baseline)):
                    if path is None:
                        continue
                    out = folder / f"fused{size}.png"
                    rss, seconds, code = peak_of(cli + [str(vis), str(ir), "-o", str(out),
                                                        "--overwrite", *extra], path)
                    image_mib = size * size * 4 / 2 ** 20
                    rows.append(f"| {size}x{size} | {label} | {code_label} | {code} | "
                                f"{seconds:.0f} | {rss:.0f} | {image_mib:.0f} | "
                                f"{rss / image_mib:.1f} |")
                    print(rows[-1], flush=True)
    baseline = f" --baseline {args.baseline}" if args.baseline else ""
    publish("Peak memory of `fuse` on large images",
            "Command: `python benchmarks/bench_memory.py --sizes "
            f"{' '.join(map(str, args.sizes))}{baseline}`. A color visible PNG and a gray IR PNG "
            "of the same size (edges in both, the IR's moved by 1 %), fused by the CLI in a fresh "
            "process; peak RSS from `os.wait4`, TensorFlow included. 'image MiB' is both inputs "
            "in 8 bits (N^2 x 4 bytes).",
            ["| size | method | code | exit | s | peak RSS MiB | image MiB | ratio |",
             "|---|---|---|---:|---:|---:|---:|---:|", *rows], args.write)

if __name__ == "__main__":
    main()
