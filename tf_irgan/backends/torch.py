"""PyTorch: each step eager, as Keras 3's PyTorch training guide writes it: the loss with
autograd on, `torch.autograd.grad` for the trained network's weights, `optimizer.apply` under
`torch.no_grad()`. One device (the GPU when PyTorch sees one); no data parallelism.
"""

from __future__ import annotations

import numpy as np
import torch

from tf_irgan.backends import Backend, prefetched
from tf_irgan.errors import UserError


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, options):
        super().__init__(options)
        if options.strategy not in ("auto", "one-device"):
            raise UserError(f"--strategy {options.strategy}: PyTorch trains on one device here; use "
                            "KERAS_BACKEND=jax (all GPUs of a machine) or tensorflow (several machines)")
        if options.mixed_precision == "fp16":
            raise UserError("--mixed-precision fp16 needs loss scaling, which tf-irgan does on "
                            "TensorFlow only; use --mixed-precision bf16 with PyTorch")
        self.jit = False

    def describe(self) -> str:
        from keras.src.backend.torch.core import get_device
        return f"torch on {get_device()}, eager"

    def compile_step(self, step):
        network = self.model.networks()[step.network] if step.network else None
        optimizer = self.model.optimizers[step.optimizer] if step.optimizer else None

        def run(batch, *inputs):
            if network is None:
                with torch.no_grad():
                    _, logs, outputs = step.loss(batch, *inputs)
                return logs, outputs
            variables = network.trainable_variables
            loss, logs, outputs = step.loss(batch, *inputs)
            grads = torch.autograd.grad(loss, [v.value for v in variables], allow_unused=True)
            grads = [torch.zeros_like(v.value) if g is None else g for g, v in zip(grads, variables)]
            with torch.no_grad():
                optimizer.apply(grads, variables)
            return logs, outputs
        return run

    def call_step(self, compiled, batch, inputs):
        logs, outputs = compiled(batch, *inputs)
        # Logs are for reading, not for more gradients.
        return {k: v.detach() if hasattr(v, "detach") else v for k, v in logs.items()}, outputs

    def batches(self, data, start: int):
        from keras import ops
        for batch in prefetched(data.iterate(start)):
            yield {k: ops.convert_to_tensor(np.asarray(v, np.float32)) for k, v in batch.items()}
