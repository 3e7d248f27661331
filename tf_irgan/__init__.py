"""tf-irgan: GAN models for multi-spectral image fusion (DDcGAN) and translation (pix2pix).

Importing the package is cheap; TensorFlow loads on first use of a model.
"""

from tf_irgan.errors import UserError  # noqa: F401
from tf_irgan.version import __version__  # noqa: F401


def load(name_or_dir):
    """Load a shipped checkpoint by name (e.g. "ddcgan-ir-vis") or a preset folder."""
    from tf_irgan.checkpoints import load_preset
    return load_preset(name_or_dir)


def fuse(vis, ir, checkpoint=None, **kwargs):
    """Fuse a visible and an infrared image (float arrays in [0, 1]); see `inference.fuse_images`."""
    from tf_irgan.inference import fuse_images
    return fuse_images(vis, ir, checkpoint=checkpoint, **kwargs)
