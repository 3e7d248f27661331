"""`tf-irgan report`: score every shipped checkpoint and the classical baselines on the shared
test sets and write docs/results.md, docs/results.json and docs/figures/.

Protocol (also written at the top of the report):
- Fusion runs on luminance: the visible image's BT.601 Y and the IR image's gray levels; the
  fused luminance is written as an 8-bit gray PNG and scored from that file
  (`tf_irgan.metrics.evaluate.load_fusion_triple` + `tf_irgan.metrics.fusion.fusion_metrics`).
- A same-resolution checkpoint (scale 1) gets the IR image as is. A checkpoint trained at scale s
  gets the IR image reflect-padded to a multiple of s and reduced by s x s block means
  (`tf_irgan.pipelines.fusion.reduce_to_scale`), i.e. ceil(H/s) x ceil(W/s), which the generator
  takes directly (`tf_irgan.pipelines.fusion`, the path `tf-irgan fuse` takes), so nothing is
  resampled twice.
- Baselines get the full-resolution IR image. Every method is scored against the
  full-resolution IR (A) and the visible luminance (B).

Sets: TNO-25; the RoadScene pairs held out from training (from the checkpoints' metadata.json
"held_out", else every 10th pair by name); MRI-PET-42 when a preset fuses MRI with PET (metadata "modality": "mri-pet"), in color, scored on the
IHS intensity.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tf_irgan.errors import UserError
from tf_irgan.report.catalogue import (PUBLISHED_SOURCE, PUBLISHED_TNO, REFERENCE_AVERAGE_TNO,
                                       SET_KEYS, default_data_root, plan)
from tf_irgan.report.figures import write_examples_figure
from tf_irgan.report.markdown import PROTOCOL, relative, render_markdown
from tf_irgan.report.scoring import evaluate_method
from tf_irgan.report.translation import (evaluate_translation_set, json_entry, plan_translation,
                                         render_translation)
from tf_irgan.version import __version__

DEFAULT_OUTPUT = Path("docs") / "results.md"


@dataclass
class ReportOptions:
    data_root: Path | None = None
    output: Path = DEFAULT_OUTPUT
    work_dir: Path | None = None       # None: a temporary folder, removed afterwards
    limit: int | None = None           # first N pairs of each set
    methods: list | None = None        # checkpoint names and/or baselines; None: all
    presets: bool = True               # False: baselines only
    sets: tuple = SET_KEYS
    overwrite: bool = False
    command: str = "tf-irgan report"

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

def output_paths(files: OutputFiles, sets: list) -> list[Path]:
    paths = [files.markdown, files.json]
    for eval_set in sets:
        if not eval_set.skipped:
            paths += (([files.examples(eval_set.key)] if eval_set.examples else [])
                      + ([files.bars(eval_set.key)] if eval_set.bars else []))
    return paths


def generate_report(options: ReportOptions, log: Callable[[str], None] | None = None) -> dict:
    """Run the whole report; returns the JSON-ready dict that is written to results.json."""
    from tf_irgan.metrics import fusion, reporting

    log = log or (lambda message: None)
    files = OutputFiles.beside(options.output)
    if files.markdown.suffix.lower() != ".md":
        raise UserError(f"{files.markdown}: the report is Markdown; give a .md file name")
    sets, presets = plan(options)
    root = Path(options.data_root or default_data_root())
    translations = (plan_translation(root, [p for p in presets if p.task == "translation"],
                                     options.limit) if "translation" in options.sets else [])
    reporting.check_outputs(output_paths(files, sets)
                            + [files.examples(t.key) for t in translations], options.overwrite)
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
                     "figures": {**({"examples": relative(files.examples(eval_set.key), files)}
                                    if eval_set.examples else {}),
                                 **({"metrics": relative(files.bars(eval_set.key), files)}
                                    if eval_set.bars else {})}}
            if eval_set.key == "tno":
                entry["published"] = {"source": PUBLISHED_SOURCE, "rows": PUBLISHED_TNO}
                entry["reference_average"] = {"source": "reference.md §3, all 25 pairs",
                                              "mean": REFERENCE_AVERAGE_TNO}
            report["sets"][eval_set.key] = entry
            log(f"{eval_set.key}: figures")
            if eval_set.examples:
                write_examples_figure(files.examples(eval_set.key), eval_set, folders,
                                      options.overwrite)
            if eval_set.bars:
                reporting.write_metric_bars(
                    files.bars(eval_set.key), {name: m["mean"] for name, m in methods.items()},
                    options.overwrite, title=f"{eval_set.title}: mean over {len(eval_set.pairs)} pairs")
        sections = []
        for tset in translations:
            methods = evaluate_translation_set(tset, root, work, log)
            figure = files.examples(tset.key)
            first = next(name for name, m in methods.items() if m["kind"] == "preset")
            # Every held-out pair is a row: a low resolution keeps the page's figure small.
            reporting.write_translation_figure(figure, methods[first], options.overwrite, dpi=45)
            if temporary:
                for result in methods.values():
                    result["files"] = {}
            report["sets"][tset.key] = json_entry(tset, methods, relative(figure, files))
            sections.append(render_translation(tset, methods, relative(figure, files)))
        if "translation" in options.sets and not translations:
            sections.append("## Translation\n\nSkipped: no selected preset has task "
                            "\"translation\".\n")
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
    if "tensorflow" in sys.modules:
        report["tensorflow_version"] = sys.modules["tensorflow"].__version__
    reporting.write_json(files.json, report, options.overwrite)
    markdown = render_markdown(report, sets, presets, files) + "".join("\n" + text for text in sections)
    reporting.write_text(files.markdown, markdown, options.overwrite)
    return report
