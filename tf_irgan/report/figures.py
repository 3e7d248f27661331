"""The report's figures: a grid of example pairs and each method's output (gray PNG; color for
MRI/PET, whose results keep the PET's color)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tf_irgan.files import write_bytes
from tf_irgan.report.catalogue import EvalSet

EXAMPLE_PAIRS = 3
FIGURE_MAX_BYTES = 290_000  # each example grid stays under ~300 KB


def _figure_png(figure, dpi: float, color: bool = False) -> bytes:
    """A matplotlib figure as an 8-bit PNG, grayscale unless `color` (gray panels take a third
    of RGB's size)."""
    import cv2
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    figure.set_dpi(dpi)
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[..., :3]
    pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR if color else cv2.COLOR_RGB2GRAY)
    ok, encoded = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError("OpenCV could not encode the figure as PNG")
    return encoded.tobytes()


def example_pairs(pairs: list, count: int = EXAMPLE_PAIRS) -> list:
    """Up to `count` pairs spread over the set (first, middle, last)."""
    if len(pairs) <= count:
        return list(pairs)
    picks = sorted({round(i * (len(pairs) - 1) / (count - 1)) for i in range(count)})
    return [pairs[i] for i in picks]


def write_examples_figure(path: Path, eval_set: EvalSet, folders: dict, overwrite: bool) -> Path:
    """Rows: example pairs. Columns: visible (MRI), IR (PET), then each method's result."""
    from matplotlib.figure import Figure

    from tf_irgan.images import read_image, to_gray

    chosen = example_pairs(eval_set.pairs)
    columns = [eval_set.vis_label, eval_set.ir_label] + [m.name for m in eval_set.methods]
    rows = []
    for pair in chosen:
        shown = read_image if eval_set.in_color else (lambda path: to_gray(read_image(path)))
        images = [shown(pair.vis), shown(pair.ir)]
        images += [read_image(folders[m.name] / f"{pair.name}.png") for m in eval_set.methods]
        rows.append((pair.name, images))
    panel_width = 1.7
    ratios = [images[0].shape[0] / images[0].shape[1] for _, images in rows]
    figure = Figure(figsize=(panel_width * len(columns), sum(panel_width * r for r in ratios) + 0.35))
    grid = figure.add_gridspec(len(rows), len(columns), height_ratios=ratios,
                               wspace=0.03, hspace=0.03, left=0.03, right=0.995, bottom=0.005,
                               top=1 - 0.3 / figure.get_figheight())
    for r, (name, images) in enumerate(rows):
        for c, image in enumerate(images):
            axes = figure.add_subplot(grid[r, c])
            axes.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="antialiased")
            axes.set_xticks([])
            axes.set_yticks([])
            if r == 0:
                axes.set_title(columns[c], fontsize=7)
            if c == 0:
                axes.set_ylabel(name, fontsize=7)
    data = b""
    for dpi in (110, 95, 80, 70, 60):
        data = _figure_png(figure, dpi, eval_set.in_color)
        if len(data) <= FIGURE_MAX_BYTES:
            break
    return write_bytes(path, data, overwrite)
