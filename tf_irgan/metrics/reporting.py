"""Tables and figures for evaluation results (the dicts of `tf_irgan.metrics.evaluate`).

Every writer refuses to replace an existing file unless `overwrite=True`, and writes beside
the target before renaming, so an interrupted run never leaves a half-written report.
Figures are drawn on matplotlib's Agg canvas directly: no pyplot, no global backend switch.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from tf_irgan.errors import UserError
from tf_irgan.files import check_outputs, write_bytes, write_text  # noqa: F401  (re-exported)

FIGURE_SUFFIXES = (".png", ".pdf", ".svg")

_LABELS = {"PSNR": "PSNR (dB)", "MI": "MI (nats)", "EN": "EN (bits)"}


# ---------------------------------------------------------------- output safety

def check_figure_path(path) -> None:
    if path is not None and Path(path).suffix.lower() not in FIGURE_SUFFIXES:
        raise UserError(f"{path}: figures are written as {', '.join(FIGURE_SUFFIXES)}; "
                        "change the file extension")


# ---------------------------------------------------------------- numbers

def _finite_or_none(value):
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def _json_ready(value):
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return _finite_or_none(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def format_value(value: float) -> str:
    """Enough digits for each magnitude: MSE on 0-255 (~2000) and MSE on [0, 1] (~0.03) alike."""
    if value is None or not math.isfinite(value):
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.2f}"
    if magnitude >= 1:
        return f"{value:.3f}"
    return f"{value:.4f}"


def _metric_names(result: dict) -> list[str]:
    return list(result["mean"])


# ---------------------------------------------------------------- text tables

def text_table(result: dict, first_header: str = "image") -> str:
    """Aligned plain-text table: one row per image, then the mean."""
    names = _metric_names(result)
    rows = [[first_header] + names]
    rows += [[image] + [format_value(scores[n]) for n in names]
             for image, scores in result["per_image"].items()]
    rows.append(["mean"] + [format_value(result["mean"][n]) for n in names])
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[0]) if col == 0 else cell.rjust(widths[col])
                       for col, cell in enumerate(row)) for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)


def comparison_table(comparison: dict) -> str:
    """Aligned plain-text table of several methods' means: one row per method."""
    methods = comparison["methods"]
    names = _metric_names(next(iter(methods.values())))
    rows = [["method"] + names]
    rows += [[method] + [format_value(r["mean"][n]) for n in names] for method, r in methods.items()]
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(widths[0]) if col == 0 else cell.rjust(widths[col])
                       for col, cell in enumerate(row)) for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.append(f"means over {len(comparison['images'])} images")
    return "\n".join(lines)


def comparison_markdown(comparison: dict) -> str:
    """Markdown table: Method | EN | SD | ... (means over the shared images)."""
    methods = comparison["methods"]
    names = _metric_names(next(iter(methods.values())))
    rows = [[f"`{method}`"] + [format_value(r["mean"][n]) for n in names]
            for method, r in methods.items()]
    return _markdown(["Method"] + [_LABELS.get(n, n) for n in names], rows)


def write_comparison_csv(path, comparison: dict, overwrite: bool = False) -> Path:
    """One row per method and image, then one "mean" row per method."""
    methods = comparison["methods"]
    names = _metric_names(next(iter(methods.values())))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["method", "image"] + names)

    def cells(scores):
        return [repr(float(scores[n])) if _finite_or_none(scores[n]) is not None else "" for n in names]

    for method, result in methods.items():
        for image, scores in result["per_image"].items():
            writer.writerow([method, image] + cells(scores))
        writer.writerow([method, "mean"] + cells(result["mean"]))
    return write_text(path, buffer.getvalue(), overwrite)


def _markdown(header: list[str], rows: list[list[str]], text_columns=(0,)) -> str:
    """Numbers right-aligned, labels (the `text_columns`) left-aligned."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i in text_columns else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def fusion_markdown(result: dict) -> str:
    """Markdown table: Image | EN | SD | ... per image, then a bold mean row."""
    names = _metric_names(result)
    rows = [[image] + [format_value(scores[n]) for n in names]
            for image, scores in result["per_image"].items()]
    rows.append(["**mean**"] + [f"**{format_value(result['mean'][n])}**" for n in names])
    return _markdown(["Image"] + [_LABELS.get(n, n) for n in names], rows)


def translation_markdown(result: dict) -> str:
    """Markdown table in the translation paper's layout: Number | MAE | MSE (+ PSNR, SSIM, image)."""
    names = _metric_names(result)
    rows = [[str(number)] + [format_value(scores[n]) for n in names] + [image]
            for number, (image, scores) in enumerate(result["per_image"].items(), start=1)]
    rows.append(["Mean"] + [format_value(result["mean"][n]) for n in names] + [""])
    header = ["Number"] + [_LABELS.get(n, n) for n in names] + ["Image"]
    return _markdown(header, rows, text_columns=(0, len(header) - 1))


# ---------------------------------------------------------------- files

def write_json(path, result: dict, overwrite: bool = False) -> Path:
    """The whole result as JSON; undefined values (NaN) become null."""
    text = json.dumps(_json_ready(result), indent=2, allow_nan=False)
    return write_text(path, text + "\n", overwrite)


def write_csv(path, result: dict, overwrite: bool = False) -> Path:
    """One row per image, then a row named "mean"; full precision, empty cells for NaN."""
    names = _metric_names(result)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["image"] + names)

    def cells(scores):
        return [repr(float(scores[n])) if _finite_or_none(scores[n]) is not None else "" for n in names]

    for image, scores in result["per_image"].items():
        writer.writerow([image] + cells(scores))
    writer.writerow(["mean"] + cells(result["mean"]))
    return write_text(path, buffer.getvalue(), overwrite)


def _save_figure(figure, path, overwrite: bool, dpi: float) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    check_figure_path(path)
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=Path(path).suffix.lower()[1:], dpi=dpi, bbox_inches="tight")
    return write_bytes(path, buffer.getvalue(), overwrite)


def write_metric_bars(path, means_by_method: dict[str, dict[str, float]], overwrite: bool = False,
                      title: str | None = None) -> Path:
    """Bar chart of mean metrics: one panel per metric (scales differ wildly), one bar per method."""
    from matplotlib.figure import Figure

    methods = list(means_by_method)
    if not methods:
        raise UserError("no results to plot")
    names = list(means_by_method[methods[0]])
    columns = min(4, len(names))
    rows = math.ceil(len(names) / columns)
    figure = Figure(figsize=(3.2 * columns, 2.4 * rows + 0.4 * bool(title)))
    colors = [f"C{i % 10}" for i in range(len(methods))]
    for index, name in enumerate(names):
        axes = figure.add_subplot(rows, columns, index + 1)
        values = [means_by_method[m].get(name, float("nan")) for m in methods]
        heights = [v if math.isfinite(v) else 0.0 for v in values]
        bars = axes.bar(range(len(methods)), heights, width=0.6, color=colors)
        axes.set_xlim(-0.75, len(methods) - 0.25)
        for bar, value in zip(bars, values):
            axes.annotate(format_value(value), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                          ha="center", va="bottom", fontsize=7)
        axes.set_title(_LABELS.get(name, name), fontsize=9)
        axes.set_xticks(range(len(methods)))
        crowded = len(methods) > 2
        axes.set_xticklabels(methods, rotation=30 if crowded else 0, ha="right" if crowded else "center",
                             fontsize=7)
        axes.tick_params(axis="y", labelsize=7)
        axes.margins(y=0.15)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save_figure(figure, path, overwrite, dpi=120)


def write_translation_figure(path, result: dict, overwrite: bool = False, dpi: float = 110.0) -> Path:
    """One row per image: input (if known), target, generated, |target - generated| heat map."""
    from matplotlib.figure import Figure

    from tf_irgan.metrics.evaluate import load_translation_set

    names = list(result["per_image"])
    if not names:
        raise UserError("no results to plot")
    loaded = []
    for name in names:
        files = {role: Path(p) for role, p in result["files"][name].items()}
        pred, target, source, _ = load_translation_set(files)
        residual = np.abs(target.astype(np.float32) - pred)
        if residual.ndim == 3:
            residual = residual.mean(axis=-1)
        loaded.append((name, source, target, pred, residual))
    with_input = any(item[1] is not None for item in loaded)
    # One common color scale so that rows can be compared by eye.
    top = max(float(item[4].max()) for item in loaded) or 1.0

    panels = (["input"] if with_input else []) + ["target", "generated", "|target - generated|"]
    height, width = loaded[0][3].shape[:2]
    panel_width = 2.6
    panel_height = panel_width * height / width
    figure = Figure(figsize=(panel_width * len(panels) + 0.6, (panel_height + 0.35) * len(names)))
    for row, (name, source, target, pred, residual) in enumerate(loaded):
        images = ([source] if with_input else []) + [target, pred, residual]
        for col, image in enumerate(images):
            axes = figure.add_subplot(len(names), len(panels), row * len(panels) + col + 1)
            axes.set_xticks([])
            axes.set_yticks([])
            if image is None:
                continue
            if col == len(panels) - 1:
                shown = axes.imshow(image, cmap="inferno", vmin=0.0, vmax=top)
                figure.colorbar(shown, ax=axes, fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)
            elif image.ndim == 2:
                axes.imshow(image, cmap="gray", vmin=0.0, vmax=1.0)
            else:
                axes.imshow(np.clip(image, 0.0, 1.0))
            if row == 0:
                axes.set_title(panels[col], fontsize=9)
            if col == 0:
                mae = result["per_image"][name].get("MAE")
                axes.set_ylabel(f"{name}\nMAE {format_value(mae)}", fontsize=8)
    figure.tight_layout()
    # Keep very long test sets below ~30k pixels of height instead of failing in the renderer.
    dpi = min(dpi, 30000.0 / max(figure.get_figheight(), 1.0))
    return _save_figure(figure, path, overwrite, dpi=dpi)
