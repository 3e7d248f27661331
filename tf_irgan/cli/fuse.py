"""`tf-irgan fuse` and `tf-irgan presets`."""

import sys
from pathlib import Path

import click

METHODS = ["ddcgan", "average", "max", "laplacian"]


@click.command()
@click.argument("vis", required=False, type=click.Path())
@click.argument("ir", required=False, type=click.Path())
@click.option("-o", "--output", type=click.Path(), help="Fused image to write (single pair).")
@click.option("--vis-dir", type=click.Path(), help="Folder of visible images (batch mode).")
@click.option("--ir-dir", type=click.Path(), help="Folder of IR images, paired by file name.")
@click.option("--out-dir", type=click.Path(), help="Folder for the fused images (batch mode).")
@click.option("--preset", "--checkpoint", "preset", help="Shipped preset name or preset folder "
              "(default: chosen by the size ratio). --checkpoint is the old name.")
@click.option("--method", type=click.Choice(METHODS), default="ddcgan", show_default=True,
              help="The model, or a classical baseline.")
@click.option("--gray", is_flag=True, help="Write the fused luminance only, even for color input.")
@click.option("--bit-depth", type=click.Choice(["8", "16"]), default="8", show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
def fuse(vis, ir, output, vis_dir, ir_dir, out_dir, preset, method, gray, bit_depth, overwrite):
    """Fuse a visible image VIS with an infrared image IR (or two folders of pairs)."""
    from tf_irgan.errors import UserError
    from tf_irgan.images import check_image_output, pair_folders, read_image, write_image

    single = vis is not None or ir is not None
    batch = any(x is not None for x in (vis_dir, ir_dir, out_dir))
    if single == batch:
        raise UserError("give either VIS IR -o OUT, or --vis-dir D --ir-dir D --out-dir D")
    if single:
        if ir is None or output is None:
            raise UserError("a single pair needs VIS, IR and -o OUTPUT (e.g. -o fused.png)")
        jobs = [(Path(vis), Path(ir), Path(output))]
    else:
        if None in (vis_dir, ir_dir, out_dir):
            raise UserError("folder mode needs all of --vis-dir, --ir-dir and --out-dir")
        jobs = [(p.vis, p.ir, Path(out_dir) / f"{p.name}.png") for p in pair_folders(vis_dir, ir_dir)]
    if not overwrite:
        taken = [str(out) for _, _, out in jobs if out.exists()]
        if taken:
            more = f" and {len(taken) - 1} more" if len(taken) > 1 else ""
            raise UserError(f"{taken[0]}{more}: already exists; pass --overwrite or choose another output")
    for _, _, out in jobs:  # format and bit depth, before any image is fused
        check_image_output(out, overwrite=True, bit_depth=int(bit_depth))

    if method == "ddcgan":
        from tf_irgan.cli.main import import_tensorflow_quietly
        import_tensorflow_quietly()
    from tf_irgan.pipelines.fusion import fuse_images

    def run(vis_path, ir_path, out_path):
        result = fuse_images(read_image(vis_path), read_image(ir_path), checkpoint=preset,
                             method=method, gray=gray, vis_name=str(vis_path), ir_name=str(ir_path))
        write_image(out_path, result.image, overwrite=overwrite, bit_depth=int(bit_depth))
        for note in result.notes:
            click.echo(f"note: {note}", err=True)
        return result

    if single:
        result = run(*jobs[0])
        used = f" with {result.checkpoint}" if result.checkpoint else f" ({method})"
        click.echo(f"wrote {jobs[0][2]}{used}")
        return
    with click.progressbar(jobs, label="fusing", file=sys.stderr,
                           item_show_func=lambda j: j[0].name if j else "") as bar:
        for job in bar:
            run(*job)
    click.echo(f"wrote {len(jobs)} fused images to {out_dir}")


@click.command()
def presets():
    """List the shipped presets (trained models) and what they were trained on."""
    from tf_irgan.presets import list_presets

    found = list_presets()
    if not found:
        click.echo("no presets found (set TF_IRGAN_CHECKPOINTS to a folder of presets)")
        return
    for preset in found:
        meta = preset.metadata
        source = (meta.get("data_source") or {}).get("vis_dir")
        data = f"{meta.get('data', '?')}" + (f" (from {source})" if source else "")
        click.echo(f"{preset.name}\n  {meta.get('description', '')}\n"
                   f"  task {preset.task}, scale {preset.scale}x; trained on {data}, "
                   f"({meta.get('patches', '?')} patches, {meta.get('batches', '?')} batches of "
                   f"{meta.get('batch_size', '?')}); folder {preset.path}")
        if "evaluation" in meta:
            click.echo(f"  {meta['evaluation']}")
