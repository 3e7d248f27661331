"""The campaign's plan (tf_irgan.campaign): which commands run, with which budgets; refusals.
The dry run itself trains real models and is run by hand before a GPU run (docs/training.md)."""

import shlex

import pytest

from tf_irgan.campaign import RUNS, plan
from tf_irgan.errors import UserError


def test_plan_prepares_once_per_scale_and_shares_the_minutes(tmp_path):
    (tmp_path / "rs").mkdir()
    (tmp_path / "mp").mkdir()
    steps = plan(tmp_path / "rs", tmp_path / "mp", tmp_path / "out", 60, dry_run=False)
    names = [s["name"] for s in steps]
    assert names == ["prepare x4", "prepare x1", *(run.name for run in RUNS)]
    budgets = [s["minutes"] for s in steps if s["minutes"] is not None]
    assert abs(sum(budgets) - 60) < 1e-9
    official = shlex.join(steps[2]["args"])
    assert "--config official --scale 4" in official and "--time-limit 12.00" in official
    assert f"--out {tmp_path / 'out' / 'runs' / 'ddcgan-official-x4'}" in official
    assert "--stride 14" in shlex.join(steps[0]["args"])
    # The medical run needs --mri-pet; without it the rest share the whole time.
    steps = plan(tmp_path / "rs", None, tmp_path / "out", 60, dry_run=True)
    assert "ddcgan-mri-pet-official-x4" not in [s["name"] for s in steps]
    assert abs(sum(s["minutes"] for s in steps if s["minutes"]) - 60) < 1e-9
    assert all("--steps 2" in shlex.join(s["args"]) for s in steps if s["minutes"])
    assert "--stride 84" in shlex.join(steps[0]["args"])


def test_plan_refusals(tmp_path):
    (tmp_path / "rs").mkdir()
    with pytest.raises(UserError, match="--only nope: no such run"):
        plan(tmp_path / "rs", None, tmp_path / "out", 10, False, only=("nope",))
    with pytest.raises(UserError, match="--ir-vis .*absent: not a folder"):
        plan(tmp_path / "absent", None, tmp_path / "out", 10, False)
    with pytest.raises(UserError, match="nothing to run"):
        plan(None, None, tmp_path / "out", 10, False)
    only = plan(tmp_path / "rs", None, tmp_path / "out", 10, False, only=("pix2pix-vis2ir-256",))
    assert [s["name"] for s in only] == ["pix2pix-vis2ir-256"]  # no patch files needed


def test_minutes_are_a_deadline_the_campaign_keeps(tmp_path, monkeypatch):
    # The issue: `campaign --dry-run --minutes 4` ran over 11 minutes (start-up was not counted).
    # Each step here is a process that would take 30 s; the campaign gets 6 s in all.
    import sys
    import time

    from tf_irgan import campaign

    (tmp_path / "rs").mkdir()
    monkeypatch.setattr(campaign, "_command", lambda args: [sys.executable, "-c",
                                                            "import time; time.sleep(30)"])
    monkeypatch.setattr(campaign, "MIN_STEP_SECONDS", 1)
    began = time.time()
    record = campaign.run_campaign(tmp_path / "rs", None, tmp_path / "out", minutes=0.1,
                                   dry_run=True, only=("pix2pix-vis2ir-256", "pix2pix-ir2vis-256"),
                                   echo=lambda line: None)
    assert time.time() - began < 6 + 2
    statuses = [run["status"] for run in record["runs"]]
    assert statuses[0] == "ended at its share of the minutes"
    assert set(statuses) <= {"ended at its share of the minutes", "skipped"}
    first = record["runs"][0]
    assert 2 < first["seconds"] < 4.5        # its share of 6 s: half, as the two shares are equal
    limit = float(first["command"].split("--time-limit ")[1].split()[0])
    assert limit == pytest.approx(0.7 * first["seconds"] / 60, abs=0.02)
