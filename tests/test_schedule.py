"""DDcGAN's adaptive schedule: thresholds force repeats, and `step_counts` counts the optimizer steps.

Thresholds set to -1 or 1e9 force a loop condition true or false whatever the losses are, so the
expected counts are exact.
"""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_irgan.models.ddcgan import DDcGAN
from tf_irgan.models.ddcgan import ddcgan_config

NEVER, ALWAYS = 1e9, -1.0   # as a "repeat while loss > threshold" limit
REPEATS = 3


def _batch(seed=0, patch=32, scale=4):
    rng = np.random.default_rng(seed)
    return {"vis": tf.constant(rng.random((2, patch, patch, 1), dtype=np.float32)),
            "ir": tf.constant(rng.random((2, patch // scale, patch // scale, 1), dtype=np.float32))}


def _build(preset):
    keras.utils.set_random_seed(0)
    config = ddcgan_config(preset, 4, patch=32, batch_size=2)
    model = DDcGAN(config)
    model.compile(d_optimizer=keras.optimizers.SGD(config.learning_rate),
                  g_optimizer=keras.optimizers.RMSprop(config.learning_rate), steps_per_epoch=10)
    return model


@pytest.fixture(scope="module")
def built():
    """One model per preset for the whole module: tracing the compiled steps is the slow part,
    and the schedule reads its thresholds from `model.config` in Python at every batch."""
    return {"official": _build("official"), "paper": _build("paper")}


@pytest.fixture
def make(built):
    def make(preset="official", steps_per_epoch=10, **overrides):
        model = built[preset]
        settings = dict(max_repeats=REPEATS, d_max=NEVER, d_min=ALWAYS, g_max=NEVER)
        settings.update(overrides)
        model.config = dataclasses.replace(ddcgan_config(preset, 4, patch=32, batch_size=2),
                                           **settings)
        model.steps_per_epoch = steps_per_epoch
        model.batches.assign(0)
        model.g_loss_start.assign(0.0)
        model.step_counts.clear()
        return model
    return make


def test_one_step_each_when_no_threshold_triggers(make):
    model = make()
    model.train_step(_batch())
    assert model.step_counts == {"d_vis": 1, "d_ir": 1}      # official: batch 0 trains only D
    model.train_step(_batch(1))
    assert model.step_counts == {"d_vis": 1, "d_ir": 1, "g": 1}  # batch 1 trains only G
    assert int(model.batches.numpy()) == 2


def test_discriminator_steps_repeat_while_loss_above_d_max(make):
    model = make(d_max=ALWAYS)
    model.train_step(_batch())
    assert model.step_counts == {"d_vis": REPEATS, "d_ir": REPEATS}


def test_d_max_checks_each_discriminator_separately(make):
    # D losses start near 2 ln 2 = 1.39: a limit between 0 and that repeats until max_repeats.
    model = make(d_max=0.01)
    model.train_step(_batch())
    assert model.step_counts == {"d_vis": REPEATS, "d_ir": REPEATS}
    model = make(d_max=5.0)
    model.train_step(_batch())
    assert model.step_counts == {"d_vis": 1, "d_ir": 1}


def test_generator_steps_repeat_while_loss_above_g_max(make):
    model = make(g_max=ALWAYS)
    model.train_step(_batch())
    model.train_step(_batch(1))
    assert model.step_counts == {"d_vis": 1, "d_ir": 1, "g": REPEATS}


def test_adversarial_steps_while_a_discriminator_loss_is_below_d_min(make):
    model = make(d_min=NEVER)
    model.train_step(_batch())
    model.train_step(_batch(1))
    # One full G step, then g_adv steps up to max_repeats in all.
    assert model.step_counts == {"d_vis": 1, "d_ir": 1, "g": 1, "g_adv": REPEATS - 1}


def test_adversarial_and_content_repeats_combine(make):
    model = make(d_min=NEVER, g_max=ALWAYS)
    model.train_step(_batch())
    model.train_step(_batch(1))
    assert model.step_counts == {"d_vis": 1, "d_ir": 1, "g": REPEATS, "g_adv": REPEATS - 1}


def test_official_alternates_discriminator_and_generator_batches(make):
    model = make()
    counts = []
    for i in range(4):
        model.train_step(_batch(i))
        counts.append(dict(model.step_counts))
    assert counts == [{"d_vis": 1, "d_ir": 1}, {"d_vis": 1, "d_ir": 1, "g": 1},
                      {"d_vis": 2, "d_ir": 2, "g": 1}, {"d_vis": 2, "d_ir": 2, "g": 2}]


def test_paper_trains_both_every_batch_with_relative_g_max(make):
    model = make("paper", g_max=NEVER)
    assert model.config.alternate is False and model.config.g_max_relative is True
    assert float(model.g_loss_start.numpy()) == 0.0
    model.train_step(_batch())
    assert model.step_counts == {"d_vis": 1, "d_ir": 1, "g": 1}
    start = float(model.g_loss_start.numpy())
    assert start > 0  # the first G loss is the reference of the relative limit
    model.train_step(_batch(1))
    assert model.step_counts == {"d_vis": 2, "d_ir": 2, "g": 2}
    assert float(model.g_loss_start.numpy()) == start  # set once, never moved


def test_paper_relative_g_max_repeats_generator_steps(make):
    # g_max 0.01 of the first L_G: the loss cannot fall that far, so G repeats to max_repeats.
    model = make("paper", g_max=0.01)
    model.train_step(_batch())
    assert model.step_counts == {"d_vis": 1, "d_ir": 1, "g": REPEATS}


def test_discriminator_optimizers_are_separate_copies(make):
    model = make()
    assert model.d_ir_optimizer is not model.d_vis_optimizer
    assert type(model.d_ir_optimizer) is type(model.d_vis_optimizer)
    assert model.d_ir_optimizer.get_config()["momentum"] == model.d_vis_optimizer.get_config()["momentum"]


def test_discriminator_step_changes_only_discriminators(make):
    model = make()
    g_before = [v.numpy().copy() for v in model.generator.trainable_variables]
    d_before = [v.numpy().copy() for v in model.d_vis.trainable_variables]
    model.train_step(_batch())
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(g_before, model.generator.trainable_variables))
    assert not all(np.array_equal(a, v.numpy()) for a, v in zip(d_before, model.d_vis.trainable_variables))
    d_before = [v.numpy().copy() for v in model.d_vis.trainable_variables]
    model.train_step(_batch(1))
    assert not all(np.array_equal(a, v.numpy())
                   for a, v in zip(g_before, model.generator.trainable_variables))
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(d_before, model.d_vis.trainable_variables))


@pytest.mark.parametrize("preset", ["official", "paper"])
def test_learning_rate_decays_per_epoch_continuously(make, preset):
    model = make(preset, steps_per_epoch=4, learning_rate=1e-3)
    decay = model.config.lr_decay
    for seen in range(6):
        model.train_step(_batch(seen))
        expected = 1e-3 * decay ** (seen / 4)  # set from the batches seen before this one
        for optimizer in (model.g_optimizer, model.d_vis_optimizer, model.d_ir_optimizer):
            np.testing.assert_allclose(float(optimizer.learning_rate), expected, rtol=1e-6)
    assert int(model.batches.numpy()) == 6
    np.testing.assert_allclose(model.learning_rate_at(6), 1e-3 * decay ** 1.5, rtol=1e-12)
    np.testing.assert_allclose(model.learning_rate_at(4), 1e-3 * decay, rtol=1e-12)


def test_trackers_report_losses_and_no_loss_key(make):
    model = make()
    model.train_step(_batch())
    logs = model.train_step(_batch(1))
    assert "loss" not in logs
    assert set(logs) == {"d_vis_loss", "d_ir_loss", "g_loss", "g_adv", "l_ir", "l_vis"}
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert float(logs["l_vis"]) > 0 and float(logs["l_ir"]) > 0


@pytest.mark.parametrize("name", ["fast", "salient"])
def test_a_short_real_run_lowers_the_content_loss(name, make_patch_file, tmp_path):
    """Issue 12's new configs learn on real RoadScene patches: the content loss (the config's own
    intensity + gradient terms) on the batches seen falls over 30 batches."""
    from tf_irgan.data.patches import read_patches
    from tf_irgan.models.ddcgan import content_losses

    patches = read_patches(make_patch_file(tmp_path, 2, 64), 4)
    keras.utils.set_random_seed(0)
    config = ddcgan_config(name, 4, patch=32, batch_size=8)
    model = DDcGAN(config)
    model.compile(**model.make_optimizers(), steps_per_epoch=8)
    batch = {"vis": tf.constant(patches.vis[::2][:32, ..., None]),
             "ir": tf.constant(patches.ir[::2][:32, ..., None])}

    def content():
        fused = model.generator(batch, training=False)
        from tf_irgan import losses
        l_ir, l_vis = content_losses(config, batch, fused, losses.downsample(fused, 4))
        return float(tf.reduce_mean(config.ir_weight * l_ir + config.vis_weight * l_vis))

    before = content()
    for step in range(30):
        picked = np.arange(step * 8, step * 8 + 8) % len(patches)
        model.train_step({"vis": tf.constant(patches.vis[picked][..., None]),
                          "ir": tf.constant(patches.ir[picked][..., None])})
    after = content()
    assert after < 0.9 * before, (before, after)
