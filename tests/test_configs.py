"""The named configs: one flat table per model, every entry valid at every scale or direction,
and the same checks on every path that makes a config (a new run, --set, run.json on resume)."""

import json

import pytest

from tf_irgan.errors import UserError
from tf_irgan.models.ddcgan import CONFIGS as DDCGAN_CONFIGS
from tf_irgan.models.ddcgan import DDcGANConfig, ddcgan_config
from tf_irgan.models.pix2pix import CONFIGS as PIX2PIX_CONFIGS
from tf_irgan.models.pix2pix import DIRECTIONS, Pix2PixConfig, pix2pix_config


@pytest.mark.parametrize("name", DDCGAN_CONFIGS)
@pytest.mark.parametrize("scale", [1, 2, 4])
def test_every_ddcgan_config_constructs_and_round_trips(name, scale):
    config = ddcgan_config(name, scale)
    assert config.name == name and config.scale == scale
    assert DDcGANConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize("name", PIX2PIX_CONFIGS)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_every_pix2pix_config_constructs_and_round_trips(name, direction):
    config = pix2pix_config(name, direction)
    assert Pix2PixConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_tables_are_flat():
    # Each entry is a plain dict of field values (or functions of the scale), no other config.
    fields = set(DDcGANConfig.__dataclass_fields__)
    for name, entry in DDCGAN_CONFIGS.items():
        assert set(entry) <= fields, name
    fields = set(Pix2PixConfig.__dataclass_fields__)
    for name, entry in PIX2PIX_CONFIGS.items():
        assert set(entry) <= fields, name


@pytest.mark.parametrize("data, fragment", [
    ({"generator": "unet"}, "generator=unet"),
    ({"growth": "wide"}, "growth"),
    ({"scale": 3}, "scale"),
    ({"patch": 86}, "multiple of --scale"),
    ({"tied_decoder": True, "decoder_filters": [128, 64]}, "tied_decoder"),
    ({"colour": 1}, "unknown"),
])
def test_a_bad_ddcgan_field_is_refused_when_read_back(data, fragment):
    stored = {**ddcgan_config("official", 4).to_dict(), **data}
    with pytest.raises(UserError, match=fragment):
        DDcGANConfig.from_dict(stored)


@pytest.mark.parametrize("data, fragment", [
    ({"norm": "layer"}, "norm"), ({"crop": 100}, "2\\*\\*depth"), ({"upsample": "deconv"}, "upsample"),
    ({"color_jitter": 1.5}, "color_jitter"), ({"depth": 2.5}, "whole number"),
])
def test_a_bad_pix2pix_field_is_refused_when_read_back(data, fragment):
    # Before, pix2pix checked its config only in its factory: a resumed run was not checked.
    stored = {**pix2pix_config("compact").to_dict(), **data}
    with pytest.raises(UserError, match=fragment):
        Pix2PixConfig.from_dict(stored)


def test_resume_names_run_json_when_its_config_is_bad(tmp_path):
    from tf_irgan.training import TrainOptions, train
    run = tmp_path / "run"
    run.mkdir()
    stored = {"model": "ddcgan", "config": {**ddcgan_config("salient", 4).to_dict(), "norm": 1},
              "options": {}}
    (run / "run.json").write_text(json.dumps(stored))
    (run / "checkpoints").mkdir()
    with pytest.raises(UserError, match="run.json: its config does not validate"):
        train(TrainOptions(data=str(tmp_path), out=str(run), resume=True), verbose=False)


@pytest.mark.parametrize("model, field, size", [("ddcgan", "patch", 64), ("pix2pix", "crop", 256)])
def test_a_setting_given_by_its_option_and_by_set_is_refused_once_either_alone_is_used(
        model, field, size):
    from types import SimpleNamespace

    from tf_irgan import models

    def options(**given):
        return SimpleNamespace(**{"batch_size": None, "learning_rate": None, "patch": None,
                                  "config": None, "overrides": None, "model_options": {},
                                  "data": "no-data-here", **given})
    cls = models.get(model)
    # A whole number for a float setting (`--set learning_rate=0`) becomes a float.
    config = cls.config_from_options(options(overrides={"learning_rate": 0}))
    assert config.learning_rate == 0.0 and isinstance(config.learning_rate, float)
    assert cls.config_from_options(options(learning_rate=0.002)).learning_rate == 0.002
    assert getattr(cls.config_from_options(options(patch=size)), field) == size
    with pytest.raises(UserError, match="--lr 0.002 and --set learning_rate=0.001"):
        cls.config_from_options(options(learning_rate=0.002, overrides={"learning_rate": 0.001}))
