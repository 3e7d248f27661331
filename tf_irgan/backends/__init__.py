"""Where a model's compiled sub-steps run: one module per Keras backend.

A model declares its sub-steps (`tf_irgan.models.base.Step`: a loss written in `keras.ops`,
the network it trains, the optimizer) and its schedule; a backend turns each step into one
compiled function that computes the gradient and applies the optimizer in that framework's own
way, as Keras 3's per-backend training guides do:

- TensorFlow (`tensorflow.py`): `tf.GradientTape` in a `tf.function` run under
  `strategy.run` (one device, MirroredStrategy, MultiWorkerMirroredStrategy; XLA optional);
- JAX (`jax.py`): a pure function of the variables' values, `jax.value_and_grad` and
  `optimizer.stateless_apply` under `jax.jit`, data-parallel over all devices with
  `keras.distribution.DataParallel`;
- PyTorch (`torch.py`): eager, `torch.autograd.grad` and `optimizer.apply`, one device.

Every backend takes the numpy batches of a model's data (`iterate(start)`, `shapes`) and
gives the schedule the logs of each step as its own tensors, which become Python floats when
read (`tf_irgan.models.base.StepResult`).
"""

from __future__ import annotations

import importlib

from tf_irgan.errors import UserError

BACKENDS = {"tensorflow": "tf_irgan.backends.tensorflow:TensorFlowBackend",
            "jax": "tf_irgan.backends.jax:JaxBackend",
            "torch": "tf_irgan.backends.torch:TorchBackend"}


def name() -> str:
    """The Keras backend this process runs (KERAS_BACKEND, or Keras's configured one)."""
    import keras
    return keras.backend.backend()


def create(options):
    """The backend object for this process's Keras backend, set up for `options` (strategy,
    devices, jit). Create it before any model: a multi-worker TensorFlow strategy and JAX's
    data-parallel layout must exist before the first variable."""
    current = name()
    if current not in BACKENDS:
        raise UserError(f"KERAS_BACKEND={current}: training runs on {', '.join(BACKENDS)}; "
                        "set KERAS_BACKEND to one of them")
    module, _, cls = BACKENDS[current].partition(":")
    try:
        backend_class = getattr(importlib.import_module(module), cls)
    except ImportError as err:
        raise UserError(f"KERAS_BACKEND={current}: {err}; install the extra (pip install "
                        f"\".[{current}]\") or pick another backend") from None
    return backend_class(options)


class Backend:
    """What the training loop uses of a backend (each module subclasses it)."""

    name = "?"
    replicas = 1
    jit = False
    writes = True      # False on the non-chief workers of a cluster: they write no run folder

    def __init__(self, options):
        self.options = options
        self.step_counts: dict = {}
        self._compiled: dict = {}

    def scope(self):
        """Context in which the model and its optimizers are created."""
        import contextlib
        return contextlib.nullcontext()

    def describe(self) -> str:
        return f"{self.name}, {self.replicas} replica(s), jit {'on' if self.jit else 'off'}"

    def compile(self, model) -> None:
        """Build every optimizer for the network it trains, then compile each declared step."""
        self.model = model
        self.steps = model.steps()
        networks = model.networks()
        for step_name, step in self.steps.items():
            if (step.network is None) != (step.optimizer is None):
                raise ValueError(f"step {step_name}: give both a network and an optimizer, or neither")
            if step.network is not None:
                optimizer = model.optimizers[step.optimizer]
                if not optimizer.built:
                    optimizer.build(networks[step.network].trainable_variables)
        for step_name, step in self.steps.items():
            self._compiled[step_name] = self.compile_step(step)

    def compile_step(self, step):
        raise NotImplementedError

    def run(self, step_name: str, batch, *inputs):
        """Run one compiled step on `batch` (and the outputs of earlier steps); return a
        `StepResult`: the logs (floats once read), the outputs as backend tensors."""
        from tf_irgan.models.base import StepResult

        if step_name not in self._compiled:
            raise KeyError(f"the model declares no step {step_name!r}; its steps: {', '.join(self._compiled)}")
        logs, outputs = self.call_step(self._compiled[step_name], batch, inputs)
        self.step_counts[step_name] = self.step_counts.get(step_name, 0) + 1
        return StepResult(logs, outputs)

    def call_step(self, compiled, batch, inputs):
        raise NotImplementedError

    def sync(self) -> None:
        """Make the Keras variables hold the latest values (before a checkpoint, a preset or
        anything else reads them). Backends that update the variables in place have nothing
        to do."""

    def batches(self, data, start: int):
        """The model's batches from global batch `start` on, ready for `run`."""
        raise NotImplementedError


def prefetched(iterator, size: int = 2):
    """`iterator`'s items made ahead by a background thread (cropping and resizing in numpy
    overlap the step), in the same order."""
    import queue
    import threading

    items: queue.Queue = queue.Queue(maxsize=size)
    done = object()

    def fill():
        try:
            for item in iterator:
                items.put(item)
        except BaseException as err:  # handed to the consumer, which raises it
            items.put(err)
        items.put(done)

    threading.Thread(target=fill, daemon=True).start()
    while True:
        item = items.get()
        if item is done:
            return
        if isinstance(item, BaseException):
            raise item
        yield item
