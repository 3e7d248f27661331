"""Registration accuracy, refusals and speed on pairs warped by known deformations.

    python benchmarks/bench_registration.py [--data ../shared/data] [--write]

Test set (built here, fixed seeds): every shared IR/visible pair of the sets below has its IR
warped by `tf_irgan.data.warps.random_warp` (a perspective moving the corners 17 px on average
plus a smooth elastic part of 1 px RMS) at three sizes (the IR at 1x, 1/2 and 1/4 of the
visible size per side), then registered onto the untouched visible image.

- RoadScene held-out: the 18 pairs the fusion models never saw (the 10th, 20th, ... by name),
  FLIR camera.
- TNO: 25 pairs of other cameras (the fusion test set; nothing here was tuned on it after the
  first look recorded in docs/registration.md).

End-point error (EPE, per pair): the mean distance on the visible frame between where the
estimated homography and the truth put every 8th pixel of the warped IR. Two truths:
"edge-to-edge" takes the shared pair as perfectly registered; "relative" takes it as registered
by the method's own answer on the unwarped pair, which removes the pairs' own misregistration
(a few pixels, visible in docs/figures/registration.png) and measures how well the known
deformation is recovered. A refused pair counts as a failure (above 5 px).

Also: unrelated pairs (visible i with the IR of pair i + 7), which must all be refused; the
same visible image warped and registered onto itself (no cross-modal question: the method's own
floor); RoadScene's high-resolution visible frames with their IR (real, unknown transform: how
many register); the wall time per pair on this machine.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tf_irgan.data.warps import end_point_error, random_warp  # noqa: E402
from tf_irgan.errors import UserError  # noqa: E402
from tf_irgan.images import read_image, to_gray  # noqa: E402
from tf_irgan.registration import register  # noqa: E402

DOC = REPO / "docs" / "registration.md"
BEGIN, END = "<!-- bench_registration: begin -->", "<!-- bench_registration: end -->"
SCALES = (1.0, 0.5, 0.25)


def pairs(data: Path, name: str) -> list:
    folder = data / name
    names = sorted(p.name for p in (folder / "vi").iterdir())
    if name == "roadscene":
        names = names[9::10]   # the held-out pairs (`prepare --holdout-every 10`: 10th, 20th, ...)
    return [(n, to_gray(read_image(folder / "vi" / n)), to_gray(read_image(folder / "ir" / n)))
            for n in names]


def timed(vis, ir):
    start = time.perf_counter()
    try:
        result = register(vis, ir)
    except UserError:
        result = None
    return result, time.perf_counter() - start


def measure(found: list, seed: int) -> dict:
    rows = {scale: {"edge": [], "relative": [], "refused": 0, "seconds": []} for scale in SCALES}
    unrelated, unbased = 0, 0
    same = []
    for number, (name, vis, ir) in enumerate(found):
        base, _ = timed(vis, ir)
        unbased += base is None
        for scale in SCALES:
            rng = np.random.default_rng([seed, number, int(scale * 100)])
            warp = random_warp(ir, vis.shape, rng, displacement=17.0, elastic=1.0, out_scale=scale)
            result, seconds = timed(vis, warp.image)
            row = rows[scale]
            row["seconds"].append(seconds)
            if result is None:
                row["refused"] += 1
                row["edge"].append(np.inf)
                if base is not None:
                    row["relative"].append(np.inf)
                continue
            row["edge"].append(end_point_error(result.homography, warp, vis.shape))
            if base is not None:   # no relative truth where the unwarped pair was refused
                row["relative"].append(end_point_error(result.homography, warp, vis.shape,
                                                       base=base.homography))
        other = found[(number + 7) % len(found)][2]
        if timed(vis, other)[0] is not None:
            unrelated += 1
        warp = random_warp(vis, vis.shape, np.random.default_rng([seed, number]), 17.0, 0.0)
        result, _ = timed(vis, warp.image)
        same.append(end_point_error(result.homography, warp, vis.shape) if result else np.inf)
    return {"rows": rows, "unrelated": unrelated, "same": same, "count": len(found),
            "unbased": unbased}


def summary(errors) -> str:
    """Median, shares within 3 and 5 px, 90th percentile; a refused pair is an infinite error."""
    errors = np.asarray(errors)

    def px(value):
        return "refused" if np.isinf(value) else f"{value:.2f}"
    return (f"{px(np.median(errors))} | {np.mean(errors <= 3):.0%} | {np.mean(errors <= 5):.0%} | "
            f"{px(np.percentile(errors, 90, method='nearest'))}")


def real_high_resolution(data: Path) -> str:
    folder = data / "roadscene"
    names = sorted(p.name for p in (folder / "vi_hr").iterdir())
    accepted, seconds = 0, []
    for name in names:
        vis = to_gray(read_image(folder / "vi_hr" / name))
        result, took = timed(vis, to_gray(read_image(folder / "ir" / name)))
        accepted += result is not None
        seconds.append(took)
    return (f"RoadScene high-resolution visible frames (`vi_hr`, ~1400x1000) with their IR "
            f"(~500x330): {accepted} of {len(names)} registered; median {statistics.median(seconds):.2f} s "
            "per pair (the truth is unknown: see docs/figures/registration.png).")


def report(data: Path, seed: int) -> str:
    lines = ["| set | IR size | pairs | refused | EPE median (px) | <= 3 px | <= 5 px | 90th pct "
             "| relative EPE median | <= 3 px | <= 5 px | 90th pct | s / pair (median) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    extra = []
    for name, label in (("roadscene", "RoadScene held-out (FLIR)"), ("tno", "TNO (other cameras)")):
        measured = measure(pairs(data, name), seed)
        for scale in SCALES:
            row = measured["rows"][scale]
            lines.append(f"| {label} | {scale:g}x | {measured['count']} | {row['refused']} | "
                         f"{summary(row['edge'])} | {summary(row['relative'])} | "
                         f"{statistics.median(row['seconds']):.2f} |")
        extra.append(f"{label}: {measured['unbased']} unwarped pair(s) refused, so without a "
                     f"relative truth (the relative columns count {measured['count'] - measured['unbased']} "
                     f"pairs); unrelated pairs accepted {measured['unrelated']} of "
                     f"{measured['count']}; a visible image registered onto its own warped copy: "
                     f"median EPE {np.median(measured['same']):.2f} px (the elastic-free floor).")
    extra.append(real_high_resolution(data))
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {line}" for line in extra) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--write", action="store_true", help=f"Replace the results in {DOC}.")
    args = parser.parse_args()
    text = report(args.data, args.seed)
    print(text)
    if args.write:
        doc = DOC.read_text()
        if BEGIN not in doc or END not in doc:
            sys.exit(f"{DOC}: the markers {BEGIN} / {END} are missing")
        block = f"{BEGIN}\n{text}{END}"
        DOC.write_text(re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, doc,
                              flags=re.S))


if __name__ == "__main__":
    main()
