"""Quality metrics: fusion (EN, SD, SF, AG, MI, SCD, VIF, Qabf, SSIM, CC, PSNR, MSE) and
translation (MAE, MSE, PSNR, SSIM; grid strength, a no-reference checkerboard measure).
numpy/scipy (and OpenCV's box filter); see docs/metrics.md for the conventions."""

from tf_irgan.metrics.fusion import (
    CONVENTIONS,
    METRIC_NAMES,
    average_gradient,
    correlation,
    correlation_coefficient,
    entropy,
    fusion_metrics,
    fusion_mse,
    fusion_psnr,
    fusion_ssim,
    fusion_vif,
    mse,
    mutual_information,
    mutual_information_pair,
    psnr_from_mse,
    qabf,
    scd,
    spatial_frequency,
    ssim,
    standard_deviation,
    vif,
)
from tf_irgan.metrics.translation import CONVENTIONS as TRANSLATION_CONVENTIONS
from tf_irgan.metrics.translation import METRIC_NAMES as TRANSLATION_METRIC_NAMES
from tf_irgan.metrics.translation import grid_strength, translation_metrics

__all__ = [
    "CONVENTIONS", "METRIC_NAMES", "TRANSLATION_CONVENTIONS", "TRANSLATION_METRIC_NAMES",
    "average_gradient", "correlation", "correlation_coefficient", "entropy", "fusion_metrics",
    "fusion_mse", "fusion_psnr", "fusion_ssim", "fusion_vif", "grid_strength", "mse", "mutual_information",
    "mutual_information_pair", "psnr_from_mse", "qabf", "scd", "spatial_frequency", "ssim",
    "standard_deviation", "translation_metrics", "vif",
]
