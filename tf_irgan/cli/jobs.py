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

    for out in outputs:  # a folder named as an image: say so, not "already exists"
        if Path(out).is_dir():
            check_image_output(out, overwrite=True, bit_depth=bit_depth)
    if not overwrite:
        taken = [str(out) for out in outputs if Path(out).exists()]
        if taken:
            more = f" and {len(taken) - 1} more" if len(taken) > 1 else ""
            raise UserError(f"{taken[0]}{more}: already exists; pass --overwrite or choose another output")
    for out in outputs:
        check_image_output(out, overwrite=True, bit_depth=bit_depth)


def run_jobs(jobs: list, run, label: str) -> list:
    """`run(*job)` for every job; returns the results. `run` returns an object with `.notes`,
    which are echoed to stderr. Folder mode (several jobs) shows a progress bar on a terminal,
    and one line per image otherwise (a log file gets a record, not a bar's escape codes)."""
    def one(job):
        result = run(*job)
        for note in result.notes:
            click.echo(f"note: {note}", err=True)
        return result

    if len(jobs) == 1:
        return [one(jobs[0])]
    if not sys.stderr.isatty():
        results = []
        for number, job in enumerate(jobs, 1):
            results.append(one(job))
            click.echo(f"{label} {number}/{len(jobs)}: {Path(job[0]).name} -> {job[-1]}", err=True)
        return results
    with click.progressbar(jobs, label=label, file=sys.stderr,
                           item_show_func=lambda job: Path(job[0]).name if job else "") as bar:
        return [one(job) for job in bar]


MANIFEST = "manifest.csv"


def check_manifest(out_dir, overwrite: bool) -> Path:
    """The folder mode's record of what was done, refused like any other existing output."""
    from tf_irgan.files import check_outputs as check_files

    path = Path(out_dir) / MANIFEST
    check_files([path], overwrite)
    return path


def write_manifest(path: Path, header: list, rows: list) -> None:
    """A CSV file, written atomically; lists in a cell are joined with " | "."""
    import csv
    import io

    from tf_irgan.files import write_text

    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([" | ".join(c) if isinstance(c, list) else c for c in row])
    write_text(path, text.getvalue(), overwrite=True)


def summary_of(used: list) -> str:
    """"ddcgan-ir-vis x 3, ddcgan-ir-vis-x4 x 1": what served how many images."""
    from collections import Counter

    return ", ".join(f"{name} x {count}" for name, count in Counter(used).most_common())
