"""`tf-irgan register`: the IR image resampled onto the visible image's frame."""

from pathlib import Path

import click
import numpy as np

from tf_irgan.cli.options import range_option


@click.command()
@click.argument("vis", type=click.Path())
@click.argument("ir", type=click.Path())
@click.option("-o", "--output", type=click.Path(), required=True,
              help="The IR image on the visible frame (the visible image's size; 0 where the "
                   "IR has no data).")
@click.option("--transform", type=click.Path(),
              help="Also write the transform here (JSON: the 3x3 homography mapping IR pixels "
                   "to visible pixels, its confidence and what was tried).")
@click.option("--mask", type=click.Path(),
              help="Also write where the IR has data (white) as an 8-bit image.")
@click.option("--model", type=click.Choice(["homography", "affine", "similarity", "shift"]),
              default="homography", show_default=True,
              help="The most general transform to consider. Simpler ones (down to none: a pair "
                   "already aligned stays as it is) are kept where the pair's edges do not ask "
                   "for more: affine for cameras side by side with parallel axes.")
@range_option("ir", "IR")
@range_option("vis", "visible")
@click.option("--bit-depth", type=click.Choice(["8", "16"]),
              help="Of the output (default: the IR file's own, 16 for 16-bit frames).")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
def register(vis, ir, output, transform, mask, model, ir_range, vis_range, bit_depth, overwrite):
    """Register the infrared image IR onto the visible image VIS (any size ratio) and write the
    IR resampled onto the visible frame, ready for `tf-irgan fuse VIS OUTPUT`.

    Refuses, with the reason, pairs it cannot register with confidence (unrelated or flat
    images, too little overlap, a degenerate transform): it never writes a wrong warp silently.
    """
    from tf_irgan.errors import UserError
    from tf_irgan.files import check_not_inputs, check_outputs, write_text
    from tf_irgan.images import check_image_output, read_image, write_image
    from tf_irgan.ranges import parse_range
    from tf_irgan.registration import register as estimate, warp_onto

    outputs = [Path(p) for p in (output, transform, mask) if p]
    if len(set(outputs)) < len(outputs):
        raise UserError("-o, --transform and --mask name the same file; give each its own")
    check_not_inputs(outputs, [vis, ir])
    ir_path = Path(ir)
    own_depth = 16 if _is_16_bit(ir_path) else 8
    depth = int(bit_depth) if bit_depth else own_depth
    check_image_output(output, overwrite, depth)
    if mask:
        check_image_output(mask, overwrite, 8)
    if transform:
        if Path(transform).suffix.lower() != ".json":
            raise UserError(f"{transform}: the transform is written as JSON; name it *.json")
        check_outputs([transform], overwrite)
    notes = []
    vis_image = read_image(vis, parse_range(vis_range, "--vis-range"), notes, "visible")
    # Written at the file's own bit depth, the IR keeps its values (registration changes only
    # geometry); `auto` maps them only for another depth. Estimation normalises on its own.
    keep = ir_range == "auto" and depth == own_depth
    ir_values = read_image(ir_path, parse_range("full" if keep else ir_range, "--ir-range"),
                           [] if keep else notes, "IR")
    # Estimated on the IR as `auto` maps it: a raw 16-bit frame in a narrow band is stretched
    # first, as `fuse` reads it.
    ir_image = read_image(ir_path, parse_range(ir_range, "--ir-range"), notes if keep else [],
                          "IR")
    result = estimate(vis_image, ir_image, model=model, vis_name=str(vis), ir_name=str(ir))
    warped, inside = warp_onto(ir_values, result)
    write_image(output, warped, overwrite=overwrite, bit_depth=depth)
    if mask:
        write_image(mask, inside.astype(np.float32), overwrite=overwrite)
    if transform:
        write_text(transform, result.to_json(), overwrite=overwrite)
    for note in notes + [result.describe()]:
        click.echo(f"note: {note}", err=True)
    click.echo(f"wrote {output} (the IR on the visible frame, {result.vis_size[0]}x"
               f"{result.vis_size[1]})" + (f" and {transform}" if transform else ""))


def _is_16_bit(path: Path) -> bool:
    import cv2

    if not path.exists() or path.is_dir():
        return False  # read_image says what is wrong
    image = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    return image is not None and image.dtype == np.uint16

