"""The contract between a GAN model and the rest of the package.

A model module defines a config dataclass (subclass of `Config`) with its named configs, its
networks, and a subclass of `GAN` that declares:

- `task` ("fusion" | "translation"), `input_roles` and `output_role`: what the inference
  pipeline feeds the generator and what it returns (fusion: the generator takes {"detail",
  "intensity"}; its roles are the modality's, "vis" and "ir" by default -> "fused");
- `config(name, **overrides)` and `config_names()`: the named hyper-parameter sets;
  `options()` and `config_from_options(options)`: the model's own `train` options;
- `networks()` (name -> Keras network; `generator` is the one presets keep) and
  `make_optimizers(precision)` (name -> optimizer);
- `steps()`: its compiled sub-steps, each a `Step` written in `keras.ops` for one replica: a
  loss, the network whose trainable weights its gradient updates and the optimizer that does it.
  How the gradient is computed and applied is the backend's (`tf_irgan.backends`), never the
  model's;
- `schedule(batch, run)`: plain Python that decides which sub-steps train one batch
  (`run(name, *inputs)` runs one and returns its logs, read as floats, and its outputs). The default
  runs every step once, in the declared order; DDcGAN's adaptive D/G repeats live here;
- `learning_rate_at(batches)`, `counters()` / `restore_counters()` (numbers besides the weights
  that a checkpoint keeps), `training_data(options)` and `preset_metadata()`.

What the loop sets before training: `steps_per_epoch` and `total_batches`. The training loop
(`tf_irgan.training`), the backends, the presets and the CLI only talk to a model through
this class. Nothing here imports TensorFlow: a model trains on any Keras backend.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from typing import Callable, ClassVar

import keras

from tf_irgan.errors import UserError
from tf_irgan.models.optimizers import ReleasedRMSprop


@dataclass
class Config:
    """Hyper-parameters every model has; a model's config dataclass adds its own."""
    name: str = "default"
    batch_size: int = 1
    learning_rate: float = 2e-4
    g_optimizer: str = "adam"
    d_optimizer: str = "adam"
    # Former name -> name of a setting: run.json files, presets and `--set` written with the old
    # spelling still read (DDcGAN's inputs were once named after IR/visible fusion).
    renamed: ClassVar[dict] = {}

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict):
        data = dict(data)
        if "preset" in data and "name" not in data:  # run.json files written before 0.2
            data["name"] = data.pop("preset")
        data = {cls.renamed.get(k, k): v for k, v in data.items()}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise UserError(f"unknown {cls.__name__} settings {sorted(unknown)}; check the config file")
        # Checked as overrides of the defaults: a hand-edited value of the wrong type is refused
        # here, and the config's own checks (__post_init__) run on what is read back.
        return make_config(cls, {}, {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def make_config(cls, values: dict, overrides: dict):
    """`cls(**values)` with some fields overridden, built once, so that its own checks see the
    final values; an unknown or mistyped override is a one-line error."""
    overrides = {cls.renamed.get(k, k): v for k, v in overrides.items()}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise UserError(f"{cls.__name__} has no setting {', '.join(unknown)}; "
                        f"known: {', '.join(fields)}")
    checked = {}
    for name, value in overrides.items():
        current = values[name] if name in values else fields[name].default
        numeric = isinstance(current, (int, float)) and not isinstance(current, bool)
        if (isinstance(current, bool) and not isinstance(value, bool)) or (numeric and (
                isinstance(value, bool) or not isinstance(value, (int, float)))) or (
                isinstance(current, str) and not isinstance(value, str)):
            raise UserError(f"setting {name}={value!r}: expected a {type(current).__name__} "
                            f"like its default {current!r}")
        if isinstance(current, int) and not isinstance(current, bool) and isinstance(value, float):
            if not value.is_integer():
                raise UserError(f"setting {name}={value!r}: expected a whole number")
            value = int(value)
        if isinstance(current, float) and isinstance(value, int):
            value = float(value)   # `--set learning_rate=0`: Keras takes floats only
        checked[name] = value
    return cls(**{**values, **checked})


def with_named_options(overrides: dict | None, options: dict) -> dict:
    """`--set` overrides together with the settings that have an option of their own
    ({"--lr": ("learning_rate", value), ...}; None where the option was not given). Either way
    alone is used; the same setting given both ways is refused."""
    merged = dict(overrides or {})
    for option, (name, value) in options.items():
        if value is None:
            continue
        if name in merged:
            raise UserError(f"{option} {value} and --set {name}={merged[name]} name the same "
                            "setting; give one of them")
        merged[name] = value
    return merged


@contextlib.contextmanager
def precision(mode: str):
    """Networks built inside use this Keras precision policy ("off", "bf16", "fp16")."""
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


OPTIMIZERS = {"adam": lambda lr: keras.optimizers.Adam(lr, beta_1=0.5),
              "rmsprop": lambda lr: keras.optimizers.RMSprop(lr),
              # TF1's RMSPropOptimizer, as the released DDcGAN code uses it (`official`)
              "rmsprop-tf1": ReleasedRMSprop,
              "sgd": lambda lr: keras.optimizers.SGD(lr)}


def make_optimizer(name: str, learning_rate: float, mixed_precision: str = "off"):
    if name not in OPTIMIZERS:
        raise UserError(f"optimizer '{name}' is unknown; use one of {', '.join(OPTIMIZERS)}")
    optimizer = OPTIMIZERS[name](learning_rate)
    if mixed_precision == "fp16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


@dataclass(frozen=True)
class Step:
    """One compiled sub-step of a model's training, written for one replica in `keras.ops`.

    `loss(batch, *inputs)` returns `(loss, logs, outputs)`: the scalar whose gradient with respect
    to `network`'s trainable weights `optimizer` applies (both names from `networks()` and
    `optimizers`; both None for a forward pass that trains nothing), a dict of scalars to report
    (the names listed in `logs`) and a dict of tensors that later sub-steps of the same batch take
    as `inputs`. Losses are means over the replica's examples; the backend makes them means over
    the global batch.
    """
    loss: Callable
    network: str | None = None
    optimizer: str | None = None
    logs: tuple = ()


class StepResult(dict):
    """What `run(name, ...)` gives a schedule: the step's logs (this dict) and `outputs`, the
    tensors it passes on. The logs stay the backend's tensors until one is read
    (`result["d_detail_loss"]` is a Python float): on an accelerator each read waits for the
    device, so a schedule pays only for the losses it decides on, and the training loop turns
    the rest into numbers at --log-every and at checkpoints."""

    def __init__(self, logs: dict, outputs: dict):
        super().__init__(logs)
        self.outputs = outputs

    def __getitem__(self, key):
        value = super().__getitem__(key)
        if not isinstance(value, float):
            value = float(value)
            super().__setitem__(key, value)
        return value


class GAN:
    """Base class of the registered GAN models (see the module docstring for the contract)."""

    task = "fusion"
    input_roles = ("vis", "ir")   # a fusion model's by its modality (DDcGAN: `modalities`)
    output_role = "fused"
    config_class = Config
    # Former name -> name of a network, an optimizer or a log: checkpoints and history.csv
    # written under the old names resume.
    renamed: dict = {}
    preset_storage = "float32"   # dtype of the saved generator weights (presets.save_preset)

    def __init__(self, config):
        self.config = config
        # Set by the training loop before the first batch: the learning-rate clocks read them.
        self.steps_per_epoch = 1
        self.total_batches = 1
        self.optimizers: dict = {}

    # -- configs and options -------------------------------------------------------------

    @classmethod
    def config_names(cls) -> list[str]:
        raise NotImplementedError

    @classmethod
    def config(cls, name: str, **overrides):
        """The named config with `overrides` (None values ignored)."""
        raise NotImplementedError

    @classmethod
    def options(cls) -> list:
        """This model's own `train` options (`click.Option`s; none by default). Their values reach
        `config_from_options` as `options.model_options` (name -> value); `train` refuses them
        with another --model."""
        return []

    @classmethod
    def config_from_options(cls, options):
        raise NotImplementedError

    # -- training ----------------------------------------------------------------------

    def networks(self) -> dict:
        """Name -> network, as they appear in checkpoints."""
        return {"generator": self.generator, "discriminator": self.discriminator}

    def make_optimizers(self, mixed_precision: str = "off") -> dict:
        """Name -> optimizer, one per side as the config names them; kept in `self.optimizers`."""
        self.optimizers = {
            "d_optimizer": make_optimizer(self.config.d_optimizer, self.config.learning_rate, mixed_precision),
            "g_optimizer": make_optimizer(self.config.g_optimizer, self.config.learning_rate, mixed_precision)}
        return self.optimizers

    def steps(self) -> dict:
        """Name -> `Step`, in the order the default schedule runs them."""
        raise NotImplementedError

    def schedule(self, batch: int, run) -> None:
        """Train global batch number `batch`: by default every step once, in order."""
        for name in self.steps():
            run(name)

    def learning_rate_at(self, batches) -> float:
        return float(self.config.learning_rate)

    def counters(self) -> dict:
        """Numbers besides weights that the schedule keeps between batches (checkpointed)."""
        return {}

    def restore_counters(self, values: dict) -> None:
        pass

    def training_data(self, options):
        """A `tf_irgan.data.datasets.Batches` for `options.data`."""
        raise NotImplementedError

    def summary(self) -> str:
        """A few words on the model for progress lines: its config's name by default."""
        return self.config.name

    def preset_metadata(self) -> dict:
        """What the saved generator's metadata.json says about the model (description, ...)."""
        return {"description": f"{type(self).__name__} generator, {self.config.name} config"}


def per_example_mean(values):
    """Mean over all axes but the first: one number per example."""
    from keras import ops
    return ops.mean(ops.reshape(ops.cast(values, "float32"), (ops.shape(values)[0], -1)), axis=1)
