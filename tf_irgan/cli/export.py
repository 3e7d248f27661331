"""`tf-irgan export`."""

import click


@click.command()
@click.argument("preset", metavar="PRESET")
@click.option("-o", "--output", required=True, type=click.Path(),
              help="saved-model: the model base folder for TF Serving (the SavedModel goes to "
                   "OUTPUT/<version>/); tflite: the .tflite file; onnx: the .onnx file.")
@click.option("--format", "kind", type=click.Choice(["saved-model", "tflite", "onnx"]),
              default="saved-model", show_default=True,
              help="onnx needs the onnx extra (pip install 'tf-irgan[onnx]').")
@click.option("--version", "version", default=1, show_default=True, type=click.IntRange(min=1),
              help="saved-model: version subfolder (TF Serving serves the highest).")
@click.option("--size", help="tflite (and onnx for translation presets): the input size, "
              "WIDTHxHEIGHT (e.g. 640x480); fusion's IR input is that divided by the model's ratio.")
@click.option("--quantize", type=click.Choice(["float16", "int8"]), default="float16", show_default=True,
              help="tflite: float16 weights, or int8 weights and activations (needs --calibration).")
@click.option("--calibration", type=click.Path(),
              help="tflite int8: a folder with vi/ and ir/ of real pairs setting the int8 ranges.")
@click.option("--overwrite", is_flag=True, help="Replace an existing version folder or file.")
def export(preset, output, kind, version, size, quantize, calibration, overwrite):
    """Export PRESET (a shipped name or preset folder, any task) as a SavedModel that
    TF Serving loads as is, as a TensorFlow Lite model for one input size, or as an ONNX model
    (fusion: any size)."""
    from tf_irgan.cli.runtime import import_tensorflow_quietly
    import_tensorflow_quietly()
    from tf_irgan.errors import UserError
    from tf_irgan.export import export_onnx, export_saved_model, export_tflite
    from tf_irgan.files import exclusive

    # One writer per target until the command ends: the model base folder, or the .tflite file.
    click.get_current_context().with_resource(exclusive(output, folder=kind == "saved-model"))

    if kind == "onnx":
        path = export_onnx(preset, output, size, overwrite)
        click.echo(f"wrote ONNX model to {path} ({path.stat().st_size / 1e6:.1f} MB, "
                   f"{'input ' + size if size else 'any input size'}; checked against the preset "
                   "with ONNX Runtime)")
        return

    if kind == "tflite":
        if not size:
            raise UserError("--format tflite needs --size WIDTHxHEIGHT (a TFLite model has one input size)")
        path = export_tflite(preset, output, size, quantize, calibration, overwrite)
        click.echo(f"wrote {quantize} TFLite model to {path} ({path.stat().st_size / 1e6:.1f} MB, "
                   f"input {size})")
        return
    path = export_saved_model(preset, output, version=version, overwrite=overwrite)
    click.echo(f"wrote SavedModel version {version} to {path} (signatures: serving_default "
               "float32, serving_uint8, serving_bytes); serve it with model base path "
               f"{click.format_filename(str(path.parent.resolve()))}")
