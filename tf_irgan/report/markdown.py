"""The results page: protocol, the presets' provenance, one table per test set, caveats."""

from __future__ import annotations

import os
from pathlib import Path

from tf_irgan.report.catalogue import (PUBLISHED_SOURCE, PUBLISHED_TNO, REFERENCE_AVERAGE_TNO,
                                       EvalSet, held_out_names)
from tf_irgan.report.figures import example_pairs
from tf_irgan.version import __version__


METRIC_HEADERS = {"Clip": "Clip %"}  # the others are headed by their own name


def _row(cells: list) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(eval_set: EvalSet, results: dict, names) -> str:
    from tf_irgan.metrics.reporting import format_value

    lines = [_row(["Method", f"{eval_set.ir_label.split()[0]} input"] + [METRIC_HEADERS.get(n, n) for n in names]),
             "|---|---|" + "---:|" * len(names)]
    for method in eval_set.methods:
        mean = results[method.name]["mean"]
        label = f"`{method.name}`" if method.kind == "preset" else f"{method.name} (baseline)"
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
  of s and reduced by s x s block means (`tf_irgan.pipelines.fusion.reduce_to_scale`); a
  same-resolution checkpoint and the baselines get the full-resolution IR.
- Every method is scored against the full-resolution IR (A) and the visible luminance (B), with
  the definitions in [metrics.md](metrics.md): grayscale on 0-255; MI in nats;
  SSIM = SSIM(F, A) + SSIM(F, B) with an 11x11 Gaussian window and data range 255; Qabf's
  ceiling is 0.975. Tables show means over the pairs; per-image values are in `{json_name}`.
"""

CAVEATS = """\
Reading the published rows:

- They are copied from {source}, not recomputed: other code, other conventions. That table has no AG, CC, PSNR, MSE or Clip (–).
- Their SSIM follows a convention under which plain averaging scores about 1.0; ours gives about 1.5 for the same images. Compare SSIM only within one convention.
- The official DDcGAN release min-max stretches its output to 0-255 before saving, and tables scored on such files have inflated SD and EN. The checkpoints' outputs here are not stretched (`tf-irgan fuse --stretch` does it, for comparison with such tables).
- The "average (reference)" row is plain averaging on all 25 pairs, scored with the same definitions when the project was specified (its reference notes, §3); this run's `average` row should match it{limit_note}, EN only to a few hundredths because EN of an average depends on how its x.5 values are rounded when saved ([metrics.md](metrics.md), sanity check).
"""


def _checkpoint_section(presets: list) -> str:
    lines = ["## Shipped checkpoints", ""]
    if not presets:
        lines += ["No checkpoint was evaluated (none found, or excluded with "
                  "--no-presets/--methods).", ""]
        return "\n".join(lines)
    lines += [_row(["Checkpoint", "task", "scale", "config", "trained on", "patches",
                    "batches x batch", "precision", "held-out pairs", "saved"]),
              "|---|---|---:|---|---|---:|---|---|---:|---|"]
    for p in presets:
        meta = p.metadata
        lines.append(_row([f"`{p.name}`", p.task, f"{p.scale}x", str(meta.get("config", meta.get("preset", "?"))),
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


def relative(path: Path, files) -> str:
    """`path` as a link from the Markdown file's folder."""
    return os.path.relpath(Path(path).resolve(), files.markdown.parent.resolve()).replace(os.sep, "/")


def render_markdown(report: dict, sets: list, presets: list, files) -> str:
    from tf_irgan.metrics.fusion import METRIC_NAMES

    def rel(path: Path) -> str:
        return relative(path, files)

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
        what = "in the PET's color" if eval_set.in_color else "gray"
        if eval_set.examples:
            out += [f"![{eval_set.title}: inputs and fused results]({rel(files.examples(eval_set.key))})", "",
                    f"*Inputs and outputs for {len(example_pairs(eval_set.pairs))} pairs "
                    f"({', '.join(p.name for p in example_pairs(eval_set.pairs))}), {what}: each "
                    "whole image, then (row \"zoom\") the same window of every panel, a quarter of "
                    "the shorter side where the first input has the most edges, pixels shown as blocks"
                    + (f"; checkpoints trained at scale s > 1 saw the {eval_set.ir_label} at 1/s per side"
                       if any(m.scale > 1 for m in eval_set.methods) else "") + ".*", ""]
        if eval_set.bars:
            out += [f"![{eval_set.title}: mean metrics per method]({rel(files.bars(eval_set.key))})",
                    ""]
    return "\n".join(out).rstrip() + "\n"
