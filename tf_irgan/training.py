"""Training runs: strategy and precision, the loop, checkpoints with exact resume, run folders.

A run folder holds `run.json` (what was asked), `checkpoints/` (tf.train checkpoints: weights,
optimizer state, batches seen), `logs/` (TensorBoard) and, at the end, `model/` (a preset that
`fuse --checkpoint` loads). The loop is ours rather than `Model.fit` so that a resumed run
continues mid-epoch on exactly the batch it would have seen, and so that the same loop can serve
MultiWorkerMirroredStrategy, where Keras 3 `fit` is broken (keras-team/keras#20585).
"""

from __future__ import annotations

import contextlib
import json
import math
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tf_irgan.errors import UserError

RUN_FILE = "run.json"


@dataclass
class TrainOptions:
    data: str
    out: str
    model: str = "ddcgan"
    preset: str = "official"
    scale: int = 4
    epochs: float | None = None
    steps: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    patch: int | None = None
    stride: int = 14
    holdout_every: int = 0
    resume: bool = False
    jit: str = "auto"                  # auto | on | off
    mixed_precision: str = "off"       # off | bf16 | fp16
    checkpoint_every: int = 100
    log_every: int = 10
    seed: int = 0
    devices: list | None = None        # e.g. ["/cpu:0", "/cpu:1"]; default: all GPUs, else CPU
    command: str = field(default_factory=lambda: shlex.join(["tf-irgan", *sys.argv[1:]]))


@dataclass
class TrainResult:
    run_dir: Path
    batches: int
    preset_dir: Path
    losses: dict
    step_counts: dict
    seconds: float


def make_strategy(devices=None):
    import tensorflow as tf
    if devices is None:
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or ["/cpu:0"]
    return tf.distribute.MirroredStrategy(devices)


def use_jit(jit: str, strategy) -> bool:
    if jit not in ("auto", "on", "off"):
        raise UserError(f"--jit {jit}: use auto, on or off")
    if jit == "auto":
        # XLA is slower on CPU (reference §4) and fails on logical CPU replicas.
        import tensorflow as tf
        return bool(tf.config.list_logical_devices("GPU"))
    return jit == "on"


@contextlib.contextmanager
def precision(mode: str):
    import keras
    policies = {"off": "float32", "none": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
    if mode not in policies:
        raise UserError(f"--mixed-precision {mode}: use off, bf16 or fp16")
    previous = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(policies[mode])
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _optimizer(name, learning_rate, mixed_precision):
    import keras
    classes = {"rmsprop": keras.optimizers.RMSprop, "sgd": keras.optimizers.SGD,
               "adam": keras.optimizers.Adam}
    optimizer = classes[name](learning_rate=learning_rate)
    if mixed_precision == "fp16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def _prepare_run_dir(options: TrainOptions) -> dict | None:
    """Return the stored run description when resuming; refuse to mix two runs in one folder."""
    out = Path(options.out)
    run_file = out / RUN_FILE
    if options.resume:
        if not run_file.is_file():
            raise UserError(f"{out}: no run to resume ({RUN_FILE} missing); drop --resume to start one")
        return json.loads(run_file.read_text())
    if run_file.exists() or (out / "checkpoints").exists():
        raise UserError(f"{out}: already holds a training run; pass --resume to continue it "
                        "or choose another --out")
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder; choose another --out")
    return None


def train(options: TrainOptions, verbose: bool = True) -> TrainResult:
    if options.model != "ddcgan":
        raise UserError(f"--model {options.model}: only ddcgan is available in this release")
    stored = _prepare_run_dir(options)
    from tf_irgan.presets import DDcGANConfig, ddcgan_preset
    if stored:
        config = DDcGANConfig.from_dict(stored["config"])
        previous = stored["options"]
        options.mixed_precision, options.seed = previous["mixed_precision"], previous["seed"]
        # A resumed run keeps its own settings; say so rather than silently ignoring flags.
        changed = [f"--{k.replace('_', '-')}" for k in ("stride", "holdout_every")
                   if str(getattr(options, k)) != str(previous.get(k))]
        if str(Path(options.data).resolve()) != stored.get("data_resolved", str(Path(previous["data"]).resolve())):
            changed.insert(0, "--data")
        if changed:
            raise UserError(f"{options.out}: was trained with other {', '.join(changed)} "
                            f"({', '.join(str(previous.get(c[2:].replace('-', '_'))) for c in changed)}); "
                            "resume with the same data or start a new --out")
        if verbose:
            print(f"resuming with the run's settings: preset {config.preset}, scale {config.scale}, "
                  f"batch {config.batch_size}, lr {config.learning_rate}, "
                  f"precision {options.mixed_precision}", flush=True)
    else:
        overrides = {k: v for k, v in (("batch_size", options.batch_size),
                                       ("learning_rate", options.learning_rate),
                                       ("patch", options.patch)) if v is not None}
        config = ddcgan_preset(options.preset, options.scale, **overrides)

    import tensorflow as tf
    from tf_irgan.data.datasets import PatchBatches, load_training_patches

    patches = load_training_patches(options.data, config.scale, config.patch, options.stride,
                                    options.holdout_every)
    batches = PatchBatches(patches, config.batch_size, options.seed)
    total = _total_batches(options, stored, batches.steps_per_epoch)

    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    if not stored:
        run = {"model": options.model, "config": config.to_dict(), "options": asdict(options),
               "patches": len(patches), "steps_per_epoch": batches.steps_per_epoch,
               "total_batches": total, "commands": [options.command],
               "data_resolved": str(Path(options.data).resolve()),
               "data_attrs": {k: str(v) for k, v in patches.attrs.items()}}
    else:
        run = stored
        run["total_batches"] = total
        run["commands"] = run.get("commands", []) + [options.command]
    (out / RUN_FILE).write_text(json.dumps(run, indent=2))

    with precision(options.mixed_precision):
        import keras
        keras.utils.set_random_seed(options.seed)  # --seed fixes the initial weights too
        strategy = make_strategy(options.devices)
        jit = use_jit(options.jit, strategy)
        with strategy.scope():
            from tf_irgan.models.ddcgan import DDcGAN
            model = DDcGAN(config)
            model.compile(
                d_optimizer=_optimizer(config.d_optimizer, config.learning_rate, options.mixed_precision),
                g_optimizer=_optimizer(config.g_optimizer, config.learning_rate, options.mixed_precision),
                steps_per_epoch=batches.steps_per_epoch, jit_compile=jit)
        checkpoint = tf.train.Checkpoint(
            generator=model.generator, d_vis=model.d_vis, d_ir=model.d_ir,
            g_optimizer=model.g_optimizer, d_vis_optimizer=model.d_vis_optimizer,
            d_ir_optimizer=model.d_ir_optimizer, batches=model.batches,
            g_loss_start=model.g_loss_start,
            **checkpoint_layers(model.generator, model.d_vis, model.d_ir))
        manager = tf.train.CheckpointManager(checkpoint, out / "checkpoints", max_to_keep=2)
        if stored:
            if manager.latest_checkpoint is None:
                raise UserError(f"{out}: no checkpoint saved yet; start the run again without --resume")
            checkpoint.restore(manager.latest_checkpoint).expect_partial()
        start = int(model.batches.numpy())
        if verbose:
            print(f"{'Resuming' if stored else 'Training'} {options.model} ({config.preset}, x{config.scale}) "
                  f"on {len(patches)} patches, {strategy.num_replicas_in_sync} replica(s), "
                  f"jit {'on' if jit else 'off'}, precision {options.mixed_precision}: "
                  f"batch {start} -> {total}", flush=True)
        result = _loop(model, batches, strategy, manager, start, total, options, verbose)

    preset_dir = export_preset(model.generator, config, options, result["batches"], run,
                               out / "model", overwrite=True)
    summary = {"batches": result["batches"], "losses": result["losses"],
               "step_counts": dict(model.step_counts), "seconds": result["seconds"]}
    (out / "last_session.json").write_text(json.dumps(summary, indent=2))
    return TrainResult(out, result["batches"], preset_dir, result["losses"],
                       dict(model.step_counts), result["seconds"])


def checkpoint_layers(generator, *discriminators) -> dict:
    """The layers that Keras keeps in Python lists, which a tf.train.Checkpoint does not follow:
    without naming them, checkpoints miss the dense and decoder blocks (their batch-norm
    statistics entirely, their weights except through the optimizer's references)."""
    found = {"generator_dense": list(generator.dense), "generator_decoder": list(generator.decoder)}
    for disc in discriminators:
        found[f"{disc.name}_convs"] = list(disc.convs)
    return found


def _total_batches(options, stored, steps_per_epoch):
    if options.steps is not None and options.epochs is not None:
        raise UserError("pass --steps or --epochs, not both")
    if options.steps is not None:
        total = options.steps
    elif options.epochs is not None:
        total = math.ceil(options.epochs * steps_per_epoch)
    elif stored:
        total = stored.get("total_batches") or steps_per_epoch
    else:
        total = steps_per_epoch  # one epoch, as the official code
    if total < 1:
        raise UserError("--steps/--epochs must ask for at least one batch")
    return total


def _loop(model, batches, strategy, manager, start, total, options, verbose):
    import keras
    import tensorflow as tf

    dataset = strategy.experimental_distribute_dataset(batches.dataset(start))
    iterator = iter(dataset)
    writer = tf.summary.create_file_writer(str(Path(options.out) / "logs"))
    bar = keras.utils.Progbar(total, stateful_metrics=[m.name for m in model.metrics],
                              verbose=1 if verbose else 0)
    bar.update(start)
    last_saved, losses, began = start, {}, time.time()
    for seen in range(start, total):
        logs = model.train_step(next(iterator))
        losses = {k: float(v) for k, v in logs.items()}
        if not all(math.isfinite(v) for v in losses.values()):
            kept = (f"the last good checkpoint (batch {last_saved}) is kept in {manager.directory}"
                    if manager.latest_checkpoint else "no checkpoint had been saved yet")
            raise UserError(f"training stopped at batch {seen}: a loss became NaN/inf; {kept}; "
                            "resume with a lower --lr or --mixed-precision off")
        done = seen + 1
        bar.update(done, values=list(losses.items()))
        if done % options.log_every == 0 or done == total:
            with writer.as_default(step=done):
                for name, value in losses.items():
                    tf.summary.scalar(name, value)
                tf.summary.scalar("learning_rate", model.learning_rate_at(done))
            for tracker in model.metrics:
                tracker.reset_state()
        if done % options.checkpoint_every == 0 or done == total:
            manager.save(checkpoint_number=done)
            last_saved = done
    writer.flush()
    return {"batches": max(total, start), "losses": losses, "seconds": time.time() - began}


def export_preset(generator, config, options, batches, run, path, overwrite) -> Path:
    """Write the generator as a preset whose metadata records how the run trained it."""
    from tf_irgan.checkpoints import save_preset
    attrs = run.get("data_attrs", {})
    what = (f"IR at 1/{config.scale} of the visible size" if config.scale > 1
            else "same-resolution IR and visible")
    metadata = {
        "description": f"DDcGAN generator, {config.preset} preset, {what}",
        "model": "ddcgan", "scale": config.scale, "preset": config.preset,
        "train_commands": run.get("commands", [options.command]), "data": str(options.data),
        "data_source": {"vis_dir": attrs.get("vis_dir"), "ir_dir": attrs.get("ir_dir"),
                        "patch": attrs.get("patch"), "stride": attrs.get("stride")},
        "data_pairs": attrs.get("pairs"), "held_out": attrs.get("held_out"),
        "patches": run.get("patches"), "batches": batches, "batch_size": config.batch_size,
        "mixed_precision": options.mixed_precision, "ddcgan_config": config.to_dict(),
    }
    return save_preset(path, generator, task="fusion", metadata=metadata, overwrite=overwrite)


def preset_from_run(run_dir, out=None, overwrite: bool = False) -> Path:
    """Write a preset from a run's latest checkpoint (e.g. of a run still going, or stopped)."""
    import tensorflow as tf
    from tf_irgan.models.ddcgan import Generator
    from tf_irgan.presets import DDcGANConfig

    run_dir = Path(run_dir)
    run_file = run_dir / RUN_FILE
    if not run_file.is_file():
        raise UserError(f"{run_dir}: not a training run ({RUN_FILE} missing)")
    run = json.loads(run_file.read_text())
    latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    if latest is None:
        raise UserError(f"{run_dir}: has no checkpoint yet")
    config = DDcGANConfig.from_dict(run["config"])
    generator = Generator.from_ddcgan_config(config, name="generator")
    generator.build_for_inference()
    batches = tf.Variable(0, dtype=tf.int64)
    tf.train.Checkpoint(generator=generator, batches=batches,
                        **checkpoint_layers(generator)).restore(latest).expect_partial()
    options = TrainOptions(**{k: v for k, v in run["options"].items() if k != "command"},
                           command=run["options"]["command"])
    return export_preset(generator, config, options, int(batches.numpy()), run,
                              Path(out) if out else run_dir / "model", overwrite)
