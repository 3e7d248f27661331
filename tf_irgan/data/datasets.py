"""Batches for training, drawn from patches held in memory.

The order of an epoch depends only on (seed, epoch), so a resumed run sees exactly the batches
the interrupted one would have seen next.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tf_irgan.data.augment import LOW_LIGHT, augment_pair
from tf_irgan.data.patches import PatchSet, patches_from_folders, read_patches
from tf_irgan.errors import UserError
from tf_irgan.modalities import get_modality, subfolders


def load_training_patches(data, scale, patch=84, stride=14, holdout_every=0,
                          modality: str = "ir-vis") -> PatchSet:
    """`data` is an HDF5 patch file, or a folder with the modality's two subfolders (vi/ and ir/,
    or MRI/ and PET/)."""
    path = Path(data)
    if path.is_dir():
        kind = get_modality(modality)
        vis_dir, ir_dir = subfolders(path, kind)
        if vis_dir is None:
            detail, intensity = kind.folders
            raise UserError(f"{path}: expected subfolders {detail[0]}/ ({kind.labels[0]}) and "
                            f"{intensity[0]}/ ({kind.labels[1]}) for modality {kind.name}, or "
                            "pass an HDF5 file made by `tf-irgan prepare`")
        return patches_from_folders(vis_dir, ir_dir, patch=patch, stride=stride, scale=scale,
                                    holdout_every=holdout_every, color_space=kind.color_space)
    patches = read_patches(path, scale)
    if patches.detail.shape[1] != patch:
        raise UserError(f"{path}: holds {patches.detail.shape[1]}-pixel patches, but the model trains "
                        f"on {patch}; pass --patch {patches.detail.shape[1]} or re-run prepare")
    return patches


AUGMENT_STREAM = 1  # keeps the augmentation's random numbers apart from the shuffling's


class PatchBatches:
    """Shuffled fixed-size batches over an in-memory PatchSet, resumable by batch index.

    What the training loop needs of a model's data (`GAN.training_data`), the `Batches`
    interface: `size` (examples), `attrs` (provenance, recorded in run.json and the preset's
    metadata), `steps_per_epoch`, `shapes` (name -> shape of one batch's array) and
    `iterate(start_batch)`, numpy batches from global batch `start_batch` on, for any backend.
    """

    def __init__(self, patches: PatchSet, batch_size: int, seed: int = 0, augment: bool = False,
                 low_light: float = LOW_LIGHT):
        if len(patches) < batch_size:
            raise UserError(f"only {len(patches)} patches for a batch of {batch_size}; "
                            "use more images, a smaller --stride or a smaller --batch-size")
        self.patches, self.batch_size, self.seed = patches, batch_size, seed
        # tf_irgan.data.augment, drawn from (seed, epoch, batch): a resumed run sees the same.
        self.augment, self.low_light = augment, low_light
        self.steps_per_epoch = len(patches) // batch_size
        self.size, self.attrs = len(patches), patches.attrs

    def order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.patches))

    def iterate(self, start_batch: int = 0):
        """Yield {"detail", "intensity"} numpy batches forever, beginning at global batch
        `start_batch`."""
        epoch, offset = divmod(start_batch, self.steps_per_epoch)
        while True:
            order = self.order(epoch)
            for b in range(offset, self.steps_per_epoch):
                idx = np.sort(order[b * self.batch_size:(b + 1) * self.batch_size])
                detail, intensity = self.patches.detail[idx], self.patches.intensity[idx]
                if self.augment:
                    rng = np.random.default_rng([self.seed, epoch, b, AUGMENT_STREAM])
                    detail, intensity = augment_pair(detail, intensity, rng, self.low_light)
                yield {"detail": detail[..., None], "intensity": intensity[..., None]}
            epoch, offset = epoch + 1, 0

    @property
    def shapes(self) -> dict:
        p, q = self.patches.detail.shape[1], self.patches.intensity.shape[1]
        return {"detail": (self.batch_size, p, p, 1), "intensity": (self.batch_size, q, q, 1)}
