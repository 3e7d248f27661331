"""DDcGAN's two inputs are named detail and intensity inside (visible or MRI; IR or PET, SPECT,
CT): nothing inside calls an MRI "vis". What was written under the former IR/visible names
(settings, checkpoints, history.csv; patch files in test_patches, presets in test_shipped)
still reads."""

import csv
import dataclasses
import re

import h5py
import numpy as np

from tf_irgan import checkpoints
from tf_irgan.models.ddcgan import DDcGAN, DDcGANConfig, ddcgan_config
from tf_irgan.training import History

IR_VIS_WORD = re.compile(r"(^|_)(vis|ir)(_|$)")


def _model():
    model = DDcGAN(ddcgan_config("pyramid", 4, patch=32, batch_size=2, modality="mri-pet"))
    model.make_optimizers()
    return model


def test_no_name_inside_the_model_is_an_ir_visible_word():
    model = _model()
    names = [*model.networks(), *model.optimizers, *model.steps(),
             *(log for step in model.steps().values() for log in step.logs),
             *(f.name for f in dataclasses.fields(DDcGANConfig)), *model.generator.get_config()]
    assert not [n for n in names if IR_VIS_WORD.search(n)]
    assert model.input_roles == ("mri", "pet")   # what users and exports see: the modality's


def test_settings_under_their_former_names_are_accepted():
    config = ddcgan_config("pyramid", 4, ir_weight=2.0, vis_weight=3.0, ir_upsample="bicubic")
    assert (config.intensity_weight, config.detail_weight, config.intensity_upsample) == (2.0, 3.0, "bicubic")
    saved = {k: v for k, v in config.to_dict().items() if k != "intensity_fidelity_weight"}
    saved["ir_fidelity_weight"] = 0.5   # a run.json written before the renaming
    assert DDcGANConfig.from_dict(saved).intensity_fidelity_weight == 0.5


def test_a_checkpoint_under_the_former_names_resumes(tmp_path):
    model = _model()
    path = checkpoints.save(tmp_path, model, 6, {})
    with h5py.File(path, "r+") as f:
        for old, new in DDcGAN.renamed.items():
            for group in ("networks", "optimizers"):
                if new in f[group]:
                    f[group].move(new, old)
        assert "d_vis" in f["networks"] and "d_ir_optimizer" in f["optimizers"]
    other = _model()
    assert checkpoints.restore(path, other)["batch"] == 6
    for name, network in model.networks().items():
        for a, b in zip(network.variables, other.networks()[name].variables):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_history_under_the_former_column_names_continues(tmp_path):
    path = tmp_path / "history.csv"
    old = ["batch", "d_vis_loss", "d_ir_loss", "g_loss", "l_ir", "l_vis", "learning_rate", "seconds"]
    path.write_text("\n".join([",".join(old), "1,1,1,1,1,1,0.1,1", "2,2,2,2,2,2,0.1,2",
                               "3,3,3,3,3,3,0.1,3"]) + "\n")
    columns = ["d_detail_loss", "d_intensity_loss", "g_loss", "l_intensity", "l_detail"]
    History(path, columns, start=2, writes=True, renamed=DDcGAN.renamed)
    with path.open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["batch", *columns, "learning_rate", "seconds"]
    assert [r[0] for r in rows[1:]] == ["1", "2"]   # kept up to the checkpoint, not set aside
