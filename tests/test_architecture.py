"""Dependencies point inward (STYLE.md): agents/ never sees gymnasium, envs/ never sees torch."""

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
            if name in ("import_module", "__import__") and isinstance(first, ast.Constant):
                if isinstance(first.value, str):
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
EVALUATE_BANNED = {"wandb", "hydra", "omegaconf"}


def test_agents_import_only_torch_numpy_stdlib() -> None:
    assert _violations(ROOT / "agents", AGENTS_BANNED) == []


def test_envs_import_no_torch_or_agents() -> None:
    assert _violations(ROOT / "envs", ENVS_BANNED) == []


def test_evaluate_does_no_logging_or_config() -> None:
    assert _violations(ROOT / "evaluate.py", EVALUATE_BANNED) == []


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
    assert found == {"os", "agents", "envs", "wandb", "hydra", "importlib", "gymnasium",
                     "omegaconf"}


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
