"""Augmentation of registered patch pairs, for fusion models trained on a small set.

RoadScene's 162 training pairs come from one camera pair in daylight; the models are used at
night, with other thermal cameras and other exposures. Each example gets one random geometry,
applied to both of its images (they stay registered), and its own photometric change per image
(each sensor has its own exposure, response and noise): gamma, contrast, low light for the
visible image, and noise. Everything is drawn from a generator the caller seeds, so a batch is
the same batch when a run is resumed.
"""

from __future__ import annotations

import numpy as np

GAMMA = (0.6, 1.6)          # x ** gamma, log-uniform in this range
CONTRAST = (0.6, 1.25)      # (x - mean) * c + mean
LOW_LIGHT = 0.25            # share of visible images darkened ...
LOW_LIGHT_GAIN = (0.12, 0.5)  # ... by this factor (a night frame's range), before noise
NOISE = 0.02                # Gaussian noise, standard deviation up to this (on [0, 1])


def flip_and_rotate(images: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """One of the 8 flips/rotations per example, the same for every array of `images` (each
    (B, H, W) or (B, H, W, C), sizes may differ: a 1/4 IR patch turns with its visible patch)."""
    count = images[0].shape[0]
    turns, flips = rng.integers(0, 4, count), rng.integers(0, 2, count)
    out = [image.copy() for image in images]
    for n in range(count):
        for image in out:
            example = np.rot90(image[n], turns[n], axes=(0, 1))
            image[n] = example[:, ::-1] if flips[n] else example
    return out


def photometric(images: np.ndarray, rng: np.random.Generator, low_light: float = 0.0) -> np.ndarray:
    """A random gamma, contrast, (with probability `low_light`) darkening and noise per example
    of a (B, H, W[, C]) batch in [0, 1]; the result is clipped to [0, 1]."""
    count = images.shape[0]
    shape = (count,) + (1,) * (images.ndim - 1)
    gamma = np.exp(rng.uniform(np.log(GAMMA[0]), np.log(GAMMA[1]), count)).reshape(shape)
    contrast = rng.uniform(*CONTRAST, count).reshape(shape)
    dark = rng.random(count) < low_light
    gain = np.where(dark, rng.uniform(*LOW_LIGHT_GAIN, count), 1.0).reshape(shape)
    sigma = rng.uniform(0, NOISE, count).reshape(shape)
    out = np.clip(images, 0.0, 1.0) ** gamma
    mean = out.mean(axis=tuple(range(1, images.ndim)), keepdims=True)
    out = np.clip((out - mean) * contrast + mean, 0.0, 1.0) * gain
    out = out + sigma * rng.standard_normal(images.shape)
    return np.clip(out, 0.0, 1.0).astype(images.dtype)


def augment_pair(vis: np.ndarray, ir: np.ndarray, rng: np.random.Generator,
                 low_light: float = LOW_LIGHT):
    """Geometry shared by both images, photometry of each its own (low light: visible only,
    a `low_light` share of the examples)."""
    vis, ir = flip_and_rotate([vis, ir], rng)
    return photometric(vis, rng, low_light=low_light), photometric(ir, rng)
