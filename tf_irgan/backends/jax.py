"""JAX: each step a pure function of the variables' values, `jax.value_and_grad` and
`optimizer.stateless_apply` under `jax.jit` (Keras 3's JAX training guide).

As in that guide, the state is carried from step to step as values (`self.values`: every
network and optimizer variable's current value) and written back into the Keras variables only
by `sync()`, which the training loop calls before a checkpoint and at the end: a sub-step then
costs no re-read and re-assignment of every variable, and its logs stay on the device until
the loop reads them. Learning rates are read from their Keras variables at each step (the loop
sets them per batch).

The model's losses are written with ordinary layer calls; a `keras.StatelessScope` maps every
variable to the value passed in and collects what the layers assign (batch-norm statistics,
dropout seeds), so one definition serves all backends. With several devices the variables are
replicated and each batch split along its first axis (`keras.distribution.DataParallel`); the
step is written for the global batch and XLA places the cross-device sums, so its numbers
are those of one device given the same batch.
"""

from __future__ import annotations

import jax
import keras
import numpy as np

from tf_irgan.backends import Backend, prefetched
from tf_irgan.errors import UserError


class JaxBackend(Backend):
    name = "jax"

    def __init__(self, options):
        super().__init__(options)
        if options.strategy == "multiworker":
            raise UserError("--strategy multiworker: several machines train with the TensorFlow "
                            "backend (KERAS_BACKEND=tensorflow, docs/distributed.md); JAX trains "
                            "on all devices of one machine")
        if options.mixed_precision == "fp16":
            raise UserError("--mixed-precision fp16 needs loss scaling, which tf-irgan does on "
                            "TensorFlow only; use --mixed-precision bf16 with JAX")
        devices = jax.devices()
        if options.strategy == "one-device":
            devices = devices[:1]
        self.devices = devices
        self.replicas = len(devices)
        self.jit = options.jit != "off"
        self.distribution = keras.distribution.DataParallel(devices=devices) if len(devices) > 1 else None

    def scope(self):
        import contextlib
        return self.distribution.scope() if self.distribution else contextlib.nullcontext()

    def describe(self) -> str:
        return f"jax on {self.replicas} {self.devices[0].platform} device(s), jit {'on' if self.jit else 'off'}"

    def compile(self, model) -> None:
        # Every variable of every network: a step reads them all (G's step calls the
        # discriminators) and may assign the non-trainable ones (statistics, seeds).
        seen, variables = set(), []
        for network in model.networks().values():
            for variable in network.variables:
                if id(variable) not in seen:
                    seen.add(id(variable))
                    variables.append(variable)
        self.variables = variables
        self.values: dict = {}     # id(variable) -> its current value, until sync()
        super().compile(model)
        # Every optimizer variable is carried too, except the learning rates the loop sets.
        rates = {id(o._learning_rate) for o in model.optimizers.values()
                 if isinstance(getattr(o, "_learning_rate", None), keras.Variable)}
        self.carried = {id(v): v for v in variables}
        for optimizer in model.optimizers.values():
            self.carried.update({id(v): v for v in optimizer.variables if id(v) not in rates})

    def compile_step(self, step):
        network = self.model.networks()[step.network] if step.network else None
        optimizer = self.model.optimizers[step.optimizer] if step.optimizer else None
        trained = list(network.trainable_variables) if network else []
        ids = {id(v) for v in trained}
        frozen = [v for v in self.variables if v.trainable and id(v) not in ids]
        state = [v for v in self.variables if not v.trainable]

        def compute(trained_values, frozen_values, state_values, batch, inputs):
            mapping = list(zip(trained, trained_values)) + list(zip(frozen, frozen_values)) \
                + list(zip(state, state_values))
            with keras.StatelessScope(state_mapping=mapping) as scope:
                loss, logs, outputs = step.loss(batch, *inputs)
            new_state = [scope.get_current_value(v) for v in state]
            return loss, (logs, outputs, new_state)

        if network is None:
            def forward(trained_values, frozen_values, state_values, optimizer_values, batch, inputs):
                _, (logs, outputs, new_state) = compute([], frozen_values, state_values, batch, inputs)
                return trained_values, new_state, optimizer_values, logs, outputs
            function = forward
        else:
            gradient = jax.value_and_grad(compute, has_aux=True)

            def train(trained_values, frozen_values, state_values, optimizer_values, batch, inputs):
                (_, (logs, outputs, new_state)), grads = gradient(
                    trained_values, frozen_values, state_values, batch, inputs)
                trained_values, optimizer_values = optimizer.stateless_apply(
                    optimizer_values, grads, trained_values)
                return trained_values, new_state, optimizer_values, logs, outputs
            function = train
        optimizer_variables = list(optimizer.variables) if optimizer else []
        compiled = jax.jit(function) if self.jit else function
        return compiled, trained, frozen, state, optimizer_variables

    def _current(self, variable):
        # `values` holds only carried variables; the rest (learning rates) are read each step.
        value = self.values.get(id(variable))
        return variable.value if value is None else value

    def call_step(self, compiled, batch, inputs):
        function, trained, frozen, state, optimizer_variables = compiled
        values = [[self._current(v) for v in group]
                  for group in (trained, frozen, state, optimizer_variables)]
        trained_values, state_values, optimizer_values, logs, outputs = function(
            values[0], values[1], values[2], values[3], batch, tuple(inputs))
        # The new values are carried to the next step; sync() writes them into the variables.
        for group, new in ((trained, trained_values), (state, state_values),
                           (optimizer_variables, optimizer_values)):
            for variable, value in zip(group, new):
                if id(variable) in self.carried:
                    self.values[id(variable)] = value
        return logs, outputs

    def sync(self) -> None:
        for key, value in self.values.items():
            self.carried[key].assign(value)
        self.values.clear()

    def batches(self, data, start: int):
        if self.distribution is not None:
            for shape in data.shapes.values():
                if shape[0] % self.replicas:
                    raise UserError(f"a batch of {shape[0]} cannot be split over {self.replicas} "
                                    "devices; pass a --batch-size that is a multiple of it")
        for batch in prefetched(data.iterate(start)):
            yield {k: self._place(np.asarray(v, np.float32)) for k, v in batch.items()}

    def _place(self, array):
        if self.distribution is None:
            return jax.device_put(array, self.devices[0])
        layout = self.distribution.get_data_layout(array.shape)
        return jax.device_put(array, layout.backend_layout)
