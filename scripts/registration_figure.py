"""docs/figures/registration.png: edges of the visible image (green) over edges of the IR
(magenta) before and after `tf-irgan register`; where they coincide they turn white.

    python scripts/registration_figure.py ../shared/data [--out docs/figures/registration.png]

Rows: RoadScene high-resolution visible frames (`vi_hr`, a real non-integer size ratio and ~10 %
aspect difference) with their IR, and two TNO pairs (shared as registered, yet off by 5-35 px).
"Before" is the IR stretched onto the visible frame edge to edge (what fusing without
registration assumes); "after" is the IR resampled by the registration. Each panel is a third of the frame per side (the centre, or where the
row says), enlarged.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import cv2
import numpy as np

from tf_irgan.images import read_image, to_gray
from tf_irgan.registration import register, warp_onto

# (visible folder, IR folder, name, centre of the crop as shares of the frame)
ROWS = (("roadscene/vi_hr", "roadscene/ir", "FLIR_04625.jpg", (0.5, 0.5)),
        ("roadscene/vi_hr", "roadscene/ir", "FLIR_06916.jpg", (0.5, 0.5)),
        ("tno/vi", "tno/ir", "01.png", (0.5, 0.5)),
        ("tno/vi", "tno/ir", "09.png", (0.25, 0.45)))


def edges(gray: np.ndarray) -> np.ndarray:
    smooth = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 1.5)
    magnitude = np.hypot(cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1))
    return np.clip(magnitude / (np.percentile(magnitude, 97) + 1e-6), 0, 1)


def overlay(vis_edges, ir_edges) -> np.ndarray:
    return np.dstack([ir_edges, vis_edges, ir_edges])  # RGB: IR magenta, visible green


def crop(image, size, at):
    h, w = image.shape[:2]
    x0 = int(np.clip(at[0] * w - size[0] / 2, 0, w - size[0]))
    y0 = int(np.clip(at[1] * h - size[1] / 2, 0, h - size[1]))
    return image[y0:y0 + size[1], x0:x0 + size[0]]


@click.command()
@click.argument("data", type=click.Path(exists=True))
@click.option("--out", default="docs/figures/registration.png", show_default=True)
def main(data, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = Path(data)
    fig, axes = plt.subplots(len(ROWS), 2, figsize=(9, 3.1 * len(ROWS)))
    for row, (vis_dir, ir_dir, name, at) in enumerate(ROWS):
        vis = to_gray(read_image(data / vis_dir / name))
        ir = to_gray(read_image(data / ir_dir / name))
        h, w = vis.shape
        stretched = cv2.resize(ir, (w, h), interpolation=cv2.INTER_LINEAR)
        result = register(vis, ir)
        registered, _ = warp_onto(ir, result)
        size = (w // 3, h // 3)
        vis_edges = crop(edges(vis), size, at)
        for column, (ir_image, title) in enumerate(((stretched, "before (stretched)"),
                                                    (registered, "after (registered)"))):
            axes[row, column].imshow(overlay(vis_edges, crop(edges(ir_image), size, at)))
            axes[row, column].set_title(f"{name}, {w}x{h} / {ir.shape[1]}x{ir.shape[0]}: {title}",
                                        fontsize=8)
            axes[row, column].axis("off")
        print(f"{name}: {result.describe()}", file=sys.stderr)
    fig.tight_layout()
    fig.savefig(out, dpi=65)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
