"""Score fusion candidates on held-out pairs and pick one by the rule in docs/training.md.

    python scripts/select_fusion.py ../shared/data/roadscene RUN-presets/batch-* [--json out.json]

The pairs are those named in the first candidate's metadata "held_out" (pairs the runs never
saw). A candidate trained at scale s gets the IR reduced s x by block means, as `tf-irgan report`
does; the reference is the Laplacian pyramid (`laplacian`) for s = 1 and the pyramid given that
reduced IR brought back bicubically (`laplacian-ir4`) for s = 4. Eligible: SSIM >= 0.98 x the
reference's, clipped share <= the reference's + 0.25 percentage point, and VIF(IR, F) at least
the reference's (added after the first x4 selection: VIF alone rewards a result that drifts
toward the visible image, docs/training.md); with `--noise-rule` (selections written since
2026-12-02) also a flat-region noise (`Noise`, docs/metrics.md) of at most 1: no noisier where
there is no scene than the noisier source; chosen: the highest VIF/VIF_ref + Qabf/Qabf_ref,
the earlier on a tie (candidates in the order given).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import cv2
import numpy as np

from tf_irgan import baselines
from tf_irgan.data.patches import downsample_area
from tf_irgan.data.warps import night
from tf_irgan.images import read_image, to_gray
from tf_irgan.metrics.fusion import clipped_share, flat_noise, fusion_ssim, fusion_vif, qabf, vif
from tf_irgan.pipelines.fusion import fuse_images
from tf_irgan.presets import read_preset

SSIM_SHARE, CLIP_MARGIN = 0.98, 0.25


def reduce(ir: np.ndarray, scale: int) -> np.ndarray:
    """Block means of scale x scale cells, the IR reflect-padded to a multiple of scale."""
    h, w = ir.shape
    return downsample_area(np.pad(ir, ((0, -h % scale), (0, -w % scale)), mode="reflect"), scale)


def scores(ir, vis, fused) -> np.ndarray:
    """VIF, Qabf, SSIM, clipped share, VIF(IR, F) (the IR's part of VIF alone), flat-region noise."""
    a, b, f = ir * 255, vis * 255, np.floor(np.clip(fused, 0, 1) * 255 + 0.5)
    return np.array([fusion_vif(a, b, f), qabf(a, b, f), fusion_ssim(a, b, f), clipped_share(f),
                     vif(a, f), flat_noise(a, b, f)])


@click.command()
@click.argument("pairs", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("candidates", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the table here.")
@click.option("--night", "night_check", is_flag=True, help="Darken and add noise to every visible image first "
              "(`night`), and add the visible image alone as a row: a check, not a selection.")
@click.option("--noise-rule", is_flag=True, help="Eligible only with a flat-region noise of at "
              "most 1 (the rule for selections written since 2026-12-02).")
def main(pairs, candidates, json_path, night_check, noise_rule):
    presets = [read_preset(c) for c in candidates]
    scale = int(presets[0].metadata.get("scale", 1))
    if any(int(p.metadata.get("scale", 1)) != scale for p in presets):
        raise click.UsageError("candidates of one scale at a time (the reference depends on it)")
    held = set(presets[0].metadata.get("held_out") or [])
    names = sorted(p.name for p in (pairs / "ir").iterdir() if p.stem in held)
    reference = "laplacian" if scale == 1 else f"laplacian-ir{scale}"
    rows = {reference: [], **({"visible alone": []} if night_check else {}),
            **{str(c): [] for c in candidates}}
    for index, name in enumerate(names):
        vis = to_gray(read_image(next((pairs / "vi").glob(Path(name).stem + ".*"))))
        ir = to_gray(read_image(pairs / "ir" / name))
        if night_check:
            vis = night(vis, index)
            rows["visible alone"].append(scores(ir, vis, vis))
        small = reduce(ir, scale) if scale > 1 else ir
        if scale == 1:
            ref = baselines.laplacian_pyramid(vis, ir)
        else:
            h, w = ir.shape
            up = cv2.resize(small, (small.shape[1] * scale, small.shape[0] * scale),
                            interpolation=cv2.INTER_CUBIC)[:h, :w]
            ref = baselines.laplacian_pyramid(vis, np.clip(up, 0, 1))
        rows[reference].append(scores(ir, vis, ref))
        for candidate in candidates:
            fused = fuse_images(vis, small, preset=str(candidate), gray=True, precision="fp32").image
            rows[str(candidate)].append(scores(ir, vis, fused))
    means = {k: np.nanmean(v, axis=0) for k, v in rows.items()}   # Noise: NaN without flat blocks
    ref = means[reference]
    print(f"{len(names)} held-out pairs; reference {reference}")
    print(f"{'':>8} {'VIF':>7} {'Qabf':>7} {'SSIM':>7} {'Clip%':>7} {'VIF_IR':>7} {'Noise':>6} {'gain':>7}  candidate")
    best, table = None, {}
    for key, (v, q, s, c, v_ir, noise) in means.items():
        gain = v / ref[0] + q / ref[1]
        eligible = (key not in (reference, "visible alone") and s >= SSIM_SHARE * ref[2]
                    and c <= ref[3] + CLIP_MARGIN and v_ir >= ref[4]
                    and not (noise_rule and noise > 1))
        if eligible and (best is None or gain > table[best]["gain"]):
            best = key
        table[key] = {"VIF": v, "Qabf": q, "SSIM": s, "Clip": c, "VIF_IR": v_ir, "Noise": noise, "gain": gain,
                      "eligible": eligible}
        print(f"{'yes' if eligible else '-':>8} {v:7.4f} {q:7.4f} {s:7.4f} {c:7.3f} {v_ir:7.4f} "
              f"{noise:6.3f} {gain:7.4f}  {key}")
    print(f"chosen: {best}" if best else "chosen: none (no candidate is eligible)")
    if json_path:
        json_path.write_text(json.dumps({"pairs": names, "reference": reference, "chosen": best,
                                         "scores": {k: {m: (bool(x) if m == "eligible" else float(x))
                                                        for m, x in r.items()}
                                                    for k, r in table.items()}}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
