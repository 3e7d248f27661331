"""DDcGAN's losses, per example, so that callers can average them over the global batch
(`tf.nn.compute_average_loss`) and stay correct under MirroredStrategy.

Images are (B, H, W, 1) float tensors in [0, 1]; discriminator outputs are (B,) probabilities.
"""

import numpy as np
import tensorflow as tf

EPS = 1e-8

# The official code's "TV" operator: each pixel minus the mean of its 8 neighbours.
GRADIENT_KERNEL = np.array([[1 / 8, 1 / 8, 1 / 8],
                            [1 / 8, -1.0, 1 / 8],
                            [1 / 8, 1 / 8, 1 / 8]], dtype=np.float32)


def gradient(images):
    """3x3 neighbour-difference filter with zero padding, as in the official code."""
    kernel = tf.constant(GRADIENT_KERNEL.reshape(3, 3, 1, 1), dtype=images.dtype)
    return tf.nn.conv2d(images, kernel, strides=1, padding="SAME")


def downsample(images, scale):
    """DDcGAN's psi: log2(scale) 3x3 stride-2 average pools (identity for scale 1)."""
    steps = int(round(np.log2(scale)))
    if 2 ** steps != scale:
        raise ValueError(f"scale must be a power of two, got {scale}")
    for _ in range(steps):
        images = tf.nn.avg_pool2d(images, ksize=3, strides=2, padding="SAME")
    return images


def ir_content(fused_small, ir):
    """Squared Frobenius norm of psi(G) - i, per image."""
    return tf.reduce_sum(tf.square(fused_small - ir), axis=[1, 2, 3])


def vis_content(fused, vis):
    """L1 norm of grad(G) - grad(v), per image (the paper's TV term as the code computes it)."""
    return tf.reduce_sum(tf.abs(gradient(fused) - gradient(vis)), axis=[1, 2, 3])


def salient_intensity(fused_small, vis_small, ir_small):
    """Squared Frobenius norm of psi(G) - max(psi(v), psi(i)), per image: the intensity of the
    brighter source, all three reduced to one coarse grid by the caller (a full-resolution max
    would ask for the sharp seams where the brighter source changes, which print as fringes)."""
    return tf.reduce_sum(tf.square(fused_small - tf.maximum(vis_small, ir_small)), axis=[1, 2, 3])


def overshoot(fused, vis, ir_up):
    """L1 norm of how far G rises above the brighter source, per pixel, per image: fusion invents
    no highlights (the gradient term alone lifts textures on bright ground into clipped white)."""
    return tf.reduce_sum(tf.nn.relu(fused - tf.maximum(vis, ir_up)), axis=[1, 2, 3])


def salient_gradient(fused, vis, ir_up):
    """L1 norm of grad(G) minus, per pixel, the gradient of the source whose gradient is stronger
    there (signed, so edges keep their polarity), per image."""
    vis_grad, ir_grad = gradient(vis), gradient(ir_up)
    target = tf.where(tf.abs(vis_grad) >= tf.abs(ir_grad), vis_grad, ir_grad)
    return tf.reduce_sum(tf.abs(gradient(fused) - target), axis=[1, 2, 3])


def generator_adversarial(d_vis_fake, d_ir_fake):
    """-log D_v(G) - log D_i(psi G), per image."""
    return -tf.math.log(d_vis_fake + EPS) - tf.math.log(d_ir_fake + EPS)


def discriminator(d_real, d_fake):
    """-log D(real) - log(1 - D(fake)), per image."""
    return -tf.math.log(d_real + EPS) - tf.math.log(1.0 - d_fake + EPS)
