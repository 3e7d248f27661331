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


def detail_window(image: np.ndarray) -> tuple[slice, slice]:
    """The square window, a quarter of the shorter side, where `image` has the most edges: where
    artifacts (fringes, halos, checkerboard, flat saturated areas) show first."""
    gray = image if image.ndim == 2 else image.mean(axis=-1)
    side = max(16, min(gray.shape) // 4)
    edges = np.abs(np.diff(gray, axis=0))[:, :-1] + np.abs(np.diff(gray, axis=1))[:-1, :]
    step = max(1, side // 4)
    best, corner = -1.0, (0, 0)
    for y in range(0, max(1, edges.shape[0] - side + 1), step):
        for x in range(0, max(1, edges.shape[1] - side + 1), step):
            total = float(edges[y:y + side, x:x + side].sum())
            if total > best:
                best, corner = total, (y, x)
    return slice(corner[0], corner[0] + side), slice(corner[1], corner[1] + side)


def write_examples_figure(path: Path, eval_set: EvalSet, folders: dict, overwrite: bool) -> Path:
    """Rows: example pairs, each followed by a zoomed crop of the same window in every column.
    Columns: visible (MRI), IR (PET), then each method's result."""
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
        window = detail_window(images[0])
        crops = [_crop(image, window, images[0].shape) for image in images]
        rows.append((f"{pair.name} zoom", crops))
    panel_width = 1.7
    ratios = [images[0].shape[0] / images[0].shape[1] for _, images in rows]
    figure = Figure(figsize=(panel_width * len(columns), sum(panel_width * r for r in ratios) + 0.35))
    grid = figure.add_gridspec(len(rows), len(columns), height_ratios=ratios,
                               wspace=0.03, hspace=0.03, left=0.03, right=0.995, bottom=0.005,
                               top=1 - 0.3 / figure.get_figheight())
    for r, (name, images) in enumerate(rows):
        for c, image in enumerate(images):
            axes = figure.add_subplot(grid[r, c])
            zoomed = name.endswith(" zoom")  # every pixel shown as a block, not smoothed
            axes.imshow(image, cmap="gray", vmin=0.0, vmax=1.0,
                        interpolation="nearest" if zoomed else "antialiased")
            axes.set_xticks([])
            axes.set_yticks([])
            if r == 0:
                axes.set_title(columns[c], fontsize=7)
            if c == 0:
                axes.set_ylabel(name, fontsize=7)
    data = b""
    for dpi in (110, 95, 80, 70, 60, 50, 40):
        data = _figure_png(figure, dpi, eval_set.in_color)
        if len(data) <= FIGURE_MAX_BYTES:
            break
    return write_bytes(path, data, overwrite)


def _crop(image: np.ndarray, window, reference_shape) -> np.ndarray:
    """The window of the reference (visible) image, scaled onto `image` when its size differs
    (an IR at 1/4)."""
    rows, cols = window
    fy, fx = image.shape[0] / reference_shape[0], image.shape[1] / reference_shape[1]
    return image[int(rows.start * fy):max(int(rows.stop * fy), int(rows.start * fy) + 1),
                 int(cols.start * fx):max(int(cols.stop * fx), int(cols.start * fx) + 1)]
