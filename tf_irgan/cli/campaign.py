"""`tf-irgan campaign`: the paper-scale runs in one command (tf_irgan.campaign)."""

import click


@click.command()
@click.option("--ir-vis", type=click.Path(), help="Folder of registered IR/visible pairs (vi/ and ir/).")
@click.option("--mri-pet", type=click.Path(), help="Folder of MRI/PET pairs (MRI/ and PET/).")
@click.option("--out", required=True, type=click.Path(), help="Output folder (data/, runs/, presets/).")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="Training time of the whole campaign, shared between the runs.")
@click.option("--only", multiple=True, metavar="NAME", help="Run only this run (repeatable).")
@click.option("--archive", is_flag=True, help="Also pack each preset into OUT/NAME.tar.gz.")
@click.option("--dry-run", is_flag=True,
              help="Two batches per run on coarse patches: prove the command on a CPU first.")
def campaign(ir_vis, mri_pet, out, minutes, only, archive, dry_run):
    """Prepare the data and train every paper-scale run, each within its time budget.

    Runs on the Keras backend of KERAS_BACKEND (jax on a GPU machine without TensorFlow)."""
    from tf_irgan.campaign import run_campaign

    record = run_campaign(ir_vis, mri_pet, out, minutes, dry_run, only, archive,
                          echo=lambda line: click.echo(line, err=True))
    failed = [run["name"] for run in record["runs"] if run["status"] != 0]
    click.echo(f"campaign: {len(record['runs']) - len(failed)} of {len(record['runs'])} steps done; "
               f"presets in {out}/presets" + (f"; failed: {', '.join(failed)}" if failed else ""))
    if failed:
        raise SystemExit(1)
