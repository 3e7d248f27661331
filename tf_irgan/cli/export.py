"""`tf-irgan export`."""

import click


@click.command()
@click.argument("checkpoint")
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Model base folder for TF Serving; the SavedModel goes to OUTPUT/<version>/.")
@click.option("--version", "version", default=1, show_default=True, type=click.IntRange(min=1),
              help="Version subfolder (TF Serving serves the highest).")
@click.option("--overwrite", is_flag=True, help="Replace an existing version folder.")
def export(checkpoint, output, version, overwrite):
    """Export CHECKPOINT (a shipped name or preset folder, any task) as a SavedModel that
    TF Serving loads as is."""
    from tf_irgan.cli.main import import_tensorflow_quietly
    import_tensorflow_quietly()
    from tf_irgan.export import export_saved_model

    path = export_saved_model(checkpoint, output, version=version, overwrite=overwrite)
    click.echo(f"wrote SavedModel version {version} to {path} (signatures: serving_default "
               "float32, serving_uint8, serving_bytes); serve it with model base path "
               f"{click.format_filename(str(path.parent.resolve()))}")
