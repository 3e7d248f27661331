"""Preset folders are not trusted: only the project's registered networks are built, and the
weights file must hold exactly the variables of the network its config describes."""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tf_irgan.cli.main import cli
from tf_irgan.errors import UserError
from tf_irgan.presets import CONFIG_FILE, WEIGHTS_FILE, load_preset

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _copy(name, tmp_path, as_name=None, digests=False):
    """A copy of a shipped preset; without its SHA-256 digests by default (as a preset saved
    before 0.5), so that the checks behind the digest check are what these tests reach."""
    folder = shutil.copytree(SHIPPED / name, tmp_path / (as_name or name))
    if not digests:
        meta = json.loads((folder / "metadata.json").read_text())
        meta.pop("sha256", None)
        (folder / "metadata.json").write_text(json.dumps(meta))
    return folder


def _fuse_error(preset_dir, tmp_path):
    out = tmp_path / "out.png"
    result = CliRunner().invoke(cli, ["fuse", str(EXAMPLES / "vis.png"), str(EXAMPLES / "ir.png"),
                                      "-o", str(out), "--preset", str(preset_dir)])
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.output
    assert not out.exists()
    return lines[0]


def test_weights_of_another_network_are_refused(tmp_path):
    """The 4x model's weights in the same-size model's folder: Keras alone would skip the extra
    IR-upsampler variables and fuse with the wrong network."""
    folder = _copy("ddcgan-ir-vis-salient", tmp_path, "mixed")
    shutil.copy(SHIPPED / "ddcgan-ir-vis-x4-salient" / WEIGHTS_FILE, folder / WEIGHTS_FILE)
    with pytest.raises(UserError) as err:
        load_preset(folder)
    message = str(err.value)
    assert str(folder / WEIGHTS_FILE) in message and "does not hold the weights" in message
    assert "the network does not have" in message
    line = _fuse_error(folder, tmp_path)
    assert str(folder / WEIGHTS_FILE) in line


def test_weights_missing_variables_are_refused(tmp_path):
    folder = _copy("ddcgan-ir-vis-x4-salient", tmp_path, "mixed-x4")
    shutil.copy(SHIPPED / "ddcgan-ir-vis-salient" / WEIGHTS_FILE, folder / WEIGHTS_FILE)
    with pytest.raises(UserError, match="missing"):
        load_preset(folder)


@pytest.mark.parametrize("module,class_name,registered", [
    ("keras", "Sequential", None),
    ("keras.layers", "Dense", None),
    ("builtins", "object", "builtins>object"),
    ("tf_irgan.models.layers", "ReflectConv", "tf_irgan>ReflectConv"),  # ours, but not a network
])
def test_config_naming_a_foreign_class_is_refused(tmp_path, module, class_name, registered):
    folder = _copy("ddcgan-ir-vis", tmp_path, "foreign")
    config = json.loads((folder / CONFIG_FILE).read_text())
    config.update(module=module, class_name=class_name, registered_name=registered)
    (folder / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(UserError) as err:
        load_preset(folder)
    assert str(folder / CONFIG_FILE) in str(err.value) and "not one of tf-irgan's networks" in str(err.value)
    _fuse_error(folder, tmp_path)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"class_name": "Generator"}'])
def test_malformed_config_is_one_line(tmp_path, text):
    folder = _copy("ddcgan-ir-vis", tmp_path, "broken")
    (folder / CONFIG_FILE).write_text(text)
    with pytest.raises(UserError) as err:
        load_preset(folder)
    assert str(folder) in str(err.value)
    _fuse_error(folder, tmp_path)


def test_config_with_bad_settings_is_one_line(tmp_path):
    folder = _copy("ddcgan-ir-vis-salient", tmp_path, "bad-settings")
    config = json.loads((folder / CONFIG_FILE).read_text())
    config["config"]["growth"] = "many"
    (folder / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(UserError) as err:
        load_preset(folder)
    assert str(folder / CONFIG_FILE) in str(err.value)


def test_corrupt_weights_file_is_one_line(tmp_path):
    folder = _copy("ddcgan-ir-vis", tmp_path, "corrupt")
    (folder / WEIGHTS_FILE).write_bytes(b"not an hdf5 file")
    with pytest.raises(UserError) as err:
        load_preset(folder)
    assert str(folder / WEIGHTS_FILE) in str(err.value)


def test_shipped_presets_name_their_roles():
    for name, scale in (("ddcgan-ir-vis", 1), ("ddcgan-ir-vis-x4", 4)):
        preset = load_preset(name)
        assert preset.task == "fusion" and preset.scale == scale
        assert preset.input_roles == ("vis", "ir") and preset.output_role == "fused"
