"""`tf-irgan report`: score every shipped checkpoint and the classical baselines on the shared
test sets and write docs/results.md, docs/results.json and docs/figures/.

Protocol (also written at the top of the report):
- Fusion runs on luminance: the visible image's BT.601 Y and the IR image's gray levels; the
  fused luminance is written as an 8-bit gray PNG and scored from that file
  (`tf_irgan.metrics.evaluate.load_fusion_triple` + `tf_irgan.metrics.fusion.fusion_metrics`).
- A same-resolution checkpoint (scale 1) gets the IR image as is. A checkpoint trained at scale s
  gets the IR image reflect-padded to a multiple of s and reduced by s x s block means
  (`tf_irgan.data.patches.downsample_area`), i.e. ceil(H/s) x ceil(W/s), which the generator
  takes directly (`tf_irgan.inference.run_generator`), so nothing is resampled twice.
- Baselines get the full-resolution IR image. Every method is scored against the
  full-resolution IR (A) and the visible luminance (B).

Sets: TNO-25; the RoadScene pairs held out from training (from the checkpoints' metadata.json
"held_out", else every 10th pair by name); MRI-PET-42 when a checkpoint has task "medical".
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from tf_irgan.version import __version__
from tf_irgan.errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = Path("docs") / "results.md"
BASELINES = ("average", "max", "laplacian")
SET_KEYS = ("tno", "roadscene", "medical")
HOLDOUT_EVERY = 10          # the training runs' --holdout-every, used when no metadata says more
EXAMPLE_PAIRS = 3
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
class ReportOptions:
    data_root: Path | None = None
    output: Path = DEFAULT_OUTPUT
    work_dir: Path | None = None       # None: a temporary folder, removed afterwards
    limit: int | None = None           # first N pairs of each set
    methods: list | None = None        # checkpoint names and/or baselines; None: all
    checkpoints: bool = True           # False: baselines only
    sets: tuple = SET_KEYS
    overwrite: bool = False
    command: str = "tf-irgan report"


@dataclass
class Method:
    name: str
    kind: str                          # "checkpoint" | "baseline"
    preset: object = None              # tf_irgan.checkpoints.Preset for checkpoints

    @property
    def scale(self) -> int:
        return self.preset.scale if self.preset is not None else 1

    @property
    def ir_input(self) -> str:
        return "full" if self.scale == 1 else f"1/{self.scale} (block mean)"


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


@dataclass
class OutputFiles:
    markdown: Path
    json: Path
    figures: Path

    @classmethod
    def beside(cls, output) -> "OutputFiles":
        output = Path(output)
        return cls(output, output.with_suffix(".json"), output.parent / "figures")

    def examples(self, key) -> Path:
        return self.figures / f"{key}_examples.png"

    def bars(self, key) -> Path:
        return self.figures / f"{key}_metrics.png"


# ---------------------------------------------------------------- planning

def _check_folder(path: Path, data_root: Path) -> Path:
    if not path.is_dir():
        raise UserError(f"{path}: folder not found; pass --data-root (or set TF_IRGAN_SHARED_DATA) "
                        f"to the shared data folder (now {data_root}) holding tno/, roadscene/, mri_pet42/")
    return path


def held_out_names(metadata: dict) -> list[str]:
    """The pair names a checkpoint was not trained on (metadata "held_out": JSON text or a list)."""
    held = metadata.get("held_out")
    if isinstance(held, str):
        try:
            held = json.loads(held)
        except json.JSONDecodeError:
            return []
    return [str(name) for name in held] if isinstance(held, list) else []


def roadscene_pairs(pairs: list, presets: list) -> tuple[list, str]:
    """The RoadScene pairs every fusion checkpoint held out, and a sentence saying how they were chosen."""
    from tf_irgan.data.patches import holdout_split

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


def _select_methods(options: ReportOptions, presets: list) -> tuple[list, list]:
    """(checkpoint presets, baseline names) after --methods / --no-checkpoints."""
    if not options.checkpoints:
        presets = []
    baselines = list(BASELINES)
    if options.methods:
        wanted = [m.strip() for m in options.methods if m.strip()]
        known = [p.name for p in presets] + baselines
        unknown = [m for m in wanted if m not in known]
        if unknown:
            raise UserError(f"--methods {','.join(unknown)}: unknown; available: "
                            f"{', '.join(known) or 'none'}"
                            + (" (checkpoints are off: --no-checkpoints)" if not options.checkpoints else ""))
        presets = [p for p in presets if p.name in wanted]
        baselines = [b for b in baselines if b in wanted]
    return presets, baselines


def plan(options: ReportOptions) -> tuple[list[EvalSet], list]:
    """The sets to evaluate, each with its pairs and methods, and the checkpoints involved."""
    from tf_irgan.checkpoints import list_presets
    from tf_irgan.images import pair_folders

    unknown = [s for s in options.sets if s not in SET_KEYS]
    if unknown or not options.sets:
        raise UserError(f"--sets {','.join(unknown) or '(empty)'}: use some of {', '.join(SET_KEYS)}")
    root = Path(options.data_root or default_data_root())
    presets, baselines = _select_methods(options, list_presets())
    fusion_presets = [p for p in presets if p.task == "fusion"]
    medical_presets = [p for p in presets if p.task == "medical"]

    def methods(chosen):
        return ([Method(p.name, "checkpoint", p) for p in chosen]
                + [Method(name, "baseline") for name in baselines])

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
            sets.append(EvalSet("medical", f"MRI-PET-{len(pairs)}", "MRI", "PET (Y)", pairs,
                                methods(medical_presets),
                                "`mri_pet42/{MRI,PET}`, 256x256: MRI plays the visible role, PET's "
                                "BT.601 luminance the IR role, in fusion and in scoring"))
        else:
            reason = ("checkpoints are off (--no-checkpoints)" if not options.checkpoints else
                      "no selected checkpoint has task \"medical\"")
            sets.append(EvalSet("medical", "MRI-PET-42", "MRI", "PET", skipped=
                                f"Skipped: {reason}, so there is no MRI/PET model to score."))
    for eval_set in sets:
        if options.limit:
            eval_set.pairs = eval_set.pairs[:options.limit]
        if not eval_set.skipped and not eval_set.methods:
            raise UserError("nothing to evaluate: --methods/--no-checkpoints left no method")
    return sets, presets


# ---------------------------------------------------------------- fusing and scoring

def low_resolution_ir(ir: np.ndarray, scale: int) -> np.ndarray:
    """IR at 1/scale per side: reflect-pad to a multiple of scale, then block mean."""
    from tf_irgan.data.patches import downsample_area

    if scale == 1:
        return ir
    pad_h, pad_w = -ir.shape[0] % scale, -ir.shape[1] % scale
    if pad_h or pad_w:
        ir = np.pad(ir, ((0, pad_h), (0, pad_w)), mode="reflect")
    return downsample_area(ir, scale)


def fuse_luminance(method: Method, vis: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """Fused luminance in [0, 1] for a registered pair (visible gray/RGB, IR gray/RGB, same size)."""
    import cv2

    from tf_irgan.images import to_gray

    vis_y, ir_g = to_gray(vis), to_gray(ir)
    if ir_g.shape != vis_y.shape:
        ir_g = np.clip(cv2.resize(ir_g, vis_y.shape[::-1], interpolation=cv2.INTER_CUBIC), 0, 1)
    if method.kind == "baseline":
        from tf_irgan.baselines import METHODS
        fused = METHODS[method.name](vis_y, ir_g)
    else:
        from tf_irgan.inference import run_generator
        fused = run_generator(method.preset.model, vis_y, low_resolution_ir(ir_g, method.scale),
                              method.scale)
    return np.clip(fused, 0.0, 1.0).astype(np.float32)


def evaluate_method(eval_set: EvalSet, method: Method, folder: Path, log) -> dict:
    """Fuse every pair of the set with one method into `folder`, score the files, average."""
    from tf_irgan.images import read_image, write_image
    from tf_irgan.metrics import fusion
    from tf_irgan.metrics.evaluate import load_fusion_triple, mean_metrics

    if method.kind == "checkpoint" and method.preset.model is None:
        from tf_irgan.checkpoints import load_preset
        method.preset = load_preset(method.preset.path)
    folder.mkdir(parents=True, exist_ok=True)
    per_image, notes, files, seconds = {}, {}, {}, 0.0
    for index, pair in enumerate(eval_set.pairs, start=1):
        log(f"{eval_set.key}: {method.name} {index}/{len(eval_set.pairs)} ({pair.name})")
        vis, ir = read_image(pair.vis), read_image(pair.ir)
        began = time.perf_counter()
        fused = fuse_luminance(method, vis, ir)
        seconds += time.perf_counter() - began
        out = write_image(folder / f"{pair.name}.png", fused, overwrite=True)
        paths = {"ir": Path(pair.ir), "vis": Path(pair.vis), "fused": out}
        a, b, f, note = load_fusion_triple(paths)
        per_image[pair.name] = fusion.fusion_metrics(a, b, f)
        files[pair.name] = {role: str(path) for role, path in paths.items()}
        if note:
            notes[pair.name] = note
    return {"kind": method.kind, "scale": method.scale, "ir_input": method.ir_input,
            "checkpoint": str(method.preset.path) if method.preset is not None else None,
            "mean": mean_metrics(per_image, fusion.METRIC_NAMES), "per_image": per_image,
            "notes": notes, "files": files,
            "fuse_seconds_per_pair": seconds / max(len(eval_set.pairs), 1)}


# ---------------------------------------------------------------- figures

def _figure_png(figure, dpi: float) -> bytes:
    """A matplotlib figure as an 8-bit grayscale PNG (every panel is gray; a third of RGB's size)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = FigureCanvasAgg(figure)
    figure.set_dpi(dpi)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    buffer = io.BytesIO()
    Image.fromarray(rgba[..., :3]).convert("L").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def example_pairs(pairs: list, count: int = EXAMPLE_PAIRS) -> list:
    """Up to `count` pairs spread over the set (first, middle, last)."""
    if len(pairs) <= count:
        return list(pairs)
    picks = sorted({round(i * (len(pairs) - 1) / (count - 1)) for i in range(count)})
    return [pairs[i] for i in picks]


def write_examples_figure(path: Path, eval_set: EvalSet, folders: dict, overwrite: bool) -> Path:
    """Rows: example pairs. Columns: visible, IR, then each method's fused luminance."""
    from matplotlib.figure import Figure

    from tf_irgan.images import read_image, to_gray
    from tf_irgan.metrics.reporting import _write_atomically

    chosen = example_pairs(eval_set.pairs)
    columns = [eval_set.vis_label, eval_set.ir_label] + [m.name for m in eval_set.methods]
    rows = []
    for pair in chosen:
        images = [to_gray(read_image(pair.vis)), to_gray(read_image(pair.ir))]
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
        data = _figure_png(figure, dpi)
        if len(data) <= FIGURE_MAX_BYTES:
            break
    return _write_atomically(path, data, overwrite)


# ---------------------------------------------------------------- markdown

METRIC_HEADERS = {"EN": "EN", "SD": "SD", "SF": "SF", "AG": "AG", "MI": "MI", "SCD": "SCD",
                  "VIF": "VIF", "Qabf": "Qabf", "SSIM": "SSIM", "CC": "CC", "PSNR": "PSNR",
                  "MSE": "MSE"}


def _row(cells: list) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(eval_set: EvalSet, results: dict, names) -> str:
    from tf_irgan.metrics.reporting import format_value

    lines = [_row(["Method", f"{eval_set.ir_label.split()[0]} input"] + [METRIC_HEADERS[n] for n in names]),
             "|---|---|" + "---:|" * len(names)]
    for method in eval_set.methods:
        mean = results[method.name]["mean"]
        label = f"`{method.name}`" if method.kind == "checkpoint" else f"{method.name} (baseline)"
        lines.append(_row([label, method.ir_input] + [format_value(mean[n]) for n in names]))
    if eval_set.key == "tno":
        for name, values in PUBLISHED_TNO.items():
            lines.append(_row([f"{name} (published)", "full"]
                              + [f"{values[n]:g}" if n in values else "–" for n in names]))
        lines.append(_row(["average (reference)", "full"]
                          + [f"{REFERENCE_AVERAGE_TNO[n]:g}" if n in REFERENCE_AVERAGE_TNO else "–"
                             for n in names]))
    return "\n".join(lines) + "\n"


PROTOCOL = """\
Protocol:

- Fusion on luminance: the visible image's BT.601 Y and the IR image's gray levels go in; the
  fused luminance is written as an 8-bit gray PNG and scored from that file.
- Checkpoints run in inference mode (batch norm uses its moving statistics) and their output,
  tanh(x)/2 + 0.5, is written as is, without the min-max stretch of the official release.
- A checkpoint trained at scale s (`-x4`: s = 4) gets the IR image reflect-padded to a multiple
  of s and reduced by s x s block means (`tf_irgan.data.patches.downsample_area`); a
  same-resolution checkpoint and the baselines get the full-resolution IR.
- Every method is scored against the full-resolution IR (A) and the visible luminance (B), with
  the definitions in [metrics.md](metrics.md): grayscale on 0-255; MI in nats;
  SSIM = SSIM(F, A) + SSIM(F, B) with an 11x11 Gaussian window and data range 255; Qabf's
  ceiling is 0.975. Tables show means over the pairs; per-image values are in `{json_name}`.
"""

CAVEATS = """\
Reading the published rows:

- They are copied from {source}, not recomputed: other code, other conventions. That table has no AG, CC, PSNR or MSE (–).
- Their SSIM follows a convention under which plain averaging scores about 1.0; ours gives about 1.5 for the same images. Compare SSIM only within one convention.
- The official DDcGAN release min-max stretches its output to 0-255 before saving, and tables scored on such files have inflated SD and EN. The checkpoints' outputs here are not stretched.
- The "average (reference)" row is plain averaging on all 25 pairs, scored with the same definitions when the project was specified (its reference notes, §3); this run's `average` row should match it{limit_note}, EN only to a few hundredths because EN of an average depends on how its x.5 values are rounded when saved ([metrics.md](metrics.md), sanity check).
"""


def _checkpoint_section(presets: list) -> str:
    lines = ["## Shipped checkpoints", ""]
    if not presets:
        lines += ["No checkpoint was evaluated (none found, or excluded with "
                  "--no-checkpoints/--methods).", ""]
        return "\n".join(lines)
    lines += [_row(["Checkpoint", "task", "scale", "preset", "trained on", "patches",
                    "batches x batch", "precision", "held-out pairs", "saved"]),
              "|---|---|---:|---|---|---:|---|---|---:|---|"]
    for p in presets:
        meta = p.metadata
        lines.append(_row([f"`{p.name}`", p.task, f"{p.scale}x", str(meta.get("preset", "?")),
                           f"`{meta.get('data', '?')}`", str(meta.get("patches", "?")),
                           f"{meta.get('batches', '?')} x {meta.get('batch_size', '?')}",
                           str(meta.get("mixed_precision", "?")), str(len(held_out_names(meta))),
                           str(meta.get("saved", "?"))]))
    lines.append("")
    for p in presets:
        commands = p.metadata.get("train_commands") or []
        if commands:
            lines.append(f"- `{p.name}`: " + "; then ".join(f"`{c}`" for c in commands))
    lines.append("")
    return "\n".join(lines)


def _relative(path: Path, files: OutputFiles) -> str:
    """`path` as a link from the Markdown file's folder."""
    return os.path.relpath(Path(path).resolve(), files.markdown.parent.resolve()).replace(os.sep, "/")


def render_markdown(report: dict, sets: list, presets: list, files: OutputFiles) -> str:
    from tf_irgan.metrics.fusion import METRIC_NAMES

    def rel(path: Path) -> str:
        return _relative(path, files)

    out = ["# Results", "",
           f"Generated on {report['generated'][:10]} by `{report['command']}` "
           f"(tf-irgan {__version__}). This file, `{files.json.name}` and the figures in "
           f"`{rel(files.figures)}/` are written by that command: regenerate them with "
           "`tf-irgan report --overwrite` from the repository root rather than editing them.", ""]
    if report["limit"]:
        out += [f"**Quick run: only the first {report['limit']} pair(s) of each set were scored.**", ""]
    out += [PROTOCOL.format(json_name=files.json.name), _checkpoint_section(presets)]
    for eval_set in sets:
        entry = report["sets"][eval_set.key]
        if eval_set.skipped:
            out += [f"## {eval_set.title}", "", eval_set.skipped, ""]
            continue
        out += [f"## {eval_set.title} ({len(eval_set.pairs)} pairs)", "", eval_set.description + ".", ""]
        out.append(_table(eval_set, entry["methods"], METRIC_NAMES))
        if eval_set.key == "tno":
            limit_note = (f" only when all 25 pairs are scored (this run: {len(eval_set.pairs)})"
                          if len(eval_set.pairs) != 25 else "")
            out.append(CAVEATS.format(source=PUBLISHED_SOURCE, limit_note=limit_note))
        noted = sorted({name for m in entry["methods"].values() for name in m["notes"]})
        if noted:
            out += [f"Notes: resizing or color reduction happened for {', '.join(noted)} "
                    f"(details in `{files.json.name}`).", ""]
        out += [f"![{eval_set.title}: inputs and fused luminance]({rel(files.examples(eval_set.key))})", "",
                f"*Inputs and outputs for {len(example_pairs(eval_set.pairs))} pairs "
                f"({', '.join(p.name for p in example_pairs(eval_set.pairs))}); "
                "every panel is the whole image, gray"
                + ("; checkpoints trained at scale s > 1 saw the IR at 1/s per side"
                   if any(m.scale > 1 for m in eval_set.methods) else "") + ".*", "",
                f"![{eval_set.title}: mean metrics per method]({rel(files.bars(eval_set.key))})", ""]
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------- entry point

def output_paths(files: OutputFiles, sets: list) -> list[Path]:
    paths = [files.markdown, files.json]
    for eval_set in sets:
        if not eval_set.skipped:
            paths += [files.examples(eval_set.key), files.bars(eval_set.key)]
    return paths


def generate_report(options: ReportOptions, log: Callable[[str], None] | None = None) -> dict:
    """Run the whole report; returns the JSON-ready dict that is written to results.json."""
    from tf_irgan.metrics import fusion, reporting

    log = log or (lambda message: None)
    files = OutputFiles.beside(options.output)
    if files.markdown.suffix.lower() != ".md":
        raise UserError(f"{files.markdown}: the report is Markdown; give a .md file name")
    sets, presets = plan(options)
    reporting.check_outputs(output_paths(files, sets), options.overwrite)
    for eval_set in sets:
        if not eval_set.skipped and not eval_set.pairs:
            raise UserError(f"{eval_set.title}: no pairs to evaluate")

    temporary = options.work_dir is None
    work = Path(tempfile.mkdtemp(prefix="tf-irgan-report-")) if temporary else Path(options.work_dir)
    report = {"generated": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": options.command,
              "tf_irgan_version": __version__,
              "data_root": str(Path(options.data_root or default_data_root()).resolve()),
              "limit": options.limit,
              "work_dir": None if temporary else str(work),
              "protocol": " ".join(PROTOCOL.format(json_name=files.json.name).split()[1:]),
              "conventions": dict(fusion.CONVENTIONS),
              "checkpoints": [{"name": p.name, "path": str(p.path), "task": p.task, "scale": p.scale,
                               "metadata": p.metadata} for p in presets],
              "sets": {}}
    try:
        for eval_set in sets:
            if eval_set.skipped:
                report["sets"][eval_set.key] = {"title": eval_set.title, "skipped": eval_set.skipped}
                continue
            folders = {m.name: work / eval_set.key / m.name for m in eval_set.methods}
            methods = {m.name: evaluate_method(eval_set, m, folders[m.name], log)
                       for m in eval_set.methods}
            if temporary:  # the fused files are gone once the report is written
                for result in methods.values():
                    result["files"] = {name: {k: v for k, v in paths.items() if k != "fused"}
                                       for name, paths in result["files"].items()}
            entry = {"title": eval_set.title, "description": eval_set.description,
                     "pairs": [p.name for p in eval_set.pairs], "methods": methods,
                     "figures": {"examples": _relative(files.examples(eval_set.key), files),
                                 "metrics": _relative(files.bars(eval_set.key), files)}}
            if eval_set.key == "tno":
                entry["published"] = {"source": PUBLISHED_SOURCE, "rows": PUBLISHED_TNO}
                entry["reference_average"] = {"source": "reference.md §3, all 25 pairs",
                                              "mean": REFERENCE_AVERAGE_TNO}
            report["sets"][eval_set.key] = entry
            log(f"{eval_set.key}: figures")
            write_examples_figure(files.examples(eval_set.key), eval_set, folders, options.overwrite)
            reporting.write_metric_bars(
                files.bars(eval_set.key), {name: m["mean"] for name, m in methods.items()},
                options.overwrite, title=f"{eval_set.title}: mean over {len(eval_set.pairs)} pairs")
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
    if "tensorflow" in sys.modules:
        report["tensorflow_version"] = sys.modules["tensorflow"].__version__
    reporting.write_json(files.json, report, options.overwrite)
    reporting.write_text(files.markdown, render_markdown(report, sets, presets, files), options.overwrite)
    return report
