"""Training speed per Keras backend: DDcGAN at 84x84 (IR 21x21), batch 24, and pix2pix.

    python benchmarks/bench_train.py [--backends tensorflow,jax] [--models ddcgan,pix2pix]
                                     [--precisions fp32,bf16] [--steps 3] [--write]

Each backend runs in a process of its own (KERAS_BACKEND is fixed per process), builds each
model as `tf-irgan train` does (its config under the matching Keras mixed-precision policy,
`tf_irgan.backends.create` compiling its declared sub-steps) and, on one fixed batch, after
--warmup untimed calls each, times:
- every declared sub-step alone (DDcGAN: `g`, `g_adv`, `d_detail`, `d_intensity`, `fuse`; pix2pix: `d`, `g`);
- whole batches (`tf_irgan.training.train_batch`: the model's schedule, with DDcGAN's adaptive
  repeats; with the official config's alternation D-batches and G-batches are separate rows).
  On random data an untrained G stays above the G-loss threshold and may repeat up to
  max_repeats times: `--max-repeats 1` (default) times one step per network per batch.
Times are medians (per call); steps/s = 1 / median. Compare backends as ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fuse import (DEFAULT_DOC, command_line, publish, machine, markdown_table,  # noqa: E402
                        peak_rss_mib)

PRECISIONS = {"fp32": "off", "bf16": "bf16", "fp16": "fp16"}


def _done(result):
    """Wait for everything a call computed: its logs (a step's, or every step's of a batch, made
    numbers here as the loop does at --log-every) and a step's outputs (DDcGAN's fused batch),
    which JAX may still be computing when the call returns."""
    from keras import ops
    for value in getattr(result, "outputs", {}).values():
        ops.convert_to_numpy(value)
    for value in dict.values(result) if isinstance(result, dict) else ():
        for item in value if isinstance(value, list) else [value]:
            float(item)


def _time(fn, warmup: int, steps: int) -> list[float]:
    for _ in range(warmup):
        _done(fn())
    times = []
    for _ in range(steps):
        began = time.perf_counter()
        _done(fn())
        times.append(time.perf_counter() - began)
    return times


def _model(name: str, args):
    import numpy as np

    rng = np.random.default_rng(0)
    if name == "ddcgan":
        from tf_irgan.models.ddcgan import DDcGAN, ddcgan_config
        config = ddcgan_config(args.config, 4, batch_size=args.batch_size, patch=84,
                               max_repeats=args.max_repeats)
        batch = {"detail": rng.random((config.batch_size, 84, 84, 1), dtype=np.float32),
                 "intensity": rng.random((config.batch_size, 21, 21, 1), dtype=np.float32)}
        return DDcGAN, config, batch
    from tf_irgan.models.pix2pix import Pix2Pix, pix2pix_config
    config = pix2pix_config(args.pix2pix_config, "vis2ir")
    c = config.crop
    batch = {"image": rng.random((config.batch_size, c, c, 3), dtype=np.float32),
             "target": rng.random((config.batch_size, c, c, 1), dtype=np.float32)}
    return Pix2Pix, config, batch


def child(args) -> None:
    """Time every model and precision on this process's backend; print the rows as JSON."""
    from tf_irgan import backends
    from tf_irgan.training import TrainOptions, precision as policy, train_batch

    rows = []
    for model_name in args.models.split(","):
        for precision in args.precisions.split(","):
            mode = PRECISIONS[precision]
            model_class, config, batch = _model(model_name, args)
            with policy(mode):
                backend = backends.create(TrainOptions(data="", out="", strategy="one-device",
                                                       jit=args.jit, mixed_precision=mode))
                model = model_class(config)
                model.steps_per_epoch = model.total_batches = 1000
                model.make_optimizers(mode)
                backend.compile(model)
                batch = next(backend.batches(_Fixed(batch), 0))
                timings = {}
                fused = backend.run("fuse", batch).outputs["fused"] if model_name == "ddcgan" else None
                for step_name in model.steps():
                    inputs = (fused,) if step_name in ("d_detail", "d_intensity") else ()
                    timings[step_name] = _time(lambda: backend.run(step_name, batch, *inputs),
                                               args.warmup, args.steps)
                alternate = getattr(config, "alternate", False)
                for index in range(2 * args.warmup):
                    train_batch(model, backend, batch, index)
                for index in range(2 * args.steps):
                    kind = "batch" if not alternate else ("batch (D)" if index % 2 == 0 else "batch (G)")
                    timings.setdefault(kind, []).extend(
                        _time(lambda: train_batch(model, backend, batch, index), 0, 1))
            for kind, times in timings.items():
                median = statistics.median(times)
                rows.append([args.code, backend.name, model_name, config.name, precision, kind,
                             str(len(times)), f"{median * 1000:.0f}", f"{1 / median:.2f}"])
    print("ROWS " + json.dumps({"rows": rows, "rss": peak_rss_mib()}))


def _describe(checkout: Path) -> str:
    proc = subprocess.run(["git", "-C", str(checkout), "log", "-1", "--format=%h"],
                          capture_output=True, text=True)
    return f"baseline {proc.stdout.strip() or checkout}"


class _Fixed:
    """One batch, repeated: the `Batches` interface for a benchmark."""

    def __init__(self, batch):
        self.batch, self.shapes = batch, {k: v.shape for k, v in batch.items()}

    def iterate(self, start=0):
        while True:
            yield self.batch


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--models", default="ddcgan,pix2pix")
    parser.add_argument("--precisions", default="fp32", help="comma-separated: fp32, bf16, fp16")
    parser.add_argument("--config", default="official", help="DDcGAN config")
    parser.add_argument("--pix2pix-config", default="compact", help="pix2pix config")
    parser.add_argument("--batch-size", type=int, default=24, help="DDcGAN batch")
    parser.add_argument("--max-repeats", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3, help="timed calls per kind (default 3)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per kind first (default 2: "
                        "JAX compiles a step again once its inputs are its own outputs)")
    parser.add_argument("--jit", default="auto", choices=["auto", "on", "off"],
                        help="TensorFlow: XLA (auto: on with GPUs); JAX always compiles unless off")
    parser.add_argument("--write", action="store_true", help="append the table to docs/benchmarks.md")
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC, help="page for --write")
    parser.add_argument("--baseline", type=Path, help="another checkout of tf-irgan (e.g. `git "
                        "worktree add /tmp/base COMMIT`): each backend also runs its code, in the "
                        "same run, for a before/after ratio")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--code", default="this", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    rows, notes = [], []
    codes = [("this", None)] + ([(_describe(args.baseline), args.baseline)] if args.baseline else [])
    given = [a for a in (argv or sys.argv[1:])]
    for backend in args.backends.split(","):
        for code, checkout in codes:
            env = dict(os.environ, KERAS_BACKEND=backend)
            if checkout is not None:  # its package first on the path, this script's timing code
                env["PYTHONPATH"] = os.pathsep.join([str(checkout), env.get("PYTHONPATH", "")])
            proc = subprocess.run([sys.executable, __file__, "--child", "--code", code, *given],
                                  env=env, capture_output=True, text=True)
            found = [line for line in proc.stdout.splitlines() if line.startswith("ROWS ")]
            if proc.returncode or not found:
                print(f"Error: {backend} ({code}): {proc.stderr.strip().splitlines()[-1:]}",
                      file=sys.stderr)
                return 2
            result = json.loads(found[0][5:])
            rows += result["rows"]
            notes.append(f"{backend} ({code}) peak RSS {result['rss']:.0f} MiB")
    header = ["code", "backend", "model", "config", "precision", "step", "calls", "median ms",
              "steps/s"]
    text = (f"Machine: {machine()}.\n\nCommand: `{command_line()}`; DDcGAN batch {args.batch_size} "
            f"at 84x84, max_repeats {args.max_repeats}; random data; jit {args.jit}; "
            f"{'; '.join(notes)}.\n")
    publish(markdown_table(header, rows), text, args.write, args.doc, "Training steps per backend")
    return 0


if __name__ == "__main__":
    sys.exit(main())
