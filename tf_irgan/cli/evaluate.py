"""`tf-irgan evaluate fusion|translation`: score folders of results; the work is in
tf_irgan.metrics.evaluate and tf_irgan.metrics.reporting."""

from pathlib import Path

import click

from tf_irgan.cli.options import range_option

_FOLDER = click.Path(path_type=Path, file_okay=False)
_OUTPUT = click.Path(path_type=Path, dir_okay=False)


@click.group()
def evaluate():
    """Score fused or translated images against their sources/targets."""


def _echo_results(result: dict, first_header: str, written: list) -> None:
    from tf_irgan.metrics.reporting import text_table

    # Results on stdout; notes on stderr, as every command does.
    click.echo(text_table(result, first_header))
    for name, note in result["notes"].items():
        click.echo(f"note: {name}: {note}", err=True)
    for path in written:
        click.echo(f"wrote {path}")


def _named_folders(values) -> dict:
    """--fused-dir DIR or NAME=DIR, repeated: {name: folder}; names default to the folder's."""
    from tf_irgan.errors import UserError

    folders = {}
    for value in values:
        name, sep, folder = value.partition("=")
        if not sep or Path(value).is_dir():
            name, folder = Path(value).resolve().name, value
        folder = Path(folder)
        if not folder.is_dir():
            raise UserError(f"--fused-dir {value}: {folder} is not a folder; give DIR or NAME=DIR")
        if name in folders:
            raise UserError(f"--fused-dir: two folders named {name}; name them, e.g. "
                            f"--fused-dir ours={folder}")
        folders[name] = folder
    return folders


@evaluate.command()
@click.option("--ir-dir", type=_FOLDER, required=True, help="Infrared source images (A).")
@click.option("--vis-dir", type=_FOLDER, required=True, help="Visible source images (B).")
@click.option("--fused-dir", "fused_dirs", required=True, multiple=True,
              help="Fused images (F), same file names. Repeat it (DIR or NAME=DIR) to compare "
                   "methods in one table and one figure.")
@click.option("--json", "json_path", type=_OUTPUT, help="Write mean, per-image values and conventions.")
@click.option("--csv", "csv_path", type=_OUTPUT, help="Write one row per image plus a mean row.")
@click.option("--markdown", "markdown_path", type=_OUTPUT, help="Write a Markdown table.")
@click.option("--figure", "figure_path", type=_OUTPUT, help="Write a bar chart of the means (.png/.pdf/.svg).")
@click.option("--color-space", type=click.Choice(["ycbcr", "ihs"]), default="ycbcr", show_default=True,
              help="Channel color images are scored on: BT.601 luma, or the IHS intensity "
                   "(MRI/PET fusion, with the PET as --ir-dir and the MRI as --vis-dir).")
@range_option("ir", "IR source")
@range_option("vis", "visible source")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
def fusion(ir_dir, vis_dir, fused_dirs, json_path, csv_path, markdown_path, figure_path, color_space,
           ir_range, vis_range, overwrite):
    """EN, SD, SF, AG, MI, SCD, VIF, Qabf, SSIM, CC, PSNR, MSE per fused image and their mean.

    Images are paired by file name; color is reduced to BT.601 luma (or the IHS intensity with
    --color-space ihs). Conventions: docs/metrics.md.
    """
    from tf_irgan.metrics import evaluate as evaluation
    from tf_irgan.metrics import reporting

    from tf_irgan.ranges import parse_range

    ranges = {"ir": parse_range(ir_range, "--ir-range"), "vis": parse_range(vis_range, "--vis-range")}
    folders = _named_folders(fused_dirs)
    outputs = [json_path, csv_path, markdown_path, figure_path]
    reporting.check_figure_path(figure_path)
    reporting.check_outputs(outputs, overwrite)
    if len(folders) > 1:
        result = evaluation.compare_fusion_dirs(ir_dir, vis_dir, folders, color_space, ranges)
        means = {name: r["mean"] for name, r in result["methods"].items()}
        writers = (reporting.write_comparison_csv, reporting.comparison_markdown)
    else:
        (name, fused_dir), = folders.items()
        result = evaluation.evaluate_fusion_dirs(ir_dir, vis_dir, fused_dir, color_space, ranges)
        means = {name: result["mean"]}
        writers = (reporting.write_csv, reporting.fusion_markdown)
    images = len(result.get("images") or result["per_image"])
    if json_path:
        reporting.write_json(json_path, result, overwrite)
    if csv_path:
        writers[0](csv_path, result, overwrite)
    if markdown_path:
        reporting.write_text(markdown_path, writers[1](result), overwrite)
    if figure_path:
        reporting.write_metric_bars(figure_path, means, overwrite,
                                    title=f"Mean fusion metrics, {images} images")
    if len(folders) > 1:
        click.echo(reporting.comparison_table(result))
        for name, note in result["notes"].items():
            click.echo(f"note: {name}: {note}", err=True)
        for path in outputs:
            if path:
                click.echo(f"wrote {path}")
    else:
        _echo_results(result, "image", [p for p in outputs if p])


@evaluate.command()
@click.option("--pred-dir", type=_FOLDER, required=True, help="Generated images.")
@click.option("--target-dir", type=_FOLDER, required=True, help="Ground-truth images, same file names.")
@click.option("--input-dir", type=_FOLDER, help="Model inputs, same file names (shown in the figure).")
@click.option("--json", "json_path", type=_OUTPUT, help="Write mean, per-image values and conventions.")
@click.option("--markdown", "markdown_path", type=_OUTPUT, help="Write the Number | MAE | MSE table.")
@click.option("--figure", "figure_path", type=_OUTPUT,
              help="Write input/target/generated/residual rows, one per image (.png/.pdf/.svg).")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
def translation(pred_dir, target_dir, input_dir, json_path, markdown_path, figure_path, overwrite):
    """MAE, MSE (on [0, 1]), PSNR and SSIM per generated image and their mean."""
    from tf_irgan.metrics import evaluate as evaluation
    from tf_irgan.metrics import reporting

    outputs = [json_path, markdown_path, figure_path]
    reporting.check_figure_path(figure_path)
    reporting.check_outputs(outputs, overwrite)
    result = evaluation.evaluate_translation_dirs(pred_dir, target_dir, input_dir)
    if json_path:
        reporting.write_json(json_path, result, overwrite)
    if markdown_path:
        reporting.write_text(markdown_path, reporting.translation_markdown(result), overwrite)
    if figure_path:
        reporting.write_translation_figure(figure_path, result, overwrite)
    _echo_results(result, "image", [p for p in outputs if p])


@evaluate.command()
@click.option("--vis", "vis_video", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The visible video.")
@click.option("--ir", "ir_video", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The IR video (any size: enlarged onto the visible frame).")
@click.option("--fused", "fused_videos", required=True, multiple=True,
              help="A fused video (FILE or NAME=FILE); repeat it to compare methods.")
def video(vis_video, ir_video, fused_videos):
    """Temporal stability of fused videos: the mean frame-to-frame change over still regions
    (pixels where neither input changes by 4/255 or more), fused against each input, in 8-bit
    levels. A fusion that adds no flicker stays at or under the inputs' (ratio <= 1)."""
    from tf_irgan.errors import UserError
    from tf_irgan.metrics.temporal import stream_change

    named = {}
    for value in fused_videos:
        name, sep, path = value.partition("=")
        if not sep:
            name, path = Path(value).stem, value
        if name in named:
            raise UserError(f"--fused: two videos named {name}; name them, e.g. --fused ours={path}")
        named[name] = Path(path)
    click.echo("| fused | frames | fused change | visible change | IR change | fused / larger input |")
    click.echo("|---|---|---|---|---|---|")
    for name, path in named.items():
        frames, change = stream_change(vis_video, ir_video, path)
        ratio = change["fused"] / max(change["visible"], change["ir"])
        click.echo(f"| {name} | {frames} | {change['fused'] * 255:.2f} | "
                   f"{change['visible'] * 255:.2f} | {change['ir'] * 255:.2f} | {ratio:.2f} |")
