"""tf-irgan: GAN models for multi-spectral image fusion (DDcGAN) and translation (pix2pix).

Importing the package is cheap; TensorFlow loads on first use of a model.
"""

from tf_irgan.errors import UserError  # noqa: F401
from tf_irgan.version import __version__  # noqa: F401


def load(name_or_dir):
    """Load a preset (a saved model) by shipped name (e.g. "ddcgan-ir-vis") or folder."""
    from tf_irgan.presets import load_preset
    return load_preset(name_or_dir)


def fuse(vis, ir, preset=None, **kwargs):
    """Fuse a visible and an infrared image (float arrays in [0, 1]) with a preset (chosen by the
    size ratio when None); see `tf_irgan.pipelines.fusion.fuse_images` (`checkpoint=` is the old
    name of `preset=`)."""
    from tf_irgan.pipelines.fusion import fuse_images
    return fuse_images(vis, ir, preset=preset, **kwargs)


def translate(image, preset=None, **kwargs):
    """Translate an image (float array in [0, 1], gray or RGB) with a translation preset
    (default pix2pix-vis2ir); see `tf_irgan.pipelines.translation.translate_image`."""
    from tf_irgan.pipelines.translation import translate_image
    return translate_image(image, preset=preset, **kwargs)


def register(vis, ir, **kwargs):
    """The homography that maps an infrared image onto a visible image's frame (float arrays in
    [0, 1], any size ratio); see `tf_irgan.registration.register`, and `warp_onto` there to
    resample the IR with it."""
    from tf_irgan.registration import register as estimate
    return estimate(vis, ir, **kwargs)
