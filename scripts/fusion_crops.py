"""Zoomed crops where fusion artifacts show: a sky, tree edges, a warm object (people, cars) and
a night frame, for the Laplacian pyramid and fusion presets side by side.

    python scripts/fusion_crops.py ../shared/data/roadscene FLIR_06892 -o docs/figures/fusion_crops.png \
        --preset ddcgan-ir-vis-salient --preset ddcgan-ir-vis

Crops are found, not hand-picked: the sky is the flattest bright window of the top quarter of
the visible image, the edges the window of the upper half with the most visible gradient, the
warm object the window of the hottest IR; the night row is the edges window of the pair made
dark and noisy as `scripts/select_fusion.py --night` does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np

from tf_irgan import baselines
from tf_irgan.images import read_image, to_gray
from tf_irgan.pipelines.fusion import fuse_images

sys.path.insert(0, str(Path(__file__).resolve().parent))
from select_fusion import night  # noqa: E402  (a sibling script)


def windows(image: np.ndarray, size: int, step: int, rows=(0.0, 1.0)):
    """(y, x) of every size x size window in the given share of rows, on a grid of `step`."""
    h, w = image.shape
    top, bottom = int(rows[0] * h), max(int(rows[1] * h) - size, int(rows[0] * h))
    return [(y, x) for y in range(top, bottom + 1, step) for x in range(0, w - size + 1, step)]


def find_crops(vis: np.ndarray, ir: np.ndarray, size: int) -> dict:
    step = size // 4
    grad = np.hypot(*np.gradient(vis))

    def best(score, rows=(0.0, 1.0)):
        return max(windows(vis, size, step, rows), key=lambda yx: score(*yx))

    def window(image, y, x):
        return image[y:y + size, x:x + size]

    return {
        "sky": best(lambda y, x: window(vis, y, x).mean() - 4 * window(vis, y, x).std(), (0, 0.25)),
        "tree edges": best(lambda y, x: window(grad, y, x).mean(), (0, 0.5)),
        "warm object": best(lambda y, x: np.percentile(window(ir, y, x), 95)),
    }


@click.command()
@click.argument("pairs", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("name")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path))
@click.option("--preset", "presets", multiple=True, required=True)
@click.option("--size", default=64, show_default=True, help="Crop side in pixels.")
def main(pairs, name, output, presets, size):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vis = to_gray(read_image(next((pairs / "vi").glob(name + ".*"))))
    ir = to_gray(read_image(next((pairs / "ir").glob(name + ".*"))))
    crops = find_crops(vis, ir, size)
    dark = night(vis, 0)
    rows = [(label, vis, yx) for label, yx in crops.items()] + [("night", dark, crops["tree edges"])]
    columns = ["visible", "IR", "laplacian", *presets]
    fused_by_source = {}
    figure, axes = plt.subplots(len(rows), len(columns), figsize=(1.9 * len(columns), 2.0 * len(rows)))
    for r, (label, source, (y, x)) in enumerate(rows):
        key = id(source)
        if key not in fused_by_source:
            fused_by_source[key] = {"laplacian": baselines.laplacian_pyramid(source, ir)}
            for preset in presets:
                fused_by_source[key][preset] = fuse_images(source, ir, preset=preset, gray=True,
                                                           precision="fp32").image
        panels = {"visible": source, "IR": ir, **fused_by_source[key]}
        for c, column in enumerate(columns):
            show_crop(axes[r, c], panels[column], (y, x), size, Path(column).name if r == 0 else None,
                      label if c == 0 else None)
    save(figure, output, f"{name}: {size}x{size} crops, pixels as blocks")


def show_crop(ax, image, corner, size, title=None, row_label=None):
    """One size x size crop at corner (y, x), pixels as blocks; a column title on the first row,
    the row's label and corner on the first column."""
    y, x = corner
    ax.imshow(np.clip(image[y:y + size, x:x + size], 0, 1), cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    if row_label:
        ax.set_ylabel(f"{row_label}\n({x},{y})", fontsize=8)


def save(figure, output: Path, title: str):
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    print(f"wrote {output}")


if __name__ == "__main__":
    sys.exit(main())
