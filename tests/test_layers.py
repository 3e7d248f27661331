"""Imports run one way: a module imports only from its own layer or the layers below it
(docs/design.md). Parsed from the source, lazy imports inside functions included: a function-
level import is a dependency too."""

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tf_irgan"

# Top to bottom. The package's __init__ is the Python API, beside the CLI.
LAYERS = [
    ("cli and API", ["tf_irgan.cli", "tf_irgan.__init__"]),
    ("report, export, convert, campaign", ["tf_irgan.report", "tf_irgan.export", "tf_irgan.convert",
                                           "tf_irgan.campaign"]),
    ("training and pipelines", ["tf_irgan.training", "tf_irgan.pipelines", "tf_irgan.backends",
                                "tf_irgan.distribute", "tf_irgan.checkpoints",
                                "tf_irgan.registration"]),
    ("presets", ["tf_irgan.presets"]),
    ("models", ["tf_irgan.models"]),
    ("data and metrics", ["tf_irgan.data", "tf_irgan.metrics", "tf_irgan.baselines",
                          "tf_irgan.losses", "tf_irgan.filters", "tf_irgan.modalities"]),
    ("images", ["tf_irgan.images", "tf_irgan.rowfiles"]),
    ("small utilities", ["tf_irgan.errors", "tf_irgan.files", "tf_irgan.version", "tf_irgan.color",
                         "tf_irgan.ranges", "tf_irgan.rows"]),
]


REGISTERED = re.compile(r"^tf_irgan(\.\w+)+:\w+$")


def _layer(module: str):
    matches = [(len(prefix), index) for index, (_, prefixes) in enumerate(LAYERS)
               for prefix in prefixes if module == prefix or module.startswith(prefix + ".")]
    return max(matches)[1] if matches else None


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 2 else parts)
        yield name, ast.parse(path.read_text())


def _imports(tree):
    for node in ast.walk(tree):
        # Registries name classes as "tf_irgan.module:Class" strings and import them later.
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and REGISTERED.match(node.value):
            yield node.value.split(":")[0], node.lineno
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "tf_irgan":  # from tf_irgan import losses: the module itself
                yield from ((f"tf_irgan.{alias.name}", node.lineno) for alias in node.names)
            else:
                yield node.module, node.lineno


def test_every_module_has_a_layer():
    assert [name for name, _ in _modules() if _layer(name) is None] == []


def test_imports_run_one_way():
    upward = []
    for name, tree in _modules():
        mine = _layer(name)
        for target, line in _imports(tree):
            theirs = _layer(target) if target.startswith("tf_irgan") else None
            if theirs is not None and theirs < mine:
                upward.append(f"{name}:{line} imports {target} ({LAYERS[mine][0]} -> "
                              f"{LAYERS[theirs][0]})")
    assert upward == []


def test_relative_imports_are_not_used():
    # Every import names its module in full, so the checks above see all of them.
    relative = [f"{name}:{node.lineno}" for name, tree in _modules() for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.level > 0]
    assert relative == []


def test_commands_do_not_import_the_command_group():
    # cli.main imports every command module; a command importing it back is a cycle.
    back = [f"{name}:{line}" for name, tree in _modules() if name.startswith("tf_irgan.cli.")
            and name != "tf_irgan.cli.main" for target, line in _imports(tree)
            if target == "tf_irgan.cli.main"]
    assert back == []
