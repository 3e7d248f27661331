"""DDcGAN's adaptive schedule: thresholds force repeats, and the backend's `step_counts` counts
the sub-steps run. The schedule is plain Python (`DDcGAN.schedule`): given the same losses it takes
the same decisions on every backend, which the scripted-loss tests check without any framework.

Thresholds set to -1 or 1e9 force a loop condition true or false whatever the losses are, so the
expected counts are exact.
"""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_irgan import backends
from tf_irgan.models.base import StepResult
from tf_irgan.models.ddcgan import DDcGAN
from tf_irgan.models.ddcgan import ddcgan_config
from tf_irgan.training import TrainOptions, train_batch

NEVER, ALWAYS = 1e9, -1.0   # as a "repeat while loss > threshold" limit
REPEATS = 3


def _batch(seed=0, patch=32, scale=4):
    rng = np.random.default_rng(seed)
    return {"detail": tf.constant(rng.random((2, patch, patch, 1), dtype=np.float32)),
            "intensity": tf.constant(rng.random((2, patch // scale, patch // scale, 1), dtype=np.float32))}


class Trained:
    """A model, its backend and the batches it has seen: `step(batch)` trains the next one."""

    def __init__(self, preset):
        keras.utils.set_random_seed(0)
        self.backend = backends.create(TrainOptions(data="", out="", strategy="one-device"))
        self.model = DDcGAN(ddcgan_config(preset, 4, patch=32, batch_size=2))
        self.model.make_optimizers()
        self.backend.compile(self.model)
        self.seen = 0

    def step(self, batch):
        logs = train_batch(self.model, self.backend, batch, self.seen)
        self.seen += 1
        return logs

    @property
    def step_counts(self):
        return {k: v for k, v in self.backend.step_counts.items() if k != "fuse"}


@pytest.fixture(scope="module")
def built():
    """One model per preset for the whole module: tracing the compiled steps is the slow part,
    and the schedule reads its thresholds from `model.config` in Python at every batch."""
    return {"official": Trained("official"), "paper": Trained("paper")}


@pytest.fixture
def make(built):
    def make(preset="official", steps_per_epoch=10, **overrides):
        trained = built[preset]
        settings = dict(max_repeats=REPEATS, d_max=NEVER, d_min=ALWAYS, g_max=NEVER)
        settings.update(overrides)
        trained.model.config = dataclasses.replace(ddcgan_config(preset, 4, patch=32, batch_size=2),
                                                   **settings)
        trained.model.steps_per_epoch = steps_per_epoch
        trained.model.g_loss_start = 0.0
        trained.seen = 0
        trained.backend.step_counts.clear()
        return trained
    return make


def test_one_step_each_when_no_threshold_triggers(make):
    model = make()
    model.step(_batch())
    assert model.step_counts == {"d_detail": 1, "d_intensity": 1}      # official: batch 0 trains only D
    model.step(_batch(1))
    assert model.step_counts == {"d_detail": 1, "d_intensity": 1, "g": 1}  # batch 1 trains only G
    assert model.seen == 2


def test_discriminator_steps_repeat_while_loss_above_d_max(make):
    model = make(d_max=ALWAYS)
    model.step(_batch())
    assert model.step_counts == {"d_detail": REPEATS, "d_intensity": REPEATS}


def test_d_max_checks_each_discriminator_separately(make):
    # D losses start near 2 ln 2 = 1.39: a limit between 0 and that repeats until max_repeats.
    model = make(d_max=0.01)
    model.step(_batch())
    assert model.step_counts == {"d_detail": REPEATS, "d_intensity": REPEATS}
    model = make(d_max=5.0)
    model.step(_batch())
    assert model.step_counts == {"d_detail": 1, "d_intensity": 1}


def test_generator_steps_repeat_while_loss_above_g_max(make):
    model = make(g_max=ALWAYS)
    model.step(_batch())
    model.step(_batch(1))
    assert model.step_counts == {"d_detail": 1, "d_intensity": 1, "g": REPEATS}


def test_adversarial_steps_while_a_discriminator_loss_is_below_d_min(make):
    model = make(d_min=NEVER)
    model.step(_batch())
    model.step(_batch(1))
    # One full G step, then g_adv steps up to max_repeats in all.
    assert model.step_counts == {"d_detail": 1, "d_intensity": 1, "g": 1, "g_adv": REPEATS - 1}


def test_official_counts_both_generator_loops_together(make):
    # The released code's one counter: max_repeats G steps a batch in all, so the adversarial
    # loop leaves the L_G loop nothing.
    model = make(d_min=NEVER, g_max=ALWAYS)
    assert model.model.config.shared_g_repeats
    model.step(_batch())
    model.step(_batch(1))
    assert model.step_counts == {"d_detail": 1, "d_intensity": 1, "g": 1, "g_adv": REPEATS - 1}


def test_adversarial_and_content_repeats_combine_with_separate_counters(make):
    model = make(d_min=NEVER, g_max=ALWAYS, shared_g_repeats=False)
    model.step(_batch())
    model.step(_batch(1))
    assert model.step_counts == {"d_detail": 1, "d_intensity": 1, "g": REPEATS, "g_adv": REPEATS - 1}


def test_official_alternates_discriminator_and_generator_batches(make):
    model = make()
    counts = []
    for i in range(4):
        model.step(_batch(i))
        counts.append(dict(model.step_counts))
    assert counts == [{"d_detail": 1, "d_intensity": 1}, {"d_detail": 1, "d_intensity": 1, "g": 1},
                      {"d_detail": 2, "d_intensity": 2, "g": 1}, {"d_detail": 2, "d_intensity": 2, "g": 2}]


def test_paper_trains_both_every_batch_with_relative_g_max(make):
    trained = make("paper", g_max=NEVER)
    model = trained.model
    assert model.config.alternate is False and model.config.g_max_relative is True
    assert model.g_loss_start == 0.0
    trained.step(_batch())
    assert trained.step_counts == {"d_detail": 1, "d_intensity": 1, "g": 1}
    start = model.g_loss_start
    assert start > 0  # the first G loss is the reference of the relative limit
    assert model.counters() == {"g_loss_start": start}  # what checkpoints keep
    trained.step(_batch(1))
    assert trained.step_counts == {"d_detail": 2, "d_intensity": 2, "g": 2}
    assert model.g_loss_start == start  # set once, never moved


def test_paper_relative_g_max_repeats_generator_steps(make):
    # g_max 0.01 of the first L_G: the loss cannot fall that far, so G repeats to max_repeats.
    model = make("paper", g_max=0.01)
    model.step(_batch())
    assert model.step_counts == {"d_detail": 1, "d_intensity": 1, "g": REPEATS}


def test_discriminator_optimizers_are_separate_copies(make):
    optimizers = make().model.optimizers
    assert optimizers["d_intensity_optimizer"] is not optimizers["d_detail_optimizer"]
    assert type(optimizers["d_intensity_optimizer"]) is type(optimizers["d_detail_optimizer"])
    assert optimizers["d_intensity_optimizer"].get_config()["momentum"] == \
        optimizers["d_detail_optimizer"].get_config()["momentum"]


def test_discriminator_step_changes_only_discriminators(make):
    trained = make()
    model = trained.model
    g_before = [v.numpy().copy() for v in model.generator.trainable_variables]
    d_before = [v.numpy().copy() for v in model.d_detail.trainable_variables]
    trained.step(_batch())
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(g_before, model.generator.trainable_variables))
    assert not all(np.array_equal(a, v.numpy()) for a, v in zip(d_before, model.d_detail.trainable_variables))
    d_before = [v.numpy().copy() for v in model.d_detail.trainable_variables]
    trained.step(_batch(1))
    assert not all(np.array_equal(a, v.numpy())
                   for a, v in zip(g_before, model.generator.trainable_variables))
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(d_before, model.d_detail.trainable_variables))


@pytest.mark.parametrize("preset", ["official", "paper"])
def test_learning_rate_decays_per_epoch_continuously(make, preset):
    trained = make(preset, steps_per_epoch=4, learning_rate=1e-3)
    model = trained.model
    decay = model.config.lr_decay
    for seen in range(6):
        trained.step(_batch(seen))
        expected = 1e-3 * decay ** (seen / 4)  # set from the batches seen before this one
        for optimizer in model.optimizers.values():
            np.testing.assert_allclose(float(optimizer.learning_rate), expected, rtol=1e-6)
    assert trained.seen == 6
    np.testing.assert_allclose(model.learning_rate_at(6), 1e-3 * decay ** 1.5, rtol=1e-12)
    np.testing.assert_allclose(model.learning_rate_at(4), 1e-3 * decay, rtol=1e-12)


def test_trackers_report_losses_and_no_loss_key(make):
    model = make()
    model.step(_batch())
    logs = model.step(_batch(1))
    assert "loss" not in logs
    assert set(logs) == {"d_detail_loss", "d_intensity_loss", "g_loss", "g_adv", "l_intensity", "l_detail"}
    assert all(np.isfinite(v).all() for v in logs.values())
    assert logs["l_detail"][0] > 0 and logs["l_intensity"][0] > 0


@pytest.mark.slow
@pytest.mark.parametrize("name,lr,factor", [("fast", None, 0.9), ("salient", None, 0.9),
                                            ("pyramid", None, 1.0), ("pyramid", 2e-3, 0.95)])
def test_a_short_real_run_lowers_the_content_loss(name, lr, factor, make_patch_file, tmp_path):
    """Issue 12's and 21's configs learn on real RoadScene patches: the content loss (the
    config's own intensity + gradient terms) on the batches seen falls over 30 batches. The
    pyramid generator starts as a selection rule near the loss's minimum and trains at a
    twentieth of the others' learning rate: at its own rate it only has to go down; at theirs
    it has to lose 5 %."""
    from tf_irgan.data.patches import read_patches
    from tf_irgan.models.ddcgan import content_losses

    patches = read_patches(make_patch_file(tmp_path, 2, 64), 4)
    keras.utils.set_random_seed(0)
    config = ddcgan_config(name, 4, patch=32, batch_size=8, **({"learning_rate": lr} if lr else {}))
    model = DDcGAN(config)
    model.steps_per_epoch = 8
    model.make_optimizers()
    backend = backends.create(TrainOptions(data="", out="", strategy="one-device"))
    backend.compile(model)
    batch = {"detail": tf.constant(patches.detail[::2][:32, ..., None]),
             "intensity": tf.constant(patches.intensity[::2][:32, ..., None])}

    def content():
        fused = model.generator(batch, training=False)
        from tf_irgan import losses
        l_intensity, l_detail = content_losses(config, batch, fused, losses.downsample(fused, 4))
        return float(tf.reduce_mean(config.intensity_weight * l_intensity + config.detail_weight * l_detail))

    before = content()
    for step in range(30):
        picked = np.arange(step * 8, step * 8 + 8) % len(patches)
        train_batch(model, backend, {"detail": tf.constant(patches.detail[picked][..., None]),
                                     "intensity": tf.constant(patches.intensity[picked][..., None])}, step)
    after = content()
    assert after < factor * before, (before, after)


# ---------------------------------------------------------------- the schedule alone

class Scripted:
    """A `run` that returns scripted losses instead of training: the schedule's decisions for
    given losses, with no backend at all."""

    def __init__(self, losses):
        self.losses, self.calls = list(losses), []

    def __call__(self, name, *inputs):
        self.calls.append(name)
        if name == "fuse":
            return StepResult({}, {"fused": None})
        return StepResult(self.losses.pop(0), {})


def _schedule(preset, batches, losses, **overrides):
    model = DDcGAN.__new__(DDcGAN)  # the schedule needs only the config and its counter
    model.config = dataclasses.replace(ddcgan_config(preset, 4), **overrides)
    model.g_loss_start = 0.0
    run = Scripted(losses)
    for index in batches:
        model.schedule(index, run)
    return run.calls


def test_schedule_decisions_follow_the_losses():
    d_ok = {"d_detail_loss": 1.5, "d_intensity_loss": 1.5}
    g = {"g_loss": 5.0, "g_adv": 1.0, "l_intensity": 1.0, "l_detail": 1.0, "d_detail_loss": 1.5, "d_intensity_loss": 1.5}
    # official: D_v's loss is above d_max (1.9) twice, then not; D_i's is not.
    calls = _schedule("official", [0], [{"d_detail_loss": 2.5}, {"d_detail_loss": 2.0}, {"d_detail_loss": 1.5},
                                        {"d_intensity_loss": 1.5}])
    assert calls == ["fuse", "d_detail", "d_detail", "d_detail", "d_intensity"]
    # A G batch: one D loss below d_min (1.0) asks for an adversarial step; then L_G above
    # g_max (200) asks for one more full step.
    low = dict(g, d_intensity_loss=0.5, g_loss=300.0)
    calls = _schedule("official", [1], [low, dict(g, g_loss=300.0), g])
    assert calls == ["g", "g_adv", "g"]
    # paper: both every batch; the relative limit is g_max (0.8) x the first L_G (5.0): 4.0.
    calls = _schedule("paper", [0, 1], [d_ok, d_ok, g, dict(g, g_loss=3.0),
                                        d_ok, d_ok, dict(g, g_loss=3.9)])
    assert calls == ["fuse", "d_detail", "d_intensity", "g", "g", "fuse", "d_detail", "d_intensity", "g"]
