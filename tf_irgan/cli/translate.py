"""`tf-irgan translate`."""

from pathlib import Path

import click

from tf_irgan.cli.options import OldNames, range_option

from tf_irgan.cli.jobs import precision_option


@click.command()
@click.argument("image", required=False, type=click.Path())
@click.option("-o", "--output", type=click.Path(), help="Translated image to write (single image).")
@click.option("--in-dir", type=click.Path(), help="Folder of images to translate (batch mode).")
@click.option("--out-dir", type=click.Path(), help="Folder for the translated images (batch mode).")
@click.option("--preset", "--checkpoint", "preset", cls=OldNames, default="pix2pix-vis2ir",
              show_default=True,
              help="Shipped preset name or preset folder (pix2pix-vis2ir, pix2pix-ir2vis).")
@range_option("ir", "IR input (ir2vis)")
@range_option("vis", "visible input (vis2ir)")
@precision_option
@click.option("--bit-depth", type=click.Choice(["8", "16"]), default="8", show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
def translate(image, output, in_dir, out_dir, preset, ir_range, vis_range, precision, bit_depth,
              overwrite):
    """Translate IMAGE (visible -> infrared with the default preset, or infrared -> visible with
    --preset pix2pix-ir2vis), or every image of a folder. The output has the input's size."""
    from tf_irgan.errors import UserError
    from tf_irgan.files import check_not_inputs
    from tf_irgan.cli.jobs import check_manifest, check_outputs, run_jobs, write_manifest
    from tf_irgan.images import check_headers, check_out_dir, images_by_stem, read_image, write_image

    from tf_irgan.ranges import parse_range

    ranges = {"ir": parse_range(ir_range, "--ir-range"), "vis": parse_range(vis_range, "--vis-range")}
    single, batch = image is not None, in_dir is not None or out_dir is not None
    if single == batch:
        raise UserError("give either IMAGE -o OUT, or --in-dir D --out-dir D")
    if single:
        if output is None:
            raise UserError("a single image needs -o OUTPUT (e.g. -o ir.png)")
        jobs = [(Path(image), Path(output))]
    else:
        if in_dir is None or out_dir is None:
            raise UserError("folder mode needs both --in-dir and --out-dir")
        check_out_dir(out_dir, in_dir)
        from tf_irgan.files import exclusive  # one writer per folder until the command ends
        click.get_current_context().with_resource(exclusive(out_dir))
        files = images_by_stem(in_dir)  # refuses an empty folder and two images of one name
        jobs = [(path, Path(out_dir) / f"{stem}.png") for stem, path in sorted(files.items())]
        manifest = check_manifest(out_dir, overwrite)
    check_outputs([out for _, out in jobs], overwrite, int(bit_depth))
    check_not_inputs([out for _, out in jobs], [source for source, _ in jobs])
    check_headers(source for source, _ in jobs)   # before the model takes memory
    from tf_irgan.cli.runtime import import_tensorflow_quietly
    import_tensorflow_quietly()
    from tf_irgan.pipelines.translation import translate_image
    from tf_irgan.presets import load_preset

    # Which range applies: the IR's for ir2vis, the visible image's otherwise.
    direction = str(load_preset(preset, precision).metadata.get("direction", "vis2ir"))
    role = "ir" if direction.startswith("ir") else "vis"

    def run(in_path, out_path):
        read_notes = []
        source = read_image(in_path, ranges[role], read_notes, "IR" if role == "ir" else "visible")
        result = translate_image(source, preset=preset, name=str(in_path), precision=precision)
        write_image(out_path, result.image, overwrite=overwrite, bit_depth=int(bit_depth))
        result.notes[:0] = read_notes
        return result

    results = run_jobs(jobs, run, "translating")
    if single:
        click.echo(f"wrote {jobs[0][1]} with {results[0].preset}")
        return
    write_manifest(manifest, ["input", "translated", "preset", "notes"],
                   [[str(i), str(o), r.preset, r.notes] for (i, o), r in zip(jobs, results)])
    click.echo(f"wrote {len(jobs)} translated images to {out_dir} with {results[0].preset}; "
               f"what was done to each: {manifest}")
