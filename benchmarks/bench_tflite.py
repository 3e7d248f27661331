"""TensorFlow Lite: file size, latency and agreement with the SavedModel, per shipped preset.

    python benchmarks/bench_tflite.py [--presets ddcgan-ir-vis-x4,pix2pix-vis2ir]
        [--size 640x480] [--runs 5] [--threads 2] [--write]

For each preset: `tf-irgan export --format tflite` in float16 and in int8 (calibrated on 32
evenly spaced RoadScene pairs; the measurement is on TNO, never used there), TFLite's interpreter (XNNPACK, --threads) on TNO 10 at
--size against the SavedModel's `serving_default` (the CLI's pipeline) on the same input,
median of --runs after one warm-up, and the mean absolute difference of the outputs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fuse import (DEFAULT_DOC, command_line, import_tensorflow, machine,  # noqa: E402
                        markdown_table, median_seconds, publish)


def inputs_for(preset, size, data_root):
    """{role: (1, H, W, C) float32}: TNO 10 (visible, IR) brought to the input shapes."""
    import cv2
    import numpy as np

    from tf_irgan.export import _input_shape, parse_size
    from tf_irgan.images import read_image, to_gray
    from tf_irgan.pipelines import serving_graph

    height, width = parse_size(size)
    roles, _ = serving_graph(preset)
    vis = read_image(data_root / "tno" / "vi" / "10.png")
    ir = read_image(data_root / "tno" / "ir" / "10.png")
    if preset.task == "fusion":
        sources = [to_gray(vis), to_gray(ir)]
    else:
        source = vis if preset.metadata.get("direction", "vis2ir") == "vis2ir" else ir
        sources = [source]
    feeds = {}
    for (role, channels), image in zip(roles.items(), sources):
        shape = _input_shape(preset, role, height, width, channels)
        image = to_gray(image) if channels == 1 and image.ndim == 3 else image
        image = np.repeat(image[..., None], 3, -1) if channels == 3 and image.ndim == 2 else image
        resized = cv2.resize(image, (shape[2], shape[1]), interpolation=cv2.INTER_AREA)
        feeds[role] = resized.reshape(shape).astype(np.float32)
    return feeds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="ddcgan-ir-vis-x4,pix2pix-vis2ir")
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC)
    args = parser.parse_args(argv)

    tf = import_tensorflow()
    import numpy as np

    from tf_irgan.errors import UserError
    from tf_irgan.export import export_saved_model, export_tflite
    from tf_irgan.presets import load_preset
    from tf_irgan.report import default_data_root

    data_root = default_data_root()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for name in args.presets.split(","):
            preset = load_preset(name)
            feeds = inputs_for(preset, args.size, data_root)
            served = tf.saved_model.load(str(export_saved_model(name, folder / name)))
            signature = served.signatures["serving_default"]
            constants = {role: tf.constant(value) for role, value in feeds.items()}
            reference = next(iter(signature(**constants).values())).numpy()
            saved_seconds = median_seconds(lambda: signature(**constants), 1, args.runs)
            saved_mb = sum(p.stat().st_size for p in (folder / name).rglob("*") if p.is_file()) / 1e6
            rows.append([name, "SavedModel fp32", f"{saved_mb:.1f}", f"{saved_seconds:.3f}", "0"])
            for quantize in ("float16", "int8"):
                try:
                    path = export_tflite(name, folder / f"{name}-{quantize}.tflite", args.size, quantize,
                                         data_root / "roadscene" if quantize == "int8" else None)
                except UserError as err:  # int8 refused: it strays from the float model
                    rows.append([name, f"TFLite {quantize}", "-", "-", f"refused: {err}"])
                    continue
                interpreter = tf.lite.Interpreter(str(path), num_threads=args.threads)
                interpreter.allocate_tensors()
                for detail in interpreter.get_input_details():
                    role = detail["name"].split("serving_default_")[-1].split(":")[0]
                    interpreter.set_tensor(detail["index"], feeds[role])
                seconds = median_seconds(interpreter.invoke, 1, args.runs)
                output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
                difference = float(np.abs(output - reference).mean())
                rows.append([name, f"TFLite {quantize}", f"{path.stat().st_size / 1e6:.1f}",
                             f"{seconds:.3f}", f"{difference * 255:.2f}"])
    table = markdown_table(["preset", "format", "size (MB)", f"latency {args.size} (s)",
                            "mean abs. diff. vs SavedModel (/255)"], rows)
    notes = (f"{machine()}; TFLite interpreter with XNNPACK, {args.threads} threads; SavedModel "
             f"`serving_default` under TensorFlow's own threads; median of {args.runs} runs after "
             f"a warm-up; input: TNO 10 resized. int8: calibrated on 32 RoadScene pairs.\n"
             f"Command: `{command_line()}`\n")
    publish(table, notes, args.write, args.doc, "TensorFlow Lite")
    return 0


if __name__ == "__main__":
    sys.exit(main())
