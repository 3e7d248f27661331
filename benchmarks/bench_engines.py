"""Which engine runs the default fusion generator fastest on this CPU (issue 31: video).

    python benchmarks/bench_engines.py [--preset ddcgan-ir-vis] [--sizes 640x480 1280x1024] [--write]

The preset's network alone (the model's two gray inputs at one size, its output), on random
images, in one process, the engines taking turns so that load on the machine falls on all of
them alike:

- TensorFlow: the Keras model in a `tf.function`, fp32 and bf16;
- for a `pyramid` generator, what `fuse` runs: its fixed filters in OpenCV and its selectors in
  one TensorFlow graph (`tf_irgan.models.pyramid_opencv`), fp32 and bf16;
- XLA: the same function with `jit_compile=True`, fp32;
- TFLite: `tf-irgan export --format tflite` (float16 weights), TensorFlow's interpreter with
  the XNNPACK delegate, 2 threads (the pipeline's alignment is in that graph too: a few ops);
- ONNX Runtime: `tf-irgan export --format onnx` (the serving graph), CPU provider, 2 threads.

Median of `--runs` calls after two warm-ups; the ratio to TensorFlow fp32 carries to other
machines better than the times.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from records import DOC, publish

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def engines(preset_name: str, height: int, width: int, folder: Path) -> dict:
    """name -> a function of (vis, ir) numpy arrays (1, H, W, 1) running the network."""
    import tensorflow as tf

    from tf_irgan.export import export_onnx, export_tflite
    from tf_irgan.presets import load_preset

    out = {}
    for precision in ("fp32", "bf16"):
        model = load_preset(preset_name, precision).model
        graph = tf.function(lambda batch, model=model: tf.cast(model(batch, training=False), tf.float32))
        out[f"TensorFlow {precision}"] = (lambda graph: lambda vis, ir: graph(
            {"detail": tf.constant(vis), "intensity": tf.constant(ir)}).numpy())(graph)
        # What `fuse` runs for a `pyramid` generator: the fixed filters in OpenCV, the selectors
        # in one TensorFlow graph (`tf_irgan.models.pyramid_opencv`).
        from tf_irgan.models.pyramid import PyramidGenerator
        if isinstance(model, PyramidGenerator):
            from tf_irgan.models.pyramid_opencv import OpenCVPyramid
            engine = OpenCVPyramid(model)
            out[f"OpenCV filters + TensorFlow selectors {precision}"] = (
                lambda engine: lambda vis, ir: engine(vis[0, :, :, 0], ir[0, :, :, 0]))(engine)
        if precision == "fp32":
            xla = tf.function(lambda batch, model=model: model(batch, training=False), jit_compile=True)
            out["XLA fp32"] = lambda vis, ir: xla({"detail": tf.constant(vis), "intensity": tf.constant(ir)}).numpy()
    lite = export_tflite(preset_name, folder / "m.tflite", f"{width}x{height}")
    interpreter = tf.lite.Interpreter(model_path=str(lite), num_threads=2)
    interpreter.allocate_tensors()
    inputs = {d["name"]: d["index"] for d in interpreter.get_input_details()}
    output = interpreter.get_output_details()[0]["index"]

    def tflite(vis, ir):
        for name, index in inputs.items():
            interpreter.set_tensor(index, vis if "vis" in name else ir)
        interpreter.invoke()
        return interpreter.get_tensor(output)
    out["TFLite fp16 (XNNPACK)"] = tflite
    try:
        import onnxruntime
    except ImportError:
        return out
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    session = onnxruntime.InferenceSession(str(export_onnx(preset_name, folder / "m.onnx")), options,
                                           providers=["CPUExecutionProvider"])
    out["ONNX Runtime fp32"] = lambda vis, ir: session.run(None, {"vis": vis, "ir": ir})[0]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="ddcgan-ir-vis")
    parser.add_argument("--sizes", nargs="+", default=["640x480", "1280x1024"])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--write", action="store_true", help=f"Append the table to {DOC}.")
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        width, height = (int(v) for v in size.split("x"))
        rng = np.random.default_rng(0)
        vis = rng.random((1, height, width, 1), np.float32)
        ir = rng.random((1, height, width, 1), np.float32)
        with tempfile.TemporaryDirectory() as tmp:
            runners = engines(args.preset, height, width, Path(tmp))
            times = {name: [] for name in runners}
            for name, run in runners.items():
                for _ in range(2):
                    run(vis, ir)
            for _ in range(args.runs):
                for name, run in runners.items():
                    began = time.perf_counter()
                    run(vis, ir)
                    times[name].append(time.perf_counter() - began)
        base = np.median(times["TensorFlow fp32"])
        for name, values in times.items():
            median = float(np.median(values))
            rows.append(f"| {size} | {name} | {median * 1000:.1f} | {median / base:.2f} |")
            print(rows[-1], flush=True)
    publish("Engines for the fusion generator",
            f"Command: `python benchmarks/bench_engines.py --preset {args.preset} "
            f"--sizes {' '.join(args.sizes)}`; "
            f"`{args.preset}`'s network on random images, median of {args.runs} calls, the "
            "engines taking turns in one process.",
            ["| size | engine | ms | vs TensorFlow fp32 |", "|---|---|---:|---:|", *rows], args.write)

if __name__ == "__main__":
    main()
