"""`tf-irgan fuse` and `tf-irgan presets`."""

from pathlib import Path

import click

from tf_irgan.cli.jobs import precision_option
from tf_irgan.cli.options import OldNames, range_option

METHODS = ["ddcgan", "average", "max", "laplacian"]


@click.command()
@click.argument("vis", required=False, type=click.Path())
@click.argument("ir", required=False, type=click.Path())
@click.option("-o", "--output", type=click.Path(), help="Fused image to write (single pair).")
@click.option("--vis-dir", type=click.Path(), help="Folder of visible (or MRI) images (batch mode).")
@click.option("--ir-dir", type=click.Path(), help="Folder of IR (or PET) images, paired by file name.")
@click.option("--out-dir", type=click.Path(), help="Folder for the fused images (batch mode).")
@click.option("--preset", "--checkpoint", "preset", cls=OldNames,
              help="Shipped preset name or preset folder (default: chosen by the size ratio).")
@click.option("--method", type=click.Choice(METHODS), default="ddcgan", show_default=True,
              help="The model, or a classical baseline.")
@click.option("--gray", is_flag=True, help="Write the fused luminance only, even for color input.")
@click.option("--modality", type=click.Choice(["ir-vis", "mri-pet", "mri-ct", "mri-spect"]),
              help="What the two images are (a preset knows what it was trained on): mri-pet "
                   "and mri-spect fuse the MRI with the PET's or SPECT's intensity and keep its "
                   "color (ddcgan-mri-pet for a PET at the MRI's size, ddcgan-mri-pet-x4 at 1/4, "
                   "ddcgan-mri-spect); mri-ct fuses two gray images (ddcgan-mri-ct, a CT at the "
                   "MRI's size). Default: read from the second image's folder name (PET/, "
                   "SPECT/, CT/), or told from the pair's content, else ir-vis.")
@click.option("--color-space", type=click.Choice(["ycbcr", "ihs"]),
              help="Where color inputs are fused and their color restored (default: the preset's; "
                   "YCbCr for IR/visible, IHS for MRI/PET).")
@click.option("--stretch", is_flag=True, help="Min-max stretch the fused intensity to the full "
              "range, as the official DDcGAN release saves its outputs (for comparison with tables "
              "made that way; it inflates SD and EN). Off by default.")
@range_option("ir", "IR (or PET)")
@range_option("vis", "visible (or MRI)")
@click.option("--register", is_flag=True,
              help="Register each IR image onto its visible image first (`tf-irgan register`), "
                   "then fuse on the visible frame; where the IR has no data the visible image "
                   "stands in for it. A pair that cannot be registered is refused.")
@click.option("--register-fallback", is_flag=True,
              help="Register as --register does, but fuse a pair that cannot be registered as "
                   "it is, with a note, instead of refusing it.")
@precision_option
@click.option("--bit-depth", type=click.Choice(["8", "16"]), default="8", show_default=True)
@click.option("--side-by-side", is_flag=True,
              help="Videos: write visible | IR | fused panels side by side, for review.")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True,
              help="Videos: the first frame pair to fuse.")
@click.option("--frames", type=click.IntRange(min=1),
              help="Videos: how many frame pairs to fuse (default: to the end).")
@click.option("--sequence", is_flag=True,
              help="--vis-dir and --ir-dir hold numbered frames of two streams (paired in name "
                   "order, fused as a video is: one intensity mapping, registration once, still "
                   "regions steadied); write a video (-o OUT.mp4) or frames (--out-dir D).")
@click.option("--pair-by", type=click.Choice(["index", "time"]), default="index", show_default=True,
              help="Videos and --sequence: pair the n-th frames of the two streams, or each "
                   "visible frame with the IR frame nearest in time (streams at different rates; "
                   "frame files named by their times, e.g. 1650000000.125.png).")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True),
              help="--sequence: the frames' rate, for the output video and the CSV's seconds "
                   "(default 25).")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
def fuse(vis, ir, output, vis_dir, ir_dir, out_dir, preset, method, gray, modality, color_space,
         stretch, ir_range, vis_range, register, register_fallback, precision, bit_depth,
         side_by_side, start, frames, sequence, pair_by, fps, overwrite):
    """Fuse a visible image VIS with an infrared image IR (or two folders of pairs).

    MRI/PET: pass the MRI as VIS and the color PET as IR with an MRI/PET preset, e.g.
    `tf-irgan fuse mri.png pet.png --preset ddcgan-mri-pet-x4 -o fused.png`: the result has the
    MRI's size and the PET's color.
    """
    from tf_irgan.errors import UserError
    from tf_irgan.files import atomic_path, check_not_inputs
    from tf_irgan.cli.jobs import (check_manifest, check_outputs, run_jobs, summary_of,
                                   write_manifest)
    from tf_irgan.images import (check_headers, check_image_output, check_out_dir, decode_image,
                                 pair_folders)
    from tf_irgan.rowfiles import ResultFile

    from tf_irgan.ranges import parse_range

    ir_range, vis_range = parse_range(ir_range, "--ir-range"), parse_range(vis_range, "--vis-range")
    from tf_irgan.pipelines.video import is_video
    if sequence or any(path is not None and is_video(path) for path in (vis, ir, output)):
        context = click.get_current_context()
        still_only = [f"--{name.replace('_', '-')}" for name in
                      (() if sequence else ("vis_dir", "ir_dir", "out_dir")) +
                      ("modality", "color_space", "stretch", "bit_depth")
                      if context.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
        if still_only:
            raise UserError(f"{', '.join(still_only)}: not for videos yet (8-bit output, levels "
                            "fixed for the stream, IR/visible); leave them out")
        ranges = {"ir": ir_range, "vis": vis_range}
        if sequence:
            if vis is not None or ir is not None or None in (vis_dir, ir_dir) or \
                    (output is None) == (out_dir is None):
                raise UserError("--sequence: give --vis-dir D --ir-dir D of numbered frames and "
                                "either -o OUT.mp4 (a video) or --out-dir D (fused frames)")
            return _fuse_videos(vis_dir, ir_dir, output or out_dir, preset, method, gray,
                                register or register_fallback, precision, side_by_side, start,
                                frames, overwrite, fps=fps, sequence=True, ranges=ranges,
                                pair_by=pair_by)
        if fps is not None:
            raise UserError("--fps applies to --sequence (a video carries its own rate)")
        return _fuse_videos(vis, ir, output, preset, method, gray, register or register_fallback,
                            precision, side_by_side, start, frames, overwrite, ranges=ranges,
                            pair_by=pair_by)
    if side_by_side or start or frames or fps is not None or pair_by != "index":
        raise UserError("--side-by-side, --start, --frames, --pair-by and --fps apply to videos "
                        "(VIS and IR given as .mp4, .avi, .mkv or .mov) and --sequence")
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
        check_out_dir(out_dir, vis_dir, ir_dir)
        # One writer per folder, from the checks to the manifest (released when the command ends).
        from tf_irgan.files import exclusive
        click.get_current_context().with_resource(exclusive(out_dir))
        jobs = [(p.vis, p.ir, Path(out_dir) / f"{p.name}.png") for p in pair_folders(vis_dir, ir_dir)]
        manifest = check_manifest(out_dir, overwrite)
    check_outputs([out for *_, out in jobs], overwrite, int(bit_depth))
    if modality is None and preset is None:
        from tf_irgan.modalities import modality_of_folder, modality_of_images
        modality = modality_of_folder(Path(ir_dir) if ir_dir else Path(ir).parent)
        if modality:
            click.echo(f"note: fused as {modality} (the second images' folder is named so); "
                       "--modality ir-vis says otherwise", err=True)
        elif jobs:
            # Folders named for neither: the first pair's content says (one modality per run).
            modality, why = modality_of_images(*jobs[0][:2])
            if modality:
                other = "mri-spect" if modality == "mri-pet" else "mri-pet" if modality == "mri-spect" else None
                click.echo(f"note: fused as {modality}: {why}; --modality "
                           f"{other + ' or ' if other else ''}ir-vis says otherwise", err=True)
    check_not_inputs([out for *_, out in jobs], [p for job in jobs for p in job[:2]])
    check_headers(p for job in jobs for p in job[:2])   # before a model takes memory
    if method == "ddcgan":
        from tf_irgan.cli.runtime import import_tensorflow_quietly
        import_tensorflow_quietly()
    from tf_irgan.pipelines.fusion import fuse_images
    if single and Path(vis).exists() and Path(ir).exists() and Path(vis).resolve() == Path(ir).resolve():
        click.echo(f"note: {vis} is given as both the visible and the IR image: the result is "
                   "that image (nothing to fuse)", err=True)

    registrations = {}
    if register and not register_fallback and not single:
        # Every pair is registered before any is fused: a refusal stops the run with nothing
        # written, not halfway through a folder.
        from tf_irgan.registration import FUSE_ADVICE, register_rows
        for vis_path, ir_path, _ in jobs:
            registrations[vis_path] = register_rows(
                decode_image(vis_path, vis_range, [], "visible", stream=True),
                decode_image(ir_path, ir_range, [], "IR", stream=True), vis_name=str(vis_path),
                ir_name=str(ir_path), advice=FUSE_ADVICE + " (nothing was written)")

    def run(vis_path, ir_path, out_path):
        read_notes = []
        # As the files hold them: the fusion turns them into float a band of rows at a time.
        # Large files are decoded a band of rows at a time as the fusion reaches them, and a
        # large PNG result is encoded as its rows come (`tf_irgan.rowfiles`).
        vis_image = decode_image(vis_path, vis_range, read_notes, "visible", stream=True)
        ir_image = decode_image(ir_path, ir_range, read_notes, "IR", stream=True)
        if register or register_fallback:
            from tf_irgan.registration import onto_visible
            ir_image = onto_visible(vis_image, ir_image, read_notes, str(vis_path),
                                    str(ir_path), fallback=register_fallback,
                                    result=registrations.get(vis_path))
        check_image_output(out_path, overwrite, int(bit_depth))
        with atomic_path(out_path, overwrite) as partial:
            target = ResultFile(partial, Path(out_path))
            try:
                result = fuse_images(vis_image, ir_image, preset=preset, method=method, gray=gray,
                                     vis_name=str(vis_path), ir_name=str(ir_path),
                                     color_space=color_space, modality=modality, stretch=stretch,
                                     precision=precision, bit_depth=int(bit_depth),
                                     rows_out=target)
                del vis_image, ir_image   # not held beside the result while it is encoded
                target.finish(result.image, int(bit_depth))
            except BaseException:
                target.abandon()
                raise
        result.notes[:0] = read_notes
        return result

    results = run_jobs(jobs, run, "fusing")
    if single:
        used = f" with {results[0].preset}" if results[0].preset else f" ({method})"
        click.echo(f"wrote {jobs[0][2]}{used}")
        return
    used = [r.preset or method for r in results]
    write_manifest(manifest, ["vis", "ir", "fused", "method", "size_ratio", "notes"],
                   [[str(v), str(i), str(o), name, f"{r.ratio:.3f}", r.notes]
                    for (v, i, o), r, name in zip(jobs, results, used)])
    mixed = ("; each pair's model follows its size ratio (--preset NAME keeps one)"
             if len(set(used)) > 1 else "")
    click.echo(f"wrote {len(jobs)} fused images to {out_dir} with {summary_of(used)}{mixed}; "
               f"what was done to each: {manifest}")


@click.command()
def presets():
    """List the shipped presets (trained models) and what they were trained on."""
    from tf_irgan.presets import list_presets

    found = list_presets()
    if not found:
        click.echo("no presets found (set TF_IRGAN_PRESETS to a folder of presets)")
        return
    for preset in found:
        meta = preset.metadata
        folders = meta.get("data_source") or {}
        source = folders.get("detail_dir") or folders.get("vis_dir")   # vis_dir: before 0.5
        data = f"{meta.get('data', '?')}" + (f" (from {source})" if source else "")
        what = (f"{preset.modality}, scale {preset.scale}x" if preset.task == "fusion"
                else f"direction {meta.get('direction', '?')}")
        examples = "patches" if preset.task == "fusion" else "pairs"
        click.echo(f"{preset.name}\n  {meta.get('description', '')}\n"
                   f"  task {preset.task}, {what}; trained on {data} "
                   f"({meta.get('patches', '?')} {examples}, {meta.get('batches', '?')} batches of "
                   f"{meta.get('batch_size', '?')}); folder {preset.path}")
        if "evaluation" in meta:
            click.echo(f"  {meta['evaluation']}")


def _fuse_videos(vis, ir, output, preset, method, gray, register, precision, side_by_side, start,
                 frames, overwrite, fps=None, sequence=False, ranges=None, pair_by="index"):
    """`fuse VIS_VIDEO IR_VIDEO -o OUT_VIDEO` (or `--sequence` frame folders): the two streams
    fused frame by frame."""
    import sys

    from tf_irgan.errors import UserError
    from tf_irgan.files import check_not_inputs
    from tf_irgan.pipelines.video import (FusionStream, frames_per_second_text, fuse_videos,
                                          is_video)

    if vis is None or ir is None or output is None:
        raise UserError("videos: give VIS_VIDEO IR_VIDEO -o OUT_VIDEO (e.g. -o fused.mp4)")
    for path, role in ((vis, "VIS"), (ir, "IR"), (output, "-o")):
        if not sequence and not is_video(path):
            raise UserError(f"{path}: {role} must be a video too (.mp4, .avi, .mkv or .mov) when "
                            "one of VIS, IR and -o is; fuse frame folders with --sequence")
    if sequence:
        from tf_irgan.images import check_out_dir
        for folder in (vis, ir):
            if not Path(folder).is_dir():
                raise UserError(f"{folder}: not a folder; --sequence reads numbered frames from "
                                "--vis-dir and --ir-dir")
        if not is_video(output):
            check_out_dir(output, vis, ir)
    check_not_inputs([Path(output)], [Path(vis), Path(ir)])
    if method == "ddcgan":
        from tf_irgan.cli.runtime import import_tensorflow_quietly
        import_tensorflow_quietly()
    terminal = sys.stderr.isatty()

    def progress(done, total, rate):
        if terminal:
            click.echo("\r" + frames_per_second_text(done, total, rate) + " " * 4, err=True,
                       nl=done == total)

    stream = FusionStream(preset, method, register=register, gray=gray, precision=precision,
                          ranges=ranges)
    record = fuse_videos(vis, ir, output, stream, start=start, frames=frames,
                         side_by_side=side_by_side, overwrite=overwrite, progress=progress, fps=fps,
                         pair_by=pair_by)
    for note in record.notes:
        click.echo(f"note: {note}", err=True)
    flicker = record.flicker
    steadiness = ("" if flicker["fused"] != flicker["fused"] else
                  f"; frame-to-frame change over still regions: fused {flicker['fused'] * 255:.2f}, "
                  f"visible {flicker['visible'] * 255:.2f}, IR {flicker['ir'] * 255:.2f} levels")
    click.echo(f"wrote {record.output} with {stream.used} ({record.frames} frames, "
               f"{record.frames / record.seconds:.1f} frames/s) and {record.table}{steadiness}")
