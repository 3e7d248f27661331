"""Score medical fusion candidates on held-out pairs of the training split and pick one by the
rule in docs/training.md ("Medical presets").

    python scripts/select_medical.py ../shared/data/spect_mri_harvard/train SPECT RUN-presets/batch-* \
        [--json out.json]

The pairs are those named in the first candidate's metadata "held_out" (every 10th pair of the
training split, never trained on). Everything is scored on the intensity the model fuses (the
functional image's IHS intensity I/sqrt3; a gray CT is its own intensity), against the three
classical rules on the same pairs: averaging, the pixelwise maximum and the Laplacian pyramid.
Eligible: VIF and Qabf above all three, SSIM >= 0.98 x the best of the three; chosen: the highest
VIF/VIF_best + Qabf/Qabf_best (the best rule on each metric), the earlier on a tie. With
`--noise-rule` (selections written since 2026-12-02) also a flat-region noise (`Noise`,
docs/metrics.md) of at most 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np

from tf_irgan import baselines
from tf_irgan.color import COLOR_SPACES
from tf_irgan.images import read_image
from tf_irgan.metrics.fusion import flat_noise, fusion_ssim, fusion_vif, qabf
from tf_irgan.pipelines.fusion import fuse_images
from tf_irgan.presets import read_preset

SSIM_SHARE = 0.98
RULES = {"average": baselines.average, "max": baselines.maximum,
         "laplacian": baselines.laplacian_pyramid}


def intensity(image: np.ndarray) -> np.ndarray:
    return COLOR_SPACES["ihs"].luminance(image) if image.ndim == 3 else image


def scores(functional, mri, fused) -> np.ndarray:
    a, b, f = functional * 255, mri * 255, np.floor(np.clip(fused, 0, 1) * 255 + 0.5)
    return np.array([fusion_vif(a, b, f), qabf(a, b, f), fusion_ssim(a, b, f), flat_noise(a, b, f)])


@click.command()
@click.argument("pairs", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("functional_dir")
@click.argument("candidates", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "json_path", type=click.Path(path_type=Path), help="Write the table here.")
@click.option("--noise-rule", is_flag=True, help="Eligible only with a flat-region noise of at "
              "most 1 (the rule for selections written since 2026-12-02).")
def main(pairs, functional_dir, candidates, json_path, noise_rule):
    held = set(read_preset(candidates[0]).metadata.get("held_out") or [])
    names = sorted(p.name for p in (pairs / functional_dir).iterdir() if p.stem in held)
    if not names:
        raise click.UsageError(f"no held-out pair of {candidates[0]} found in {pairs / functional_dir}")
    rows = {**{rule: [] for rule in RULES}, **{str(c): [] for c in candidates}}
    for name in names:
        mri = read_image(pairs / "MRI" / name)
        mri = intensity(mri)
        functional = read_image(pairs / functional_dir / name)
        level = intensity(functional)
        for rule, fuse in RULES.items():
            rows[rule].append(scores(level, mri, fuse(mri, level)))
        for candidate in candidates:
            fused = fuse_images(mri, level, preset=str(candidate), gray=True, precision="fp32").image
            rows[str(candidate)].append(scores(level, mri, fused))
    means = {k: np.nanmean(v, axis=0) for k, v in rows.items()}   # Noise: NaN without flat blocks
    best = np.max([means[r] for r in RULES], axis=0)
    print(f"{len(names)} held-out pairs; best rule per metric: VIF {best[0]:.4f}, Qabf "
          f"{best[1]:.4f}, SSIM {best[2]:.4f}")
    print(f"{'':>8} {'VIF':>7} {'Qabf':>7} {'SSIM':>7} {'Noise':>6} {'gain':>7}  candidate")
    chosen, table = None, {}
    for key, (v, q, s, noise) in means.items():
        gain = v / best[0] + q / best[1]
        eligible = (key not in RULES and v > best[0] and q > best[1] and s >= SSIM_SHARE * best[2]
                    and not (noise_rule and noise > 1))
        if eligible and (chosen is None or gain > table[chosen]["gain"]):
            chosen = key
        table[key] = {"VIF": v, "Qabf": q, "SSIM": s, "Noise": noise, "gain": gain, "eligible": eligible}
        print(f"{'yes' if eligible else '-':>8} {v:7.4f} {q:7.4f} {s:7.4f} {noise:6.3f} {gain:7.4f}  {key}")
    print(f"chosen: {chosen}" if chosen else "chosen: none (no candidate is eligible)")
    if json_path:
        json_path.write_text(json.dumps({"pairs": names, "chosen": chosen,
                                         "scores": {k: {m: (bool(x) if m == "eligible" else float(x))
                                                        for m, x in r.items()}
                                                    for k, r in table.items()}}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
