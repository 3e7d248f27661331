"""The released DDcGAN code's variable names (hanna-xu/DDcGAN, TensorFlow 1) mapped onto the
`official` config's networks: one table, which loads released weights (`tf-irgan convert`)
and the golden numbers of `tests/test_fidelity.py`.

The released graph names its variables `Generator/...`, `Generator_1/...` and so on (its
decoder and deconvolution helpers re-enter the `Generator` scope, which TF1 makes unique);
folding every `Generator_N/` to `Generator/` is free of collisions, and the names below are
the folded ones.
"""

from __future__ import annotations

import re

from tf_irgan.errors import UserError

# The generator's convolutions in the released order, and the decoder's names (its first
# kernel, conv2_1, is the tied one: applied twice, batch norm only on the second use).
DECODER = ("conv2_1", "conv2_1_1", "conv2_2", "conv2_3")
NORM = ("gamma", "beta", "moving_mean", "moving_variance")
IR_DECONV = "Generator/deconv_ir/deconv1/kernel"


def canonical(name: str) -> str:
    """A released variable name with `Generator_N/` folded to `Generator/` and `:0` dropped."""
    return re.sub(r"^Generator_\d+/", "Generator/", name.split(":")[0])


def check_released_layout(generator) -> None:
    """The generator must have the released layout, or the table maps nothing sensible."""
    if not (getattr(generator, "tied_decoder", False) and generator.dense_order == "new_first"
            and tuple(generator.decoder_filters) == (240, 128, 64, 32)
            and generator.growth == 48 and generator.dense_layers == 4):
        raise UserError("released DDcGAN weights fit only the `official` config's generator "
                        "(tied 240->240 decoder kernel, new features first in the dense block)")


def variables(generator, d_detail=None, d_intensity=None) -> dict:
    """Released name -> the Keras variable that holds it (the discriminators when given)."""
    check_released_layout(generator)
    table = {}

    def conv(prefix, layer, norm_prefix=None):
        table[f"{prefix}/kernel"] = layer.conv.kernel
        table[f"{prefix}/bias"] = layer.conv.bias
        if norm_prefix:
            for field in NORM:
                table[f"{norm_prefix}/batch_normalization/{field}"] = getattr(layer.norm, field)

    conv("Generator/encoder/conv1_1", generator.stem, "Generator/encoder/b0")
    for k, layer in enumerate(generator.dense, start=1):
        conv(f"Generator/encoder/dense_block_conv{k}", layer, f"Generator/encoder/b{k}")
    for i, (name, layer) in enumerate(zip(DECODER, generator.decoder)):
        conv(f"Generator/decoder/{name}", layer, f"Generator/decoder/b{i}")
    conv("Generator/decoder/conv2_4", generator.head)
    if generator.scale > 1:
        table[IR_DECONV] = generator.ir_up.kernel
        table["Generator/deconv_vis/deconv1/kernel"] = generator.vis_in.kernel
    for prefix, disc in (("Discriminator1", d_detail), ("Discriminator2", d_intensity)):
        if disc is None:
            continue
        conv(f"{prefix}/conv1", disc.convs[0])
        conv(f"{prefix}/conv2", disc.convs[1], f"{prefix}/b1")
        conv(f"{prefix}/conv3", disc.convs[2], f"{prefix}/b2")
        table[f"{prefix}/flatten1/dense/kernel"] = disc.score.kernel
        table[f"{prefix}/flatten1/dense/bias"] = disc.score.bias
    return table


def released_scale(arrays: dict) -> int:
    """4 for the released multi-resolution generator (it has the IR deconvolution), else 1."""
    return 4 if IR_DECONV in arrays else 1


def assign(arrays: dict, generator, d_detail=None, d_intensity=None, source="the released weights") -> None:
    """Give the networks the released values (`arrays`: canonical name -> array); every
    variable of the table must be there with its shape."""
    table = variables(generator, d_detail, d_intensity)
    missing = [name for name in table if name not in arrays]
    if missing:
        raise UserError(f"{source}: no {missing[0]} ({len(missing)} of {len(table)} variables "
                        "missing); pass the released DDcGAN generator's checkpoint, and --scale "
                        f"{released_scale(arrays)} for this one")
    for name, variable in table.items():
        value = arrays[name]
        if tuple(value.shape) != tuple(variable.shape):
            raise UserError(f"{source}: {name} has shape {tuple(value.shape)}, the official "
                            f"network's is {tuple(variable.shape)}; this is not a released "
                            "DDcGAN checkpoint of that layout")
    for name, variable in table.items():
        variable.assign(arrays[name].astype("float32"))
