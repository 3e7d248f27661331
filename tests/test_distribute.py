"""Training on a cluster: TF_CONFIG checks, two worker processes on 127.0.0.1 (pix2pix and
DDcGAN) ending with the weights of a one-process run on the same global batch, resume of the
whole cluster, and a worker that never joins."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from tf_irgan.cli.main import cli
from tf_irgan.distribute import read_tf_config, resolve_kind, writes_outputs
from tf_irgan.errors import UserError

# A tiny pix2pix without dropout, whose random masks differ between one and two processes.
# Batch statistics synchronized over the replicas (pix2pix's sync-batch norm, DDcGAN's
# sync_batch_norm): per-replica statistics would differ from one process's. DDcGAN without its
# loss-threshold repeats: a loss within float noise of a threshold may repeat a step in one run
# and not in the other (test_training checks the repeats on two replicas).
PIX2PIX = {"depth": 3, "base_width": 8, "max_width": 16, "disc_width": 8, "dropout": 0.0,
           "norm": "sync-batch"}

_WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np
    from tf_irgan import training
    model, data, out, steps, resume, strategy, weights = sys.argv[1:8]
    extra = dict(model_options={"direction": "vis2ir"}, patch=32, overrides=json.loads(sys.argv[8])) \\
        if model == "pix2pix" else dict(patch=32, overrides={"sync_batch_norm": True, "max_repeats": 1})
    result = training.train(training.TrainOptions(
        data=data, out=out, model=model, steps=int(steps), resume=resume == "1", batch_size=4,
        strategy=strategy, checkpoint_every=1, log_every=1, cluster_timeout=120,
        command="worker", **extra), verbose=False)
    np.savez(weights, *[w.numpy() for w in result.model.generator.trainable_weights])
    print("WROTE", result.preset_dir)
""")


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _launch(args, tf_config=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process, timeout=600):
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == 0, err[-3000:]
    return out


def _train(model, data, out, steps, weights, workers=1, resume=False):
    """Train with `workers` processes (multiworker) or one (one-device); weights per worker."""
    base = [sys.executable, "-c", _WORKER, model, str(data), str(out), str(steps),
            "1" if resume else "0"]
    if workers == 1:
        _finish(_launch(base + ["one-device", str(weights[0]), json.dumps(PIX2PIX)]))
        return
    addresses = [f"127.0.0.1:{p}" for p in _free_ports(workers)]
    processes = [_launch(base + ["multiworker", str(weights[i]), json.dumps(PIX2PIX)],
                         {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": i}})
                 for i in range(workers)]
    outputs = [_finish(p) for p in processes]
    assert str(out / "model") in outputs[0] and "WROTE None" in outputs[1]  # only the chief writes


def _weights(path):
    with np.load(path) as arrays:
        return [arrays[k] for k in sorted(arrays.files, key=lambda k: int(k.split("_")[1]))]


@pytest.fixture(scope="module")
def data(tmp_path_factory, make_patch_file):
    """Four RoadScene pairs (pix2pix) and 16 patch pairs cut from them (DDcGAN)."""
    root = tmp_path_factory.mktemp("cluster_data")
    return {"pix2pix": root, "ddcgan": make_patch_file(root, 4, 16)}


@pytest.mark.slow  # worker processes or logical devices
@pytest.mark.parametrize("model", ["pix2pix", "ddcgan"])
def test_two_workers_equal_one_process_and_resume_as_a_cluster(model, data, tmp_path):
    one = tmp_path / "one.npz"
    _train(model, data[model], tmp_path / "single", 3, [one])
    pair = [tmp_path / "w0.npz", tmp_path / "w1.npz"]
    _train(model, data[model], tmp_path / "cluster", 2, pair, workers=2)
    run = json.loads((tmp_path / "cluster" / "run.json").read_text())
    assert sorted(p.name for p in (tmp_path / "cluster" / "checkpoints").glob("ckpt-*.h5")) == \
        ["ckpt-1.h5", "ckpt-2.h5"]
    _train(model, data[model], tmp_path / "cluster", 3, pair, workers=2, resume=True)
    assert len(json.loads((tmp_path / "cluster" / "run.json").read_text())["commands"]) == 2
    assert run["options"]["strategy"] == "multiworker"
    first, second, single = _weights(pair[0]), _weights(pair[1]), _weights(one)
    assert len(first) == len(single) > 0
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)            # the workers agree exactly
    # ... and match one process on the same global batches, up to the order of the gradient
    # sums. RMSProp's first steps move a weight by ~3x the learning rate whatever its
    # gradient's size, so DDcGAN's weights with near-zero gradients may flip by ~1e-4; a wrong
    # split of the batch, doubled gradients or another schedule would move most weights.
    difference = np.concatenate([np.abs(a - c).ravel() for a, c in zip(first, single)])
    stray = np.mean(difference > 2e-5)
    assert stray < 0.01 and difference.max() < (2e-5 if model == "pix2pix" else 2e-3), \
        (stray, difference.max())


@pytest.mark.slow  # worker processes or logical devices
def test_a_worker_that_never_joins_ends_with_one_line(data, tmp_path):
    addresses = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    process = _launch([sys.executable, "-c", "from tf_irgan.cli.main import cli; cli()", "train", "--model", "pix2pix",
                       "--data", str(data["pix2pix"]), "--out", str(tmp_path / "run"), "--patch", "32",
                       "--set", "depth=3",
                       "--strategy", "multiworker", "--cluster-timeout", "5", "--steps", "1"],
                      {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": 0}})
    out, err = process.communicate(timeout=300)
    # The runtime cannot be interrupted while it waits: the watchdog ends it (SIGKILL).
    assert process.returncode == -signal.SIGKILL, err[-2000:]
    lines = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and addresses[1] in lines[0] and "did not join within 5 s" in lines[0]
    assert "Traceback" not in err and not (tmp_path / "run").exists()


@pytest.mark.parametrize("tf_config,fragment", [
    ("{not json", "not valid JSON"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}}', 'no "task"'),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', "out of range"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}', 'task type "ps"'),
    ('{"cluster": {"worker": ["a"]}, "task": {"type": "worker", "index": 0}}', '"host:port"'),
    ('{"task": {"type": "worker", "index": 0}}', 'no "cluster"'),
])
def test_malformed_tf_config_is_a_one_line_error(tf_config, fragment, monkeypatch, tmp_path, data):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(UserError, match="TF_CONFIG"):
        read_tf_config()
    result = CliRunner().invoke(cli, ["train", "--model", "pix2pix", "--data", str(data["pix2pix"]),
                                      "--out", str(tmp_path / "run"), "--strategy", "multiworker"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: TF_CONFIG") and fragment in lines[0]
    assert not (tmp_path / "run").exists()


def test_strategy_resolution_and_the_chief(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert resolve_kind("auto") == ("auto", None)
    with pytest.raises(UserError, match="TF_CONFIG is not set"):
        resolve_kind("multiworker")
    cluster = {"worker": ["h:1", "h:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    kind, config = resolve_kind("auto")
    assert kind == "multiworker" and not writes_outputs(config)
    assert writes_outputs({"cluster": cluster, "task": {"type": "worker", "index": 0}})
    with_chief = {"chief": ["c:1"], "worker": ["h:1"]}
    assert not writes_outputs({"cluster": with_chief, "task": {"type": "worker", "index": 0}})
    assert writes_outputs({"cluster": with_chief, "task": {"type": "chief", "index": 0}})
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["h:1"]},
                                                "task": {"type": "worker", "index": 0}}))
    assert resolve_kind("auto")[0] == "auto"  # a one-task cluster is just this machine


@pytest.mark.slow  # worker processes or logical devices
@pytest.mark.parametrize("model", ["pix2pix", "ddcgan"])
def test_xla_compiled_steps_on_cpu_match_the_plain_steps(model, data, tmp_path):
    """`--jit on` on one CPU: the compiled steps train to the weights the plain ones give."""
    from tf_irgan.training import TrainOptions, train

    settings = dict(model_options={"direction": "vis2ir"}, overrides=PIX2PIX) if model == "pix2pix" \
        else dict(overrides={"max_repeats": 1})
    weights = {}
    for jit in ("on", "off"):
        result = train(TrainOptions(data=str(data[model]), out=str(tmp_path / jit), model=model,
                                    steps=2, batch_size=4, patch=32, jit=jit, seed=3,
                                    strategy="one-device", command=jit, **settings), verbose=False)
        assert result.jit == (jit == "on")
        weights[jit] = [w.numpy() for w in result.model.generator.trainable_weights]
    difference = np.concatenate([np.abs(a - b).ravel() for a, b in zip(weights["on"], weights["off"])])
    assert np.mean(difference > 2e-5) < 0.01 and difference.max() < 2e-3, \
        (np.mean(difference > 2e-5), difference.max())
