"""Zoomed crops where upsampling grids show, for translation presets side by side: the flattest
window between 10 % and 35 % of the target's height (a sky), the window at the middle of the top border (where the
old ir2vis printed a colored band) and the window with the most detail.

    python scripts/translation_crops.py ../shared/data/roadscene FLIR_06892 \
        -o docs/figures/translation_crops_vis2ir.png --preset OLD --preset NEW

The direction is the first preset's; every preset must share it. Crops are found on the target
image, not hand-picked.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np

from tf_irgan.data.pairs import load_pairs
from tf_irgan.models.pix2pix import DIRECTIONS
from tf_irgan.images import to_gray
from tf_irgan.pipelines.translation import translate_image
from tf_irgan.presets import read_preset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fusion_crops import save, show_crop, windows  # noqa: E402  (a sibling script)


def find_crops(target: np.ndarray, size: int) -> dict:
    gray = to_gray(target) if target.ndim == 3 else target
    grad = np.hypot(*np.gradient(gray))

    def best(score, rows=(0.0, 1.0)):
        return max(windows(gray, size, size // 4, rows), key=lambda yx: score(*yx))

    def window(image, y, x):
        return image[y:y + size, x:x + size]

    return {"flattest, upper third": best(lambda y, x: -window(gray, y, x).std(), (0.1, 0.35)),
            "top border": (0, (gray.shape[1] - size) // 2),
            "most detail": best(lambda y, x: window(grad, y, x).mean())}


@click.command()
@click.argument("pairs", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("name")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path))
@click.option("--preset", "presets", multiple=True, required=True)
@click.option("--label", "labels", multiple=True, help="A column title per preset (default: its folder name).")
@click.option("--size", default=64, show_default=True, help="Crop side in pixels.")
def main(pairs, name, output, presets, labels, size):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metadata = read_preset(presets[0]).metadata
    source, target, source_channels, target_channels = DIRECTIONS[metadata["direction"]]
    data = load_pairs(pairs, source, target, source_channels, target_channels, only={name})
    image, truth = (x[..., 0] if x.shape[-1] == 1 else x for x in (data.sources[0], data.targets[0]))
    outputs = {p: translate_image(image, preset=p, name=name).image for p in presets}
    titles = list(labels) + [Path(p).name for p in presets[len(labels):]]
    columns = [("input", image), ("target", truth)] + list(zip(titles, outputs.values()))
    crops = find_crops(truth, size)
    figure, axes = plt.subplots(len(crops), len(columns), figsize=(1.9 * len(columns), 2.0 * len(crops)))
    for r, (label, corner) in enumerate(crops.items()):
        for c, (title, panel) in enumerate(columns):
            show_crop(axes[r, c], panel, corner, size, title if r == 0 else None, label if c == 0 else None)
    save(figure, output, f"{name}, {source} -> {target}: {size}x{size} crops, pixels as blocks")

if __name__ == "__main__":
    sys.exit(main())
