"""Folder-level evaluation behind `tf-irgan evaluate`: pair files by name, load them the way
the metrics expect, score every image and average.

Both entry points return a plain, JSON-ready dict:
    {"mean": {metric: value}, "per_image": {name: {metric: value}},
     "conventions": {...}, "notes": {name: text}, "files": {name: {role: path}}}
`notes` records what was done to an image beyond reading it (resizing, color reduction).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np

from tf_irgan.errors import UserError
from tf_irgan.images import ASPECT_TOLERANCE, check_aspect, images_by_stem, read_image, to_gray
from tf_irgan.metrics import fusion, translation

# Sources a few pixels off the fused size (crops, odd-size padding) are resized; anything
# that changes the shape of the scene by more than this is a wrong pairing, not a resize.

RESIZE_RULE = ("when sizes differ within a set, the reference images are resized to the size of "
               "the evaluated (fused / generated) image: cv2 INTER_AREA when shrinking, "
               f"INTER_CUBIC when enlarging; aspect ratios may differ by at most {ASPECT_TOLERANCE:.0%}")


def match_by_stem(folders: dict[str, Path]) -> list[tuple[str, dict[str, Path]]]:
    """Match the images of several folders by file stem; every stem must exist in all of them.

    `folders` maps a role ("ir", "fused", ...) to its folder. Returns (stem, {role: path}) sorted
    by stem.
    """
    by_role = {role: images_by_stem(folder) for role, folder in folders.items()}

    every_stem = set().union(*(set(files) for files in by_role.values()))
    problems = []
    for role, files in by_role.items():
        missing = sorted(every_stem - set(files))
        if missing:
            example_role = next(r for r, f in by_role.items() if missing[0] in f)
            problems.append(f"{len(missing)} image(s) have no partner in the {role} folder "
                            f"{folders[role]} (e.g. {by_role[example_role][missing[0]].name} "
                            f"from the {example_role} folder)")
    if problems:
        raise UserError("; ".join(problems) + "; images are matched by file name, rename or remove them")
    return [(stem, {role: by_role[role][stem] for role in folders}) for stem in sorted(every_stem)]


def _size_text(shape) -> str:
    return f"{shape[1]}x{shape[0]}"


def fit_to(image: np.ndarray, path: Path, reference_shape, reference_path: Path):
    """Resize `image` (read from `path`) to `reference_shape`; returns (image, note or None).

    Refuses (UserError naming both files) when the aspect ratios differ by more than
    ASPECT_TOLERANCE (`tf_irgan.images.check_aspect`).
    """
    height, width = image.shape[:2]
    ref_height, ref_width = reference_shape[:2]
    if (height, width) == (ref_height, ref_width):
        return image, None
    check_aspect(image.shape, reference_shape, path, reference_path)
    shrinking = ref_height * ref_width < height * width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    resized = cv2.resize(image, (ref_width, ref_height), interpolation=interpolation)
    # Bicubic overshoots at edges; images stay on [0, 1].
    resized = np.clip(resized, 0.0, 1.0)
    note = (f"{path.name} resized {_size_text(image.shape)} -> {_size_text(reference_shape)} "
            f"({'INTER_AREA' if shrinking else 'INTER_CUBIC'})")
    return resized, note


def mean_metrics(per_image: dict[str, dict[str, float]], names) -> dict[str, float]:
    """Average of each metric over images, ignoring undefined (NaN) values."""
    means = {}
    for name in names:
        values = np.array([scores[name] for scores in per_image.values()], dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column stays NaN
            means[name] = float(np.nanmean(values)) if values.size else float("nan")
    return means


def _join_notes(notes) -> str | None:
    kept = [note for note in notes if note]
    return "; ".join(kept) if kept else None


# ---------------------------------------------------------------- fusion

def load_fusion_triple(files: dict[str, Path], color_space: str = "ycbcr", ranges=None):
    """Read the IR, visible and fused images of one set as gray [0, 1] arrays at the fused size;
    color images give their intensity in `color_space` (YCbCr: BT.601 luma; IHS: I/sqrt(3), the
    channel mean, as MRI/PET fusion is scored). `ranges` ({"ir": ..., "vis": ...},
    `tf_irgan.ranges`) maps raw source frames to [0, 1] as `fuse` did.

    Returns (ir, vis, fused, note or None).
    """
    from tf_irgan.color import COLOR_SPACES

    def intensity(image):
        return COLOR_SPACES[color_space].luminance(image) if image.ndim == 3 else image

    fused = read_image(files["fused"])
    notes = []
    if fused.ndim == 3 and color_space == "ycbcr":  # expected of MRI/PET results, worth a note here
        notes.append(f"{files['fused'].name} (fused) is color, scored on its luma")
    fused = intensity(fused)
    sources = []
    ranges = ranges or {}
    for role in ("ir", "vis"):
        read_notes = []
        image = intensity(read_image(files[role], ranges.get(role), read_notes,
                                     "IR" if role == "ir" else "visible"))
        notes += [f"{role}: {note}" for note in read_notes]
        image, note = fit_to(image, files[role], fused.shape, files["fused"])
        notes.append(f"{role}: {note}" if note else None)
        sources.append(image)
    return sources[0], sources[1], fused, _join_notes(notes)


def evaluate_fusion_dirs(ir_dir, vis_dir, fused_dir, color_space: str = "ycbcr",
                         ranges=None) -> dict:
    """Score every fused image of `fused_dir` against its IR and visible sources (same names),
    on the intensity of `color_space` ("ihs" for MRI/PET)."""
    folders = {"ir": Path(ir_dir), "vis": Path(vis_dir), "fused": Path(fused_dir)}

    def score(paths):
        ir, vis, fused, note = load_fusion_triple(paths, color_space, ranges)
        return fusion.fusion_metrics(ir, vis, fused), note
    conventions = dict(fusion.CONVENTIONS)
    if color_space != "ycbcr":
        conventions["color"] = (f"color images scored on their {color_space.upper()} intensity "
                                "(I/sqrt(3), the mean of R, G, B)")
    return _score_folders(folders, score, conventions, fusion.METRIC_NAMES)


def compare_fusion_dirs(ir_dir, vis_dir, fused_dirs: dict, color_space: str = "ycbcr",
                        ranges=None) -> dict:
    """Several methods' fused folders ({name: folder}) scored against the same sources. Each
    folder must hold every pair, as for one folder (a method missing images would otherwise be
    ranked on others). Returns {"methods": {name: result}, "images": [...], "notes": {...},
    "conventions": ...}, each result as `evaluate_fusion_dirs` gives it."""
    results = {name: evaluate_fusion_dirs(ir_dir, vis_dir, folder, color_space, ranges)
               for name, folder in fused_dirs.items()}
    notes = {}
    for result in results.values():
        for image, note in result["notes"].items():
            notes.setdefault(image, note)
    first = next(iter(results.values()))
    return {"methods": results, "images": sorted(first["per_image"]), "notes": notes,
            "conventions": first["conventions"]}


def _score_folders(folders, score, conventions, metric_names) -> dict:
    """Run `score(paths) -> (metrics, note)` on every name the folders share; collect the result."""
    per_image, notes, files = {}, {}, {}
    for name, paths in match_by_stem(folders):
        per_image[name], note = score(paths)
        files[name] = {role: str(path) for role, path in paths.items()}
        if note:
            notes[name] = note
    conventions = dict(conventions)
    conventions["resizing"] = RESIZE_RULE
    conventions["resized_images"] = sorted(name for name, note in notes.items() if "resized" in note)
    return {
        "mean": mean_metrics(per_image, metric_names),
        "per_image": per_image,
        "conventions": conventions,
        "notes": notes,
        "files": files,
    }


# ---------------------------------------------------------------- translation

def load_translation_set(files: dict[str, Path]):
    """Read generated ("pred"), target and optional input images at the generated image's size.

    Returns (pred, target, input or None, note or None); pred and target share a shape: if one
    is color and the other gray both become luma.
    """
    pred = read_image(files["pred"])
    target = read_image(files["target"])
    notes = []
    if pred.ndim != target.ndim:
        notes.append("one of generated/target is color, both scored on luma")
        pred, target = to_gray(pred), to_gray(target)
    target, note = fit_to(target, files["target"], pred.shape, files["pred"])
    notes.append(note)
    source = None
    if "input" in files:
        source, note = fit_to(read_image(files["input"]), files["input"], pred.shape, files["pred"])
        notes.append(note)
    return pred, target, source, _join_notes(notes)


def evaluate_translation_dirs(pred_dir, target_dir, input_dir=None) -> dict:
    """Score every generated image of `pred_dir` against the same-named image of `target_dir`.

    `input_dir`, when given, must hold the same names; it is only used for figures.
    """
    folders = {"pred": Path(pred_dir), "target": Path(target_dir)}
    if input_dir is not None:
        folders["input"] = Path(input_dir)

    def score(paths):
        pred, target, _, note = load_translation_set(paths)
        return translation.translation_metrics(pred, target), note
    return _score_folders(folders, score, translation.CONVENTIONS, translation.METRIC_NAMES)
