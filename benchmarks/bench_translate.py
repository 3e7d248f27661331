"""pix2pix speed: translate latency for one image and training steps per second.

    python benchmarks/bench_translate.py [--config compact] [--preset NAME] [--write]

Translate: `tf_irgan.pipelines.translation.translate_image` on a --width x --height RGB image
(TNO 10's visible image resized, as color) with --preset, or, without it, with an untrained
generator of --config (speed does not depend on the weights). Training: `Pix2Pix.train_step`
compiled with tf.function, as the training loop runs it on one device, on random crops of the
config's size, at each --batches and --precisions.

GFLOP/s count the generator only: 2 * macs_per_pixel * pixels per forward pass; a training step
counts four generator passes (the D step's forward, the G step's forward and a backward of
twice a forward). The discriminator's work is extra, uncounted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fuse import (DEFAULT_DOC, command_line, import_tensorflow, machine,  # noqa: E402
                        markdown_table, median_seconds, peak_rss_mib, publish)

PRECISIONS = {"fp32": "off", "bf16": "bf16"}


def bench_translate(args):
    import numpy as np

    from tf_irgan.images import read_image, to_gray
    from tf_irgan.pipelines import translation
    from tf_irgan.report import default_data_root

    import cv2
    gray = to_gray(read_image(default_data_root() / "tno" / "vi" / "10.png"))
    gray = cv2.resize(gray, (args.width, args.height), interpolation=cv2.INTER_AREA)
    image = np.clip(np.stack([gray * 0.9, gray, gray * 1.1], -1), 0, 1).astype(np.float32)
    if args.preset:
        from tf_irgan.presets import load_preset
        preset = load_preset(args.preset)
        generator, name = preset.model, preset.name

        def run():
            translation.translate_image(image, preset=args.preset)
    else:
        import tensorflow as tf

        from tf_irgan.models.pix2pix import Pix2Pix
        config = Pix2Pix.config(args.config, "vis2ir")
        generator = Pix2Pix(config).generator
        name = f"untrained {args.config}"

        def run():
            translation.translate_tensor(generator, tf.constant(image[None])).numpy()
    seconds = median_seconds(run, args.warmup, args.runs)
    gflops = 2 * generator.macs_per_pixel() * args.width * args.height / seconds / 1e9
    return [name, f"{args.width}x{args.height}", f"{seconds:.3f}", f"{gflops:.1f}"], generator


def bench_training(args, precision: str, batch: int):
    import tensorflow as tf

    from tf_irgan.models.pix2pix import Pix2Pix
    from tf_irgan.training import precision as policy

    with policy(PRECISIONS[precision]):
        config = Pix2Pix.config(args.config, "vis2ir", batch_size=batch)
        model = Pix2Pix(config)
        model.compile(**model.make_optimizers(PRECISIONS[precision]))
        c = config.crop
        data = {"image": tf.random.uniform((batch, c, c, 3)), "target": tf.random.uniform((batch, c, c, 1))}
        step = tf.function(model.train_step)
        seconds = median_seconds(lambda: float(step(data)["g_loss"]), args.warmup + 1, args.runs)
    flops = 4 * 2 * model.generator.macs_per_pixel() * c * c * batch
    return [precision, str(batch), f"{c}x{c}", f"{seconds:.3f}", f"{1 / seconds:.2f}",
            f"{flops / seconds / 1e9:.1f}"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="compact", choices=["canonical", "paper", "compact"])
    parser.add_argument("--preset", help="time translate with this preset (default: an untrained "
                                         "generator of --config)")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, help="TensorFlow intra-op threads (default: all cores)")
    parser.add_argument("--write", action="store_true", help="append the tables to docs/benchmarks.md")
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC)
    args = parser.parse_args(argv)
    import_tensorflow(args.threads)

    row, generator = bench_translate(args)
    notes = (f"Machine: {machine()}.\n\nCommand: `{command_line()}`; {generator.macs_per_pixel() / 1e3:.0f} k "
             f"multiply-adds per pixel; median of {args.runs} calls after {args.warmup} warm-up; "
             f"peak RSS {peak_rss_mib():.0f} MiB.\n")
    publish(markdown_table(["generator", "image", "median s", "GFLOP/s"], [row]), notes, args.write,
            args.doc, "Translation (inference)")
    rows = [bench_training(args, precision, int(batch))
            for precision in args.precisions.split(",") for batch in args.batches.split(",")]
    notes = (f"Command: `{command_line()}`; config {args.config}; one device, tf.function, no XLA; "
             "GFLOP/s count four generator passes per step (the discriminator is extra).\n")
    publish(markdown_table(["precision", "batch", "crop", "s/step", "steps/s", "GFLOP/s"], rows),
            notes, args.write, args.doc, f"Translation training steps, {args.config}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
