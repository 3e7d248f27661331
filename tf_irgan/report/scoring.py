"""Fusing every pair of a test set with one method, through the fusion pipeline, and scoring
the written files with the field's metrics."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from tf_irgan.report.catalogue import EvalSet, Method


def fuse_pair(method: Method, vis: np.ndarray, ir: np.ndarray, modality: str = "ir-vis") -> np.ndarray:
    """The fused image in [0, 1] for a registered pair, through the fusion pipeline as
    `tf-irgan fuse` gives it: IR/visible as a gray luminance, MRI/PET in the PET's color.

    Every method gets the IR (PET) at the visible (MRI) size; the pipeline reduces it to 1/s by
    block means for a preset trained at scale s (`tf_irgan.pipelines.fusion.reduce_to_scale`),
    what its setting gives. A baseline with `ir_scale` s gets it reduced the same way, then
    enlarged exactly s times (bicubic) and cropped back onto the visible frame.
    """
    import cv2

    from tf_irgan.images import to_gray
    from tf_irgan.pipelines.fusion import fuse_images

    if modality == "ir-vis":
        vis, ir = to_gray(vis), to_gray(ir)
        if ir.shape != vis.shape:
            ir = np.clip(cv2.resize(ir, vis.shape[::-1], interpolation=cv2.INTER_CUBIC), 0, 1)
    if method.kind == "baseline" and method.ir_scale > 1:
        from tf_irgan.pipelines.fusion import reduce_to_scale
        scale, (height, width) = method.ir_scale, ir.shape[:2]
        small = reduce_to_scale(ir[None, ..., None] if ir.ndim == 2 else ir[None], scale).numpy()[0]
        up = cv2.resize(small, (small.shape[1] * scale, small.shape[0] * scale), interpolation=cv2.INTER_CUBIC)
        ir = np.clip(up.reshape(up.shape[:2] + ir.shape[2:])[:height, :width], 0, 1).astype(np.float32)
    chosen = ({"method": method.baseline or method.name, "modality": modality}
              if method.kind == "baseline" else {"preset": str(method.preset.path)})
    # float32 whatever the machine: the report's numbers must not depend on its bf16 support.
    return fuse_images(vis, ir, gray=modality == "ir-vis", precision="fp32", **chosen).image


def evaluate_method(eval_set: EvalSet, method: Method, folder: Path, log) -> dict:
    """Fuse every pair of the set with one method into `folder`, score the files, average."""
    from tf_irgan.images import read_image, write_image
    from tf_irgan.metrics import fusion
    from tf_irgan.metrics.evaluate import load_fusion_triple, mean_metrics

    if method.kind == "preset" and method.preset.model is None:
        from tf_irgan.presets import load_preset
        method.preset = load_preset(method.preset.path)
    folder.mkdir(parents=True, exist_ok=True)
    per_image, notes, files, seconds = {}, {}, {}, 0.0
    for index, pair in enumerate(eval_set.pairs, start=1):
        log(f"{eval_set.key}: {method.name} {index}/{len(eval_set.pairs)} ({pair.name})")
        vis, ir = read_image(pair.vis), read_image(pair.ir)
        began = time.perf_counter()
        fused = fuse_pair(method, vis, ir, eval_set.modality)
        seconds += time.perf_counter() - began
        out = write_image(folder / f"{pair.name}.png", fused, overwrite=True)
        paths = {"ir": Path(pair.ir), "vis": Path(pair.vis), "fused": out}
        a, b, f, note = load_fusion_triple(paths, eval_set.color_space)
        per_image[pair.name] = fusion.fusion_metrics(a, b, f)
        files[pair.name] = {role: str(path) for role, path in paths.items()}
        if note:
            notes[pair.name] = note
    return {"kind": method.kind, "scale": method.scale, "ir_input": method.ir_input,
            "preset": str(method.preset.path) if method.preset is not None else None,
            "mean": mean_metrics(per_image, fusion.METRIC_NAMES), "per_image": per_image,
            "notes": notes, "files": files,
            "fuse_seconds_per_pair": seconds / max(len(eval_set.pairs), 1)}
