"""`tf-irgan export`."""

import click


@click.command()
@click.argument("checkpoint")
@click.option("-o", "--output", required=True, type=click.Path(), help="SavedModel folder to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing folder.")
def export(checkpoint, output, overwrite):
    """Export CHECKPOINT (a shipped name or preset folder) as a SavedModel for TF Serving."""
    from tf_irgan.cli.main import import_tensorflow_quietly
    import_tensorflow_quietly()
    from tf_irgan.export import export_saved_model

    path = export_saved_model(checkpoint, output, overwrite=overwrite)
    click.echo(f"wrote SavedModel to {path} (signatures: serving_default float32, serving_uint8)")
