"""Training speed: DDcGAN steps per second at 84x84 (IR 21x21), batch 24, in fp32 and bf16.

    python benchmarks/bench_train.py [--precisions fp32,bf16] [--steps 5] [--write]

For each precision the model is built from models.ddcgan.ddcgan_config(--config, --scale) under the
matching Keras mixed-precision policy and compiled as `tf-irgan train` compiles it. On random
data it times, after --warmup untimed calls each:
- `g`: one compiled generator step (model._steps["g"]: G forward, both D forwards, G update);
- `d_vis`, `d_ir`: one compiled discriminator step each (on a fused batch made once);
- `train_step`: whole batches of the schedule (`model.train_step`), including the adaptive
  repeats; with the official config's alternation, D-batches (even) and G-batches (odd) are
  timed as separate rows. The repeats depend on the data: on random data (the default) an
  untrained G stays above the G-loss threshold and runs the maximum of 20 G steps per
  G-batch, a worst case; `--data` takes real patches instead. The compiled steps run inside
  the timed batches are counted and printed.
Times are medians (per call); steps/s = 1 / median. GFLOP/s for `g` counts the generator only,
as 3x its forward work (forward + backward): 6 * macs_per_pixel * patch^2 * batch / time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fuse import (DEFAULT_DOC, command_line, publish, import_tensorflow,  # noqa: E402
                        machine, markdown_table, peak_rss_mib)

PRECISIONS = {"fp32": "off", "bf16": "bf16", "fp16": "fp16"}
CONFIG_NAMES = ("official", "paper", "residual", "fast", "salient")  # tf_irgan.models.ddcgan's, without importing TF


def _sync(outputs):
    """Pull the step's results to the host, so that the timing covers the whole step."""
    if isinstance(outputs, dict):
        return {k: float(v) for k, v in outputs.items()}
    import numpy as np
    return np.asarray(outputs)


def _time(fn, warmup: int, steps: int) -> list[float]:
    for _ in range(warmup):
        _sync(fn())
    times = []
    for _ in range(steps):
        began = time.perf_counter()
        _sync(fn())
        times.append(time.perf_counter() - began)
    return times


def make_batch(data, config):
    """The first `batch_size` patches of --data (HDF5 or folder), else uniform random images."""
    import tensorflow as tf

    p, q, b = config.patch, config.ir_patch, config.batch_size
    if data is None:
        rng = tf.random.Generator.from_seed(0)
        return {"vis": rng.uniform((b, p, p, 1)), "ir": rng.uniform((b, q, q, 1))}
    from tf_irgan.data.datasets import load_training_patches
    from tf_irgan.errors import UserError
    patches = load_training_patches(data, config.scale, p)
    if len(patches) < b:
        raise UserError(f"{data}: {len(patches)} patches, fewer than the batch of {b}")
    return {"vis": tf.constant(patches.vis[:b, ..., None]), "ir": tf.constant(patches.ir[:b, ..., None])}


def bench_precision(precision: str, args) -> tuple[list[list[str]], dict]:
    import tensorflow as tf

    from tf_irgan.models.ddcgan import DDcGAN, ddcgan_config
    from tf_irgan.training import precision as policy, use_jit

    mode = PRECISIONS[precision]
    overrides = {"max_repeats": args.max_repeats} if args.max_repeats else {}
    config = ddcgan_config(args.config, args.scale, batch_size=args.batch_size, patch=args.patch,
                           **overrides)
    with policy(mode):
        strategy = tf.distribute.get_strategy()
        model = DDcGAN(config)
        model.compile(**model.make_optimizers(mode), steps_per_epoch=1000,
                      jit_compile=use_jit(args.jit, strategy))
        p, b = config.patch, config.batch_size
        batch = make_batch(args.data, config)
        fused = model._steps["fuse"](batch)
        timings = {
            "g": _time(lambda: model._steps["g"](batch), args.warmup, args.steps),
            "d_vis": _time(lambda: model._steps["d_vis"](batch, fused), args.warmup, args.steps),
            "d_ir": _time(lambda: model._steps["d_ir"](batch, fused), args.warmup, args.steps),
        }
        # Whole batches: warm up (one D-batch and one G-batch when alternating), then time
        # --steps batches of each kind and count the compiled steps they ran.
        model.batches.assign(0)
        kinds = 2 if config.alternate else 1
        for _ in range(kinds * args.warmup):
            _sync(model.train_step(batch))
        before = dict(model.step_counts)
        for _ in range(kinds * args.steps):
            name = ("train_step" if not config.alternate else
                    "train_step (D-batch)" if int(model.batches.numpy()) % 2 == 0 else "train_step (G-batch)")
            timings.setdefault(name, []).extend(_time(lambda: model.train_step(batch), 0, 1))
        repeats = {k: v - before.get(k, 0) for k, v in model.step_counts.items() if v - before.get(k, 0)}

    macs = model.generator.macs_per_pixel()
    rows = []
    for kind, times in timings.items():
        median = statistics.median(times)
        gflops = 6 * macs * p * p * b / median / 1e9 if kind == "g" else None
        rows.append([precision, kind, str(len(times)), f"{median * 1000:.0f}", f"{min(times) * 1000:.0f}",
                     f"{1 / median:.2f}", f"{gflops:.1f}" if gflops else "–"])
    return rows, repeats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--precisions", default="fp32,bf16", help="comma-separated: fp32, bf16, fp16")
    parser.add_argument("--config", "--preset", dest="config", default="official",
                        choices=list(CONFIG_NAMES))
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=24)
    parser.add_argument("--patch", type=int, default=84)
    parser.add_argument("--data", type=Path, help="patches (HDF5 from `tf-irgan prepare`, or a folder "
                        "with vi/ and ir/) to take the batch from; default: random images")
    parser.add_argument("--max-repeats", type=int,
                        help="cap the schedule's repeats (1: one step per network per batch)")
    parser.add_argument("--steps", type=int, default=3, help="timed calls per kind (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls per kind first (default 1)")
    parser.add_argument("--jit", default="off", choices=["auto", "on", "off"],
                        help="XLA for the compiled steps (default off; auto: on with GPUs)")
    parser.add_argument("--threads", type=int, help="TensorFlow intra-op threads (default: all cores)")
    parser.add_argument("--write", action="store_true", help="append the table to docs/benchmarks.md")
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC, help="page for --write")
    args = parser.parse_args(argv)
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown or not precisions:
        parser.error(f"--precisions: use some of {', '.join(PRECISIONS)}")
    if args.steps < 1 or args.warmup < 1:
        parser.error("--steps and --warmup must be at least 1")

    tf = import_tensorflow(args.threads)
    tf.get_logger().setLevel("ERROR")  # one tf.function per compiled step and model: no retracing to report
    from tf_irgan.errors import UserError

    rows, counts = [], {}
    try:
        for precision in precisions:
            result, repeats = bench_precision(precision, args)
            rows += result
            counts[precision] = repeats
    except UserError as err:
        print(f"Error: {err}", file=sys.stderr)
        return 2
    header = ["precision", "step", "calls", "median ms", "min ms", "steps/s", "G GFLOP/s"]
    table = markdown_table(header, rows)
    counted = "; ".join(f"{p}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items()))
                        for p, c in counts.items())
    notes = (f"Machine: {machine()}.\n\n"
             f"Command: `{command_line()}`; {args.config} config, scale {args.scale}, "
             f"patch {args.patch} (IR {args.patch // args.scale}), batch {args.batch_size}, jit {args.jit}, "
             f"intra-op threads {args.threads or 'default'}; peak RSS {peak_rss_mib():.0f} MiB. "
             f"Batch from {args.data or 'random images'}. Compiled steps run inside the timed "
             f"`train_step` batches: {counted}.\n")
    publish(table, notes, args.write, args.doc, "Training steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
