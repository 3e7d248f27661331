"""Two runs of bench_registration.py compared pair by pair: is a change's gain more than the pairs'?

    python benchmarks/compare_registration.py BEFORE.json AFTER.json

BEFORE and AFTER: `bench_registration.py --json` of the same split and seed, before and after a
change. Printed: per set, light and IR size the warps within 5 px (relative truth, refusals as
failures, as the rule of docs/registration.md counts them) before and after; how many warps
went from a failure to a success and back; the rule's other counts (made-aligned pairs moved by
over 1 px, unrelated pairs accepted, confident transforms over 5 px); and a sign test over the
pairs. A pair's six warps (three IR sizes, day and night) share its scene and fail together, so
the pairs, not the warps, are the independent units: the test counts the pairs with more warps
within 5 px after the change and those with fewer (session 14: gains of 2-4 warps in a hundred
on the tuning split's 54 pairs did not hold on the validation split's 121).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The benchmark's own reading of a run: a refusal is a failure (an infinite error) whatever the
# truth, a warp registered without a relative truth (its unwarped pair was refused) is NaN.
from bench_registration import errors  # noqa: E402

WITHIN = 5.0   # px


def _rule_counts(run) -> dict:
    moved = made = refused = unrelated = confident = wrong = 0
    for measured in run.values():
        for row in measured["lights"].values():
            aligned = [m for m in row["made_aligned"] if m is not None]
            made += len(aligned)
            refused += len(row["made_aligned"]) - len(aligned)
            moved += sum(m[1] > 1.0 for m in aligned)
            unrelated += row["unrelated"]
            for entries in row["warps"].values():
                for e in entries:
                    if e is not None and e["relative"] is not None and e["confidence"] >= 0.95:
                        confident += 1
                        wrong += e["relative"] > WITHIN
    return {"made-aligned moved over 1 px": f"{moved} of {made} ({refused} refused)",
            "unrelated accepted": str(unrelated),
            "confident (>= 0.95) over 5 px": f"{wrong} of {confident}"}


def compare(before, after) -> list[str]:
    if set(before) != set(after) or any(before[label]["count"] != after[label]["count"]
                                        for label in before):
        raise SystemExit("the two runs are of different splits")
    lines = ["| set | light | IR size | within 5 px before | after | fail -> pass | pass -> fail |",
             "|---|---|---|---|---|---|---|"]
    per_pair = {}   # (set, pair) -> [within before, within after]
    totals, left_out = [0, 0, 0, 0, 0], 0
    for label in before:
        for light, row in before[label]["lights"].items():
            other_row = after[label]["lights"][light]
            for scale, entries in row["warps"].items():
                other = other_row["warps"][scale]
                first, second = errors(entries, "relative"), errors(other, "relative")
                kept = ~(np.isnan(first) | np.isnan(second))   # a truth in both runs
                left_out += int((~kept).sum())
                a, b = first <= WITHIN, second <= WITHIN
                counts = [int(kept.sum()), int((a & kept).sum()), int((b & kept).sum()),
                          int((b & ~a & kept).sum()), int((a & ~b & kept).sum())]
                for pair in np.flatnonzero(kept):
                    tally = per_pair.setdefault((label, pair), [0, 0])
                    tally[0] += int(a[pair])
                    tally[1] += int(b[pair])
                totals = [t + c for t, c in zip(totals, counts)]
                lines.append(f"| {label} | {light} | {float(scale):g}x | "
                             f"{counts[1]} of {counts[0]} | "
                             f"{counts[2]} | {counts[3]} | {counts[4]} |")
    lines.append(f"| all | | | {totals[1]} of {totals[0]} ({totals[1] / max(1, totals[0]):.1%}) | "
                 f"{totals[2]} ({totals[2] / max(1, totals[0]):.1%}) | {totals[3]} | {totals[4]} |")
    better = sum(b > a for a, b in per_pair.values())
    worse = sum(b < a for a, b in per_pair.values())
    from scipy.stats import binomtest
    p = binomtest(better, better + worse).pvalue if better + worse else 1.0
    lines += ["", f"Pairs with more warps within 5 px after: {better}, with fewer: {worse}, the "
              f"same: {len(per_pair) - better - worse}; two-sided sign test p = {p:.2f}.",
              "Warps left out (registered without a relative truth in one run or both): "
              f"{left_out}."]
    first, second = _rule_counts(before), _rule_counts(after)
    lines += [f"{name}: {first[name]} -> {second[name]}" for name in first]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    before, after = (json.loads(path.read_text()) for path in (args.before, args.after))
    print("\n".join(compare(before, after)))


if __name__ == "__main__":
    main()
