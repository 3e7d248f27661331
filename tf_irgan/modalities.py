"""What a fusion model's two inputs are: infrared + visible, or MRI + PET.

The generator always sees two single-channel images: a *detail* image at full resolution (visible,
MRI) and an *intensity* image, possibly at a lower resolution (IR, PET). A modality names the two
roles, how a color image is reduced to the channel the model fuses (the color space), and whose
color the result keeps. Nothing else differs between IR/visible and MRI/PET fusion: one network,
one training loop, one pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tf_irgan.errors import UserError


@dataclass(frozen=True)
class Modality:
    name: str
    roles: tuple          # (detail role, intensity role): the pipeline's and the export's input names
    labels: tuple         # how messages name them
    color_space: str      # tf_irgan.color.COLOR_SPACES key
    color_role: str       # the role whose color the fused image keeps
    folders: tuple        # (detail subfolder names, intensity subfolder names) in a data folder


MODALITIES = {
    # MRI/ and PET/ last: runs made before MRI/PET fusion existed trained on them as IR/visible
    # and resume as such; a new run on such a folder detects mri-pet (`detect_modality`).
    "ir-vis": Modality("ir-vis", ("vis", "ir"), ("visible", "IR"), "ycbcr", "vis",
                       (("vi", "vis", "visible", "VI", "VIS", "Visible", "MRI"),
                        ("ir", "infrared", "IR", "Infrared", "lwir", "PET"))),
    # DDcGAN's medical setting: the PET's IHS intensity is fused and its hue and saturation
    # (v1, v2) put back, so the PET's pseudo-color survives.
    "mri-pet": Modality("mri-pet", ("mri", "pet"), ("MRI", "PET"), "ihs", "pet",
                        (("MRI", "mri"), ("PET", "pet"))),
    # SPECT comes in pseudo-color as PET does: fused the same way.
    "mri-spect": Modality("mri-spect", ("mri", "spect"), ("MRI", "SPECT"), "ihs", "spect",
                          (("MRI", "mri"), ("SPECT", "spect"))),
    # CT is gray: its intensity is the image itself, and the result is gray.
    "mri-ct": Modality("mri-ct", ("mri", "ct"), ("MRI", "CT"), "ihs", "ct",
                       (("MRI", "mri"), ("CT", "ct"))),
}
MEDICAL = ("mri-pet", "mri-spect", "mri-ct")


def get_modality(name: str) -> Modality:
    if name not in MODALITIES:
        raise UserError(f"modality '{name}': unknown; use one of {', '.join(MODALITIES)}")
    return MODALITIES[name]


def subfolders(folder: Path, modality: Modality):
    """(detail folder, intensity folder) inside a data folder, or (None, None)."""
    detail = next((folder / n for n in modality.folders[0] if (folder / n).is_dir()), None)
    intensity = next((folder / n for n in modality.folders[1] if (folder / n).is_dir()), None)
    return (detail, intensity) if detail and intensity else (None, None)


def modality_of_folder(intensity_dir) -> str | None:
    """The medical modality whose intensity folder has this folder's name (PET/ -> "mri-pet"),
    or None (IR/visible)."""
    import os
    name = Path(os.path.normpath(os.path.abspath(str(intensity_dir)))).name.lower()  # as named, not a link's target
    return next((m.name for m in MODALITIES.values() if m.name != "ir-vis"
                 and name in {n.lower() for n in m.folders[1]}), None)


def detect_modality(data) -> str | None:
    """"mri-pet" (-spect, -ct) for a data folder with MRI/ and PET/ (SPECT/, CT/), "mri-pet"
    for a patch file prepared in IHS (its
    `color_space` attribute), "ir-vis" for a patch file prepared in YCbCr; None when nothing
    says (IR/visible is the default)."""
    path = Path(data)
    if path.is_file():
        import h5py
        try:
            with h5py.File(path, "r") as f:
                space = f.attrs.get("color_space")
        except OSError:
            return None  # the patch reader names the file and the fix
        space = space.decode() if isinstance(space, bytes) else space
        return next((m.name for m in MODALITIES.values() if m.color_space == space), None)
    if not path.is_dir():
        return None
    return next((name for name in MEDICAL if subfolders(path, MODALITIES[name])[0] is not None), None)


# What a medical pair looks like when nothing names it (`fuse` on two files in folders named for
# neither): two slices on the same black background. At least a fifth of each image is near
# black (at most 2 % of its range) but not all of it (a slice is there: at least 3 %), those
# backgrounds are largely the same pixels, and the first image is gray. Camera pairs fail this
# at once: their frames are filled (a black border of a few rows is far from a fifth, and is not
# shared by the other camera). Images larger than MEDICAL_MAX_SIDE are camera frames, never
# decoded for this.
MEDICAL_MAX_SIDE = 1024
BACKGROUND_LEVEL, BACKGROUND_SHARE, BACKGROUND_OVERLAP, SLICE_SHARE = 0.02, 0.2, 0.4, 0.03
# Pseudo-color (PET, SPECT): the foreground's mean (max - min) over the channels, in [0, 1].
PSEUDO_COLOR = 0.1


def modality_of_images(first, second) -> tuple[str | None, str]:
    """(modality, why) for a pair of image files by their content: "mri-pet" for a gray slice
    beside a pseudo-color one ("mri-spect" when the second file's name says SPECT), "mri-ct"
    beside a gray one, (None, "") for anything else (IR/visible, the default)."""
    import re

    import numpy as np

    from tf_irgan.images import header_size, read_image

    sizes = [header_size(Path(p)) if Path(p).is_file() else None for p in (first, second)]
    if None in sizes or max(max(s) for s in sizes) > MEDICAL_MAX_SIDE:
        return None, ""
    try:
        images = [read_image(p, None, None, "") for p in (first, second)]
    except UserError:
        return None, ""   # the fusion itself names what is wrong with the file
    if images[0].ndim == 3 and not _gray(images[0]):
        return None, ""
    backgrounds = []
    for image in images:
        level = image.mean(axis=-1) if image.ndim == 3 else image
        backgrounds.append(level <= BACKGROUND_LEVEL)
    if backgrounds[0].shape != backgrounds[1].shape:
        import cv2
        backgrounds[1] = cv2.resize(backgrounds[1].astype(np.uint8), backgrounds[0].shape[::-1],
                                    interpolation=cv2.INTER_NEAREST).astype(bool)
    shares = [float(b.mean()) for b in backgrounds]
    both, either = backgrounds[0] & backgrounds[1], backgrounds[0] | backgrounds[1]
    if (min(shares) < BACKGROUND_SHARE or max(shares) > 1 - SLICE_SHARE
            or both.sum() < BACKGROUND_OVERLAP * either.sum()):
        return None, ""
    second_image = images[1]
    colored = second_image.ndim == 3 and not _gray(second_image) and float(
        np.ptp(second_image, axis=-1)[~backgrounds[1]].mean()) >= PSEUDO_COLOR
    why = (f"{shares[0]:.0%} and {shares[1]:.0%} of the two images are black background, "
           f"{'the second in pseudo-color' if colored else 'both gray'}")
    if not colored:
        return "mri-ct", why
    words = set(re.split(r"[^a-z]+", Path(second).stem.lower()))
    return ("mri-spect" if "spect" in words else "mri-pet"), why


def _gray(image) -> bool:
    import numpy as np
    return bool(np.abs(image - image[..., :1]).max() <= 1 / 255)
