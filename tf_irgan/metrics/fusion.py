"""Image-fusion quality metrics as the infrared/visible fusion literature computes them.

Every function here takes grayscale float arrays on the 0-255 scale (the field's convention;
A = infrared, B = visible, F = fused) and returns a Python float. `fusion_metrics` is the
entry point that takes [0, 1] images and returns all metrics at once. Filters are separable
(scipy.ndimage) and histograms use `np.bincount`, so a 768x576 triple takes well under a second.

Undefined cases (a flat reference image for VIF, flat sources for Qabf, an image smaller than
the SSIM window) give NaN rather than an invented number; Pearson correlations with a flat
operand give 0, because a flat image carries no signal that could correlate.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

METRIC_NAMES = ("EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf", "SSIM", "CC", "PSNR", "MSE",
                "Clip", "Noise")

PEAK = 255.0
# Reported PSNR is capped so that identical images give a finite, JSON-safe number.
PSNR_CAP_DB = 100.0

_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5
_SSIM_K1, _SSIM_K2 = 0.01, 0.03

_VIF_SCALES = 4
_VIF_NOISE_VAR = 2.0
_VIF_EPS = 1e-10

# Xydeas-Petrovic sigmoid constants: edge-strength (g) and orientation (a) preservation.
_QABF_TG, _QABF_KG, _QABF_DG = 0.9994, -15.0, 0.5
_QABF_TA, _QABF_KA, _QABF_DA = 0.9879, -22.0, 0.8

CONVENTIONS = {
    "intensity_scale": "grayscale floats on 0-255 (inputs in [0, 1] are multiplied by 255)",
    "sources": "A = infrared, B = visible, F = fused",
    "color_to_gray": "color images are reduced to BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B",
    "EN": "Shannon entropy in bits of a 256-bin histogram of round-half-up(F) clipped to 0-255",
    "SD": "population standard deviation of F",
    "SF": "sqrt(mean(row differences^2) + mean(column differences^2)), forward differences",
    "AG": "mean of sqrt((Gx^2 + Gy^2) / 2), central differences (numpy.gradient, one-sided at edges)",
    "MI": "MI(F, A) + MI(F, B) from 256x256 joint histograms of round-half-up values; "
          "natural log, unit: nats",
    "SCD": "corr(A, F - B) + corr(B, F - A), Pearson correlation over all pixels",
    "VIF": "VIF(A, F) + VIF(B, F); Sheikh-Bovik pixel-domain VIF, 4 scales, Gaussian windows "
           "N = 2^(5-s) + 1, sigma N/5, 'valid' borders, 2x decimation between scales, "
           "noise variance 2, eps 1e-10",
    "Qabf": "Xydeas-Petrovic edge preservation; 3x3 Sobel with zero padding, orientation "
            "atan(Gy/Gx) (pi/2 where Gx = 0), Tg 0.9994 kg -15 Dg 0.5, Ta 0.9879 ka -22 Da 0.8, "
            "weights = source gradient magnitudes; F = A = B gives about 0.975, not 1",
    "SSIM": "SSIM(F, A) + SSIM(F, B); Gaussian 11x11 window, sigma 1.5, 'valid' borders, "
            "data range 255, K1 0.01, K2 0.03, mean of the SSIM map",
    "CC": "(corr(A, F) + corr(B, F)) / 2",
    "MSE": "(MSE(F, A) + MSE(F, B)) / 2 on the 0-255 scale",
    "PSNR": "10 log10(255^2 / MSE) with the averaged MSE above, in dB, capped at 100 dB",
    "Clip": "percentage of F's pixels at 255 after round-half-up: highlights a method saturates "
            "(not a quality score; lower is better only beside the sources' own share)",
    "Noise": "flat-region noise of F over the noisier source's: the mean |X - 3x3 median(X)| "
             "over the 16x16 blocks flat in both sources (a Gaussian-blurred, sigma 2, copy of "
             "each varies by under 2 levels, std), F's divided by the larger of A's and B's; "
             "above 1, F is noisier there than either input; NaN without flat blocks or noise",
    "flat_images": "correlations with a flat image count as 0; VIF with a flat reference and "
                   "Qabf with two flat sources are undefined (NaN, written as null in JSON)",
}


def _as_float(image) -> np.ndarray:
    array = np.asarray(image, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {array.shape}")
    return array


def _same_shape(*images: np.ndarray) -> None:
    shapes = {image.shape for image in images}
    if len(shapes) != 1:
        raise ValueError(f"images must have the same shape, got {sorted(shapes)}")


def _gray_levels(image: np.ndarray) -> np.ndarray:
    # Half-up rounding as MATLAB's round/uint8 do; numpy's half-to-even would move every
    # x.5 level of an averaged image to even bins and shift EN and MI.
    return np.clip(np.floor(image + 0.5), 0, 255).astype(np.int64)


# ---------------------------------------------------------------- single-image metrics

def entropy(f) -> float:
    """EN: Shannon entropy (bits) of the 256-level histogram of F."""
    counts = np.bincount(_gray_levels(_as_float(f)).ravel(), minlength=256)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def standard_deviation(f) -> float:
    """SD: population standard deviation of F."""
    return float(_as_float(f).std())


def spatial_frequency(f) -> float:
    """SF: root of the mean squared row-wise plus mean squared column-wise forward differences."""
    f = _as_float(f)
    along_rows = np.diff(f, axis=1)
    along_cols = np.diff(f, axis=0)
    return float(np.sqrt(np.mean(along_rows ** 2) + np.mean(along_cols ** 2)))


def average_gradient(f) -> float:
    """AG: mean of sqrt((Gx^2 + Gy^2) / 2) with central differences."""
    gy, gx = np.gradient(_as_float(f))
    return float(np.mean(np.sqrt((gx ** 2 + gy ** 2) / 2.0)))


# ---------------------------------------------------------------- correlation family

def correlation(x, y) -> float:
    """Pearson correlation over all pixels; 0 when either image is flat."""
    x = _as_float(x) - np.mean(x)
    y = _as_float(y) - np.mean(y)
    denominator = np.sqrt(np.sum(x * x) * np.sum(y * y))
    if denominator == 0:
        return 0.0
    return float(np.sum(x * y) / denominator)


def correlation_coefficient(a, b, f) -> float:
    """CC: mean correlation of F with each source."""
    return (correlation(a, f) + correlation(b, f)) / 2.0


def scd(a, b, f) -> float:
    """SCD: sum of the correlations of each source with the difference F minus the other one."""
    a, b, f = _as_float(a), _as_float(b), _as_float(f)
    _same_shape(a, b, f)
    return correlation(a, f - b) + correlation(b, f - a)


# ---------------------------------------------------------------- mutual information

def mutual_information_pair(x, y) -> float:
    """MI (nats) between two images from their 256x256 joint histogram."""
    x, y = _as_float(x), _as_float(y)
    _same_shape(x, y)
    joint = np.bincount((_gray_levels(x) * 256 + _gray_levels(y)).ravel(), minlength=256 * 256)
    joint = joint.reshape(256, 256) / x.size
    px = joint.sum(axis=1, keepdims=True)
    py = joint.sum(axis=0, keepdims=True)
    nonzero = joint > 0
    expected = (px * py)[nonzero]
    return float(np.sum(joint[nonzero] * np.log(joint[nonzero] / expected)))


def mutual_information(a, b, f) -> float:
    """MI: MI(F, A) + MI(F, B) in nats."""
    return mutual_information_pair(f, a) + mutual_information_pair(f, b)


# ---------------------------------------------------------------- windowed statistics

def _gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    kernel = np.exp(-offsets ** 2 / (2.0 * sigma ** 2))
    return kernel / kernel.sum()


def _filter_valid(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable 2-D filtering keeping only positions where the window fits ('valid')."""
    radius = len(kernel) // 2
    height, width = image.shape
    if height < len(kernel) or width < len(kernel):
        return np.empty((max(height - 2 * radius, 0), max(width - 2 * radius, 0)))
    # Filter, then crop: the border mode is irrelevant because every kept output sees real
    # pixels only, which is exactly MATLAB's filter2(..., 'valid').
    rows = ndimage.correlate1d(image, kernel, axis=0, mode="nearest")[radius:height - radius]
    return ndimage.correlate1d(rows, kernel, axis=1, mode="nearest")[:, radius:width - radius]


def _local_moments(x: np.ndarray, y: np.ndarray, kernel: np.ndarray):
    """Windowed means, variances and covariance of two images ('valid' region)."""
    mu_x = _filter_valid(x, kernel)
    mu_y = _filter_valid(y, kernel)
    var_x = _filter_valid(x * x, kernel) - mu_x ** 2
    var_y = _filter_valid(y * y, kernel) - mu_y ** 2
    cov = _filter_valid(x * y, kernel) - mu_x * mu_y
    return mu_x, mu_y, var_x, var_y, cov


def ssim(x, y, data_range: float = PEAK) -> float:
    """Mean SSIM (Gaussian 11x11, sigma 1.5, 'valid' borders); NaN for images under 11 pixels."""
    x, y = _as_float(x), _as_float(y)
    _same_shape(x, y)
    c1 = (_SSIM_K1 * data_range) ** 2
    c2 = (_SSIM_K2 * data_range) ** 2
    mu_x, mu_y, var_x, var_y, cov = _local_moments(x, y, _gaussian_kernel(_SSIM_WINDOW, _SSIM_SIGMA))
    if mu_x.size == 0:
        return float("nan")
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)
                / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2)))
    return float(ssim_map.mean())


def fusion_ssim(a, b, f) -> float:
    """SSIM(F, A) + SSIM(F, B), data range 255."""
    return ssim(f, a) + ssim(f, b)


def vif(ref, dist) -> float:
    """Sheikh-Bovik pixel-domain VIF of `dist` against reference `ref` (4 scales)."""
    ref, dist = _as_float(ref), _as_float(dist)
    _same_shape(ref, dist)
    numerator = denominator = 0.0
    for scale in range(1, _VIF_SCALES + 1):
        size = 2 ** (_VIF_SCALES + 1 - scale) + 1
        kernel = _gaussian_kernel(size, size / 5.0)
        if scale > 1:
            # Low-pass with this scale's window before decimating, as the original does.
            ref = _filter_valid(ref, kernel)[::2, ::2]
            dist = _filter_valid(dist, kernel)[::2, ::2]
        _, _, var_ref, var_dist, cov = _local_moments(ref, dist, kernel)
        var_ref = np.maximum(var_ref, 0.0)
        var_dist = np.maximum(var_dist, 0.0)

        gain = cov / (var_ref + _VIF_EPS)
        noise = var_dist - gain * cov
        # Degenerate windows, handled as in the reference implementation:
        flat_ref = var_ref < _VIF_EPS          # no signal: the distorted variance is all noise
        gain[flat_ref] = 0.0
        noise[flat_ref] = var_dist[flat_ref]
        var_ref[flat_ref] = 0.0
        flat_dist = var_dist < _VIF_EPS        # nothing left of the signal
        gain[flat_dist] = 0.0
        noise[flat_dist] = 0.0
        negative = gain < 0                    # inverted contrast transmits no information
        noise[negative] = var_dist[negative]
        gain[negative] = 0.0
        noise = np.maximum(noise, _VIF_EPS)

        numerator += np.sum(np.log10(1.0 + gain ** 2 * var_ref / (noise + _VIF_NOISE_VAR)))
        denominator += np.sum(np.log10(1.0 + var_ref / _VIF_NOISE_VAR))
    if denominator == 0:
        return float("nan")
    return float(numerator / denominator)


def fusion_vif(a, b, f) -> float:
    """VIF: VIF(A, F) + VIF(B, F)."""
    return vif(a, f) + vif(b, f)


# ---------------------------------------------------------------- Qabf

_SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
_SOBEL_Y = _SOBEL_X.T


def _sobel_strength_orientation(image: np.ndarray):
    # Zero padding ('same' convolution) as the field's Qabf code; the sign convention of the
    # kernels does not matter because magnitude and atan(Gy/Gx) are invariant to a joint flip.
    gx = ndimage.correlate(image, _SOBEL_X, mode="constant", cval=0.0)
    gy = ndimage.correlate(image, _SOBEL_Y, mode="constant", cval=0.0)
    strength = np.sqrt(gx ** 2 + gy ** 2)
    slope = np.divide(gy, gx, out=np.zeros_like(gx), where=gx != 0)
    orientation = np.where(gx != 0, np.arctan(slope), np.pi / 2)
    return strength, orientation


def _edge_preservation(g_src, a_src, g_fused, a_fused) -> np.ndarray:
    """Q^{XF}: how much of a source's edge strength and orientation survives in F."""
    low = np.minimum(g_src, g_fused)
    high = np.maximum(g_src, g_fused)
    relative_strength = np.zeros_like(g_src)
    np.divide(low, high, out=relative_strength, where=low > 0)
    relative_orientation = 1.0 - np.abs(a_src - a_fused) / (np.pi / 2)
    q_strength = _QABF_TG / (1.0 + np.exp(_QABF_KG * (relative_strength - _QABF_DG)))
    q_orientation = _QABF_TA / (1.0 + np.exp(_QABF_KA * (relative_orientation - _QABF_DA)))
    return q_strength * q_orientation


def qabf(a, b, f) -> float:
    """Qabf (Xydeas-Petrovic): edge information of A and B preserved in F, weighted by strength."""
    a, b, f = _as_float(a), _as_float(b), _as_float(f)
    _same_shape(a, b, f)
    g_a, o_a = _sobel_strength_orientation(a)
    g_b, o_b = _sobel_strength_orientation(b)
    g_f, o_f = _sobel_strength_orientation(f)
    weight = np.sum(g_a + g_b)
    if weight == 0:
        return float("nan")
    preserved = _edge_preservation(g_a, o_a, g_f, o_f) * g_a + _edge_preservation(g_b, o_b, g_f, o_f) * g_b
    return float(np.sum(preserved) / weight)


# ---------------------------------------------------------------- fidelity

def mse(x, y) -> float:
    """Mean squared error between two images (on whatever scale they are given)."""
    x, y = _as_float(x), _as_float(y)
    _same_shape(x, y)
    return float(np.mean((x - y) ** 2))


def psnr_from_mse(error: float, data_range: float = PEAK) -> float:
    """PSNR in dB for a given MSE, capped at PSNR_CAP_DB (identical images)."""
    floor = data_range ** 2 * 10.0 ** (-PSNR_CAP_DB / 10.0)
    return float(10.0 * np.log10(data_range ** 2 / max(error, floor)))


def clipped_share(f) -> float:
    """Clip: percentage of pixels whose 8-bit value is 255."""
    return float(100.0 * np.mean(_gray_levels(f) >= 255))


_FLAT_BLOCK = 16
_FLAT_STRUCTURE = 2.0   # levels (std of the blurred block): less is a flat region
_FLAT_BLUR = 2.0


def flat_blocks(*images: np.ndarray) -> np.ndarray:
    """(rows, columns) boolean map of the 16x16 blocks flat in every image: their content,
    blurred (sigma 2) to leave the noise out, varies by under 2 levels (std)."""
    rows, columns = images[0].shape[0] // _FLAT_BLOCK, images[0].shape[1] // _FLAT_BLOCK
    flat = np.ones((rows, columns), bool)
    for image in images:
        smooth = ndimage.gaussian_filter(image, _FLAT_BLUR)[:rows * _FLAT_BLOCK, :columns * _FLAT_BLOCK]
        blocks = smooth.reshape(rows, _FLAT_BLOCK, columns, _FLAT_BLOCK)
        flat &= blocks.std(axis=(1, 3)) < _FLAT_STRUCTURE
    return flat


def flat_noise_level(image: np.ndarray, flat: np.ndarray) -> float:
    """Mean |X - 3x3 median(X)| over the flat blocks: the noise left where there is no scene."""
    residual = np.abs(image - ndimage.median_filter(image, 3))
    rows, columns = flat.shape
    blocks = residual[:rows * _FLAT_BLOCK, :columns * _FLAT_BLOCK].reshape(
        rows, _FLAT_BLOCK, columns, _FLAT_BLOCK)
    return float(blocks.mean(axis=(1, 3))[flat].mean()) if flat.any() else float("nan")


def flat_noise(a, b, f) -> float:
    """Noise: F's flat-region noise over the noisier source's (1 = as noisy as the noisier)."""
    flat = flat_blocks(a, b)
    if not flat.any():
        return float("nan")
    sources = max(flat_noise_level(a, flat), flat_noise_level(b, flat))
    return flat_noise_level(f, flat) / sources if sources > 0 else float("nan")


def fusion_mse(a, b, f) -> float:
    """MSE: (MSE(F, A) + MSE(F, B)) / 2."""
    return (mse(f, a) + mse(f, b)) / 2.0


def fusion_psnr(a, b, f) -> float:
    """PSNR of F against both sources, from the averaged MSE."""
    return psnr_from_mse(fusion_mse(a, b, f))


# ---------------------------------------------------------------- all at once

def fusion_metrics(ir, vis, fused, data_range: float = 1.0) -> dict[str, float]:
    """All fusion metrics for one grayscale triple (A = ir, B = vis, F = fused).

    Inputs are on [0, data_range] (default [0, 1]) and are rescaled to 0-255 first.
    Returns a dict with exactly the keys of METRIC_NAMES, in that order.
    """
    scale = PEAK / float(data_range)
    a, b, f = (_as_float(image) * scale for image in (ir, vis, fused))
    _same_shape(a, b, f)
    error = fusion_mse(a, b, f)
    values = {
        "EN": entropy(f),
        "SD": standard_deviation(f),
        "SF": spatial_frequency(f),
        "AG": average_gradient(f),
        "MI": mutual_information(a, b, f),
        "SCD": scd(a, b, f),
        "VIF": fusion_vif(a, b, f),
        "Qabf": qabf(a, b, f),
        "SSIM": fusion_ssim(a, b, f),
        "CC": correlation_coefficient(a, b, f),
        "PSNR": psnr_from_mse(error),
        "MSE": error,
        "Clip": clipped_share(f),
        "Noise": flat_noise(a, b, f),
    }
    return {name: values[name] for name in METRIC_NAMES}
