"""The `official` config computes what the released DDcGAN code computes: its forward pass,
losses and each kind of single training step against the golden numbers in
../shared/fidelity/ (made by running the released TensorFlow-1 graph; its README gives the
tolerances used here, in tests/fidelity_check.py), on every backend the suite runs; and
`tf-irgan convert` turns released weights into a preset that fuses as the released code does.

The schedule's repeats (how many steps of each kind a batch takes) are pinned by
tests/test_schedule.py on scripted losses."""

import re

import numpy as np
import pytest
from backend_worker import BACKENDS, run_worker
from cli_helpers import one_line_error
from cli_helpers import run as run_cli

import fidelity_check

SCALES = (4, 1)


@pytest.fixture(scope="session")
def fidelity_dir(shared_data):
    folder = shared_data.parent / "fidelity"
    if not (folder / "ddcgan_official_x4.npz").is_file():
        pytest.fail(f"golden numbers not found in {folder} (expected ddcgan_official_x4.npz); "
                    "see shared/fidelity/README.md")
    return folder


def _golden(fidelity_dir, scale):
    return fidelity_dir / f"ddcgan_official_x{scale}.npz"


@pytest.mark.parametrize("scale", SCALES)
def test_forward_pass_and_losses_equal_the_released_code(fidelity_dir, scale):
    assert fidelity_check.check(_golden(fidelity_dir, scale), ["forward"]) == []


@pytest.mark.slow
@pytest.mark.parametrize("scale", SCALES)
def test_each_kind_of_step_equals_the_released_code(fidelity_dir, scale):
    assert fidelity_check.check(_golden(fidelity_dir, scale), list(fidelity_check.STEPS)) == []


# On the other backends each kind of step runs at one scale (the forward pass at both): a
# generator step of the released graph takes 75-90 s on JAX's CPU compiler (the input
# gradients of strided convolutions), and the steps share one compiled-step path per backend.
OTHER_BACKEND_STEPS = {4: ["step_dv", "step_g"], 1: ["step_di", "step_gadv"]}


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scale", SCALES)
def test_other_backends_equal_the_released_code(fidelity_dir, tmp_path, backend, scale):
    assert sorted(sum(OTHER_BACKEND_STEPS.values(), [])) == sorted(fidelity_check.STEPS)
    result = run_worker(backend, "fidelity", {"path": str(_golden(fidelity_dir, scale)),
                                              "parts": ["forward", *OTHER_BACKEND_STEPS[scale]]},
                        tmp_path / backend)
    assert result["failures"] == []


def test_released_rmsprop_takes_tf1_first_step():
    import keras

    from tf_irgan.models.optimizers import ReleasedRMSprop
    variable = keras.Variable(np.array([1.0, -2.0, 0.5], np.float32))
    gradient = np.array([3.0, -0.01, 0.0], np.float32)
    optimizer = ReleasedRMSprop(2e-4)
    optimizer.apply([keras.ops.convert_to_tensor(gradient)], [variable])
    expected = np.array([1.0, -2.0, 0.5]) - 2e-4 * gradient / np.sqrt(0.9 + 0.1 * gradient ** 2 + 1e-10)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), expected, rtol=1e-6)
    # a Keras RMSprop (mean square from 0, epsilon outside... as Keras puts it) steps lr*sqrt(10)
    assert abs(float(keras.ops.convert_to_numpy(variable)[1]) + 2.0) < 1e-5
    restored = ReleasedRMSprop.from_config(optimizer.get_config())
    assert restored.epsilon == 1e-10 and restored.rho == 0.9


def test_official_keeps_separate_generator_optimizers():
    from tf_irgan.models.ddcgan import DDcGAN, ddcgan_config
    model = DDcGAN(ddcgan_config("official", 4, patch=32, batch_size=2))
    optimizers = model.make_optimizers()
    assert optimizers["g_adv_optimizer"] is not optimizers["g_optimizer"]
    assert model.steps()["g_adv"].optimizer == "g_adv_optimizer"
    assert model.steps()["g"].optimizer == "g_optimizer"
    paper = DDcGAN(ddcgan_config("paper", 4, patch=32, batch_size=2))
    assert "g_adv_optimizer" not in paper.make_optimizers()


def _released_arrays(fidelity_dir, scale, generator_only=True):
    """The fixture's initial variables under their released names (`Generator_N/` as released)."""
    with np.load(_golden(fidelity_dir, scale)) as data:
        return {name[5:]: data[name] for name in data.files
                if name.startswith("init/") and not name.startswith("init/slot")
                and name != "init/global_step"
                and (name.startswith("init/Generator") or not generator_only)}


def _write_tf1_checkpoint(arrays, prefix):
    """A name-based TF1 checkpoint as the released train.py's Saver writes it (with a step
    counter and an optimizer slot that the converter must skip)."""
    import tensorflow as tf
    with tf.Graph().as_default():
        variables = [tf.compat.v1.Variable(value, name=name) for name, value in arrays.items()]
        variables.append(tf.compat.v1.Variable(0, name="Variable"))
        first = next(iter(arrays))
        variables.append(tf.compat.v1.Variable(np.ones_like(arrays[first]), name=f"{first}/RMSProp"))
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, str(prefix))


@pytest.mark.parametrize("source", ["npz", "tf1"])
def test_convert_writes_a_preset_that_fuses_as_the_released_code(fidelity_dir, tmp_path, source):
    from tf_irgan.presets import load_preset

    arrays = _released_arrays(fidelity_dir, 4)
    if source == "npz":
        path = tmp_path / "released.npz"
        np.savez(path, **arrays)
    else:
        path = tmp_path / "ckpt" / "model.ckpt"
        _write_tf1_checkpoint(arrays, path)
    result = run_cli(["convert", str(path), "-o", str(tmp_path / "preset")])
    assert result.exit_code == 0, result.output
    preset = load_preset(tmp_path / "preset")
    assert preset.scale == 4 and preset.metadata["converted_from"] == str(path)
    # The released weights in their places: the released graph's output on its batch.
    gold = fidelity_check.golden(_golden(fidelity_dir, 4))
    one = {"detail": gold["vis"][:1], "intensity": gold["ir"][:1]}
    fused = preset.model(one, training=False)
    np.testing.assert_allclose(
        np.asarray(preset.model({"detail": gold["vis"], "intensity": gold["ir"]}, training=True)),
        gold["out/generated"], atol=1e-4)
    # Outside training it normalises each image by its own statistics, as the released
    # generate.py does (one image at a time, training mode); batched images do not mix.
    np.testing.assert_allclose(np.asarray(fused), np.asarray(preset.model(one, training=True)),
                               atol=1e-5)
    pair = {"detail": gold["vis"][:2], "intensity": gold["ir"][:2]}
    np.testing.assert_allclose(np.asarray(preset.model(pair, training=False))[:1], np.asarray(fused),
                               atol=1e-5)


def test_convert_fuses_a_real_pair_from_the_command_line(fidelity_dir, tmp_path, shared_data):
    np.savez(tmp_path / "x1.npz", **_released_arrays(fidelity_dir, 1))
    assert run_cli(["convert", str(tmp_path / "x1.npz"), "-o", str(tmp_path / "p"),
                    "--scale", "1"]).exit_code == 0
    tno = shared_data / "tno"
    name = sorted(p.name for p in (tno / "vi").iterdir())[0]
    result = run_cli(["fuse", str(tno / "vi" / name), str(tno / "ir" / name), "-o",
                      str(tmp_path / "fused.png"), "--preset", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fused.png").stat().st_size > 1000


def test_convert_refusals_are_one_line(fidelity_dir, tmp_path):
    arrays = _released_arrays(fidelity_dir, 4)
    np.savez(tmp_path / "x4.npz", **arrays)
    one_line_error(run_cli(["convert", str(tmp_path / "x4.npz"), "-o", str(tmp_path / "a"),
                            "--scale", "1"]), "--scale 4")
    np.savez(tmp_path / "partial.npz", **{k: v for k, v in arrays.items() if "conv2_2" not in k})
    one_line_error(run_cli(["convert", str(tmp_path / "partial.npz"), "-o", str(tmp_path / "b")]),
                   "conv2_2")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    one_line_error(run_cli(["convert", str(tmp_path / "junk.npz"), "-o", str(tmp_path / "c")]),
                   "junk.npz")
    one_line_error(run_cli(["convert", str(tmp_path / "missing.ckpt"), "-o", str(tmp_path / "d")]),
                   "no such file")
    (tmp_path / "e").mkdir()
    one_line_error(run_cli(["convert", str(tmp_path / "x4.npz"), "-o", str(tmp_path / "e")]),
                   "already exists")


def test_released_names_fit_only_the_official_layout():
    from tf_irgan.errors import UserError
    from tf_irgan.models import released
    from tf_irgan.models.ddcgan import DDcGAN, ddcgan_config
    official = DDcGAN(ddcgan_config("official", 4, patch=32))
    table = released.variables(official.generator, official.d_detail, official.d_intensity)
    assert len(table) == 90   # the fixture's x4 count: trainable + moving statistics
    assert all(re.match(r"^(Generator|Discriminator[12])/", name) for name in table)
    paper = DDcGAN(ddcgan_config("paper", 4, patch=32))
    with pytest.raises(UserError, match="official"):
        released.variables(paper.generator)
    assert released.canonical("Generator_3/deconv_vis/deconv1/kernel:0") == \
        "Generator/deconv_vis/deconv1/kernel"
