"""benchmarks/compare_registration.py: two registration benchmark runs compared pair by pair."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _module():
    spec = importlib.util.spec_from_file_location("compare_registration",
                                                  BENCHMARKS / "compare_registration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(errors, made_aligned=(0.2,), unrelated=0):
    """A run of one set in the form of `bench_registration.py --json`: `errors` per pair, six
    warps each (day and night, three IR sizes); None is a refusal."""
    def entry(error):
        return None if error is None else {"edge": error, "relative": error, "expected": 1.0,
                                           "confidence": 0.99, "model": "homography"}
    lights = {}
    for light_number, light in enumerate(("day", "night")):
        warps = {str(scale): [entry(pair[3 * light_number + s]) for pair in errors]
                 for s, scale in enumerate((1.0, 0.5, 0.25))}
        lights[light] = {"shared": [], "made_aligned": [["identity", d] for d in made_aligned],
                         "unrelated": unrelated, "warps": warps}
    return {"RoadScene": {"lights": lights, "count": len(errors), "seconds": [0.1]}}


def test_the_pairs_not_the_warps_are_counted_and_the_rule_s_guards_shown(tmp_path):
    compare = _module().compare
    before = _run([[1.0] * 6, [9.0] * 6, [1.0, 1.0, 1.0, None, 9.0, 1.0]])
    # One pair gains all six warps, one loses one: 5 warps net, but one pair each way.
    after = _run([[1.0] * 6, [1.0] * 6, [1.0, 1.0, 1.0, None, 9.0, 9.0]],
                 made_aligned=(0.2, 1.5), unrelated=1)
    lines = compare(before, after)
    assert "| all | | | 10 of 18 (55.6%) | 15 (83.3%) | 6 | 1 |" in lines
    assert any(line.startswith("Pairs with more warps within 5 px after: 1, with fewer: 1, the "
                               "same: 1; two-sided sign test p = 1.00") for line in lines)
    assert "made-aligned moved over 1 px: 0 of 2 -> 2 of 4" in lines
    assert "unrelated accepted: 0 -> 2" in lines
    # As a command, on the files the benchmark writes.
    paths = [tmp_path / "before.json", tmp_path / "after.json"]
    for path, run in zip(paths, (before, after)):
        path.write_text(json.dumps(run))
    done = subprocess.run([sys.executable, str(BENCHMARKS / "compare_registration.py"),
                           *map(str, paths)], capture_output=True, text=True)
    assert done.returncode == 0 and "sign test" in done.stdout
