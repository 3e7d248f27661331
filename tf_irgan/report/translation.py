"""The report's translation part: every translation preset on the RoadScene pairs it held out,
beside the linear-map baseline fitted on the pairs it trained on, in the paper's format
(per-image MAE and MSE on [0, 1] and their mean, plus PSNR and SSIM) and the paper's figure
(input, target, generated, residual per image)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tf_irgan.presets import name_list
from tf_irgan.data.pairs import HOLDOUT_EVERY, holdout_split
from tf_irgan.report.catalogue import held_out_names

ROLE_LABELS = {"vis": "visible", "ir": "IR"}


@dataclass
class TranslationSet:
    direction: str
    source: str
    target: str
    presets: list
    pairs: list = field(default_factory=list)      # held-out pair names
    training: list = field(default_factory=list)   # names the baseline is fitted on
    how: str = ""
    target_grid: float | None = None               # the target images' own grid strength

    @property
    def key(self) -> str:
        return f"translation_{self.direction}"

    @property
    def title(self) -> str:
        return (f"Translation {ROLE_LABELS[self.source]} -> {ROLE_LABELS[self.target]}, "
                "RoadScene held-out pairs")


def plan_translation(root: Path, presets: list, limit=None) -> list[TranslationSet]:
    """One set per direction that a selected translation preset serves."""
    from tf_irgan.images import pair_folders
    from tf_irgan.report.catalogue import _check_folder

    base = root / "roadscene"
    every = [p.name for p in pair_folders(_check_folder(base / "vi", root),
                                          _check_folder(base / "ir", root))]
    sets = []
    for direction in sorted({p.metadata.get("direction") for p in presets} - {None}):
        chosen = [p for p in presets if p.metadata.get("direction") == direction]
        lists = [set(held_out_names(p.metadata)) & set(every) for p in chosen]
        lists = [held for held in lists if held]
        if lists:
            held = sorted(set.intersection(*lists))
            how = ("the pairs named in the `held_out` field of the metadata.json of "
                   + ", ".join(f"`{p.name}`" for p in chosen))
        else:
            held = holdout_split(every, HOLDOUT_EVERY)[1]
            how = f"every {HOLDOUT_EVERY}th pair by sorted name"
        # The baseline is fitted on the pairs every preset trained on (their "data_pairs").
        trained = [set(name_list(p.metadata.get("data_pairs"))) for p in chosen]
        trained = set.intersection(*trained) if all(trained) else set(every) - set(held)
        training = [n for n in every if n in trained and n not in held]
        source, target = direction.split("2")
        sets.append(TranslationSet(direction, source, target, chosen, held[:limit] if limit else held,
                                   training, how))
    return sets


def evaluate_translation_set(tset: TranslationSet, root: Path, work: Path, log) -> dict:
    """Translate the held-out sources with every preset and the linear map; score the files."""
    import numpy as np

    from tf_irgan.baselines import LinearMap
    from tf_irgan.data.pairs import load_pairs
    from tf_irgan.images import write_image
    from tf_irgan.metrics.evaluate import evaluate_translation_dirs
    from tf_irgan.pipelines.translation import translate_image

    data = root / "roadscene"
    c_out = 1 if tset.target == "ir" else 3
    log(f"{tset.key}: fitting the linear map on {len(tset.training)} training pairs")
    c_in = 3 if tset.source == "vis" else 1
    fit = load_pairs(data, tset.source, tset.target, c_in, c_out, only=set(tset.training))
    linear = LinearMap.fit(fit.sources, fit.targets)
    held = load_pairs(data, tset.source, tset.target, c_in, c_out, only=set(tset.pairs))
    folder = work / tset.key
    methods = {}
    for index, name in enumerate(held.names):
        source, target = held.sources[index], held.targets[index]
        as_image = source[..., 0] if source.shape[-1] == 1 else source
        write_image(folder / "input" / f"{name}.png", as_image, overwrite=True)
        write_image(folder / "target" / f"{name}.png",
                    target[..., 0] if target.shape[-1] == 1 else target, overwrite=True)
        write_image(folder / "linear" / f"{name}.png", linear(source), overwrite=True)
        for preset in tset.presets:
            log(f"{tset.key}: {preset.name} {index + 1}/{len(held.names)} ({name})")
            out = translate_image(as_image, preset=str(preset.path), name=name).image
            write_image(folder / preset.name / f"{name}.png", out, overwrite=True)
    for method in [p.name for p in tset.presets] + ["linear"]:
        result = evaluate_translation_dirs(folder / method, folder / "target", folder / "input")
        result["kind"] = "baseline" if method == "linear" else "preset"
        result["grid"] = mean_grid(folder / method, held.names)
        methods[method] = result
    tset.target_grid = mean_grid(folder / "target", held.names)
    methods["linear"]["fit"] = {"weights": np.round(linear.weights, 6).tolist(),
                                "bias": np.round(linear.bias, 6).tolist(),
                                "pairs": len(fit.names)}
    return methods


def mean_grid(folder: Path, names: list) -> float:
    """Mean grid strength (`metrics.translation.grid_strength`) of the images written there."""
    import numpy as np

    from tf_irgan.images import read_image
    from tf_irgan.metrics.translation import grid_strength

    return float(np.mean([grid_strength(read_image(folder / f"{name}.png")) for name in names]))


def render_translation(tset: TranslationSet, methods: dict, figure_link: str) -> str:
    from tf_irgan.metrics.reporting import format_value, translation_markdown
    from tf_irgan.metrics.translation import METRIC_NAMES

    lines = [f"## {tset.title} ({len(tset.pairs)} pairs)", "",
             f"The {len(tset.pairs)} RoadScene pairs chosen as {tset.how}; input "
             f"`roadscene/{'vi' if tset.source == 'vis' else 'ir'}`, target "
             f"`roadscene/{'vi' if tset.target == 'vis' else 'ir'}`, scored on [0, 1]"
             + (" (color: all three channels)" if tset.target == "vis" else "") + ". "
             f"`linear` is the baseline: one global linear map per output channel, fitted by "
             f"least squares on the {len(tset.training)} training pairs.", "",
             "| Method | " + " | ".join(METRIC_NAMES) + " | Grid |",
             "|---|" + "---:|" * (len(METRIC_NAMES) + 1)]
    for name, result in methods.items():
        label = f"`{name}`" if result["kind"] == "preset" else f"{name} (baseline)"
        scores = [format_value(result["mean"][m]) for m in METRIC_NAMES]
        lines.append(f"| {label} | " + " | ".join(scores) + f" | {result['grid'] * 255:.2f} |")
    if tset.target_grid is not None:
        lines.append("| target (the camera's own images) | " + " | ".join(["-"] * len(METRIC_NAMES))
                     + f" | {tset.target_grid * 255:.2f} |")
    lines += ["", "*Grid: the checkerboard and lines that upsampling layers print, in 8-bit "
              "levels: the amplitude of what repeats every 8 pixels of an image "
              "(`tf_irgan.metrics.translation.grid_strength`, no reference needed), the mean over "
              "the pairs. Camera images are not at zero (JPEG's 8x8 blocks): read a model against "
              "the target's row.*", ""]
    for name, result in methods.items():
        if result["kind"] == "preset":
            lines += [f"Per image, `{name}` (the paper's table):", "", translation_markdown(result).rstrip(), ""]
    lines += [f"![{tset.title}: input, target, generated, residual]({figure_link})", "",
              "*Per held-out pair: input, target, the first preset's output, and |target - output| "
              "on one color scale (MAE in the row label).*", ""]
    return "\n".join(lines)


def json_entry(tset: TranslationSet, methods: dict, figure: str) -> dict:
    return {"title": tset.title, "direction": tset.direction, "pairs": tset.pairs,
            "training_pairs": len(tset.training), "held_out_from": tset.how,
            "methods": json.loads(json.dumps(methods, default=str)), "target_grid": tset.target_grid,
            "figures": {"examples": figure}}
