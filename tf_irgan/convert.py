"""`tf-irgan convert`: a released DDcGAN checkpoint (TensorFlow 1) as a tf-irgan preset.

The preset holds the `official` config's generator with the released weights. It normalises
each image with its own statistics, as the released `generate.py` does: the released training
never updates the batch-norm moving statistics, so they carry no information.
"""

from __future__ import annotations

from pathlib import Path

from tf_irgan.errors import UserError


def read_released(source) -> dict:
    """Canonical released name -> numpy array, from an `.npz` of arrays keyed by the released
    names or a TF1 checkpoint prefix (`model.ckpt`, read with `tf.train.load_checkpoint`).
    Optimizer slots and the step counter are left out."""
    import numpy as np

    from tf_irgan.models.released import canonical

    path = Path(source)
    if path.suffix == ".npz":
        try:
            with np.load(path) as data:
                raw = {name: data[name] for name in data.files}
        except (OSError, ValueError) as err:
            raise UserError(f"{path}: not a readable .npz of arrays ({err}); pass the arrays "
                            "keyed by the released variable names") from None
    else:
        try:
            import tensorflow as tf
        except ImportError:
            raise UserError(f"{path}: reading a TF1 checkpoint needs TensorFlow; install tf-irgan "
                            "with TensorFlow or convert the checkpoint to .npz first") from None
        try:
            reader = tf.train.load_checkpoint(str(path))
            raw = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
        except (ValueError, tf.errors.OpError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise UserError(f"{path}: not a TF1 checkpoint ({first}); pass the prefix of its "
                            "files (model.ckpt for model.ckpt.index) or an .npz") from None
    arrays = {}
    for name, value in raw.items():
        if "RMSProp" in name or name.split("/")[-1] in ("Variable", "global_step"):
            continue
        arrays[canonical(name)] = value
    return arrays


def convert_released(source, output, scale: int | None = None, overwrite: bool = False) -> Path:
    """Write the released generator in `source` as a preset folder `output`."""
    from tf_irgan.models.ddcgan import Generator, ddcgan_config, preset_metadata
    from tf_irgan.models.released import assign, released_scale
    from tf_irgan.presets import save_preset

    output = Path(output)
    if output.exists() and not overwrite:
        raise UserError(f"{output}: already exists; pass --overwrite or choose another folder")
    if not Path(source).exists() and not Path(f"{source}.index").exists():
        raise UserError(f"{source}: no such file (for a TF1 checkpoint pass the prefix of its "
                        ".index and .data files)")
    arrays = read_released(source)
    found = released_scale(arrays)
    if scale is not None and scale != found:
        raise UserError(f"{source}: holds a {'multi' if found > 1 else 'same'}-resolution "
                        f"generator (x{found}); pass --scale {found}")
    config = ddcgan_config("official", found)
    generator = Generator.from_ddcgan_config(config, statistics="image", name="generator")
    generator.build_for_inference()
    assign(arrays, generator, source=source)
    metadata = {**preset_metadata(config), "model": "ddcgan", "config": "official",
                "converted_from": str(source),
                "note": "released DDcGAN weights; batch norm uses each image's own statistics, "
                        "as the released generate.py does"}
    return save_preset(output, generator, task="fusion", metadata=metadata, overwrite=overwrite,
                       input_roles=("vis", "ir"), output_role="fused", model_name="ddcgan")
