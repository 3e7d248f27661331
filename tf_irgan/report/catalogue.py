"""The test sets of the report and what is compared on them: which pairs (TNO-25, the RoadScene
pairs held out from training, MRI-PET-42), which methods (presets and classical baselines), and
the published rows printed beside them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tf_irgan.data.pairs import HOLDOUT_EVERY
from tf_irgan.errors import UserError
from tf_irgan.presets import name_list

REPO_ROOT = Path(__file__).resolve().parents[2]
BASELINES = ("average", "max", "laplacian")
SET_KEYS = ("tno", "roadscene", "medical", "pet", "spect", "ct", "translation")
# The other medical pairs: (set key, modality, folder under the data root, functional subfolder)
MEDICAL_TEST_SETS = (("pet", "mri-pet", "pet_mri_harvard/test", "PET"),
                     ("spect", "mri-spect", "spect_mri_harvard/test", "SPECT"),
                     ("ct", "mri-ct", "ct_mri_harvard/test", "CT"))
FIGURE_MAX_BYTES = 290_000  # each example grid stays under ~300 KB


# reference.md §3: CDDFuse (CVPR 2023) Table 1, TNO-25.
PUBLISHED_TNO = {
    "CDDFuse": {"EN": 7.12, "SD": 46.00, "SF": 13.15, "MI": 2.19, "SCD": 1.76, "VIF": 0.77,
                "Qabf": 0.54, "SSIM": 1.03},
    "U2Fusion": {"EN": 6.83, "SD": 34.55, "SF": 11.52, "MI": 1.37, "SCD": 1.71, "VIF": 0.58,
                 "Qabf": 0.44, "SSIM": 0.99},
    "TarDAL": {"EN": 6.84, "SD": 45.63, "SF": 8.68, "MI": 1.86, "SCD": 1.52, "VIF": 0.53,
               "Qabf": 0.32, "SSIM": 0.88},
}
PUBLISHED_SOURCE = "Zhao et al., CDDFuse, CVPR 2023, Table 1 (TNO, 25 pairs)"
# reference.md §3: plain averaging on the same 25 pairs with this package's metric definitions.
REFERENCE_AVERAGE_TNO = {"EN": 6.23, "SD": 26.1, "SF": 6.96, "MI": 1.60, "SCD": 1.54,
                         "VIF": 0.57, "Qabf": 0.36}


def default_data_root() -> Path:
    """$TF_IRGAN_SHARED_DATA, else `shared/data` beside the repository."""
    env = os.environ.get("TF_IRGAN_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"

@dataclass
class Method:
    name: str
    kind: str                          # "preset" | "baseline"
    preset: object = None              # tf_irgan.presets.Preset for checkpoints
    ir_scale: int = 1                  # baselines: the IR they get, reduced 1/s, as an s-x model's
    baseline: str = ""                 # baselines: tf_irgan.baselines.METHODS name (default: name)

    @classmethod
    def reduced_ir_baseline(cls, baseline: str, scale: int) -> "Method":
        """A baseline given what an s-x checkpoint gets: the IR reduced 1/s, which the pipeline
        enlarges back (bicubic) for the classical method; the fair comparison for such models."""
        return cls(f"{baseline}-ir{scale}", "baseline", ir_scale=scale, baseline=baseline)

    @property
    def scale(self) -> int:
        return self.preset.scale if self.preset is not None else self.ir_scale

    @property
    def ir_input(self) -> str:
        if self.scale == 1:
            return "full"
        return f"1/{self.scale} (block mean" + (", bicubic back up)" if self.kind == "baseline" else ")")


@dataclass
class EvalSet:
    key: str
    title: str
    vis_label: str
    ir_label: str
    pairs: list = field(default_factory=list)       # tf_irgan.images.ImagePair
    methods: list = field(default_factory=list)     # Method
    description: str = ""
    skipped: str | None = None
    modality: str = "ir-vis"    # tf_irgan.modalities: how pairs are fused, scored and shown
    # A bar chart of the mean metrics beside the table, and a figure of example pairs. The
    # repository keeps at most 16 images, so the sets added last have fewer: MRI-SPECT and
    # MRI-CT their examples only, MRI-PET's own test split (the PET presets' training set's) its
    # table only (MRI-PET-42 shows the same kind of images).
    bars: bool = True
    examples: bool = True

    @property
    def color_space(self) -> str:
        from tf_irgan.modalities import get_modality
        return get_modality(self.modality).color_space

    @property
    def in_color(self) -> bool:
        """MRI/PET results keep the PET's color, so their figure is in color."""
        return self.modality != "ir-vis"

# ---------------------------------------------------------------- planning

def _check_folder(path: Path, data_root: Path) -> Path:
    if not path.is_dir():
        raise UserError(f"{path}: folder not found; pass --data-root (or set TF_IRGAN_SHARED_DATA) "
                        f"to the shared data folder (now {data_root}) holding tno/, roadscene/, mri_pet42/")
    return path


def held_out_names(metadata: dict) -> list[str]:
    """The pair names a checkpoint was not trained on (metadata "held_out")."""
    return name_list(metadata.get("held_out"))


def roadscene_pairs(pairs: list, presets: list) -> tuple[list, str]:
    """The RoadScene pairs every fusion checkpoint held out, and a sentence saying how they were chosen."""
    from tf_irgan.data.pairs import holdout_split

    names = {pair.name for pair in pairs}
    lists = [(p.name, set(held_out_names(p.metadata)) & names) for p in presets]
    with_lists = [(name, held) for name, held in lists if held]
    without = [name for name, held in lists if not held]
    if with_lists:
        common = set.intersection(*(held for _, held in with_lists))
        if not common:
            raise UserError("the shipped checkpoints' held-out RoadScene pairs do not overlap "
                            f"({', '.join(n for n, _ in with_lists)}); evaluate them separately "
                            "with --methods")
        how = ("the pairs named in the `held_out` field of the metadata.json of "
               + ", ".join(f"`{n}`" for n, _ in with_lists)
               + (" (their intersection)" if len(with_lists) > 1 else ""))
        chosen = [pair for pair in pairs if pair.name in common]
    else:
        chosen = holdout_split(pairs, HOLDOUT_EVERY)[1]
        how = (f"every {HOLDOUT_EVERY}th pair by sorted name "
               f"(`holdout_split(pair_folders(vi, ir), {HOLDOUT_EVERY})`, as `--holdout-every "
               f"{HOLDOUT_EVERY}` leaves out)")
    if without:
        how += ("; no hold-out list in " + ", ".join(f"`{n}`" for n in without)
                + ", which may have trained on these pairs")
    return chosen, how


def _select_methods(options, presets: list) -> tuple[list, list]:
    """(presets, baseline names) after --methods / --no-presets."""
    if not options.presets:
        presets = []
    baselines = list(BASELINES)
    if options.methods:
        wanted = [m.strip() for m in options.methods if m.strip()]
        known = [p.name for p in presets] + baselines
        unknown = [m for m in wanted if m not in known]
        if unknown:
            raise UserError(f"--methods {','.join(unknown)}: unknown; available: "
                            f"{', '.join(known) or 'none'}"
                            + (" (presets are off: --no-presets)" if not options.presets else ""))
        presets = [p for p in presets if p.name in wanted]
        baselines = [b for b in baselines if b in wanted]
    return presets, baselines


def plan(options) -> tuple[list[EvalSet], list]:
    """The sets to evaluate, each with its pairs and methods, and the checkpoints involved."""
    from tf_irgan.presets import list_presets
    from tf_irgan.images import pair_folders

    unknown = [s for s in options.sets if s not in SET_KEYS]
    if unknown or not options.sets:
        raise UserError(f"--sets {','.join(unknown) or '(empty)'}: use some of {', '.join(SET_KEYS)}")
    root = Path(options.data_root or default_data_root())
    presets, baselines = _select_methods(options, list_presets())
    fusion_presets = [p for p in presets if p.task == "fusion" and p.modality == "ir-vis"]
    medical_presets = [p for p in presets if p.task == "fusion" and p.modality == "mri-pet"]

    def methods(chosen):
        # The Laplacian pyramid is the strongest classical baseline here; models that see a
        # reduced IR are also compared with it given that same reduced IR.
        reduced = sorted({p.scale for p in chosen if p.scale > 1}) if "laplacian" in baselines else []
        return ([Method(p.name, "preset", p) for p in chosen]
                + [Method(name, "baseline", baseline=name) for name in baselines]
                + [Method.reduced_ir_baseline("laplacian", scale) for scale in reduced])

    sets = []
    if "tno" in options.sets:
        base = root / "tno"
        pairs = pair_folders(_check_folder(base / "vi", root), _check_folder(base / "ir", root))
        sets.append(EvalSet("tno", f"TNO-{len(pairs)}", "visible", "IR", pairs, methods(fusion_presets),
                            "The TNO test split used by published tables (`tno/vi`, `tno/ir`): "
                            "gray, 256x256 to 768x576"))
    if "roadscene" in options.sets:
        base = root / "roadscene"
        every = pair_folders(_check_folder(base / "vi", root), _check_folder(base / "ir", root))
        pairs, how = roadscene_pairs(every, fusion_presets)
        sets.append(EvalSet("roadscene", "RoadScene, held-out pairs", "visible (Y)", "IR", pairs,
                            methods(fusion_presets),
                            f"The {len(pairs)} of the {len(every)} pairs in `roadscene/{{vi,ir}}` "
                            f"chosen as {how}; visible RGB, fused and scored on its luminance"))
    if "medical" in options.sets:
        if medical_presets:
            base = root / "mri_pet42"
            pairs = pair_folders(_check_folder(base / "MRI", root), _check_folder(base / "PET", root),
                                 "MRI", "PET")
            sets.append(EvalSet("medical", f"MRI-PET-{len(pairs)}", "MRI", "PET", pairs,
                                methods(medical_presets),
                                "`mri_pet42/{MRI,PET}`, 256x256: the MRI is fused with the PET's "
                                "IHS intensity I/sqrt(3) (the mean of R, G, B) and the PET's color "
                                "(v1, v2) is put back; every method is scored on the IHS "
                                "intensity of its color result against the MRI (B) and the "
                                "full-resolution PET intensity (A)", modality="mri-pet"))
        else:
            reason = ("presets are off (--no-presets)" if not options.presets else
                      "no selected checkpoint fuses MRI with PET (metadata modality \"mri-pet\")")
            sets.append(EvalSet("medical", "MRI-PET-42", "MRI", "PET", skipped=
                                f"Skipped: {reason}, so there is no MRI/PET model to score."))
    for key, modality, folder, functional in MEDICAL_TEST_SETS:
        if key not in options.sets:
            continue
        chosen = [p for p in presets if p.task == "fusion" and p.modality == modality]
        base = root / folder
        pairs = pair_folders(_check_folder(base / "MRI", root),
                             _check_folder(base / functional, root), "MRI", functional)
        title = f"MRI-{functional}-{len(pairs)}"
        what = ("both images are gray" if functional == "CT" else
                f"the MRI is fused with the {functional}'s IHS intensity and its color is put "
                "back" + (", as for PET" if functional == "SPECT" else
                          " (the test split of the set the PET presets were trained on; "
                          "MRI-PET-42 comes from another release of the atlas)"))
        none = ("" if chosen else f"; no preset fuses MRI with {functional} yet (none passed its "
                "selection, docs/training.md), so only the classical rules are scored")
        sets.append(EvalSet(key, title, "MRI", functional, pairs, methods(chosen),
                            f"`{folder}/{{MRI,{functional}}}`, the set's own test split, 256x256: "
                            f"{what}; every method is scored on the IHS intensity of its result "
                            f"against the MRI (B) and the {functional} intensity (A){none}",
                            modality=modality, bars=False, examples=key != "pet"))
    for eval_set in sets:
        if options.limit:
            eval_set.pairs = eval_set.pairs[:options.limit]
        if not eval_set.skipped and not eval_set.methods:
            raise UserError("nothing to evaluate: --methods/--no-presets left no method")
    return sets, presets
