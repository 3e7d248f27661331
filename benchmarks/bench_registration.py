"""Registration: aligned pairs kept, known warps recovered, confidence against error, speed.

    python benchmarks/bench_registration.py [--data ../shared/data]
                                            [--split report|tuning|validation]
                                            [--write] [--json FILE]

Splits of the shared IR/visible pairs (`tuning` and `report` fixed before any threshold was set):
- `tuning` (thresholds and the confidence curve were set on it, nothing is reported from it):
  every 4th RoadScene training pair (not the 10th, 20th, ... by name) and the odd TNO pairs.
- `validation` (session 14): the other RoadScene training pairs, three times as many. A change
  that gains on the tuning split must gain here too before the report split is run: gains of
  a few warps in a hundred on 54 pairs came and went with the pairs
  (`benchmarks/compare_registration.py` compares two runs pair by pair).
- `report` (the numbers in docs/registration.md): the 18 RoadScene pairs held out of every
  model's training (the 10th, 20th, ... by name; FLIR camera) and the 12 even TNO pairs (other
  cameras).

Every pair is used by day (as shared) and by night (`tf_irgan.data.warps.night`: the visible
image darkened with gamma 1.5 and x0.2, sensor noise, 8-bit again). Per pair and light:
- **Aligned**: the pair as its makers registered it, and the pair made aligned by its own
  registration (the IR resampled onto the visible frame by the transform found on the shared
  pair: a second registration must keep it, within 1 px of the identity). TNO's shared pairs are
  themselves off by several pixels (docs/registration.md), so only the second kind has a truth.
- **Warped**: the IR warped by a random perspective (corners moved 10-30 px, uniform) plus a
  smooth elastic part (1.5 px RMS), at 1x, 1/2 and 1/4 of the visible size per side.
  End-point error (EPE): mean distance on the visible frame between where the estimate and the
  truth put every 8th pixel of the warped IR. Truth "relative": the pair as registered by the
  method's own answer on the unwarped pair (which removes the pairs' own misregistration); the
  shared pair taken as aligned ("edge to edge") is given beside it. A refused pair counts as a
  failure (above 5 px). Pooled over the split, also against the "blocks'" truth: the unwarped
  pair as its own agreeing blocks register it (`Registration.blocks_homography`), which removes
  the misregistration the method leaves as it is (a move under 1.5 px, or one the tiles do not
  clearly ask for: the relative truth is then the edge-to-edge one).
- **Unrelated**: the visible image with another pair's IR: must be refused.
Also: the expected error and the confidence against the error found (rank correlation and a
table), the time per pair on this machine, and RoadScene's high-resolution visible frames with
their IR (real, unknown transform: how many register).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tf_irgan.data.warps import end_point_error, night, random_warp  # noqa: E402
from tf_irgan.errors import UserError  # noqa: E402
from tf_irgan.images import read_image, to_gray  # noqa: E402
from tf_irgan.registration import register, warp_onto  # noqa: E402

DOC = REPO / "docs" / "registration.md"
BEGIN, END = "<!-- bench_registration: begin -->", "<!-- bench_registration: end -->"
SCALES = (1.0, 0.5, 0.25)
LIGHTS = ("day", "night")
DISPLACEMENT = (10.0, 30.0)
ELASTIC = 1.5


def split_pairs(data: Path, split: str) -> dict:
    """{set label: [(name, vis, ir)]} of the split (gray, [0, 1])."""
    road = sorted(p.name for p in (data / "roadscene" / "vi").iterdir())
    tno = sorted(p.name for p in (data / "tno" / "vi").iterdir())
    training = [n for i, n in enumerate(road) if i % 10 != 9]
    if split == "report":
        chosen = {"RoadScene held-out (FLIR)": ("roadscene", road[9::10]),
                  "TNO even (other cameras)": ("tno", tno[1::2])}
    elif split == "validation":
        chosen = {"RoadScene training, not tuning (FLIR)":
                  ("roadscene", [n for i, n in enumerate(training) if i % 4])}
    else:
        chosen = {"RoadScene training (FLIR)": ("roadscene", training[::4]),
                  "TNO odd (other cameras)": ("tno", tno[0::2])}
    return {label: [(n, to_gray(read_image(data / folder / "vi" / n)),
                     to_gray(read_image(data / folder / "ir" / n))) for n in names]
            for label, (folder, names) in chosen.items()}


def timed(vis, ir):
    start = time.perf_counter()
    try:
        result = register(vis, ir)
    except UserError:
        result = None
    return result, time.perf_counter() - start


def identity_distance(homography, shape, step: int = 8) -> float:
    """Mean distance a homography moves every 8th pixel of a frame (same-size pairs)."""
    h, w = shape
    ys, xs = np.mgrid[0:h:step, 0:w:step]
    points = np.c_[xs.ravel(), ys.ravel(), np.ones(xs.size)] @ np.asarray(homography).T
    return float(np.linalg.norm(points[:, :2] / points[:, 2:] - np.c_[xs.ravel(), ys.ravel()],
                                axis=1).mean())


def measure(found: list, seed: int) -> dict:
    out = {light: {"shared": [], "made_aligned": [], "unrelated": 0,
                   "warps": {scale: [] for scale in SCALES}} for light in LIGHTS}
    seconds = []
    for number, (name, day_vis, ir) in enumerate(found):
        for light in LIGHTS:
            vis = day_vis if light == "day" else night(day_vis, number)
            row = out[light]
            base, took = timed(vis, ir)
            seconds.append(took)
            row["shared"].append(None if base is None else
                                 (base.model, identity_distance(base.homography, vis.shape)))
            if base is not None:
                aligned, _ = warp_onto(ir, base, fill=0.0)
                again, _ = timed(vis, aligned)
                row["made_aligned"].append(None if again is None else
                                           (again.model, identity_distance(again.homography,
                                                                           vis.shape)))
            for scale in SCALES:
                rng = np.random.default_rng([seed, number, int(scale * 100)])
                warp = random_warp(ir, vis.shape, rng, displacement=float(rng.uniform(*DISPLACEMENT)),
                                   elastic=ELASTIC, out_scale=scale)
                result, took = timed(vis, warp.image)
                seconds.append(took)
                if result is None:
                    row["warps"][scale].append(None)
                    continue
                relative = (end_point_error(result.homography, warp, vis.shape, base=base.homography)
                            if base is not None else None)
                blocks = (end_point_error(result.homography, warp, vis.shape,
                                          base=base.blocks_homography)
                          if base is not None and base.blocks_homography is not None else None)
                row["warps"][scale].append({
                    "edge": end_point_error(result.homography, warp, vis.shape),
                    "relative": relative, "blocks": blocks, "expected": result.expected_error,
                    "confidence": result.confidence, "model": result.model})
            other = found[(number + 7) % len(found)][2]
            row["unrelated"] += timed(vis, other)[0] is not None
    return {"lights": out, "count": len(found), "seconds": seconds}


def errors(entries, key) -> np.ndarray:
    """Per warped pair, the error under a truth; inf where refused, NaN without that truth."""
    return np.array([np.inf if e is None else (np.nan if e[key] is None else e[key])
                     for e in entries], dtype=np.float64)


def summary(values) -> str:
    """Median | <= 2 px | <= 5 px | 90th percentile, a refused pair being an infinite error."""
    values = values[~np.isnan(values)]
    if not len(values):
        return "- | - | - | -"

    def px(value):
        return "refused" if np.isinf(value) else f"{value:.2f}"
    return (f"{px(np.median(values))} | {np.mean(values <= 2):.0%} | {np.mean(values <= 5):.0%} | "
            f"{px(np.percentile(values, 90, method='nearest'))}")


def pooled(values) -> str:
    """Median, share within 2 px and within 5 px of a split's warps (no NaN; refused = inf)."""
    return (f"median {np.median(values):.2f} px, {np.mean(values <= 2):.0%} within 2 px, "
            f"{np.mean(values <= 5):.0%} within 5 px")


def calibration(pairs: list) -> list:
    """Lines: the rank correlation of the confidence (and of the expected error alone) with the
    error found, and the errors found per band of confidence."""
    from scipy.stats import spearmanr

    expected = np.array([p[0] for p in pairs])
    found = np.array([p[1] for p in pairs])
    confidence = np.array([p[2] for p in pairs])
    rho_expected = spearmanr(expected, found).statistic
    rho_confidence = spearmanr(-confidence, found).statistic
    lines = [f"Against the relative EPE found, over {len(pairs)} registered warps: Spearman rank "
             f"correlation {rho_confidence:.2f} for the confidence (falling as the error "
             f"grows), {rho_expected:.2f} for the expected error alone.",
             "| confidence | warps | EPE median (px) | over 3 px | over 5 px |",
             "|---|---|---|---|---|"]
    for low, high in ((0.5, 0.8), (0.8, 0.95), (0.95, 0.99), (0.99, 1.01)):
        band = (confidence >= low) & (confidence < high)
        if band.any():
            lines.append(f"| {low:.2f}-{min(high, 1):.2f} | {band.sum()} | "
                         f"{np.median(found[band]):.2f} | {np.mean(found[band] > 3):.0%} | "
                         f"{np.mean(found[band] > 5):.0%} |")
    return lines


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
            f"(~500x330): {accepted} of {len(names)} registered; median "
            f"{statistics.median(seconds):.2f} s per pair (the truth is unknown: see "
            "docs/figures/registration.png).")


def report(data: Path, seed: int, split: str, high_resolution: bool) -> tuple[str, dict]:
    lines = ["| set | light | IR size | warps | refused | relative EPE median (px) | <= 2 px | "
             "<= 5 px | 90th pct | edge-to-edge EPE median | <= 2 px | <= 5 px | 90th pct |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    aligned = ["| set | light | shared pairs kept as they are | moved, median (px) | refused | "
               "made-aligned pairs within 1 px of identity | refused | unrelated accepted |",
               "|---|---|---|---|---|---|---|---|"]
    every_relative, every_blocks, calibrated, seconds, raw = [], [], [], [], {}
    for label, found in split_pairs(data, split).items():
        measured = measure(found, seed)
        seconds += measured["seconds"]
        raw[label] = measured
        for light in LIGHTS:
            row = measured["lights"][light]
            for scale in SCALES:
                entries = row["warps"][scale]
                relative, edge = errors(entries, "relative"), errors(entries, "edge")
                every_relative += list(relative[~np.isnan(relative)])
                blocks = errors(entries, "blocks")
                every_blocks += list(blocks[~np.isnan(blocks)])
                calibrated += [(e["expected"], e["relative"], e["confidence"]) for e in entries
                               if e is not None and e["relative"] is not None]
                lines.append(f"| {label} | {light} | {scale:g}x | {len(entries)} | "
                             f"{sum(e is None for e in entries)} | {summary(relative)} | "
                             f"{summary(edge)} |")
            shared = [s for s in row["shared"] if s is not None]
            kept = sum(s[0] == "identity" for s in shared)
            moved = [s[1] for s in shared if s[0] != "identity"]
            made = [m for m in row["made_aligned"] if m is not None]
            within = sum(m[1] <= 1.0 for m in made)
            aligned.append(f"| {label} | {light} | {kept} of {len(shared)} | "
                           f"{statistics.median(moved) if moved else 0:.2f} | "
                           f"{len(row['shared']) - len(shared)} | {within} of {len(made)} | "
                           f"{len(row['made_aligned']) - len(made)} | {row['unrelated']} of "
                           f"{measured['count']} |")
    every_relative, every_blocks = np.array(every_relative), np.array(every_blocks)
    totals = (f"All warps of the split together (relative truth, refusals as failures): "
              f"{pooled(every_relative)}; {len(seconds)} registrations, "
              f"median {statistics.median(seconds):.2f} s, 90th percentile "
              f"{np.percentile(seconds, 90):.2f} s each on this machine. Against the blocks' "
              f"truth (the unwarped pair as its own agreeing blocks register it, before the "
              f"selection, NEAR and the refinement; it shares their content's errors, so these "
              f"are lower bounds): {pooled(every_blocks)} ({len(every_blocks)} warps).")
    text = "\n".join(lines) + "\n\n" + totals + "\n\n" + "\n".join(aligned) + "\n\n" + \
        "\n".join(calibration(calibrated)) + "\n"
    if high_resolution:
        text += "\n- " + real_high_resolution(data) + "\n"
    return text, raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--split", choices=("report", "tuning", "validation"), default="report")
    parser.add_argument("--no-high-resolution", action="store_true",
                        help="Skip the 180 real high-resolution pairs (3 minutes).")
    parser.add_argument("--write", action="store_true",
                        help=f"Replace the results in {DOC} (report split only).")
    parser.add_argument("--json", type=Path, help="Also write every measurement here.")
    args = parser.parse_args()
    text, raw = report(args.data, args.seed, args.split, not args.no_high_resolution)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(raw, default=lambda o: o if not isinstance(o, np.generic)
                                        else o.item(), indent=1))
    if args.write:
        if args.split != "report":
            sys.exit("--write: only the report split's numbers go into the docs")
        doc = DOC.read_text()
        if BEGIN not in doc or END not in doc:
            sys.exit(f"{DOC}: the markers {BEGIN} / {END} are missing")
        block = f"{BEGIN}\n{text}{END}"
        DOC.write_text(re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, doc,
                              flags=re.S))


if __name__ == "__main__":
    main()
