"""TensorFlow: each step a `tf.GradientTape` in a `tf.function`, run on every replica under
`strategy.run` (tf_irgan.distribute: one device, MirroredStrategy, MultiWorkerMirroredStrategy).

A step's loss is its replica's mean; divided by the replica count before the gradient, the
optimizer's sum over replicas is the gradient of the global batch's mean, and the logs are
averaged over replicas.
"""

from __future__ import annotations

import tensorflow as tf

from tf_irgan.backends import Backend
from tf_irgan.distribute import make_strategy, resolve_kind, use_jit, writes_outputs


class TensorFlowBackend(Backend):
    name = "tensorflow"

    def __init__(self, options):
        super().__init__(options)
        _, cluster = resolve_kind(options.strategy)
        self.writes = writes_outputs(cluster)
        # First: a multi-worker strategy must configure the runtime before other TensorFlow work.
        self.strategy = make_strategy(options.strategy, options.devices, options.cluster_timeout)
        self.replicas = self.strategy.num_replicas_in_sync
        self.jit = use_jit(options.jit, self.strategy)
        # One tf.function per declared step, each traced once: TensorFlow counts the traces of
        # functions made by one `def` together and would warn of "retracing" at the fifth.
        tf.get_logger().setLevel("ERROR")

    def scope(self):
        return self.strategy.scope()

    def compile_step(self, step):
        strategy, replicas = self.strategy, self.replicas
        network = self.model.networks()[step.network] if step.network else None
        optimizer = self.model.optimizers[step.optimizer] if step.optimizer else None

        def replica(batch, *inputs):
            if network is None:
                _, logs, outputs = step.loss(batch, *inputs)
                return logs, outputs
            variables = network.trainable_variables
            with tf.GradientTape() as tape:
                loss, logs, outputs = step.loss(batch, *inputs)
                scaled = optimizer.scale_loss(loss / replicas)
            optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
            return logs, outputs

        replica_fn = tf.function(replica, jit_compile=self.jit)

        @tf.function
        def distributed(batch, *inputs):
            logs, outputs = strategy.run(replica_fn, args=(batch, *inputs))
            return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
                    for k, v in logs.items()}, outputs
        return distributed

    def call_step(self, compiled, batch, inputs):
        return compiled(batch, *inputs)

    def batches(self, data, start: int):
        # Each global batch is split between the replicas (and workers) as it comes.
        signature = {k: tf.TensorSpec(shape, tf.float32) for k, shape in data.shapes.items()}
        dataset = tf.data.Dataset.from_generator(lambda: data.iterate(start),
                                                 output_signature=signature).prefetch(2)
        shard = tf.data.Options()
        shard.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return iter(self.strategy.experimental_distribute_dataset(dataset.with_options(shard)))
