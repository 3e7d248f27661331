"""The `official` config against the released DDcGAN code's golden numbers
(../shared/fidelity/, whose README says how they were made and which tolerances to use).

`check(path, parts)` rebuilds the golden point in the current Keras backend (the released
initial variables through `tf_irgan.models.released`, the backend's own compiled steps) and
returns the failures as strings: empty when everything matches. Run in-process by
tests/test_fidelity.py and in a JAX/PyTorch subprocess by tests/backend_worker.py.
"""

import re

import numpy as np

# Biases before a training-mode batch norm: their analytic gradient is 0 and the golden step
# shows only float noise, which RMSProp amplifies (the README: compare with atol 2e-4).
NOISE_BIASES = re.compile(r"(conv1_1|dense_block_conv\d|conv2_1_1|conv2_2|conv2_3|"
                          r"Discriminator\d/conv[23])/bias$")
LOSSES = {"G": "g_loss", "G_adv": "g_adv", "content_ir": "l_intensity", "content_vis": "l_detail",
          "D_v": "d_detail_loss", "D_i": "d_intensity_loss"}
STEPS = {"step_dv": ("d_detail", "Discriminator1"), "step_di": ("d_intensity", "Discriminator2"),
         "step_g": ("g", "Generator"), "step_gadv": ("g_adv", "Generator")}


def golden(path):
    """The fixture's arrays, with the released `Generator_N/` scopes folded to `Generator/` in
    every key (as `tf_irgan.models.released` names them)."""
    with np.load(path) as data:
        return {re.sub(r"Generator_\d+/", "Generator/", name): data[name] for name in data.files}


def _fresh(gold):
    """A DDcGAN `official` model at the golden point, compiled by this process's backend."""
    from tf_irgan import backends
    from tf_irgan.models import released
    from tf_irgan.models.ddcgan import DDcGAN, ddcgan_config
    from tf_irgan.training import TrainOptions

    backend = backends.create(TrainOptions(data="", out="", strategy="one-device"))
    scale = int(gold["meta/scale"])
    with backend.scope():
        model = DDcGAN(ddcgan_config("official", scale, batch_size=len(gold["vis"])))
        model.make_optimizers()
    init = {k[5:]: v for k, v in gold.items()
            if k.startswith("init/") and not k.startswith("init/slot") and k != "init/global_step"}
    released.assign(init, model.generator, model.d_detail, model.d_intensity)
    backend.compile(model)
    table = released.variables(model.generator, model.d_detail, model.d_intensity)
    return model, backend, table


def _batch(gold):
    from keras import ops
    return {"detail": ops.convert_to_tensor(gold["vis"]), "intensity": ops.convert_to_tensor(gold["ir"])}


def _losses(model, batch):
    """The golden losses by their keys, from the model's own generator and D steps' terms."""
    from keras import ops
    _, logs, _ = model._generator_step(batch, adversarial_only=False)
    return {key: float(ops.convert_to_numpy(logs[ours])) for key, ours in LOSSES.items()}


def _close(name, ours, gold, failures, rtol=0.0, atol=0.0):
    error = np.abs(np.asarray(ours, np.float64) - gold)
    bound = atol + rtol * np.abs(gold)
    if not np.all(error <= bound):
        worst = np.argmax(error - bound)
        failures.append(f"{name}: off by {error.flat[worst]:.3g} "
                        f"(ours {np.ravel(ours)[worst]:.6g}, released {gold.flat[worst]:.6g})")


def _forward(gold, failures):
    from keras import ops
    from tf_irgan import losses

    model, _, _ = _fresh(gold)
    batch = _batch(gold)
    fused = model.generator(batch, training=True)
    small = losses.downsample(fused, model.config.scale)
    values = {"out/generated": fused, "out/dv_real": model.d_detail(batch["detail"], training=True),
              "out/dv_fake": model.d_detail(fused, training=True),
              "out/di_real": model.d_intensity(batch["intensity"], training=True),
              "out/di_fake": model.d_intensity(small, training=True)}
    if "out/generated_ds" in gold:
        values["out/generated_ds"] = small
    for key, value in values.items():
        _close(key, np.reshape(ops.convert_to_numpy(value), gold[key].shape), gold[key], failures,
               atol=1e-4)
    for key, value in _losses(model, batch).items():
        _close(f"loss/{key}", value, gold[f"loss/{key}"], failures, rtol=1e-4)


def _step(gold, kind, failures):
    from keras import ops

    step, scope = STEPS[kind]
    model, backend, table = _fresh(gold)
    batch = _batch(gold)
    if step in ("d_detail", "d_intensity"):
        backend.run(step, batch, backend.run("fuse", batch).outputs["fused"])
    else:
        backend.run(step, batch)
    backend.sync()  # JAX carries the new values until asked to write them into the variables
    trained = {name: v for name, v in table.items() if name.startswith(scope)
               and "moving_" not in name}
    expected = {name for name in (k[len(kind) + 1:] for k in gold if k.startswith(kind + "/"))
                if name.startswith(scope)}
    if set(trained) != {n for n in expected if "/slot/" not in n}:
        failures.append(f"{kind}: trains {len(trained)} variables, the released step "
                        f"{len(expected)}")
    ours, theirs = [], []
    for name, variable in trained.items():
        value = ops.convert_to_numpy(variable)
        after, before = gold[f"{kind}/{name}"], gold[f"init/{name}"]
        if scope == "Generator":  # G steps: updates compared as a whole, weights within 2e-4
            _close(f"{kind}/{name}", value, after, failures, atol=2e-4)
            if not NOISE_BIASES.search(name):
                ours.append(np.ravel(value - before))
                theirs.append(np.ravel(after - before))
        else:
            _close(f"{kind}/{name}", value, after, failures, atol=1e-5)
    if ours:
        ours, theirs = np.concatenate(ours), np.concatenate(theirs)
        relative = np.linalg.norm(ours - theirs) / np.linalg.norm(theirs)
        if not relative < 5e-2:
            failures.append(f"{kind}: the update differs by {relative:.3g} of its norm (at most 0.05)")
    if scope == "Generator":
        # The RMSProp mean squares after the step start at 1 (TF1), not 0 (Keras): 0.9 + 0.1 g^2.
        # Their change 0.1 (g^2 - 1) is compared as the updates are, as a whole.
        optimizer = model.optimizers["g_adv_optimizer" if step == "g_adv" else "g_optimizer"]
        ours, theirs = [], []
        for name, variable in trained.items():
            slot = optimizer._velocities[optimizer._get_variable_index(variable)]
            if not NOISE_BIASES.search(name):
                ours.append(np.ravel(ops.convert_to_numpy(slot)) - 1.0)
                theirs.append(np.ravel(gold[f"{kind}/slot/{name}/rms"]) - 1.0)
        ours, theirs = np.concatenate(ours), np.concatenate(theirs)
        relative = np.linalg.norm(ours - theirs) / np.linalg.norm(theirs)
        if not relative < 5e-2:
            failures.append(f"{kind}: the RMSProp mean squares moved {relative:.3g} of their "
                            "change away from the released ones (at most 0.05)")
    for key, value in _losses(model, batch).items():
        _close(f"{kind}/loss/{key}", value, gold[f"{kind}/loss/{key}"], failures, rtol=1e-2)


def check(path, parts=("forward", *STEPS)) -> list:
    gold = golden(path)
    failures: list = []
    for part in parts:
        if part == "forward":
            _forward(gold, failures)
        else:
            _step(gold, part, failures)
    return failures
