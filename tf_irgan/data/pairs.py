"""Whole registered image pairs for translation training, with pix2pix's jitter.

Pairs are read once into memory (source and target, float32 [0, 1], with the channel counts the
model takes). Each batch draws its pairs and its jitter from (seed, epoch, batch), so a resumed
run sees exactly the batches the interrupted one would have: the same image order, scales,
crops and flips.

Jitter (Isola et al.): enlarge by load/crop (286/256 by default), take one random crop x crop
window at the same place in both images, flip both horizontally half of the time. Images are
kept at their own resolution (enlarged, never shrunk to a fixed size), so the model trains at the
scale it is later run at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from tf_irgan.errors import UserError
from tf_irgan.images import check_aspect, level_statistics, pair_folders, read_image, to_gray

SOURCE_NAMES = {"vis": ("vi", "vis", "visible", "VI", "VIS", "Visible"),
                "ir": ("ir", "infrared", "IR", "Infrared", "lwir")}


@dataclass
class PairSet:
    sources: list                    # (H, W, C_in) float32 per pair
    targets: list                    # (H, W, C_out) float32 per pair
    names: list
    attrs: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def __len__(self):
        return len(self.sources)


def with_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """(H, W) or (H, W, 3) -> (H, W, channels): luminance for 1, gray repeated for 3."""
    if channels == 1:
        return to_gray(image)[..., None]
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=-1)
    return image


# The shipped presets' --holdout-every: every 10th pair by sorted name is kept for selection.
HOLDOUT_EVERY = 10


def holdout_split(names: list, every: int) -> tuple[list, list]:
    """The one hold-out rule: keep every `every`-th item (of a list sorted by name: the 10th,
    20th, ...) out of training; (training, held out)."""
    if not every:
        return list(names), []
    return ([n for i, n in enumerate(names) if i % every != every - 1],
            [n for i, n in enumerate(names) if i % every == every - 1])


def load_pairs(data, source_role: str, target_role: str, source_channels: int,
               target_channels: int, holdout_every: int = 0, progress=None, only=None) -> PairSet:
    """Registered pairs from a folder holding `vi/` and `ir/` (names match). A target of
    another resolution is resized to its source's size (with a note); aspect ratios must agree
    (`images.check_aspect`). `only`: a set of pair names to keep (before the hold-out)."""
    root = Path(data)
    if not root.is_dir():
        raise UserError(f"{root}: not a folder; pass a folder with vi/ and ir/ subfolders of "
                        "registered pairs (same file names)")
    folders = {}
    for role in (source_role, target_role):
        found = next((root / n for n in SOURCE_NAMES[role] if (root / n).is_dir()), None)
        if found is None:
            raise UserError(f"{root}: has no {'/'.join(SOURCE_NAMES[role][:3])} subfolder for the "
                            f"{role} images; translation data is a folder with vi/ and ir/")
        folders[role] = found
    pairs = pair_folders(folders["vis"], folders["ir"])
    if only is not None:
        pairs = [p for p in pairs if p.name in only]
    names = [p.name for p in pairs]
    train_names, held = holdout_split(names, holdout_every)
    if not train_names:
        raise UserError(f"{root}: no pairs left for training after --holdout-every {holdout_every}")
    chosen = [p for p in pairs if p.name in set(train_names)]
    sources, targets, notes = [], [], []
    for pair in (progress(chosen) if progress else chosen):
        paths = {"vis": pair.vis, "ir": pair.ir}
        # Raw thermal frames are mapped as `translate` maps them (tf_irgan.ranges, auto).
        labels = {"vis": "visible", "ir": "IR"}
        source = read_image(paths[source_role], "auto", None, labels[source_role])
        target = read_image(paths[target_role], "auto", None, labels[target_role])
        if source.shape[:2] != target.shape[:2]:
            check_aspect(target.shape, source.shape, paths[target_role], paths[source_role])
            target = np.clip(cv2.resize(target, source.shape[1::-1], interpolation=cv2.INTER_AREA
                                        if target.shape[0] > source.shape[0] else cv2.INTER_CUBIC),
                             0, 1)
            notes.append(f"{paths[target_role]}: resized to {source.shape[1]}x{source.shape[0]}, "
                         "the size of its source")
        sources.append(with_channels(source, source_channels))
        targets.append(with_channels(target, target_channels))
    attrs = {"layout": "tf-irgan-pairs-v1", "data": str(root), "source": source_role,
             "target": target_role, "pairs": json.dumps(train_names), "held_out": json.dumps(held),
             "vis_dir": str(folders["vis"]), "ir_dir": str(folders["ir"]),
             "input_levels": json.dumps(input_levels(sources))}
    return PairSet(sources, targets, train_names, attrs, notes)


def input_levels(images) -> dict:
    """The range of the training inputs' mean level and contrast (`images.level_statistics`),
    kept in the preset's metadata so that `translate` can say when an input is unlike them."""
    stats = np.array([level_statistics(image) for image in images])
    return {"mean": [round(float(stats[:, 0].min()), 4), round(float(stats[:, 0].max()), 4)],
            "std": [round(float(stats[:, 1].min()), 4), round(float(stats[:, 1].max()), 4)],
            "images": len(stats)}


def _jitter_colors(image, factors):
    """Brightness, contrast (about the image's mean) and, for color, saturation (about each
    pixel's luminance) scaled by `factors`: the input's exposure and color balance vary between
    cameras and scenes while the target's does not, so the network should not key on them."""
    brightness, contrast, saturation = factors
    image = image * brightness
    mean = image.mean()
    image = (image - mean) * contrast + mean
    if image.shape[-1] == 3:
        gray = to_gray(image)[..., None]
        image = (image - gray) * saturation + gray
    return image


class JitteredPairBatches:
    """Random jittered crops of whole pairs, resumable by batch index (the `Batches` interface
    of `tf_irgan.data.datasets`)."""

    def __init__(self, pairs: PairSet, batch_size: int, crop: int, load: int, seed: int = 0,
                 flip: bool = True, color_jitter: float = 0.0):
        if len(pairs) < batch_size:
            raise UserError(f"only {len(pairs)} training pairs for a batch of {batch_size}; use "
                            "more pairs or a smaller --batch-size")
        self.pairs, self.batch_size, self.crop, self.seed, self.flip = pairs, batch_size, crop, seed, flip
        self.color_jitter = color_jitter
        self.enlarge = max(load / crop, 1.0)
        self.steps_per_epoch = max(len(pairs) // batch_size, 1)
        self.size, self.attrs = len(pairs), dict(pairs.attrs, crop=crop, load=load)

    def _jitter(self, source, target, rng, color_rng):
        height, width = source.shape[:2]
        # Enlarge by load/crop, and further if the image is smaller than the crop.
        factor = max(self.enlarge, self.crop / min(height, width))
        size = (max(self.crop, round(width * factor)), max(self.crop, round(height * factor)))
        source = cv2.resize(source, size, interpolation=cv2.INTER_CUBIC).reshape(size[1], size[0], -1)
        target = cv2.resize(target, size, interpolation=cv2.INTER_CUBIC).reshape(size[1], size[0], -1)
        y = int(rng.integers(0, size[1] - self.crop + 1))
        x = int(rng.integers(0, size[0] - self.crop + 1))
        window = (slice(y, y + self.crop), slice(x, x + self.crop))
        source, target = source[window], target[window]
        if self.flip and rng.random() < 0.5:
            source, target = source[:, ::-1], target[:, ::-1]
        if self.color_jitter:  # its own stream: the crops and flips stay those of a run without it
            source = _jitter_colors(source, color_rng.uniform(1 - self.color_jitter, 1 + self.color_jitter, 3))
        return np.clip(source, 0, 1), np.clip(target, 0, 1)

    def batch(self, index: int) -> dict:
        """Global batch `index`: its pairs, crops and flips depend only on (seed, index)."""
        epoch, offset = divmod(index, self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.pairs))
        picks = order[offset * self.batch_size:(offset + 1) * self.batch_size]
        rng = np.random.default_rng([self.seed, epoch, offset, 1])
        color_rng = np.random.default_rng([self.seed, epoch, offset, 2])
        crops = [self._jitter(self.pairs.sources[i], self.pairs.targets[i], rng, color_rng) for i in picks]
        return {"image": np.stack([c[0] for c in crops]).astype(np.float32),
                "target": np.stack([c[1] for c in crops]).astype(np.float32)}

    def iterate(self, start_batch: int = 0):
        """Yield numpy batches forever, beginning at global batch `start_batch`."""
        index = start_batch
        while True:
            yield self.batch(index)
            index += 1

    @property
    def shapes(self) -> dict:
        c = self.crop
        return {"image": (self.batch_size, c, c, self.pairs.sources[0].shape[-1]),
                "target": (self.batch_size, c, c, self.pairs.targets[0].shape[-1])}
