"""Inference pipelines, one per task: everything between image arrays and a generator (sizes,
alignment, padding, tiling, color). The CLI, the report and the SavedModel export all use them.

- fusion: `tf_irgan.pipelines.fusion` (two inputs, e.g. visible + IR -> fused)
"""
