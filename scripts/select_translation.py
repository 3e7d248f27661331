"""Score translation candidates on held-out pairs and pick one by the rule in docs/training.md
("Fifth round: resize-convolution upsampling").

    python scripts/select_translation.py ../shared/data/roadscene RUN-presets/batch-* \
        --shipped checkpoints/pix2pix-vis2ir [--json out.json]

The pairs are those named in the first candidate's metadata "held_out" (pairs the runs never
saw). Each output is rounded to 8 bits, as `tf-irgan translate` writes it, then scored against
its target: MAE, PSNR, SSIM (`tf_irgan.metrics.translation`) and the grid strength of the output
alone (`grid_strength`, the checkerboard measure). The target images' own grid strength is printed
as the floor (JPEG's 8x8 blocks show there). Chosen: the candidate with the lowest mean MAE; it
replaces `--shipped` if its MAE is at most the shipped one's + MAE_MARGIN and its grid strength at
most GRID_SHARE x the shipped one's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np

from tf_irgan.data.pairs import load_pairs
from tf_irgan.models.pix2pix import DIRECTIONS
from tf_irgan.metrics.translation import grid_strength, translation_metrics
from tf_irgan.pipelines.translation import translate_image
from tf_irgan.presets import read_preset
from tf_irgan.report.catalogue import held_out_names

MAE_MARGIN, GRID_SHARE = 0.003, 0.5


@click.command()
@click.argument("pairs", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("candidates", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--shipped", type=click.Path(exists=True, path_type=Path), required=True,
              help="The preset a candidate must beat (scored too).")
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the table here.")
def main(pairs, candidates, shipped, json_path):
    first = read_preset(candidates[0]).metadata
    source, target, source_channels, target_channels = DIRECTIONS[first["direction"]]
    held = set(held_out_names(first))
    if not held:
        raise click.UsageError(f"{candidates[0]}: its metadata names no held-out pairs")
    data = load_pairs(pairs, source, target, source_channels, target_channels, only=held)
    candidates = [c for c in dict.fromkeys(candidates) if c != shipped]
    rows = {"target": [], **{str(c): [] for c in (shipped, *candidates)}}
    for index, name in enumerate(data.names):
        image, truth = data.sources[index], data.targets[index]
        image = image[..., 0] if image.shape[-1] == 1 else image
        truth = truth[..., 0] if truth.shape[-1] == 1 else truth
        rows["target"].append([np.nan, np.nan, np.nan, grid_strength(truth)])
        for candidate in (shipped, *candidates):
            out = translate_image(image, preset=str(candidate), name=name).image
            out = np.floor(np.clip(out, 0, 1) * 255 + 0.5) / 255
            scores = translation_metrics(out, truth)
            rows[str(candidate)].append([scores["MAE"], scores["PSNR"], scores["SSIM"],
                                         grid_strength(out)])
        print(f"{index + 1}/{len(data.names)} {name}", file=sys.stderr)
    means = {k: np.mean(v, axis=0) for k, v in rows.items()}
    print(f"{len(data.names)} held-out pairs, {source} -> {target}; grid in 1/255 levels")
    print(f"{'MAE':>8} {'PSNR':>7} {'SSIM':>7} {'grid':>7}  candidate")
    for key, (mae, psnr, ssim, grid) in means.items():
        print(f"{mae:8.4f} {psnr:7.2f} {ssim:7.4f} {grid * 255:7.3f}  {key}")
    best = min((str(c) for c in candidates), key=lambda k: means[k][0])
    bar = means[str(shipped)]
    replaces = bool(means[best][0] <= bar[0] + MAE_MARGIN and means[best][3] <= GRID_SHARE * bar[3])
    print(f"lowest MAE: {best}; {'replaces' if replaces else 'does not replace'} {shipped}")
    if json_path:
        json_path.write_text(json.dumps({
            "pairs": data.names, "best": best, "replaces": replaces, "shipped": str(shipped),
            "scores": {k: {m: (None if np.isnan(x) else float(x))
                           for m, x in zip(("MAE", "PSNR", "SSIM", "grid"), v)}
                       for k, v in means.items()}}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
