"""Where a training run executes: one device, several GPUs of one machine, or several machines.

- `one-device`: TensorFlow's default strategy (the first GPU, else the CPU).
- `mirrored`: `MirroredStrategy` over the machine's GPUs (or the given devices).
- `multiworker`: `MultiWorkerMirroredStrategy`, the cluster read from `TF_CONFIG` (the same
  `cluster` on every machine, each with its own `task`); docs/distributed.md.
- `auto` (default): multiworker when `TF_CONFIG` names more than one task, else mirrored over
  several GPUs, else one device (a one-device MirroredStrategy costs ~1.8x per step on CPU,
  docs/benchmarks.md).

Keras 3 `fit` is broken under MultiWorkerMirroredStrategy (keras-team/keras#20585); the
project's own loop (`tf_irgan.training`) drives the same compiled sub-steps on every strategy
(`tf_irgan.backends.tensorflow`).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys

from tf_irgan.errors import UserError

STRATEGIES = ("auto", "mirrored", "multiworker", "one-device")
WORKER_TYPES = ("chief", "worker")
DEFAULT_CLUSTER_TIMEOUT = 300  # seconds for every worker of TF_CONFIG to join


def read_tf_config(required: bool = False) -> dict | None:
    """TF_CONFIG, checked: valid JSON, a cluster of "host:port" lists, a task in it."""
    text = os.environ.get("TF_CONFIG", "").strip()
    fix = "set TF_CONFIG on every worker as in docs/distributed.md"
    if not text:
        if required:
            raise UserError(f"--strategy multiworker: TF_CONFIG is not set; {fix}")
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"TF_CONFIG: not valid JSON ({err.msg} at character {err.pos}); {fix}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not any(cluster.get(t) for t in WORKER_TYPES):
        raise UserError(f"TF_CONFIG: no \"cluster\" with a \"worker\" (or \"chief\") list; {fix}")
    for kind, addresses in cluster.items():
        if not isinstance(addresses, list) or not all(
                isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses):
            raise UserError(f"TF_CONFIG: cluster \"{kind}\" must be a list of \"host:port\" strings; {fix}")
    task = config.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise UserError("TF_CONFIG: no \"task\": {\"type\": \"worker\", \"index\": N} saying which "
                        f"worker this process is; {fix}")
    kind, index = task["type"], task["index"]
    if kind not in cluster:
        raise UserError(f"TF_CONFIG: task type \"{kind}\" is not in the cluster ({', '.join(cluster)}); {fix}")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise UserError(f"TF_CONFIG: task index {index!r} is out of range for the "
                        f"{len(cluster[kind])} \"{kind}\" address(es); indices start at 0")
    return config


def cluster_tasks(config: dict | None) -> int:
    if not config:
        return 1
    return sum(len(config["cluster"].get(t, [])) for t in WORKER_TYPES)


def resolve_kind(kind: str) -> tuple[str, dict | None]:
    """The strategy `kind` resolves to on this process, and the checked TF_CONFIG (if used)."""
    if kind not in STRATEGIES:
        raise UserError(f"--strategy {kind}: use one of {', '.join(STRATEGIES)}")
    if kind == "multiworker":
        return kind, read_tf_config(required=True)
    if kind == "auto":
        config = read_tf_config()
        if cluster_tasks(config) > 1:
            return "multiworker", config
    return kind, None


def writes_outputs(config: dict | None) -> bool:
    """Whether this process writes the run folder: always, except for the non-chief workers of
    a cluster (the chief is task "chief", or "worker" 0 when the cluster has no chief)."""
    if not config:
        return True
    kind, index = config["task"]["type"], config["task"]["index"]
    if "chief" in config["cluster"] and config["cluster"]["chief"]:
        return kind == "chief"
    return kind == "worker" and index == 0


def make_strategy(kind: str = "auto", devices=None, cluster_timeout: float = DEFAULT_CLUSTER_TIMEOUT):
    """Create the strategy. Call it before any other TensorFlow work in the process: a
    MultiWorkerMirroredStrategy has to configure the runtime at startup."""
    kind, config = resolve_kind(kind)
    if kind == "multiworker":
        return _multiworker(config, cluster_timeout)
    import tensorflow as tf
    if devices is None:
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or ["/cpu:0"]
    if kind == "mirrored" or (kind == "auto" and len(devices) > 1):
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.get_strategy()


def _multiworker(config: dict, timeout: float):
    import tensorflow as tf

    # The runtime's startup waits for every worker without a time limit and holds the
    # interpreter meanwhile, so the deadline is kept by a small separate process.
    task = config["task"]
    own = config["cluster"][task["type"]][task["index"]]
    peers = [a for t in WORKER_TYPES for a in config["cluster"].get(t, []) if a != own]
    watchdog = subprocess.Popen([sys.executable, "-c", "from tf_irgan.distribute import watch; watch()",
                                 str(os.getpid()), str(timeout), json.dumps(peers)],
                                stdin=subprocess.PIPE)
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(
            cluster_resolver=tf.distribute.cluster_resolver.TFConfigClusterResolver())
        # A first collective as a barrier: it returns once every worker has joined.
        tasks = strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.ones([])), axis=None)
    except (RuntimeError, ValueError) as err:
        raise UserError(f"TF_CONFIG: could not start this worker ({str(err).splitlines()[0]}); the "
                        "multiworker strategy must be created before other TensorFlow work, one "
                        "per process") from None
    finally:
        watchdog.stdin.close()  # "joined": the watchdog ends
        watchdog.wait()
    if int(tasks) != cluster_tasks(config):
        raise UserError(f"TF_CONFIG: {int(tasks)} worker(s) joined, but the cluster lists "
                        f"{cluster_tasks(config)}; give every worker the same cluster")
    return strategy


def watch() -> None:
    """The watchdog process: argv = parent pid, seconds, peers (JSON). Ends quietly when the
    parent closes our stdin (joined, or gone); otherwise names the workers that cannot be
    reached, in one line, and ends the parent (which cannot be interrupted while it waits)."""
    parent, timeout, peers = int(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3])
    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    if ready:
        return
    missing = [a for a in peers if not _reachable(a)] or peers
    print(f"Error: TF_CONFIG: worker(s) {', '.join(missing)} did not join within {timeout:g} s; start "
          "every worker listed in TF_CONFIG (the same cluster on each, its own task), check that "
          "the ports are open, or raise --cluster-timeout", file=sys.stderr, flush=True)
    os.kill(parent, signal.SIGKILL)


def _reachable(address: str, seconds: float = 2.0) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=seconds):
            return True
    except OSError:
        return False


def use_jit(jit: str, strategy) -> bool:
    if jit not in ("auto", "on", "off"):
        raise UserError(f"--jit {jit}: use auto, on or off")
    if jit == "auto":
        # XLA is slower on CPU (reference §4) and fails on logical CPU replicas.
        import tensorflow as tf
        return bool(tf.config.list_logical_devices("GPU"))
    return jit == "on"
