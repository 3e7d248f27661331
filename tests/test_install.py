"""The installed distribution declares everything the package imports.

A fresh virtualenv with only the declared requirements is what a user gets from the README's
install command; these tests fail when a module imports something that is not declared, or when
the installed metadata lost part of setup.cfg's list (as `setup(install_requires=...)` once did).
"""

import ast
import configparser
import importlib
import importlib.metadata as metadata
import importlib.util
import pkgutil
import re
import sys
from pathlib import Path

import tf_irgan

PACKAGE_DIR = Path(tf_irgan.__file__).resolve().parent
REPO = PACKAGE_DIR.parent


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _installed_requirements() -> set[str]:
    requires = metadata.requires("tf-irgan") or []
    # Extras ("; extra == 'dev'") are not part of a plain install.
    return {_requirement_name(r) for r in requires if "extra ==" not in r}


def _third_party_imports() -> dict[str, Path]:
    found = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "tf_irgan":
                    found.setdefault(top, path)
    return found


def test_every_module_imports():
    """Every module imports, except a backend module whose extra is not installed here."""
    failures = []
    for module in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix="tf_irgan."):
        parent, _, leaf = module.name.rpartition(".")
        if parent == "tf_irgan.backends" and importlib.util.find_spec(leaf) is None:
            continue
        try:
            importlib.import_module(module.name)
        except Exception as err:  # report every broken module, not only the first
            failures.append(f"{module.name}: {type(err).__name__}: {err}")
    assert not failures, "\n".join(failures)


def _extra_requirements(extra: str) -> set[str]:
    requires = metadata.requires("tf-irgan") or []
    return {_requirement_name(r) for r in requires
            if re.search(r"extra\s*==\s*['\"]" + re.escape(extra) + r"['\"]", r)}


# Modules that offer an extra's feature, and may import its requirements (inside the function
# that needs them, with a one-line error naming the extra when it is missing).
EXTRA_USERS = {"export.py": "onnx"}


def test_imports_are_declared_requirements():
    """Everything a module imports is a plain requirement, except that a backend module
    (tf_irgan/backends/NAME.py) may import the requirements of the extra of its name, and a
    module of EXTRA_USERS those of its extra."""
    declared = _installed_requirements()
    providers = metadata.packages_distributions()
    undeclared = []
    for module, where in sorted(_third_party_imports().items()):
        dists = {d.lower().replace("_", "-") for d in providers.get(module, [])}
        extra = (where.stem if where.parent.name == "backends" else
                 EXTRA_USERS.get(where.relative_to(REPO / "tf_irgan").as_posix()))
        if extra and not dists:  # a backend whose extra is not installed here
            assert _requirement_name(module) in _extra_requirements(extra), (module, where)
            continue
        assert dists, f"{module} (imported in {where}) is not installed at all"
        if not dists & (declared | (_extra_requirements(extra) if extra else set())):
            undeclared.append(f"{module} (imported in {where.relative_to(REPO)}; provided by "
                              f"{', '.join(sorted(dists))})")
    assert not undeclared, "not in the installed requirements: " + "; ".join(undeclared)


def test_installed_requirements_are_setup_cfg_list():
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg", encoding="utf-8")
    listed = {_requirement_name(line) for line in config["options"]["install_requires"].splitlines()
              if line.strip()}
    tensorflow = {"tensorflow-cpu", "tensorflow"}
    installed = _installed_requirements()
    # Either TensorFlow wheel satisfies the list's TensorFlow line (setup.py may swap it).
    assert listed - tensorflow <= installed, f"missing: {sorted(listed - tensorflow - installed)}"
    assert installed & tensorflow, "no TensorFlow wheel among the installed requirements"


def test_installed_version_is_the_package_version():
    assert metadata.version("tf-irgan") == tf_irgan.__version__
