"""The paper-scale campaign: every run of the reproduction, one command, one output folder.

`tf-irgan campaign --ir-vis roadscene/ [--mri-pet harvard/] --out OUT --minutes 10` prepares
the patch files from folders of pairs (`tf-irgan prepare`), then trains each run with
`tf-irgan train --time-limit` for its share of the minutes, on the backend of KERAS_BACKEND
(JAX on a GPU machine without TensorFlow), and writes every preset into OUT/presets/ (and, with
`--archive`, each as one OUT/NAME.tar.gz). Each step is a subprocess running the project's own
commands, so the commands recorded in the presets' metadata rerun it, and one failed run does
not end the others. `--dry-run` does the same with two batches per run and coarser patches: the
whole command proven on a CPU before a GPU is spent on it. OUT/campaign.json says what ran.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tf_irgan.data.pairs import HOLDOUT_EVERY
from tf_irgan.errors import UserError

# A run is told to stop itself (`train --time-limit`) at this share of its time, leaving the rest
# for start-up, compiling and writing its last checkpoint and preset; at its end it is ended.
TIME_LIMIT_SHARE = 0.7
MIN_STEP_SECONDS = 20   # a step that would get less is skipped, with a note



@dataclass
class Run:
    name: str            # the preset's name
    share: float         # of the campaign's minutes
    data: str            # "ir-vis-x4" | "ir-vis-x1" (patch files) | "ir-vis" | "mri-pet" (folders)
    args: list = field(default_factory=list)


# The official patch-set size is 27,264 patches of 84x84 at batch 24: 1,136 batches per epoch;
# the runs ask for many epochs and stop at their time limit.
RUNS = [
    Run("ddcgan-official-x4", 0.2, "ir-vis-x4", ["--model", "ddcgan", "--config", "official", "--scale", "4"]),
    Run("ddcgan-paper-x4", 0.2, "ir-vis-x4", ["--model", "ddcgan", "--config", "paper", "--scale", "4"]),
    Run("ddcgan-official", 0.14, "ir-vis-x1", ["--model", "ddcgan", "--config", "official", "--scale", "1"]),
    Run("ddcgan-mri-pet-official-x4", 0.1, "mri-pet", ["--model", "ddcgan", "--config", "official",
                                                       "--scale", "4", "--stride", "14"]),
    # The compact U-Net on 256-px crops: the canonical one's preset is ~100 MB even in float16,
    # too large to ship (~20 MB) or to bring back from a lent machine (16 MiB a file). Resize-
    # convolutions instead of transposed ones (no checkerboard; docs/pix2pix.md) and jittered
    # input brightness, contrast and saturation (issue 24).
    Run("pix2pix-vis2ir-256", 0.13, "ir-vis", ["--model", "pix2pix", "--config", "compact",
                                               "--patch", "256", "--direction", "vis2ir",
                                               "--set", "upsample=resize",
                                               "--set", "color_jitter=0.2"]),
    Run("pix2pix-ir2vis-256", 0.13, "ir-vis", ["--model", "pix2pix", "--config", "compact",
                                               "--patch", "256", "--direction", "ir2vis",
                                               "--set", "upsample=resize",
                                               "--set", "color_jitter=0.2"]),
    # The IR/visible defaults (issue 21), longer than a CPU session allows; shipped only if they
    # beat the CPU-trained ones by the rule in docs/training.md.
    Run("ddcgan-ir-vis-x4", 0.05, "ir-vis-x4", ["--model", "ddcgan", "--config", "pyramid", "--scale", "4",
                                               "--set", "intensity_upsample=bicubic",
                                               "--set", "intensity_fidelity_weight=1"]),
    Run("ddcgan-ir-vis", 0.05, "ir-vis-x1", ["--model", "ddcgan", "--config", "pyramid", "--scale", "1",
                                            "--set", "intensity_weight=0.25"]),
]


def _command(args: list) -> list:
    """`tf-irgan ARGS` in this interpreter (the console script may not be on PATH)."""
    return [sys.executable, "-c", "import sys; sys.argv[0] = 'tf-irgan'; "
            "from tf_irgan.cli.main import cli; cli()", *args]


def plan(ir_vis, mri_pet, out: Path, minutes: float, dry_run: bool, only=()) -> list[dict]:
    """The steps to run, in order: dicts with the name, the `tf-irgan` arguments and a time limit."""
    unknown = sorted(set(only) - {run.name for run in RUNS})
    if unknown:
        raise UserError(f"--only {', '.join(unknown)}: no such run; the campaign's runs: "
                        f"{', '.join(run.name for run in RUNS)}")
    for folder, what in ((ir_vis, "--ir-vis"), (mri_pet, "--mri-pet")):
        if folder is not None and not Path(folder).is_dir():
            raise UserError(f"{what} {folder}: not a folder of pairs; pass the folder that holds "
                            "vi/ and ir/ (or MRI/ and PET/)")
    chosen = [run for run in RUNS if (not only or run.name in only)
              and (run.data != "mri-pet" or mri_pet is not None)
              and (run.data == "mri-pet" or ir_vis is not None)]
    if not chosen:
        raise UserError("nothing to run: give --ir-vis (and --mri-pet for the medical run)")
    stride = "84" if dry_run else "14"
    steps = []
    needed = {run.data for run in chosen}
    for scale in ("4", "1"):
        if f"ir-vis-x{scale}" in needed:
            steps.append({"name": f"prepare x{scale}", "minutes": None, "args": [
                "prepare", "--vis-dir", str(Path(ir_vis) / "vi"), "--ir-dir", str(Path(ir_vis) / "ir"),
                "-o", str(out / "data" / f"ir-vis-x{scale}.h5"), "--patch", "84", "--stride", stride,
                "--scale", scale, "--holdout-every", str(HOLDOUT_EVERY), "--overwrite"]})
    total_share = sum(run.share for run in chosen)
    for run in chosen:
        data = {"ir-vis-x4": str(out / "data" / "ir-vis-x4.h5"), "ir-vis-x1": str(out / "data" / "ir-vis-x1.h5"),
                "ir-vis": str(ir_vis), "mri-pet": str(mri_pet)}[run.data]
        share = minutes * run.share / total_share
        length = ["--steps", "2", "--checkpoint-every", "1", "--log-every", "1"] if dry_run else \
            ["--epochs", "1000", "--checkpoint-every", "200", "--log-every", "25"]
        holdout = [] if run.data.startswith("ir-vis-x") else ["--holdout-every", str(HOLDOUT_EVERY)]
        args = ["train", *run.args, "--data", data, "--out", str(out / "runs" / run.name),
                "--time-limit", f"{share:.2f}", *length, *holdout, "--quiet"]
        if dry_run and "--stride" in args:  # coarse patches: quick to cut
            args[args.index("--stride") + 1] = "84"
        steps.append({"name": run.name, "minutes": share, "args": args})
    return steps


def run_campaign(ir_vis, mri_pet, out, minutes: float = 10.0, dry_run: bool = False, only=(),
                 archive: bool = False, echo=print) -> dict:
    out = Path(out)
    if minutes <= 0:
        raise UserError(f"--minutes {minutes:g}: give the minutes the whole campaign may take")
    steps = plan(ir_vis, mri_pet, out, minutes, dry_run, only)
    if (out / "runs").exists() and any((out / "runs").iterdir()):
        raise UserError(f"{out}: already holds a campaign's runs; choose another --out (resume a "
                        "single run with `tf-irgan train --resume --out OUT/runs/NAME`)")
    (out / "data").mkdir(parents=True, exist_ok=True)
    (out / "presets").mkdir(parents=True, exist_ok=True)
    record = {"backend": os.environ.get("KERAS_BACKEND", "tensorflow"), "dry_run": dry_run,
              "minutes": minutes, "runs": []}
    # --minutes is a deadline for the whole campaign, start-up, patch cutting and compiling
    # included: each run gets its share of what is left when it starts (so one that overran
    # takes from the later ones, not from the deadline), stops itself at a checkpoint within
    # TIME_LIMIT_SHARE of it and is ended at its end.
    deadline = time.time() + minutes * 60
    weights = {step["name"]: step["minutes"] for step in steps if step["minutes"] is not None}
    for step in steps:
        began = time.time()
        left = deadline - began
        if left < MIN_STEP_SECONDS:
            entry = {"name": step["name"], "status": "skipped", "seconds": 0.0,
                     "output": [f"the campaign's {minutes:g} minutes were spent before it could start"]}
            record["runs"].append(entry)
            echo(f"[campaign] {step['name']}: skipped ({entry['output'][0]})")
            weights.pop(step["name"], None)
            continue
        args, limit = list(step["args"]), left
        if step["minutes"] is not None:
            own = weights.pop(step["name"])
            limit = left * own / (own + sum(weights.values()))
            args[args.index("--time-limit") + 1] = f"{limit * TIME_LIMIT_SHARE / 60:.2f}"
        command = shlex.join(["tf-irgan", *args])
        echo(f"[campaign] {step['name']}: {command}")
        try:
            proc = subprocess.run(_command(args), timeout=limit, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            status, output = proc.returncode, proc.stdout
        except subprocess.TimeoutExpired as err:
            status = "ended at its share of the minutes"
            output = err.stdout.decode(errors="replace") if isinstance(err.stdout, bytes) else (err.stdout or "")
        entry = {"name": step["name"], "command": command, "status": status,
                 "seconds": round(time.time() - began, 1), "output": output.strip().splitlines()[-3:]}
        if step["minutes"] is not None and status == 0:
            entry.update(_collect(out, step["name"], archive))
        record["runs"].append(entry)
        echo(f"[campaign] {step['name']}: {'ok' if status == 0 else 'FAILED (' + str(status) + ')'} "
             f"in {entry['seconds']:.0f} s" + ("" if status == 0 else f": {' / '.join(entry['output'])}"))
        (out / "campaign.json").write_text(json.dumps(record, indent=2))
        if status != 0 and step["minutes"] is None:
            break  # no patches: the runs that need them cannot start
    record["seconds"] = round(time.time() - deadline + minutes * 60, 1)
    (out / "campaign.json").write_text(json.dumps(record, indent=2))
    return record


def _collect(out: Path, name: str, archive: bool) -> dict:
    """Copy the run's preset to OUT/presets/NAME (and OUT/NAME.tar.gz); what its session did."""
    import shutil

    run_dir = out / "runs" / name
    target = out / "presets" / name
    shutil.copytree(run_dir / "model", target, dirs_exist_ok=True)
    metadata = json.loads((target / "metadata.json").read_text())
    metadata["name"] = name
    (target / "metadata.json").write_text(json.dumps(metadata, indent=2))
    if archive:
        with tarfile.open(out / f"{name}.tar.gz", "w:gz") as tar:
            tar.add(target, arcname=name)
    session = json.loads((run_dir / "last_session.json").read_text())
    return {"batches": session["batches"], "losses": session["losses"],
            "time_limit_reached": session.get("time_limit_reached"), "preset": str(target)}
