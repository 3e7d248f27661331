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
