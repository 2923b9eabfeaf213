"""Dependencies point inward: agents/ never sees gymnasium, envs/ never sees torch.

(The team's STYLE.md, kept beside the checkout in ../shared/, sets this rule.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _top_level(name: str) -> str:
    return name.split(".")[0]


def _imported_modules(path: Path, root: Path) -> set[str]:
    """Top-level names of every module `path` imports, at any depth (functions, try, if).

    Relative imports resolve against the file's package (`from ..envs import x` in agents/ is
    `envs`). Literal `importlib.import_module("x")` / `__import__("x")` calls count too.
    An unparseable file fails: a file we cannot read is not a file that passes.
    """
    source = path.read_text(encoding="utf-8")
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as error:
        raise AssertionError(f"cannot parse {path}: {error}") from error
    package = list(path.relative_to(root).parent.parts)
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(_top_level(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                modules.add(_top_level(node.module or ""))
                continue
            base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
            parts = base + (node.module.split(".") if node.module else [])
            if not parts:  # `from .. import x` at the root: x itself is the module
                parts = [alias.name for alias in node.names]
            modules.update(parts[:1])
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            dynamic = name in ("import_module", "__import__")
            if dynamic and isinstance(first, ast.Constant) and isinstance(first.value, str):
                modules.add(_top_level(first.value))
    modules.discard("")
    return modules


def imports_under(target: Path, root: Path = ROOT) -> dict[Path, set[str]]:
    """Imports of each .py file in `target` (a folder, searched recursively, or one file)."""
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    files = [f for f in files if f.is_file()]
    assert files, f"no Python files found under {target}: the check would pass vacuously"
    return {f: _imported_modules(f, root) for f in files}


def _violations(target: Path, banned: set[str]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {sorted(found & banned)}"
        for path, found in imports_under(target).items()
        if found & banned
    ]


AGENTS_BANNED = {"gymnasium", "gym", "wandb", "hydra", "omegaconf", "envs", "stable_baselines3"}
ENVS_BANNED = {"torch", "wandb", "hydra", "omegaconf", "agents"}
# evaluate.py is also a CLI (like train.py) and may use Hydra; W&B and SB3 only lazily, inside
# the CLI functions that need them, so `evaluate()` and its importers (train.py) never log.
EVALUATE_TOP_LEVEL_BANNED = {"wandb", "stable_baselines3"}


def test_agents_import_only_torch_numpy_stdlib() -> None:
    assert _violations(ROOT / "agents", AGENTS_BANNED) == []


def test_envs_import_no_torch_or_agents() -> None:
    assert _violations(ROOT / "envs", ENVS_BANNED) == []


def _module_level_imports(path: Path) -> set[str]:
    """Imports run when the module is imported: everything outside function bodies."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Import):
            found.update(_top_level(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(_top_level(node.module or ""))
        stack.extend(ast.iter_child_nodes(node))
    return found


def test_evaluate_imports_wandb_and_sb3_only_lazily() -> None:
    top = _module_level_imports(ROOT / "evaluate.py")
    assert "gymnasium" in top and "numpy" in top  # the scan sees the real imports
    assert top & EVALUATE_TOP_LEVEL_BANNED == set()
    # ...while the CLI does use them, inside functions.
    anywhere = imports_under(ROOT / "evaluate.py")[ROOT / "evaluate.py"]
    assert anywhere >= EVALUATE_TOP_LEVEL_BANNED


def test_evaluate_function_does_no_logging() -> None:
    """`evaluate()` returns numbers; it imports, prints and logs nothing (the caller does)."""
    tree = ast.parse((ROOT / "evaluate.py").read_text(encoding="utf-8"))
    (function,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "evaluate"]
    for node in ast.walk(function):
        assert not isinstance(node, (ast.Import, ast.ImportFrom)), ast.unparse(node)
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            assert name not in {"print", "log", "write", "warn", "info"}, ast.unparse(node)
        if isinstance(node, ast.Name):
            assert node.id not in {"wandb", "logging", "sys"}, ast.unparse(node)


def test_module_level_import_scan_skips_function_bodies(tmp_path: Path) -> None:
    module = tmp_path / "cli.py"
    module.write_text(
        "import numpy\n"
        "try:\n    import hydra\nexcept ImportError:\n    pass\n"
        "def f():\n    import wandb\n"
        "class C:\n    def g(self):\n        from stable_baselines3 import SAC\n"
    )
    assert _module_level_imports(module) == {"numpy", "hydra"}


def test_scans_see_the_real_modules() -> None:
    """The checks above read the actual package files and see their ordinary imports."""
    agents = imports_under(ROOT / "agents")
    envs = imports_under(ROOT / "envs")
    assert {p.name for p in agents} >= {"__init__.py", "sac.py", "networks.py"}
    assert {p.name for p in envs} >= {"__init__.py", "factory.py", "transitions.py"}
    assert "torch" in set().union(*agents.values())
    assert "gymnasium" in envs[ROOT / "envs" / "factory.py"]


# ------------------------------------------------------------ the helper itself cannot pass idly


def test_helper_finds_nested_relative_and_dynamic_imports(tmp_path: Path) -> None:
    package = tmp_path / "agents"
    package.mkdir()
    (package / "mod.py").write_text(
        "import os.path\n"
        "from . import sibling\n"
        "from ..envs.factory import make_env\n"
        "def f():\n"
        "    import wandb\n"
        "    try:\n"
        "        from hydra.utils import instantiate\n"
        "    except ImportError:\n"
        "        pass\n"
        "class C:\n"
        "    def g(self):\n"
        "        import importlib\n"
        "        return importlib.import_module('gymnasium.spaces'), __import__('omegaconf')\n"
    )
    found = imports_under(package, root=tmp_path)[package / "mod.py"]
    assert found == {
        "os",
        "agents",
        "envs",
        "wandb",
        "hydra",
        "importlib",
        "gymnasium",
        "omegaconf",
    }


def test_helper_fails_on_unparseable_file(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("import numpy\n")
    (tmp_path / "broken.py").write_text("def f(:\n    import wandb\n")
    with pytest.raises(AssertionError, match="cannot parse"):
        imports_under(tmp_path, root=tmp_path)


def test_helper_fails_on_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no python here")
    with pytest.raises(AssertionError, match="no Python files"):
        imports_under(tmp_path, root=tmp_path)
    with pytest.raises(AssertionError, match="no Python files"):
        imports_under(tmp_path / "missing", root=tmp_path)
