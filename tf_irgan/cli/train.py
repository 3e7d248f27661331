"""`tf-irgan prepare` and `tf-irgan train`."""

import functools
import os
import sys

import click

from tf_irgan.cli.options import OldNames, range_option
from tf_irgan.distribute import STRATEGIES
from tf_irgan.models import names as model_names


@click.command()
@click.option("--vis-dir", required=True, type=click.Path(), help="Folder of visible images.")
@click.option("--ir-dir", required=True, type=click.Path(), help="Folder of IR images (same names).")
@click.option("-o", "--output", required=True, type=click.Path(), help="HDF5 file to write.")
@click.option("--patch", default=84, show_default=True, help="Visible patch size in pixels.")
@click.option("--stride", default=14, show_default=True, help="Step between patches.")
@click.option("--scale", default=4, show_default=True, help="IR patches are patch/scale pixels.")
@click.option("--holdout-every", default=0, show_default=True,
              help="Leave every K-th pair (by name) out, for evaluation; 0 keeps all.")
@click.option("--color-space", type=click.Choice(["ycbcr", "ihs"]),
              help="How color images become the channel a model fuses: BT.601 luma (IR/visible), "
                   "or the IHS intensity (MRI/PET: pass MRI as --vis-dir, PET as --ir-dir). "
                   "Default: ihs when the folders are named MRI and PET, else ycbcr.")
@range_option("ir", "IR (or PET)")
@range_option("vis", "visible (or MRI)")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def prepare(vis_dir, ir_dir, output, patch, stride, scale, holdout_every, color_space, ir_range,
            vis_range, overwrite):
    """Cut registered image pairs into training patches (HDF5)."""
    from tf_irgan.data.patches import patches_from_folders, write_patches
    from tf_irgan.errors import UserError
    from tf_irgan.data.patches import check_scale

    check_scale(scale)
    if color_space is None:
        from tf_irgan.modalities import get_modality, modality_of_folder
        medical = modality_of_folder(ir_dir)
        color_space = get_modality(medical or "ir-vis").color_space
        if medical:
            kind = get_modality(medical)
            click.echo(f"note: {ir_dir}: {kind.labels[1]} images, fused on their "
                       f"{color_space.upper()} intensity ({kind.labels[0]}/{kind.labels[1]} fusion); "
                       "pass --color-space ycbcr for BT.601 luma", err=True)
    if os.path.exists(output) and not overwrite:
        raise UserError(f"{output}: already exists; pass --overwrite or choose another name")
    from tf_irgan.ranges import parse_range

    ranges = {"ir": parse_range(ir_range, "--ir-range"), "vis": parse_range(vis_range, "--vis-range")}
    notes = []
    patches = patches_from_folders(vis_dir, ir_dir, patch, stride, scale, holdout_every,
                                   progress=_progress("cutting patches"), color_space=color_space,
                                   ranges=ranges, notes=notes)
    if notes:  # one line for the lot: a folder of raw frames would print one per frame
        click.echo(f"note: {len(notes)} frame(s) mapped by --ir-range/--vis-range auto, e.g. "
                   f"{notes[0]}", err=True)
    write_patches(output, patches, overwrite=overwrite)
    held = patches.attrs["held_out"]
    click.echo(f"wrote {len(patches)} patch pairs ({patch}px visible, {patch // scale}px IR) to {output}"
               + (f"; held out: {held}" if held != "[]" else ""))


def parse_settings(settings) -> dict | None:
    """`--set name=value` pairs; values read as JSON where they parse (numbers, true, null)."""
    import json

    from tf_irgan.errors import UserError

    overrides = {}
    for item in settings:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--set {item}: expected FIELD=VALUE, e.g. --set l1_weight=200")
        try:
            overrides[name.strip()] = json.loads(text)
        except json.JSONDecodeError:
            overrides[name.strip()] = text
    return overrides or None


def _progress(label):
    def wrap(items):
        with click.progressbar(items, label=label, file=sys.stderr) as bar:
            yield from bar
    return wrap


class TrainCommand(click.Command):
    """`train` with the options every registered model declares (`GAN.options`), read from the
    models only when `train` runs or shows its help (importing them loads Keras)."""

    def get_params(self, ctx):
        return super().get_params(ctx) + [option for _, option in model_options()]


def model_options() -> list:
    """(model name, click.Option) for every registered model's own options."""
    return _load_model_options(tuple(model_names()))


@functools.lru_cache(maxsize=None)
def _load_model_options(names: tuple) -> list:
    from tf_irgan.cli.runtime import import_tensorflow_quietly, training_backend

    if training_backend() == "tensorflow":
        import_tensorflow_quietly(inference=False)
    from tf_irgan import models
    found, seen = [], {}
    for name in names:
        for option in models.get(name).options():
            if option.name in seen:
                raise click.UsageError(f"models {seen[option.name]} and {name} both declare "
                                       f"--{option.name}; rename one")
            seen[option.name] = name
            found.append((name, option))
    return found


@click.command(cls=TrainCommand)
@click.option("--model", type=click.Choice(model_names()), default="ddcgan", show_default=True)
@click.option("--data", required=True, type=click.Path(),
              help="ddcgan: HDF5 patches from `prepare` or a folder with vi/ and ir/ (or MRI/ "
                   "and PET/: MRI/PET fusion, the PET's IHS intensity); "
                   "pix2pix: a folder with vi/ and ir/ (registered pairs, same names).")
@click.option("--out", required=True, type=click.Path(), help="Run folder (checkpoints, logs, model/).")
@click.option("--config", "--preset", "config", cls=OldNames, help="Named hyper-parameter config "
              "of the model (ddcgan: official, paper, residual, fast, salient, pyramid; default official. "
              "pix2pix: canonical, paper, compact; default canonical).")
@click.option("--epochs", type=float, help="Epochs to train (default 1).")
@click.option("--steps", type=int, help="Batches to train in total (instead of --epochs).")
@click.option("--batch-size", type=int, help="Global batch (config's otherwise: 24 for ddcgan).")
@click.option("--lr", "learning_rate", type=float, help="Initial learning rate (config's otherwise).")
@click.option("--patch", type=int, help="ddcgan: visible patch size (config: 84; an HDF5 file's "
              "patches must have it). pix2pix: crop size (config: 256).")
@click.option("--stride", default=14, show_default=True, help="Patch stride when --data is a folder.")
@click.option("--holdout-every", default=0, show_default=True,
              help="With a folder: leave every K-th pair out of training.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--strategy", type=click.Choice(STRATEGIES),
              default="auto", show_default=True,
              help="Where to train: auto = several machines when TF_CONFIG names them, else all "
                   "GPUs of this one, else one device (docs/distributed.md).")
@click.option("--cluster-timeout", type=click.FloatRange(min=1), default=300, show_default=True,
              help="multiworker: seconds to wait for every worker of TF_CONFIG to join.")
@click.option("--jit", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
              help="XLA-compile the steps (auto: on with GPUs).")
@click.option("--mixed-precision", type=click.Choice(["off", "bf16", "fp16"]), default="off",
              show_default=True)
@click.option("--checkpoint-every", default=100, show_default=True, help="Batches between checkpoints.")
@click.option("--log-every", default=10, show_default=True,
              help="Batches between TensorBoard scalars (and progress lines in a redirected log).")
@click.option("--seed", default=0, show_default=True)
@click.option("--deterministic", is_flag=True,
              help="Deterministic TensorFlow kernels: slower, but a rerun gives identical weights.")
@click.option("--set", "settings", multiple=True, metavar="FIELD=VALUE",
              help="Change one field of the config, e.g. --set l1_weight=200 (repeatable; fields: "
                   "the model's config.json in a preset).")
@click.option("--init", help="Start from the generator of this preset (shipped name or folder): "
              "fine-tune it on --data.")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), metavar="MINUTES",
              help="Stop at a checkpoint (and write the preset) before this many minutes have "
                   "passed; --resume continues. For shared clusters and fixed GPU budgets.")
@click.option("--quiet", is_flag=True, help="No progress output.")
def train(model, data, out, config, epochs, steps, batch_size, learning_rate, patch, stride,
          holdout_every, resume, strategy, cluster_timeout, jit, mixed_precision, checkpoint_every, log_every, seed,
          deterministic, settings, init, time_limit, quiet, **own):
    """Train a model; --resume continues exactly where the last checkpoint left off.

    Runs on the Keras backend of KERAS_BACKEND: tensorflow (default), jax or torch."""
    from tf_irgan.cli.runtime import import_tensorflow_quietly
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
        import_tensorflow_quietly(inference=False)
    from tf_irgan.training import TrainOptions, train as run_training

    from tf_irgan.errors import UserError

    ctx = click.get_current_context()
    mine = {}
    for owner, option in model_options():
        typed = ctx.get_parameter_source(option.name) == click.core.ParameterSource.COMMANDLINE
        if owner == model:
            mine[option.name] = own[option.name]
        elif typed:
            raise UserError(f"--{option.name.replace('_', '-')} is an option of --model {owner}, "
                            f"not of {model}; drop it or pass --model {owner}")
    options = TrainOptions(data=data, out=out, model=model, config=config, model_options=mine,
                           epochs=epochs, steps=steps, batch_size=batch_size,
                           learning_rate=learning_rate, patch=patch, stride=stride,
                           holdout_every=holdout_every, resume=resume, strategy=strategy,
                           cluster_timeout=cluster_timeout, jit=jit,
                           mixed_precision=mixed_precision, checkpoint_every=checkpoint_every,
                           log_every=log_every, seed=seed, deterministic=deterministic,
                           overrides=parse_settings(settings), init=init, time_limit=time_limit)
    result = run_training(options, verbose=not quiet)
    if result.preset_dir is None:
        click.echo(f"done: {result.batches} batches on this worker; the chief wrote the run")
        return
    use = "translate" if result.task == "translation" else "fuse"
    if result.time_limit_reached:
        click.echo(f"time limit reached: {result.batches} batches; continue with --resume", err=True)
    click.echo(f"done: {result.batches} batches; model preset in {result.preset_dir} "
               f"(use it with `tf-irgan {use} --preset {result.preset_dir}`)")
