"""Training runs for any registered model: strategy, precision and XLA, the loop, checkpoints
with exact resume, run folders and the final preset.

A run folder holds `run.json` (what was asked), `checkpoints/` (tf.train checkpoints: weights,
optimizer state, batches seen), `logs/` (TensorBoard) and, at the end, `model/` (a preset that
`fuse --preset` loads). The loop is ours rather than `Model.fit` so that a resumed run
continues mid-epoch on exactly the batch it would have seen, and so that the same loop can serve
MultiWorkerMirroredStrategy, where Keras 3 `fit` is broken (keras-team/keras#20585).

Nothing here knows a particular model: `tf_irgan.models.get(options.model)` gives the class,
which builds its config, its data and its optimizers and says what its checkpoints hold
(`tf_irgan.models.base.GAN`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tf_irgan.distribute import DEFAULT_CLUSTER_TIMEOUT, make_strategy, resolve_kind, use_jit, writes_outputs
from tf_irgan.errors import UserError

RUN_FILE = "run.json"


@dataclass
class TrainOptions:
    data: str
    out: str
    model: str = "ddcgan"
    config: str | None = None          # named config of the model; None: the model's default
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
    deterministic: bool = False        # TF op determinism: slower, bit-identical reruns
    direction: str | None = None       # translation models: vis2ir | ir2vis
    overrides: dict | None = None      # config fields to change (`--set depth=4`), e.g. {"depth": 4}
    init: str | None = None            # preset (name or folder) whose generator weights start the run
    devices: list | None = None        # e.g. ["/cpu:0", "/cpu:1"]; default: all GPUs, else CPU
    strategy: str = "auto"             # auto | mirrored | multiworker | one-device (distribute.py)
    cluster_timeout: float = DEFAULT_CLUSTER_TIMEOUT  # seconds for TF_CONFIG's workers to join
    command: str = field(default_factory=lambda: shlex.join(["tf-irgan", *sys.argv[1:]]))

    @classmethod
    def from_dict(cls, data: dict) -> "TrainOptions":
        data = dict(data)
        if "preset" in data:  # run.json files written before 0.2
            data.setdefault("config", data.pop("preset"))
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class TrainResult:
    run_dir: Path
    batches: int
    preset_dir: Path
    losses: dict
    step_counts: dict
    seconds: float
    task: str = "fusion"
    model: object = None     # the trained keras.Model (its `generator` is what presets keep)


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


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and TensorFlow (weights, dropout, shuffles); with `deterministic`, also
    ask TensorFlow for deterministic kernels (reruns and killed-and-resumed runs are then
    weight-for-weight identical on one device)."""
    import keras
    import tensorflow as tf

    os.environ["PYTHONHASHSEED"] = str(seed)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _prepare_run_dir(options: TrainOptions, writes: bool = True) -> dict | None:
    """Return the stored run description when resuming; refuse to mix two runs in one folder.
    A cluster's other workers (`writes` False) read the chief's folder and write nothing there."""
    out = Path(options.out)
    run_file = out / RUN_FILE
    if options.resume:
        if not run_file.is_file():
            shared = "" if writes else "; every worker needs the chief's run folder (shared storage)"
            raise UserError(f"{out}: no run to resume ({RUN_FILE} missing); drop --resume to start one"
                            + shared)
        try:
            return json.loads(run_file.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise UserError(f"{run_file}: unreadable ({err}); start a new run in another --out") from None
    if not writes:
        return None
    if run_file.exists() or (out / "checkpoints").exists():
        raise UserError(f"{out}: already holds a training run; pass --resume to continue it "
                        "or choose another --out")
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder; choose another --out")
    return None


def _resumed_config(model_class, options: TrainOptions, stored: dict, verbose: bool):
    """The stored run's config and settings; refuses a resume on other data."""
    config = model_class.config_class.from_dict(stored["config"])
    previous = stored["options"]
    options.mixed_precision, options.seed = previous["mixed_precision"], previous["seed"]
    options.deterministic = previous.get("deterministic", False)
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
        _say(f"resuming with the run's settings: config {config.name}, batch {config.batch_size}, "
             f"lr {config.learning_rate}, precision {options.mixed_precision}")
    return config


def train(options: TrainOptions, verbose: bool = True) -> TrainResult:
    from tf_irgan import models

    model_class = models.get(options.model)
    _, cluster = resolve_kind(options.strategy)  # a malformed TF_CONFIG fails here, before any work
    writes = writes_outputs(cluster)
    stored = _prepare_run_dir(options, writes)
    if stored:
        if stored.get("model", "ddcgan") != options.model:
            raise UserError(f"{options.out}: is a {stored.get('model')} run; resume it with "
                            f"--model {stored.get('model')}")
        config = _resumed_config(model_class, options, stored, verbose)
    else:
        config = model_class.config_from_options(options)

    import tensorflow as tf

    out = Path(options.out)
    # First: a multi-worker strategy must configure the runtime before other TensorFlow work.
    strategy = make_strategy(options.strategy, options.devices, options.cluster_timeout)
    with precision(options.mixed_precision):
        seed_everything(options.seed, options.deterministic)  # --seed fixes the initial weights too
        jit = use_jit(options.jit, strategy)
        with strategy.scope():
            model = model_class(config)
            started_from = _warm_start(model, options.init, verbose) if options.init and not stored else None
            data = model.training_data(options)
            total = _total_batches(options, stored, data.steps_per_epoch)
            model.compile(**model.make_optimizers(options.mixed_precision),
                          steps_per_epoch=data.steps_per_epoch, jit_compile=jit)
        run = _run_record(out, options, config, data, total, stored, writes, started_from)
        checkpoint = tf.train.Checkpoint(**model.checkpoint_objects())
        # Every worker saves (saving may need all of them), but only the chief into the run.
        saves = out / "checkpoints" if writes else Path(tempfile.mkdtemp(prefix="tf-irgan-worker-"))
        manager = tf.train.CheckpointManager(checkpoint, saves, max_to_keep=2)
        if stored:
            latest = tf.train.latest_checkpoint(str(out / "checkpoints"))
            if latest is None:
                raise UserError(f"{out}: no checkpoint saved yet; start the run again without --resume")
            _restore(checkpoint, latest, out)
        start = int(model.batches.numpy())
        if verbose:
            _say(f"{'Resuming' if stored else 'Training'} {options.model} ({config.name}"
                 + (f", x{config.scale}" if hasattr(config, "scale") else "") + f") on {data.size} "
                 f"examples, {strategy.num_replicas_in_sync} replica(s), jit {'on' if jit else 'off'}, "
                 f"precision {options.mixed_precision}: batch {start} -> {total}")
        try:
            result = _loop(model, data, strategy, manager, start, total, options, verbose, writes)
        finally:
            if not writes:
                shutil.rmtree(saves, ignore_errors=True)

    if not writes:
        return TrainResult(out, result["batches"], None, result["losses"],
                           dict(getattr(model, "step_counts", {})), result["seconds"], model.task, model)
    preset_dir = export_preset(model, options, result["batches"], run, out / "model", overwrite=True)
    step_counts = dict(getattr(model, "step_counts", {}))
    summary = {"batches": result["batches"], "losses": result["losses"],
               "step_counts": step_counts, "seconds": result["seconds"]}
    (out / "last_session.json").write_text(json.dumps(summary, indent=2))
    return TrainResult(out, result["batches"], preset_dir, result["losses"], step_counts,
                       result["seconds"], model.task, model)


def _warm_start(model, name_or_dir, verbose):
    """Start from a preset's generator (fine-tuning a shipped model on one's own data); the
    discriminator and optimizers start fresh, since presets keep only the generator."""
    from tf_irgan.presets import load_preset

    preset = load_preset(name_or_dir)
    ours = {k: v for k, v in model.generator.get_config().items() if k not in ("name", "dtype", "trainable")}
    theirs = {k: v for k, v in preset.config["config"].items() if k in ours}
    differ = sorted(k for k in ours if theirs.get(k) != ours[k])
    # Settings without weights of their own (dropout, batch vs synchronized batch norm) may
    # change for a fine-tuning; anything that changes the weights' shapes may not.
    shapes = [tuple(w.shape) for w in model.generator.weights]
    if preset.task != model.task or shapes != [tuple(w.shape) for w in preset.model.weights]:
        raise UserError(f"--init {name_or_dir}: its generator differs from this run's "
                        f"({', '.join(differ or ['task'])}); pick the preset's --config or drop --init")
    model.generator.set_weights(preset.model.get_weights())
    if verbose:
        changed = f" (changed: {', '.join(differ)})" if differ else ""
        _say(f"starting from the generator of {preset.path}{changed}")
    # Provenance for the presets this run exports: how the starting weights were made.
    return {"preset": str(preset.path), **{k: preset.metadata[k] for k in
                                           ("train_commands", "batches", "data", "init") if k in preset.metadata}}


def _run_record(out: Path, options, config, data, total, stored, writes: bool,
                started_from: dict | None = None) -> dict:
    """run.json's content, written by the process that writes outputs."""
    if not stored:
        run = {"model": options.model, "config": config.to_dict(), "options": asdict(options),
               "patches": data.size, "steps_per_epoch": data.steps_per_epoch,
               "total_batches": total, "commands": [options.command],
               "data_resolved": str(Path(options.data).resolve()),
               "data_attrs": {k: str(v) for k, v in data.attrs.items()},
               **({"init": started_from} if started_from else {})}
    else:
        run = stored
        run["total_batches"] = total
        run["commands"] = run.get("commands", []) + [options.command]
    if writes:
        out.mkdir(parents=True, exist_ok=True)
        (out / RUN_FILE).write_text(json.dumps(run, indent=2))
    return run


def _restore(checkpoint, path, out):
    status = checkpoint.restore(path)
    try:
        status.assert_existing_objects_matched()
    except AssertionError:
        raise UserError(f"{out}: its checkpoint does not match the model this version builds "
                        "for the run's config; resume it with the tf-irgan version that started it "
                        "or start a new --out") from None


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


def _replica_step(model, strategy):
    """A keras-io style `train_step` written for one replica, run on every replica; the trackers
    (sync-on-read metrics) are read afterwards in cross-replica context, i.e. over all replicas."""
    import tensorflow as tf

    replica_fn = tf.function(model.train_step, jit_compile=model.jit)

    @tf.function
    def step(batch):
        strategy.run(replica_fn, args=(batch,))
    return step


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Progress:
    """Progress on stderr (results stay on stdout): a bar in a terminal; in a redirected log,
    a plain line every `every` batches, with no control codes."""

    def __init__(self, start, total, every, enabled=True):
        self.start, self.total, self.every, self.enabled = start, total, max(int(every), 1), enabled
        self.terminal = enabled and sys.stderr.isatty()
        self.began, self.bar = time.time(), None

    def __enter__(self):
        if self.terminal:
            import click
            self.bar = click.progressbar(length=self.total - self.start, label="training",
                                         file=sys.stderr, show_pos=True, show_eta=True)
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def update(self, done, losses):
        if not self.enabled:
            return
        text = "  ".join(f"{k} {v:.4g}" for k, v in losses.items())
        if self.bar is not None:
            self.bar.label = f"training ({text})"
            self.bar.update(1)
        elif done % self.every == 0 or done == self.total:
            rate = (time.time() - self.began) / max(done - self.start, 1)
            print(f"batch {done}/{self.total}  {text}  {rate:.2f} s/batch", file=sys.stderr, flush=True)


def _loop(model, data, strategy, manager, start, total, options, verbose, writes=True):
    import tensorflow as tf

    # Each global batch is split between the replicas (and workers) as it comes.
    shard = tf.data.Options()
    shard.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = strategy.experimental_distribute_dataset(data.dataset(start).with_options(shard))
    iterator = iter(dataset)
    writer = tf.summary.create_file_writer(str(Path(options.out) / "logs")) if writes \
        else tf.summary.create_noop_writer()
    step = None if model.distributes_itself else _replica_step(model, strategy)
    model.total_batches = total  # the learning-rate schedules that decay over the run need it
    progress = Progress(start, total, options.log_every, verbose)
    last_saved, losses, began = start, {}, time.time()
    with progress:
        for seen in range(start, total):
            batch = next(iterator)
            if step is None:
                model.train_step(batch)
            else:
                # Set outside the compiled step: the optimizers read their learning-rate variable.
                rate = model.learning_rate_at(seen)
                for optimizer in model.optimizers().values():
                    optimizer.learning_rate = rate
                step(batch)
                model.batches.assign_add(1)
            losses = {m.name: float(m.result()) for m in model.metrics}
            if not all(math.isfinite(v) for v in losses.values()):
                kept = (f"the last good checkpoint (batch {last_saved}) is kept in {manager.directory}"
                        if manager.latest_checkpoint else "no checkpoint had been saved yet")
                raise UserError(f"training stopped at batch {seen}: a loss became NaN/inf; {kept}; "
                                "resume with a lower --lr or --mixed-precision off")
            done = seen + 1
            progress.update(done, losses)
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
    writer.close()
    return {"batches": max(total, start), "losses": losses, "seconds": time.time() - began}


def export_preset(model, options, batches, run, path, overwrite) -> Path:
    """Write the model's generator as a preset whose metadata records how the run trained it."""
    from tf_irgan.presets import save_preset

    config = model.config
    attrs = run.get("data_attrs", {})
    metadata = {
        **model.preset_metadata(),
        "model": options.model, "config": config.name,
        "train_commands": run.get("commands", [options.command]), "data": str(options.data),
        "data_source": {"vis_dir": attrs.get("vis_dir"), "ir_dir": attrs.get("ir_dir"),
                        "patch": attrs.get("patch"), "stride": attrs.get("stride")},
        "data_pairs": attrs.get("pairs"), "held_out": attrs.get("held_out"),
        "patches": run.get("patches"), "batches": batches, "batch_size": config.batch_size,
        "mixed_precision": options.mixed_precision, "model_config": config.to_dict(),
        **({"init": run["init"]} if run.get("init") else {}),
    }
    return save_preset(path, model.generator, task=model.task, metadata=metadata,
                       overwrite=overwrite, input_roles=model.input_roles,
                       output_role=model.output_role, model_name=options.model,
                       storage=model.preset_storage)


def preset_from_run(run_dir, out=None, overwrite: bool = False, batch: int | None = None) -> Path:
    """Write a preset from a run's latest checkpoint, or the one saved at `batch` (e.g. to
    compare checkpoints on held-out pairs, or of a run still going)."""
    import tensorflow as tf

    from tf_irgan import models

    run_dir = Path(run_dir)
    run_file = run_dir / RUN_FILE
    if not run_file.is_file():
        raise UserError(f"{run_dir}: not a training run ({RUN_FILE} missing)")
    run = json.loads(run_file.read_text())
    latest = tf.train.latest_checkpoint(str(run_dir / "checkpoints"))
    if latest is None:
        raise UserError(f"{run_dir}: has no checkpoint yet")
    if batch is not None:
        latest = str(run_dir / "checkpoints" / f"ckpt-{batch}")
        if not Path(latest + ".index").is_file():
            kept = sorted(p.stem for p in (run_dir / "checkpoints").glob("ckpt-*.index"))
            raise UserError(f"{run_dir}: no checkpoint of batch {batch}; kept: {', '.join(kept)}")
    model_class = models.get(run.get("model", "ddcgan"))
    model = model_class(model_class.config_class.from_dict(run["config"]))
    generator_only = {"batches": model.batches, "generator": list(model.generator.variables)}
    tf.train.Checkpoint(**generator_only).restore(latest).expect_partial()
    options = TrainOptions.from_dict(run["options"])
    return export_preset(model, options, int(model.batches.numpy()), run,
                         Path(out) if out else run_dir / "model", overwrite)
