"""Inference pipelines, one per task: everything between image arrays and a generator (sizes,
alignment, padding, tiling, color). The CLI, the report and the SavedModel export all use them.

- fusion: `tf_irgan.pipelines.fusion` (two inputs, e.g. visible + IR -> fused)
- translation: `tf_irgan.pipelines.translation` (one image -> the other spectrum)

Each module's `serving_graph(preset)` is its whole-image TF part, which the export serves.
"""

import importlib

from tf_irgan.errors import UserError

TASK_PIPELINES = {"fusion": "tf_irgan.pipelines.fusion",
                  "translation": "tf_irgan.pipelines.translation"}


def serving_graph(preset):
    """({input role: channels}, function) of the preset's task."""
    if preset.task not in TASK_PIPELINES:
        raise UserError(f"{preset.path}: task '{preset.task}' has no pipeline in this version "
                        f"({', '.join(TASK_PIPELINES)}); update tf-irgan")
    return importlib.import_module(TASK_PIPELINES[preset.task]).serving_graph(preset)
