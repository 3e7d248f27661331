"""`tf-irgan report`: regenerate docs/results.md; the work is in tf_irgan.report."""

import shlex
from pathlib import Path

import click
from click.core import ParameterSource


def _command_line(ctx: click.Context) -> str:
    """The options the user actually typed, as a command to copy (defaults left out)."""
    words = ["tf-irgan", "report"]
    for param in ctx.command.params:
        if ctx.get_parameter_source(param.name) != ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[param.name]
        flag = max(param.opts, key=len)
        if getattr(param, "is_flag", False):
            words += [flag] if value else []
        else:
            words += [flag, str(value)]
    return shlex.join(words)


def _csv(text):
    return [item.strip() for item in text.split(",") if item.strip()] if text else None


@click.command()
@click.option("--data-root", type=click.Path(path_type=Path, file_okay=False),
              help="Folder holding tno/, roadscene/, mri_pet42/ (default: $TF_IRGAN_SHARED_DATA, "
                   "else shared/data beside the repository).")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False),
              default="docs/results.md", show_default=True,
              help="Markdown report; results.json and figures/ are written beside it.")
@click.option("--work-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Keep the fused images here (<set>/<method>/<pair>.png, replaced on each run); "
                   "default: a temporary folder, removed afterwards.")
@click.option("--limit", type=click.IntRange(min=1), help="Score only the first N pairs of each set.")
@click.option("--methods", help="Comma-separated subset of preset names and average,max,laplacian "
                                "(default: every preset and baseline).")
@click.option("--no-presets", is_flag=True, help="Baselines only (no TensorFlow needed).")
@click.option("--no-checkpoints", is_flag=True, hidden=True)  # the old name of --no-presets
@click.option("--sets", default="tno,roadscene,medical,pet,spect,ct,translation", show_default=True,
              help="Comma-separated subset of the test sets.")
@click.option("--overwrite", is_flag=True, help="Replace an existing report and its figures.")
def report(data_root, output, work_dir, limit, methods, no_presets, no_checkpoints, sets, overwrite):
    """Score the shipped presets and the baselines on TNO-25, held-out RoadScene pairs and
    MRI-PET-42 (when a medical preset exists); write results.md, results.json and figures."""
    from tf_irgan.report import ReportOptions, generate_report

    options = ReportOptions(data_root=data_root, output=output, work_dir=work_dir, limit=limit,
                            methods=_csv(methods), presets=not (no_presets or no_checkpoints),
                            sets=tuple(_csv(sets) or ()), overwrite=overwrite,
                            command=_command_line(click.get_current_context()))
    if options.presets:
        from tf_irgan.presets import list_presets
        if list_presets():
            from tf_irgan.cli.runtime import import_tensorflow_quietly
            import_tensorflow_quietly()
    result = generate_report(options, log=lambda message: click.echo(message, err=True))
    from tf_irgan.report import OutputFiles
    files = OutputFiles.beside(output)
    done = [key for key, entry in result["sets"].items() if "skipped" not in entry]
    click.echo(f"wrote {files.markdown}, {files.json} and figures in {files.figures} "
               f"({', '.join(done) or 'no set'} scored)")
