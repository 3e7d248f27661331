"""Optimizers that the models name in their configs and Keras does not have as such."""

import keras


@keras.saving.register_keras_serializable("tf_irgan")
class ReleasedRMSprop(keras.optimizers.RMSprop):
    """TensorFlow 1's `tf.train.RMSPropOptimizer` with its defaults, which the released DDcGAN
    code trains its generator with: decay 0.9, no momentum, epsilon 1e-10 inside the square
    root (as Keras puts it), and the mean square starting at one where Keras starts it at zero.

    The start matters: Keras's first step divides the gradient by sqrt(0.1 g^2), a step of
    lr * sqrt(10) wherever the gradient is not zero; TF1's by sqrt(0.9 + 0.1 g^2), a step
    about as large as the gradient times lr for small gradients.
    """

    def __init__(self, learning_rate=0.001, name="released_rmsprop", **kwargs):
        for fixed in ("rho", "momentum", "epsilon", "centered"):
            kwargs.pop(fixed, None)  # get_config writes them; they are TF1's, not settings
        super().__init__(learning_rate=learning_rate, rho=0.9, momentum=0.0, epsilon=1e-10,
                         centered=False, name=name, **kwargs)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        for velocity in self._velocities:
            velocity.assign(keras.ops.ones(velocity.shape, velocity.dtype))
