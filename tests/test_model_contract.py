"""The model contract (tf_irgan.models.base.GAN): a second, test-only model that declares two
sub-steps in `keras.ops` and the default schedule trains, checkpoints, resumes exactly and loads
through the same training loop and preset code as DDcGAN, without a line of it knowing this
model."""

import json
import math
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_irgan import models
from tf_irgan.data.patches import PatchSet, patches_from_folders, write_patches
from tf_irgan.errors import UserError
from tf_irgan.models.base import GAN, Config, Step
from tf_irgan.pipelines.fusion import fuse_images
from tf_irgan.presets import load_preset
from tf_irgan.training import TrainOptions, train

pytestmark = pytest.mark.slow


@keras.saving.register_keras_serializable("tf_irgan_test")
class TinyGenerator(keras.Model):
    """Upsample the IR, stack it with the visible image, two convolutions, sigmoid."""

    def __init__(self, scale=4, width=8, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.width = scale, width
        self.hidden = keras.layers.Conv2D(width, 3, padding="same", activation="relu")
        self.out = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid", dtype="float32")

    def call(self, inputs, training=False):
        vis, ir = inputs["detail"], inputs["intensity"]
        ir = tf.image.resize(ir, tf.shape(vis)[1:3], method="bilinear")
        return self.out(self.hidden(tf.concat([vis, tf.cast(ir, vis.dtype)], -1)))

    def build_for_inference(self):
        self({"detail": tf.zeros((1, 4 * self.scale, 4 * self.scale, 1)), "intensity": tf.zeros((1, 4, 4, 1))})

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "width": self.width}


@dataclass
class TinyConfig(Config):
    name: str = "tiny"
    batch_size: int = 2
    learning_rate: float = 1e-3
    scale: int = 4
    patch: int = 32
    l1_weight: float = 10.0


class TinyGAN(GAN):
    """Two declared sub-steps, the default schedule (D then G, once each)."""

    config_class = TinyConfig

    def __init__(self, config):
        super().__init__(config)
        self.generator = TinyGenerator(config.scale, name="generator")
        self.discriminator = keras.Sequential(
            [keras.layers.Conv2D(8, 4, strides=2, activation="relu"), keras.layers.Flatten(),
             keras.layers.Dense(1, dtype="float32")], name="discriminator")
        self.generator.build_for_inference()
        self.discriminator(keras.ops.zeros((1, config.patch, config.patch, 1)))

    @classmethod
    def config_names(cls):
        return ["tiny"]

    @classmethod
    def config(cls, name="tiny", **overrides):
        if name != "tiny":
            raise UserError(f"--config {name}: unknown; use tiny")
        return TinyConfig(**{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def config_from_options(cls, options):
        return cls.config(options.config or "tiny", batch_size=options.batch_size,
                          learning_rate=options.learning_rate, patch=options.patch)

    def training_data(self, options):
        from tf_irgan.data.datasets import PatchBatches, load_training_patches
        patches = load_training_patches(options.data, self.config.scale, self.config.patch,
                                        options.stride, options.holdout_every)
        return PatchBatches(patches, self.config.batch_size, options.seed)

    def steps(self):
        return {"d": Step(self._d_step, "discriminator", "d_optimizer", ("d_loss",)),
                "g": Step(self._g_step, "generator", "g_optimizer", ("g_loss", "l1"))}

    @staticmethod
    def _bce(logits, label):
        return keras.ops.mean(keras.ops.binary_crossentropy(keras.ops.full_like(logits, label),
                                                            logits, from_logits=True))

    def _d_step(self, batch):
        fake = keras.ops.stop_gradient(self.generator(batch, training=True))
        d_loss = self._bce(self.discriminator(batch["detail"]), 1.0) + \
            self._bce(self.discriminator(fake), 0.0)
        return d_loss, {"d_loss": d_loss}, {}

    def _g_step(self, batch):
        fake = self.generator(batch, training=True)
        l1 = keras.ops.mean(keras.ops.abs(fake - batch["detail"]))
        g_loss = self._bce(self.discriminator(fake), 1.0) + self.config.l1_weight * l1
        return g_loss, {"g_loss": g_loss, "l1": l1}, {}


@pytest.fixture(autouse=True)
def tiny_registered():
    models.register("tiny", f"{__name__}:TinyGAN")
    yield
    models.MODELS.pop("tiny", None)


@pytest.fixture(scope="module")
def patch_file(tmp_path_factory, shared_data):
    """16 scale-4 patch pairs (32 px visible) from one real RoadScene pair."""
    root = tmp_path_factory.mktemp("tiny_patches")
    name = sorted(p.stem for p in (shared_data / "roadscene" / "vi").iterdir())[0]
    for role in ("vi", "ir"):
        (root / role).mkdir()
        shutil.copy(shared_data / "roadscene" / role / f"{name}.jpg", root / role)
    patches = patches_from_folders(root / "vi", root / "ir", patch=32, stride=32, scale=4)
    pick = np.linspace(0, len(patches) - 1, 16).astype(int)
    subset = PatchSet(patches.detail[pick], patches.intensity[pick], 4, patches.source[pick], patches.attrs)
    return write_patches(root / "patches.h5", subset)


def _options(data, out, steps, resume=False):
    return TrainOptions(data=str(data), out=str(out), model="tiny", steps=steps, resume=resume,
                        checkpoint_every=2, log_every=2, command=f"tiny --steps {steps}")


def _weights(preset_dir):
    return [w.numpy() for w in load_preset(preset_dir).model.weights]


def test_trains_checkpoints_resumes_exactly_and_loads(patch_file, tmp_path, shared_data):
    full = train(_options(patch_file, tmp_path / "full", 6), verbose=False)
    first = train(_options(patch_file, tmp_path / "resumed", 4), verbose=False)
    after_4 = _weights(first.preset_dir)
    second = train(_options(patch_file, tmp_path / "resumed", 6, resume=True), verbose=False)
    assert full.batches == second.batches == 6
    assert set(full.losses) == {"d_loss", "g_loss", "l1"}
    assert all(math.isfinite(v) for v in full.losses.values())

    # Exact resume: 4 batches + 2 resumed equal 6 in one go, and batches 4-5 did change weights.
    resumed, whole = _weights(second.preset_dir), _weights(full.preset_dir)
    assert len(resumed) == len(whole) == 4
    for a, b in zip(resumed, whole):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(after_4, whole))

    # The loop counted the batches for this model, and checkpointed the count.
    import h5py
    with h5py.File(tmp_path / "resumed" / "checkpoints" / "ckpt-6.h5", "r") as f:
        assert f.attrs["batch"] == 6 and set(f["networks"]) == {"generator", "discriminator"}
    run = json.loads((tmp_path / "resumed" / "run.json").read_text())
    assert run["model"] == "tiny" and run["config"]["name"] == "tiny"

    # The preset names the model, its task and roles, and loads and fuses like any other.
    config = json.loads((second.preset_dir / "config.json").read_text())
    assert config["class_name"] == "TinyGenerator" and config["model"] == "tiny"
    assert config["task"] == "fusion" and config["input_roles"] == ["vis", "ir"]
    rng = np.random.default_rng(0)
    result = fuse_images(rng.random((45, 61), dtype=np.float32), rng.random((12, 16), dtype=np.float32),
                         checkpoint=str(second.preset_dir))
    assert result.image.shape == (45, 61) and np.isfinite(result.image).all()


def test_short_run_lowers_the_l1_term(patch_file, tmp_path):
    """1 batch, then resumed to 40: the generator's L1 to the visible patches must fall."""
    from tf_irgan.data.patches import read_patches

    def options(steps, resume):
        return TrainOptions(data=str(patch_file), out=str(tmp_path / "run"), model="tiny",
                            steps=steps, resume=resume, checkpoint_every=100, log_every=10,
                            learning_rate=3e-3, command="tiny")

    before = shutil.copytree(train(options(1, False), verbose=False).preset_dir, tmp_path / "before")
    after = train(options(40, True), verbose=False).preset_dir
    patches = read_patches(patch_file, 4)
    batch = {"detail": tf.constant(patches.detail[..., None]), "intensity": tf.constant(patches.intensity[..., None])}

    def l1(preset_dir):
        return float(tf.reduce_mean(tf.abs(load_preset(preset_dir).model(batch) - batch["detail"])))

    assert l1(after) < 0.8 * l1(before), (l1(before), l1(after))


def test_unregistered_model_and_class_are_refused(tmp_path, patch_file):
    with pytest.raises(UserError, match="--model nope: not available"):
        train(TrainOptions(data=str(patch_file), out=str(tmp_path / "r"), model="nope", steps=1))
    assert not (tmp_path / "r").exists()
    assert "tf_irgan_test>TinyGenerator" in models.serializable_classes()
    models.MODELS.pop("tiny")
    assert "tf_irgan_test>TinyGenerator" not in models.serializable_classes()


_MIRRORED = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, sys.argv[3])
    from tf_irgan import models, training
    models.register("tiny", "test_model_contract:TinyGAN")
    result = training.train(training.TrainOptions(
        data=sys.argv[1], out=sys.argv[2], model="tiny", steps=3, batch_size=4,
        devices=["/cpu:0", "/cpu:1"], checkpoint_every=100, command="mirrored"), verbose=False)
    print("RESULT " + json.dumps({"batches": result.batches, "losses": result.losses}))
""")


def test_per_replica_step_on_two_logical_cpus(patch_file, tmp_path):
    from pathlib import Path
    proc = subprocess.run([sys.executable, "-c", _MIRRORED, str(patch_file), str(tmp_path / "run"),
                           str(Path(__file__).parent)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    result = json.loads(lines[0][len("RESULT "):])
    assert result["batches"] == 3 and set(result["losses"]) == {"d_loss", "g_loss", "l1"}
    assert all(math.isfinite(v) for v in result["losses"].values())
