"""benchmarks/compare_registration.py: two registration benchmark runs compared pair by pair."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _module():
    spec = importlib.util.spec_from_file_location("compare_registration",
                                                  BENCHMARKS / "compare_registration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(errors, made_aligned=(0.2,), unrelated=0, no_truth=()):
    """A run of one set in the form of `bench_registration.py --json`: `errors` per pair, six
    warps each (day and night, three IR sizes); None is a refusal. The pairs in `no_truth` were
    refused unwarped: their warps have no relative truth."""
    def entry(error, pair):
        return None if error is None else {
            "edge": error, "relative": None if pair in no_truth else error, "expected": 1.0,
            "confidence": 0.99, "model": "homography"}
    lights = {}
    for light_number, light in enumerate(("day", "night")):
        warps = {str(scale): [entry(errors_of[3 * light_number + s], pair)
                             for pair, errors_of in enumerate(errors)]
                 for s, scale in enumerate((1.0, 0.5, 0.25))}
        shared = [None if pair in no_truth else ["identity", 0.0] for pair in range(len(errors))]
        lights[light] = {"shared": shared,
                         "made_aligned": [["identity", d] for d in made_aligned],
                         "unrelated": unrelated, "warps": warps}
    return {"RoadScene": {"lights": lights, "count": len(errors), "seconds": [0.1]}}


def test_the_pairs_not_the_warps_are_counted_and_the_rule_s_guards_shown(tmp_path):
    compare = _module().compare
    before = _run([[1.0] * 6, [9.0] * 6, [1.0, 1.0, 1.0, None, 9.0, 1.0], [1.0] * 6])
    # One pair gains all six warps, one loses one: 5 warps net, but one pair each way. The last
    # pair has no truth after the change (refused unwarped): its registered warps are left out
    # of both runs (a refused one would fail, as the benchmark counts it).
    after = _run([[1.0] * 6, [1.0] * 6, [1.0, 1.0, 1.0, None, 9.0, 9.0], [1.0] * 6],
                 made_aligned=(0.2, 1.5), unrelated=1, no_truth=(3,))
    lines = compare(before, after)
    assert "| all | | | 10 of 18 (55.6%) | 15 (83.3%) | 6 | 1 |" in lines
    assert "| RoadScene | day | 0.25x | 2 of 3 | 3 | 1 | 0 |" in lines
    assert "Pairs with more warps within 5 px after: 1, with fewer: 1, the same: 1; two-sided " \
        "sign test p = 1.00." in lines
    assert "Warps left out (registered without a relative truth in one run or both): 6." in lines
    assert "made-aligned moved over 1 px: 0 of 2 (0 refused) -> 2 of 4 (0 refused)" in lines
    assert "unrelated accepted: 0 -> 2" in lines
    assert "confident (>= 0.95) over 5 px: 7 of 23 -> 2 of 17" in lines
    with pytest.raises(SystemExit, match="different splits"):
        compare(before, _run([[1.0] * 6]))
    # As a command, on the files the benchmark writes.
    paths = [tmp_path / "before.json", tmp_path / "after.json"]
    for path, run in zip(paths, (before, after)):
        path.write_text(json.dumps(run))
    done = subprocess.run([sys.executable, str(BENCHMARKS / "compare_registration.py"),
                           *map(str, paths)], capture_output=True, text=True)
    assert done.returncode == 0 and "sign test" in done.stdout
