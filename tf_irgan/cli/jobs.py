"""What `fuse` and `translate` share: the generator's precision, checking every output before
any work, and running the jobs with notes on stderr and a progress bar in folder mode."""

import sys
from pathlib import Path

import click

from tf_irgan.presets import PRECISIONS

precision_option = click.option(
    "--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
    help="The generator's arithmetic: auto = bf16 where the hardware computes it (AVX-512 BF16 "
         "or AMX CPUs, NVIDIA GPUs from Ampere on), else fp32.")


def check_outputs(outputs: list, overwrite: bool, bit_depth: int) -> None:
    """Refuse existing outputs (all named at once), unknown formats and impossible bit depths."""
    from tf_irgan.errors import UserError
    from tf_irgan.images import check_image_output

    if not overwrite:
        taken = [str(out) for out in outputs if Path(out).exists()]
        if taken:
            more = f" and {len(taken) - 1} more" if len(taken) > 1 else ""
            raise UserError(f"{taken[0]}{more}: already exists; pass --overwrite or choose another output")
    for out in outputs:
        check_image_output(out, overwrite=True, bit_depth=bit_depth)


def run_jobs(jobs: list, run, label: str):
    """`run(*job)` for every job; returns the last result. `run` returns an object with
    `.notes`, which are echoed to stderr. Folder mode (several jobs) shows a progress bar."""
    def one(job):
        result = run(*job)
        for note in result.notes:
            click.echo(f"note: {note}", err=True)
        return result

    if len(jobs) == 1:
        return one(jobs[0])
    result = None
    with click.progressbar(jobs, label=label, file=sys.stderr,
                           item_show_func=lambda job: Path(job[0]).name if job else "") as bar:
        for job in bar:
            result = one(job)
    return result
