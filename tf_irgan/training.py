"""Training runs for any registered model on any Keras backend: the loop, checkpoints with
exact resume, run folders, `history.csv` and the final preset.

A run folder holds `run.json` (what was asked), `checkpoints/` (`tf_irgan.checkpoints`:
weights, optimizer state, batches seen; the same files on every backend), `history.csv` (the
logged losses), `logs/` (TensorBoard, where TensorFlow is installed) and, at the end, `model/`
(a preset that `fuse --preset` loads). The loop is ours rather than `Model.fit` so that a
resumed run continues mid-epoch on exactly the batch it would have seen, and so that the same
loop serves every backend and MultiWorkerMirroredStrategy, where Keras 3 `fit` is broken
(keras-team/keras#20585).

Nothing here knows a particular model or framework: `tf_irgan.models.get(options.model)` gives
the class (`tf_irgan.models.base.GAN`: its networks, optimizers, declared sub-steps and
schedule) and `tf_irgan.backends.create` the backend that compiles and runs the sub-steps.
"""

from __future__ import annotations

import contextlib
import csv
import io
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

from tf_irgan import checkpoints
from tf_irgan.distribute import DEFAULT_CLUSTER_TIMEOUT
from tf_irgan.errors import UserError
from tf_irgan.files import WriteFailed, write_failure, write_text
from tf_irgan.models.base import precision  # noqa: F401  (also imported from here)

RUN_FILE = "run.json"


@dataclass
class TrainOptions:
    data: str
    out: str
    model: str = "ddcgan"
    config: str | None = None          # named config of the model; None: the model's default
    model_options: dict = field(default_factory=dict)  # the model's own options (GAN.options), e.g. {"scale": 4}
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
    overrides: dict | None = None      # config fields to change (`--set depth=4`), e.g. {"depth": 4}
    init: str | None = None            # preset (name or folder) whose generator weights start the run
    devices: list | None = None        # e.g. ["/cpu:0", "/cpu:1"]; default: all GPUs, else CPU
    strategy: str = "auto"             # auto | mirrored | multiworker | one-device (distribute.py)
    cluster_timeout: float = DEFAULT_CLUSTER_TIMEOUT  # seconds for TF_CONFIG's workers to join
    time_limit: float | None = None    # minutes: stop at a checkpoint (and write the preset) then
    command: str = field(default_factory=lambda: shlex.join(["tf-irgan", *sys.argv[1:]]))

    @classmethod
    def from_dict(cls, data: dict) -> "TrainOptions":
        data = dict(data)
        if "preset" in data:  # run.json files written before 0.2
            data.setdefault("config", data.pop("preset"))
        # Before 0.3 the models' own options were fields of their own.
        own = {k: data.pop(k) for k in ("scale", "direction") if k in data}
        data["model_options"] = {**{k: v for k, v in own.items() if v is not None},
                                 **(data.get("model_options") or {})}
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
    model: object = None     # the trained GAN (its `generator` is what presets keep)
    backend: str = "tensorflow"
    time_limit_reached: bool = False
    jit: bool = False


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and the backend (weights, dropout); with `deterministic` on
    TensorFlow, also ask for deterministic kernels (reruns and killed-and-resumed runs are then
    weight-for-weight identical on one device; JAX's CPU and GPU kernels are deterministic)."""
    import keras

    from tf_irgan.backends import name

    os.environ["PYTHONHASHSEED"] = str(seed)
    keras.utils.set_random_seed(seed)
    if deterministic and name() == "tensorflow":
        import tensorflow as tf
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
    try:
        config = model_class.config_class.from_dict(stored["config"])
    except UserError as err:
        raise UserError(f"{Path(options.out) / RUN_FILE}: its config does not validate ({err}); "
                        "restore the file or start a new run in another --out folder") from None
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
    """Train (or resume) the run in `options.out`, which this process holds for its whole life:
    a second `train` into the same folder is refused at once (`files.exclusive`). The lock file
    sits beside the run folder, so a run killed before it starts (a cluster that never formed)
    leaves no run folder."""
    from tf_irgan.files import exclusive
    writes = writes_run(options)
    with exclusive(options.out, folder=False) if writes else contextlib.nullcontext():
        return _train(options, verbose)


def _train(options: TrainOptions, verbose: bool = True) -> TrainResult:
    from tf_irgan import backends, models

    model_class = models.get(options.model)
    if options.time_limit is not None and options.time_limit <= 0:
        raise UserError(f"--time-limit {options.time_limit:g}: give the minutes the run may take, e.g. 60")
    resolve_strategy(options.strategy)  # a malformed TF_CONFIG fails here, before any work
    stored = _prepare_run_dir(options, writes_run(options))
    if stored:
        if stored.get("model", "ddcgan") != options.model:
            raise UserError(f"{options.out}: is a {stored.get('model')} run; resume it with "
                            f"--model {stored.get('model')}")
        config = _resumed_config(model_class, options, stored, verbose)
    else:
        config = model_class.config_from_options(options)

    out = Path(options.out)
    backend = backends.create(options)
    writes = backend.writes
    with precision(options.mixed_precision):
        seed_everything(options.seed, options.deterministic)  # --seed fixes the initial weights too
        found = checkpoints.latest(out / "checkpoints") if stored else None
        restart = bool(stored) and found is None
        if restart and verbose:
            _say(f"{out}: stopped before its first checkpoint; starting it over from batch 0 "
                 "with its recorded settings")
        with backend.scope():
            model = model_class(config)
            # A new run starts from --init; one started over, from the preset it recorded.
            if not stored:
                init = options.init
            else:
                init = (stored.get("init") or {}).get("preset") if restart else None
            started_from = _warm_start(model, init, verbose) if init else None
            data = model.training_data(options)
            total = _total_batches(options, stored, data.steps_per_epoch)
            model.steps_per_epoch, model.total_batches = max(int(data.steps_per_epoch), 1), total
            model.make_optimizers(options.mixed_precision)
            backend.compile(model)
        run = _run_record(out, options, config, data, total, stored, writes, started_from)
        # Every worker saves (saving may need all of them), but only the chief into the run.
        saves = out / "checkpoints" if writes else Path(tempfile.mkdtemp(prefix="tf-irgan-worker-"))
        start, seconds = 0, 0.0
        if found is not None:
            batch, path, is_legacy = found
            restored = (checkpoints.restore_legacy(path, model, out) if is_legacy
                        else checkpoints.restore(path, model, run_dir=out))
            start, seconds = restored["batch"], float(restored["extra"].get("seconds", 0.0))
        if verbose:
            _say(f"{'Resuming' if stored else 'Training'} {options.model} ({model.summary()}) on "
                 f"{data.size} examples, {backend.describe()}, precision {options.mixed_precision}: "
                 f"batch {start} -> {total}")
        try:
            result = _loop(model, data, backend, saves, start, total, options, verbose, writes, seconds)
        finally:
            if not writes:
                shutil.rmtree(saves, ignore_errors=True)

    step_counts = dict(backend.step_counts)
    if not writes:
        return TrainResult(out, result["batches"], None, result["losses"], step_counts,
                           result["seconds"], model.task, model, backend.name, result["stopped"], backend.jit)
    try:
        preset_dir = export_preset(model, options, result["batches"], run, out / "model",
                                   overwrite=True)
    except UserError as error:   # a full disk after the last checkpoint: nothing is lost
        raise UserError(f"training reached batch {result['batches']} and its checkpoint is kept, "
                        f"but the preset was not written: {error}; run the same command with "
                        "--resume to write it") from None
    summary = {"batches": result["batches"], "losses": result["losses"], "step_counts": step_counts,
               "seconds": result["seconds"], "backend": backend.name,
               "time_limit_reached": result["stopped"]}
    write_text(out / "last_session.json", json.dumps(summary, indent=2), overwrite=True)
    return TrainResult(out, result["batches"], preset_dir, result["losses"], step_counts,
                       result["seconds"], model.task, model, backend.name, result["stopped"], backend.jit)


def resolve_strategy(kind: str):
    from tf_irgan.distribute import resolve_kind
    return resolve_kind(kind)


def writes_run(options) -> bool:
    """Whether this process writes the run folder (not the non-chief workers of a cluster)."""
    from tf_irgan.distribute import writes_outputs
    return writes_outputs(resolve_strategy(options.strategy)[1])


def _warm_start(model, name_or_dir, verbose):
    """Start from a preset's generator (fine-tuning a shipped model on one's own data); the
    discriminator and optimizers start fresh, since presets keep only the generator."""
    from keras import ops

    from tf_irgan.presets import load_preset

    preset = load_preset(name_or_dir)
    ours = {k: v for k, v in model.generator.get_config().items() if k not in ("name", "dtype", "trainable")}
    theirs = {k: v for k, v in preset.config["config"].items() if k in ours}
    differ = sorted(k for k in ours if theirs.get(k) != ours[k])
    # Settings without weights of their own (dropout, batch vs synchronized batch norm) may
    # change for a fine-tuning. So may those the generator lists as replacing some of its layers
    # (`partial_init_fields`: a U-Net's upsampling): the replaced layers start fresh and every
    # other weight is copied, provided that the preset with only those settings changed would
    # have exactly this run's weight shapes (nothing else that owns weights changed).
    shapes = [tuple(w.shape) for w in model.generator.weights]
    same = shapes == [tuple(w.shape) for w in preset.model.weights]
    replaces = set(differ) & set(getattr(model.generator, "partial_init_fields", ()))
    partial = (not same and replaces and preset.task == model.task
               and _shapes_with(preset, {k: ours[k] for k in replaces}) == shapes)
    if preset.task != model.task or not (same or partial):
        raise UserError(f"--init {name_or_dir}: its generator differs from this run's "
                        f"({', '.join(differ or ['task'])}); pick the preset's --config or drop --init")
    copied = ""
    if same:
        model.generator.set_weights(preset.model.get_weights())
    else:
        pairs = _same_named_weights(preset.model, model.generator)
        for theirs, ours_weight in pairs:
            ours_weight.assign(ops.convert_to_numpy(theirs))
        copied = f"; {len(pairs)} of {len(shapes)} weights copied, the rest start fresh"
    if verbose:
        changed = f" (changed: {', '.join(differ)}{copied})" if differ else ""
        _say(f"starting from the generator of {preset.path}{changed}")
    # Provenance for the presets this run exports: how the starting weights were made.
    return {"preset": str(preset.path), **{k: preset.metadata[k] for k in
                                           ("train_commands", "batches", "data", "init") if k in preset.metadata}}


def _shapes_with(preset, changes: dict) -> list:
    """The weight shapes of the preset's generator rebuilt with `changes` to its settings."""
    probe = type(preset.model).from_config({**preset.model.get_config(), **changes})
    probe.build_for_inference()
    return [tuple(w.shape) for w in probe.weights]


def _same_named_weights(source, target) -> list:
    """(source weight, target weight) pairs of the same path (without the model's own name) and
    shape: what a fine-tuning with replaced layers keeps."""
    def key(weight):
        return weight.path.split("/", 1)[-1]

    theirs = {key(w): w for w in source.weights}
    return [(theirs[key(w)], w) for w in target.weights
            if key(w) in theirs and tuple(theirs[key(w)].shape) == tuple(w.shape)]


def _run_record(out: Path, options, config, data, total, stored, writes: bool,
                started_from: dict | None = None) -> dict:
    """run.json's content, written by the process that writes outputs."""
    if not stored:
        run = {"model": options.model, "config": config.to_dict(), "options": asdict(options),
               "patches": data.size, "steps_per_epoch": data.steps_per_epoch,
               "total_batches": total, "commands": [options.command],
               "data_resolved": str(Path(options.data).resolve()),
               "data_attrs": {k: v if isinstance(v, (int, float, bool)) else str(v)
                              for k, v in data.attrs.items()},
               **({"init": started_from} if started_from else {})}
    else:
        run = stored
        run["total_batches"] = total
        run["commands"] = run.get("commands", []) + [options.command]
    if writes:
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / RUN_FILE, json.dumps(run, indent=2), overwrite=True)   # never half a file
    return run


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

    def update(self, done, losses=None):
        """One more batch; `losses` (numbers) when the loop has them, at --log-every."""
        if not self.enabled:
            return
        if losses is not None:
            self.text = "  ".join(f"{k} {v:.4g}" for k, v in losses.items())
        text = getattr(self, "text", "")
        if self.bar is not None:
            self.bar.label = f"training ({text})" if text else "training"
            self.bar.update(1)
        elif done % self.every == 0 or done == self.total:
            rate = (time.time() - self.began) / max(done - self.start, 1)
            print(f"batch {done}/{self.total}  {text}  {rate:.2f} s/batch", file=sys.stderr, flush=True)


class History:
    """`history.csv`: one row per logged window (batch, each log's mean over the window, learning
    rate, training seconds so far). On resume, rows past the restored checkpoint (written after
    it by a run that was then stopped) are dropped, so every batch appears once."""

    def __init__(self, path: Path, columns, start: int, writes: bool, renamed=None):
        self.path, self.columns, self.writes = path, ["batch", *columns, "learning_rate", "seconds"], writes
        if not writes:
            return
        kept = []
        if start > 0:
            rows = []
            if path.is_file():
                with path.open(newline="") as f:
                    rows = list(csv.reader(f))
            if rows:   # columns under a former name (`GAN.renamed`) are the same columns
                rows[0] = [(renamed or {}).get(name, name) for name in rows[0]]
            if rows and rows[0] == self.columns:
                # A row cut short (the machine stopped mid-append) has fewer fields: dropped.
                kept = [row for row in rows[1:] if len(row) == len(self.columns)
                        and row[0].isdigit() and int(row[0]) <= start]
            else:
                # Emptied, cut or edited by hand: the record of batches 1..start is gone, and
                # saying so beats a history that silently begins mid-run. Its bytes are kept.
                where = ""
                if rows:
                    aside = path.with_name(f"{path.name}.unreadable-{start}")
                    path.replace(aside)
                    where = f" (its content is kept as {aside.name})"
                _say(f"note: {path} is missing, empty or not this run's{where}; the record "
                     f"continues from batch {start} (the losses before it are in logs/, "
                     "TensorBoard's copy)")
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        writer.writerow(self.columns)
        writer.writerows(kept)
        write_text(path, text.getvalue(), overwrite=True)   # the old record stays whole until then

    def add(self, batch: int, means: dict, learning_rate: float, seconds: float) -> None:
        if not self.writes:
            return
        row = [batch] + [f"{means[c]:.6g}" if c in means else "" for c in self.columns[1:-2]] \
            + [f"{learning_rate:.6g}", f"{seconds:.1f}"]
        # Appended in place (a rewrite per row would cost O(rows)); a row the disk stopped
        # half-way is cut off again, so the file always ends on a whole row.
        size = self.path.stat().st_size if self.path.exists() else 0   # removed by hand: begun again
        try:
            with self.path.open("a", newline="") as f:
                csv.writer(f).writerow(row)
        except OSError as error:
            with contextlib.suppress(OSError), self.path.open("r+b") as f:
                f.truncate(size)
            why = write_failure(error)
            if why:
                raise WriteFailed(self.path, why) from None
            raise


def _summary_writer(out: Path, writes: bool):
    """TensorBoard scalars where TensorFlow is installed (and only then: JAX machines often
    have none); None otherwise."""
    if not writes:
        return None
    try:
        import tensorflow as tf
    except ImportError:
        return None
    return tf.summary.create_file_writer(str(out / "logs"))


def train_batch(model, backend, batch, index: int) -> dict:
    """Train global batch number `index`: set the learning rates for it, then let the model's
    schedule run its sub-steps. Returns every log of every sub-step run, name -> list, as the
    backend gives them (tensors: `float()` makes them numbers)."""
    rate = model.learning_rate_at(index)
    for optimizer in model.optimizers.values():
        optimizer.learning_rate = rate
    logs: dict = {}

    def run(name, *inputs):
        result = backend.run(name, batch, *inputs)
        for key, value in dict.items(result):  # as given: reading them is the schedule's call
            logs.setdefault(key, []).append(value)
        return result

    model.schedule(index, run)
    return logs


def _loop(model, data, backend, saves, start, total, options, verbose, writes, seconds_before):
    out = Path(options.out)
    columns = list(dict.fromkeys(name for step in model.steps().values() for name in step.logs))
    history = History(out / "history.csv", columns, start, writes, model.renamed)
    writer = _summary_writer(out, writes)
    batches = backend.batches(data, start)
    progress = Progress(start, total, options.log_every, verbose)
    limit = options.time_limit * 60 if options.time_limit else None
    last_saved, reported, began = (start if start else None), {}, time.time()
    window: dict = {}
    done, stopped = start, False

    def save(batch):
        nonlocal last_saved
        backend.sync()
        try:
            checkpoints.save(saves, model, batch, {"seconds": seconds_before + time.time() - began})
        except UserError as error:   # a full disk: the run stops at its last complete checkpoint
            kept = (f"the last complete checkpoint (batch {last_saved}) is kept"
                    if last_saved is not None else "no checkpoint had been saved yet")
            raise UserError(f"training stopped at batch {batch}: {error}; {kept}; continue with "
                            "--resume once there is room") from None
        last_saved = batch

    def check_finite():
        """The window's logs as numbers (the only host syncs besides what the schedule reads);
        a NaN or infinite one stops the run before anything is saved after it."""
        for batch_index, logs in pending:
            for key, values in logs.items():
                numbers = [float(v) for v in values]
                if not all(math.isfinite(v) for v in numbers):
                    kept = (f"the last good checkpoint (batch {last_saved}) is kept in {saves}"
                            if last_saved is not None else "no checkpoint had been saved yet")
                    raise UserError(f"training stopped at batch {batch_index}: a loss became "
                                    f"NaN/inf; {kept}; resume with a lower --lr or "
                                    "--mixed-precision off")
                window.setdefault(key, []).extend(numbers)
        pending.clear()

    pending: list = []   # (batch, its logs as the backend gave them), not yet checked
    with progress, contextlib.ExitStack() as on_exit:
        # However the loop ends (the end, an error, Ctrl-C), the variables get the latest values.
        on_exit.callback(backend.sync)
        for seen in range(start, total):
            pending.append((seen, train_batch(model, backend, next(batches), seen)))
            done = seen + 1
            elapsed = time.time() - began
            # Stop when the next batch would likely end past the limit (the checkpoint and the
            # preset still have to be written).
            stopped = limit is not None and done < total and \
                elapsed + 2 * elapsed / (done - start) > limit
            logging = done % options.log_every == 0 or done == total or stopped
            saving = done % options.checkpoint_every == 0 or done == total or stopped
            if logging or saving:
                check_finite()
            means = {k: sum(v) / len(v) for k, v in window.items()} if logging else None
            progress.update(done, means)
            if logging:
                reported = means
                history.add(done, means, model.learning_rate_at(done), seconds_before + elapsed)
                if writer is not None:
                    import tensorflow as tf
                    with writer.as_default(step=done):
                        for name, value in means.items():
                            tf.summary.scalar(name, value)
                        tf.summary.scalar("learning_rate", model.learning_rate_at(done))
                window = {}
            if saving:
                save(done)
            if stopped:
                if verbose:
                    _say(f"time limit of {options.time_limit:g} min reached at batch {done} of {total}; "
                         f"checkpoint saved: continue with --resume")
                break
    if writer is not None:
        writer.flush()
        writer.close()
    # The losses of the last logged window (every sub-step of its batches), as history.csv has them.
    return {"batches": max(done, start), "losses": reported, "seconds": time.time() - began,
            "stopped": stopped}


DATA_FOLDERS = ("detail_dir", "intensity_dir", "vis_dir", "ir_dir")


def export_preset(model, options, batches, run, path, overwrite) -> Path:
    """Write the model's generator as a preset whose metadata records how the run trained it."""
    from tf_irgan.presets import save_preset

    from tf_irgan.backends import name
    from tf_irgan.presets import name_list

    config = model.config
    attrs = run.get("data_attrs", {})
    metadata = {
        **model.preset_metadata(),
        "model": options.model, "config": config.name, "keras_backend": name(),
        "train_commands": run.get("commands", [options.command]), "data": portable_path(options.data),
        # Fusion patches name their folders detail_dir and intensity_dir (vis_dir and ir_dir in
        # files made before that), translation pairs vis_dir and ir_dir.
        "data_source": {**{key: portable_path(attrs.get(key)) for key in DATA_FOLDERS if key in attrs},
                        "patch": _number(attrs.get("patch")), "stride": _number(attrs.get("stride"))},
        "data_pairs": name_list(attrs.get("pairs")), "held_out": name_list(attrs.get("held_out")),
        **({"input_levels": json.loads(attrs["input_levels"])} if attrs.get("input_levels") else {}),
        "patches": run.get("patches"), "batches": batches, "batch_size": config.batch_size,
        "mixed_precision": options.mixed_precision, "model_config": config.to_dict(),
        **({"init": {**run["init"], "preset": portable_path(run["init"].get("preset"))}}
           if run.get("init") else {}),
    }
    return save_preset(path, model.generator, task=model.task, metadata=metadata,
                       overwrite=overwrite, input_roles=model.input_roles,
                       output_role=model.output_role, model_name=options.model,
                       storage=model.preset_storage)


def portable_path(path):
    """A path as a preset may record it: relative ones as given, absolute ones cut to their last
    two parts (`roadscene/vi`), so no metadata names a folder of the machine that trained it."""
    if path is None:
        return None
    path = Path(str(path))
    return str(Path(*path.parts[-2:])) if path.is_absolute() else str(path)


def _number(value):
    """An attribute stored as text by older runs ("84") as the number it is."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def preset_from_run(run_dir, out=None, overwrite: bool = False, batch: int | None = None) -> Path:
    """Write a preset from a run's latest checkpoint, or the one saved at `batch` (e.g. to
    compare checkpoints on held-out pairs, or of a run still going)."""
    from tf_irgan import models

    run_dir = Path(run_dir)
    run_file = run_dir / RUN_FILE
    if not run_file.is_file():
        raise UserError(f"{run_dir}: not a training run ({RUN_FILE} missing)")
    run = json.loads(run_file.read_text())
    folder = run_dir / "checkpoints"
    found = checkpoints.latest(folder)
    if found is None:
        raise UserError(f"{run_dir}: has no checkpoint yet")
    if batch is not None:
        new, old = checkpoints.saved(folder), checkpoints.legacy(folder)
        if batch not in new and batch not in old:
            kept = sorted(set(new) | set(old))
            raise UserError(f"{run_dir}: no checkpoint of batch {batch}; kept: "
                            f"{', '.join(f'ckpt-{b}' for b in kept)}")
        found = (batch, new[batch], False) if batch in new else (batch, old[batch], True)
    model_class = models.get(run.get("model", "ddcgan"))
    model = model_class(model_class.config_class.from_dict(run["config"]))
    _, path, is_legacy = found
    restored = (checkpoints.restore_legacy(path, model, run_dir, networks_only=("generator",)) if is_legacy
                else checkpoints.restore(path, model, networks_only=("generator",), run_dir=run_dir))
    options = TrainOptions.from_dict(run["options"])
    return export_preset(model, options, restored["batch"], run,
                         Path(out) if out else run_dir / "model", overwrite)
