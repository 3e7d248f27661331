"""Run by tests in a subprocess with KERAS_BACKEND=jax or torch (a process has one Keras
backend): `python backend_worker.py TASK ARGS_JSON OUT_DIR`; writes OUT_DIR/result.json and
arrays. `run_worker` starts it; `BACKENDS` are the other backends the suite runs."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BACKENDS = ["jax", pytest.param("torch", marks=pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="the torch extra is not installed"))]


def run_worker(backend, task, args, out, devices=1, timeout=900):
    """Run TASK in a subprocess on `backend`; its result.json, or None."""
    env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu")
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, __file__, task, json.dumps(args), str(out)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = out / "result.json"
    return json.loads(result.read_text()) if result.is_file() else None


def fidelity(args, out):
    """The `official` config against the released code's golden numbers (fidelity_check)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import fidelity_check
    failures = fidelity_check.check(args["path"], args["parts"])
    (out / "result.json").write_text(json.dumps({"failures": failures}))


def _generator_weights(result):
    return [np.asarray(w.numpy()) for w in result.model.generator.weights]


def ops_numbers(args, out):
    """DDcGAN's psi pooling, gradient filter and bilinear upsampling on fixed inputs."""
    from tf_irgan import losses
    images = np.load(args["images"])
    from keras import ops
    images = ops.convert_to_tensor(images)
    values = {"psi4": losses.downsample(images, 4), "psi2": losses.downsample(images, 2),
              "gradient": losses.gradient(images), "up4": losses.upsample_bilinear(images, 4)}
    np.savez(out / "ops.npz", **{k: ops.convert_to_numpy(v) for k, v in values.items()})


def train_and_resume(args, out):
    """Per model: N batches in one go; N-2 then --resume to N; the preset's output on a fixed
    input; the backend's name, history.csv's batches."""
    from tf_irgan.training import TrainOptions, train

    report = {}
    for model, settings in args["models"].items():
        def options(name, steps, resume=False):
            return TrainOptions(data=settings["data"], out=str(out / f"{model}-{name}"), model=model,
                                steps=steps, resume=resume, checkpoint_every=1, log_every=1,
                                command=f"jax {name}", **settings["options"])
        steps = args["steps"]
        full = train(options("full", steps), verbose=False)
        train(options("resumed", steps - 2), verbose=False)
        resumed = train(options("resumed", steps, resume=True), verbose=False)
        whole, again = _generator_weights(full), _generator_weights(resumed)
        inputs = {k: np.load(v) for k, v in settings["inputs"].items()}
        fed = inputs if model == "ddcgan" else inputs["image"]
        from keras import ops
        output = full.model.generator(fed, training=False)
        np.save(out / f"{model}-output.npy", ops.convert_to_numpy(output))
        report[model] = {
            "backend": full.backend, "batches": [full.batches, resumed.batches],
            "identical": all(np.array_equal(a, b) for a, b in zip(whole, again)),
            "moved": sum(not np.array_equal(a, b) for a, b in
                         zip(_generator_weights(train(options("two", 2), verbose=False)), whole)),
            "preset": str(full.preset_dir), "losses": full.losses, "step_counts": full.step_counts}
    (out / "result.json").write_text(json.dumps(report))


def data_parallel(args, out):
    """The same run on one device and data-parallel on all (XLA_FLAGS gives two CPU devices)."""
    import jax
    from tf_irgan.training import TrainOptions, train

    report = {"devices": len(jax.devices())}
    for strategy in ("one-device", "auto"):
        result = train(TrainOptions(data=args["data"], out=str(out / strategy), model=args["model"],
                                    steps=args["steps"], checkpoint_every=100, command=strategy,
                                    strategy=strategy, **args["options"]), verbose=False)
        np.savez(out / f"{strategy}.npz", *[w.numpy() for w in result.model.generator.weights])
    (out / "result.json").write_text(json.dumps(report))


if __name__ == "__main__":
    # As on a GPU machine that has JAX but no TensorFlow: any import of it fails.
    sys.modules["tensorflow"] = None
    task, arguments, folder = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3])
    {"ops": ops_numbers, "train": train_and_resume, "parallel": data_parallel,
     "fidelity": fidelity}[task](arguments, folder)
