"""`tf-irgan convert`."""

import click


@click.command()
@click.argument("source", metavar="SOURCE")
@click.option("-o", "--output", required=True, type=click.Path(), help="The preset folder to write.")
@click.option("--scale", type=click.Choice(["4", "1"]),
              help="4: the released multi-resolution generator (IR at 1/4); 1: the "
                   "same-resolution one. Read from SOURCE when not given.")
@click.option("--overwrite", is_flag=True, help="Replace an existing preset folder.")
def convert(source, output, scale, overwrite):
    """Turn a released DDcGAN checkpoint (TensorFlow 1) into a preset of the `official` config.

    SOURCE is a TF1 checkpoint prefix (model.ckpt, for model.ckpt.index and its data files) or
    an .npz of arrays keyed by the released variable names. The preset loads like any other
    (`tf-irgan fuse --preset OUTPUT`, `load_preset(OUTPUT)`)."""
    import os

    from tf_irgan.cli.runtime import import_tensorflow_quietly
    # A TF1 checkpoint is read with TensorFlow; an .npz converts on any Keras backend.
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow" or not source.endswith(".npz"):
        import_tensorflow_quietly(inference=False)
    from tf_irgan.convert import convert_released

    path = convert_released(source, output, int(scale) if scale else None, overwrite)
    click.echo(f"wrote preset {path} (DDcGAN official, released weights)")
