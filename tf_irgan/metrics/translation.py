"""Image-translation metrics (pix2pix visible <-> infrared): MAE, MSE, PSNR, SSIM on [0, 1].

MAE and MSE are the translation paper's numbers (images scaled to [0, 1]). Color images are
compared over all channels for MAE/MSE/PSNR, and SSIM is the mean over channels.
"""

from __future__ import annotations

import numpy as np

from tf_irgan.metrics.fusion import PSNR_CAP_DB, psnr_from_mse, ssim

METRIC_NAMES = ("MAE", "MSE", "PSNR", "SSIM")

CONVENTIONS = {
    "intensity_scale": "floats on [0, 1] (8-bit images divided by 255)",
    "MAE": "mean absolute error over all pixels and channels",
    "MSE": "mean squared error over all pixels and channels",
    "PSNR": f"10 log10(1 / MSE) in dB (data range 1), capped at {PSNR_CAP_DB:g} dB",
    "SSIM": "Gaussian 11x11 window, sigma 1.5, 'valid' borders, data range 1, K1 0.01, K2 0.03; "
            "mean over channels for color images",
    "channels": "when one image is color and the other gray, both are compared as BT.601 luma",
}


def translation_metrics(pred, target) -> dict[str, float]:
    """MAE, MSE, PSNR and SSIM of a generated image against its target, both on [0, 1].

    Both are (H, W) or (H, W, C) arrays of the same shape.
    """
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape:
        raise ValueError(f"images must have the same shape, got {pred.shape} and {target.shape}")
    difference = pred - target
    error = float(np.mean(difference ** 2))
    if pred.ndim == 2:
        structural = ssim(pred, target, data_range=1.0)
    else:
        structural = float(np.mean([ssim(pred[..., c], target[..., c], data_range=1.0)
                                    for c in range(pred.shape[-1])]))
    return {
        "MAE": float(np.mean(np.abs(difference))),
        "MSE": error,
        "PSNR": psnr_from_mse(error, data_range=1.0),
        "SSIM": structural,
    }


GRID_PERIOD = 8
MIN_PERIODS = 4


def grid_strength(image, period: int = GRID_PERIOD, border: int | None = None) -> float:
    """How strongly an image repeats a pattern every `period` pixels (or a divisor of it): the
    checkerboard and the lines that transposed convolutions print. A no-reference measure in
    [0, 1] intensity units (integer images are scaled by their type's maximum).

    The image minus its `period` x `period` box mean keeps any zero-mean pattern of that period
    unchanged; averaging that residual over all pixels of one phase (y mod period, x mod period)
    keeps the pattern and averages scene content away (over at least MIN_PERIODS periods per
    side, `border` pixels, one period by default, left out on every side). The result is the RMS
    over the period**2 phases and the channels (a colored grid counts): a checkerboard of +-a
    gives a. Camera images give little but not zero (JPEG's 8x8 blocks: 0.15-0.37/255 per
    RoadScene image), so compare outputs with each other and with real images of the same size."""
    import cv2

    pixels = np.asarray(image)
    if np.issubdtype(pixels.dtype, np.integer):
        pixels = pixels / np.iinfo(pixels.dtype).max
    pixels = pixels.astype(np.float64)
    border = period if border is None else border
    pixels = pixels[..., None] if pixels.ndim == 2 else pixels
    residual = pixels - np.stack([cv2.blur(pixels[..., c], (period, period), borderType=cv2.BORDER_REFLECT)
                                  for c in range(pixels.shape[-1])], axis=-1)
    residual = residual[border:pixels.shape[0] - border, border:pixels.shape[1] - border]
    rows = residual.shape[0] // period * period
    cols = residual.shape[1] // period * period
    if rows < MIN_PERIODS * period or cols < MIN_PERIODS * period:   # too few to average the scene away
        raise ValueError(f"image of {pixels.shape[:2]} is too small for period {period}: use one of at "
                         f"least {MIN_PERIODS * period + 2 * border} pixels per side")
    phases = residual[:rows, :cols].reshape(rows // period, period, cols // period, period, -1).mean(axis=(0, 2))
    return float(np.sqrt(np.mean((phases - phases.mean(axis=(0, 1))) ** 2)))
