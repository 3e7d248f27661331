"""DDcGAN's losses, per example, in `keras.ops` (the same numbers on every backend; the step
averages them over the batch).

Images are (B, H, W, 1) float tensors in [0, 1]; discriminator outputs are (B,) probabilities.
"""

import numpy as np
from keras import ops

from tf_irgan import filters

EPS = 1e-8

# The official code's "TV" operator: each pixel minus the mean of its 8 neighbours.
GRADIENT_KERNEL = np.array([[1 / 8, 1 / 8, 1 / 8],
                            [1 / 8, -1.0, 1 / 8],
                            [1 / 8, 1 / 8, 1 / 8]], dtype=np.float32)


def _per_image_sum(values):
    return ops.sum(values, axis=[1, 2, 3])


def gradient(images):
    """3x3 neighbour-difference filter with zero padding, as in the official code."""
    kernel = ops.cast(ops.convert_to_tensor(GRADIENT_KERNEL.reshape(3, 3, 1, 1)), images.dtype)
    return ops.conv(images, kernel, strides=1, padding="same")


def downsample(images, scale):
    """DDcGAN's psi: log2(scale) 3x3 stride-2 average pools (identity for scale 1); at the
    borders the mean is over the pixels inside the image (TensorFlow's SAME pooling)."""
    steps = int(round(np.log2(scale)))
    if 2 ** steps != scale:
        raise ValueError(f"scale must be a power of two, got {scale}")
    for _ in range(steps):
        images = _same_mean_pool(images)
    return images


def _same_mean_pool(images):
    """3x3 stride-2 average over the pixels inside the image, padded as TensorFlow's SAME (the
    extra row or column after): spelled out, since the backends' own "same" pooling differs at
    the borders (PyTorch's counts the padding)."""
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:  # unknown sizes (a traced TensorFlow graph): its own op
        return ops.average_pool(images, pool_size=3, strides=2, padding="same")

    def pads(n):
        total = max((-(-n // 2) - 1) * 2 + 3 - n, 0)
        return [total // 2, total - total // 2]

    padding = [[0, 0], pads(height), pads(width), [0, 0]]
    sums = ops.average_pool(ops.pad(images, padding), pool_size=3, strides=2, padding="valid")
    ones = ops.ones((1, height, width, 1), dtype=images.dtype)
    counts = ops.average_pool(ops.pad(ones, padding), pool_size=3, strides=2, padding="valid")
    return sums / counts


def intensity_content(fused_small, intensity):
    """Squared Frobenius norm of psi(G) - i, per image."""
    return _per_image_sum(ops.square(fused_small - intensity))


def detail_content(fused, detail):
    """L1 norm of grad(G) - grad(v), per image (the paper's TV term as the code computes it)."""
    return _per_image_sum(ops.abs(gradient(fused) - gradient(detail)))


def salient_intensity(fused_small, detail_small, intensity_small):
    """Squared Frobenius norm of psi(G) - max(psi(v), psi(i)), per image: the intensity of the
    brighter source, all three reduced to one coarse grid by the caller (a full-resolution max
    would ask for the sharp seams where the brighter source changes, which print as fringes)."""
    return _per_image_sum(ops.square(fused_small - ops.maximum(detail_small, intensity_small)))


def overshoot(fused, detail, intensity_up):
    """L1 norm of how far G rises above the brighter source, per pixel, per image: fusion invents
    no highlights (the gradient term alone lifts textures on bright ground into clipped white)."""
    return _per_image_sum(ops.relu(fused - ops.maximum(detail, intensity_up)))


def salient_gradient(fused, detail, intensity_up):
    """L1 norm of grad(G) minus, per pixel, the gradient of the source whose gradient is stronger
    there (signed, so edges keep their polarity), per image."""
    detail_grad, intensity_grad = gradient(detail), gradient(intensity_up)
    target = ops.where(ops.abs(detail_grad) >= ops.abs(intensity_grad), detail_grad, intensity_grad)
    return _per_image_sum(ops.abs(gradient(fused) - target))


def generator_adversarial(d_detail_fake, d_intensity_fake):
    """-log D_v(G) - log D_i(psi G), per image."""
    return -ops.log(d_detail_fake + EPS) - ops.log(d_intensity_fake + EPS)


def discriminator(d_real, d_fake):
    """-log D(real) - log(1 - D(fake)), per image."""
    return -ops.log(d_real + EPS) - ops.log(1.0 - d_fake + EPS)


def upsample_bilinear(images, scale: int):
    """(B, H, W, 1) images enlarged `scale` times per side by bilinear interpolation with
    half-pixel centres and clamped borders: the numbers of `tf.image.resize` and
    `jax.image.resize`, as two 1-D transposed convolutions, which (unlike a resize to a computed
    size) trace with unknown image sizes on every backend (SavedModel signatures, any input
    size). Near the border the taps that fall outside the image are dropped and the rest
    renormalised, which is what clamping gives for linear interpolation."""
    if scale == 1:
        return images
    return filters.separable(images, linear_taps(scale), stride=scale, transpose=True)


def linear_taps(scale: int) -> np.ndarray:
    """Linear interpolation sampled for a `scale`-times enlargement with half-pixel centres:
    2 * scale taps, as a transposed convolution's kernel."""
    return (1 - np.abs(np.arange(2 * scale) - (scale - 0.5)) / scale).astype(np.float32)


def cubic_taps(scale: int) -> np.ndarray:
    """Keys' cubic convolution (a = -0.75, OpenCV's INTER_CUBIC) sampled for a `scale`-times
    enlargement with half-pixel centres: 4 * scale taps, as a transposed convolution's kernel."""
    a = -0.75
    t = np.abs((np.arange(4 * scale) - (2 * scale - 0.5)) / scale)
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0)).astype(np.float32)


def upsample_bicubic(images, scale: int):
    """(B, H, W, 1) images enlarged `scale` times per side by cubic convolution (the numbers of
    cv2.resize INTER_CUBIC away from the borders), as two 1-D transposed convolutions that trace
    with unknown sizes. Near the border the taps outside are dropped and the rest renormalised.
    Overshoots at strong edges, as cubic interpolation does."""
    if scale == 1:
        return images
    return filters.separable(images, cubic_taps(scale), stride=scale, transpose=True)
