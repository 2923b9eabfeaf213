"""Dependencies point inward: agents/ never sees gymnasium, envs/ never sees torch, analysis/
reads files only, nothing imports a CLI (train.py, evaluate.py, aggregate.py), and the
project's import graph has no cycles.

The scans read every import statement, at module level, inside functions and under
`if TYPE_CHECKING:` alike: a cycle hidden in a function-level import is still a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
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


AGENTS_BANNED = {
    "gymnasium", "gym", "wandb", "hydra", "omegaconf", "envs", "configs", "runner",
    "stable_baselines3", "train", "evaluate", "benchmarks",
}  # fmt: skip
ENVS_BANNED = {"torch", "wandb", "hydra", "omegaconf", "agents", "configs", "runner", "train",
               "evaluate"}  # fmt: skip
CONFIGS_BANNED = {"torch", "wandb", "envs", "runner", "train", "evaluate"}
# analysis/ reads run dirs: it works where nothing can train (no torch, no simulators).
ANALYSIS_BANNED = {
    "torch", "gymnasium", "gym", "wandb", "hydra", "omegaconf", "agents", "envs", "configs",
    "runner", "stable_baselines3", "train", "evaluate", "aggregate", "benchmarks",
}  # fmt: skip
CLIS = {"train", "evaluate", "aggregate"}
# examples/ show an exported policy running where neither torch nor this package is installed.
EXAMPLES_BANNED = {
    "torch", "agents", "envs", "configs", "runner", "analysis", "stable_baselines3", "wandb",
    "hydra", "omegaconf", "train", "evaluate", "aggregate", "benchmarks",
}  # fmt: skip


def test_agents_import_only_torch_numpy_stdlib() -> None:
    assert _violations(ROOT / "agents", AGENTS_BANNED) == []


def test_envs_import_no_torch_or_agents() -> None:
    assert _violations(ROOT / "envs", ENVS_BANNED) == []


def test_configs_hold_only_the_schema() -> None:
    assert _violations(ROOT / "configs", CONFIGS_BANNED) == []


def test_analysis_reads_files_only() -> None:
    assert _violations(ROOT / "analysis", ANALYSIS_BANNED) == []


def test_examples_need_neither_torch_nor_this_package() -> None:
    assert _violations(ROOT / "examples", EXAMPLES_BANNED) == []


def test_nothing_imports_a_cli() -> None:
    """train.py, evaluate.py and aggregate.py are entry points: the packages, benchmarks and
    the other CLIs use runner/ or analysis/ instead, so a CLI can change without breaking what
    imports it."""
    found = []
    for folder in ("agents", "envs", "configs", "runner", "analysis", "benchmarks"):
        found += _violations(ROOT / folder, CLIS)
    found += _violations(ROOT / "train.py", CLIS - {"train"})
    found += _violations(ROOT / "evaluate.py", CLIS - {"evaluate"})
    found += _violations(ROOT / "aggregate.py", CLIS - {"aggregate"})
    assert found == []


def test_the_fast_update_is_used_by_the_agent_and_the_population_alone() -> None:
    """agents/fast/ is given modules and tensors, never the agent; only agents/sac.py (one agent)
    and agents/population.py (K agents' stacks) use it; agents/sb3.py reads SB3 zips and
    nothing in agents/ depends on it."""
    graph = import_graph()
    users_of_fast = {m for m, targets in graph.items() if any(
        t == "agents.fast" or t.startswith("agents.fast.") for t in targets
    ) and not m.startswith("agents.fast")}  # fmt: skip
    assert users_of_fast == {"agents.sac", "agents.population"}
    assert not any(
        t == "agents.sac" for m in graph if m.startswith("agents.fast") for t in graph[m]
    )
    sb3_users = {m for m, targets in graph.items() if "agents.sb3" in targets}
    assert not {m for m in sb3_users if m.startswith("agents")}


def test_import_graph_has_no_cycles() -> None:
    cycles = find_cycles(import_graph())
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_cli_import_loads_no_wandb_or_sb3() -> None:
    """W&B and SB3 load only when an option needs them (lazy imports in runner/), so a plain
    train or evaluate starts fast and works without them."""
    code = (
        "import sys; import train, evaluate; "
        "print(sorted({'wandb', 'stable_baselines3'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_evaluate_function_does_no_logging() -> None:
    """`evaluate()` returns numbers; it imports, prints and logs nothing (the caller does)."""
    path = ROOT / "envs" / "evaluation.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    (function,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "evaluate"]
    for node in ast.walk(function):
        assert not isinstance(node, (ast.Import, ast.ImportFrom)), ast.unparse(node)
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            assert name not in {"print", "log", "write", "warn", "info"}, ast.unparse(node)
        if isinstance(node, ast.Name):
            assert node.id not in {"wandb", "logging", "sys"}, ast.unparse(node)


def test_scans_see_the_real_modules() -> None:
    """The checks above read the actual package files and see their ordinary imports."""
    agents = imports_under(ROOT / "agents")
    envs = imports_under(ROOT / "envs")
    assert {p.name for p in agents} >= {"__init__.py", "sac.py", "networks.py"}
    assert {p.name for p in envs} >= {"__init__.py", "factory.py", "transitions.py"}
    assert "torch" in set().union(*agents.values())
    assert "gymnasium" in envs[ROOT / "envs" / "factory.py"]
    graph = import_graph()
    assert {"agents.sac", "agents.fast.manual_update", "runner.training", "train"} <= set(graph)
    assert "agents.fast" in graph["agents.sac"] and "runner.training" in graph["train"]


# ------------------------------------------------------------ the project's import graph

PROJECT_TOP = (
    "agents", "envs", "configs", "runner", "analysis", "train", "evaluate", "aggregate",
    "benchmarks",
)  # fmt: skip


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_targets(path: Path, root: Path, modules: set[str]) -> set[str]:
    """The project modules `path` imports, anywhere in it: `from a.b import c` is a.b.c when
    that is a module, else a.b; relative imports resolve against the file's package."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            stem = ".".join(base + ([node.module] if node.module else []))
            names = [f"{stem}.{alias.name}" if stem else alias.name for alias in node.names]
            names = [n if n in modules else stem for n in names]
        else:
            continue
        for name in names:
            while name and name not in modules:  # `import a.b.c` of a non-module c: a.b
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Each project module -> the project modules it imports (tests excluded: they may)."""
    files = [root / f"{name}.py" for name in PROJECT_TOP if (root / f"{name}.py").is_file()]
    for name in PROJECT_TOP:
        if (root / name).is_dir():
            files += sorted((root / name).rglob("*.py"))
    modules = {module_name(f, root) for f in files}
    return {module_name(f, root): _project_targets(f, root, modules) - {module_name(f, root)}
            for f in files}  # fmt: skip


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each set of modules that import each other in a circle (a strongly connected component,
    Tarjan), sorted, its first module repeated at the end."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component) + [sorted(component)[0]])

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


# ------------------------------------------------------- the import scan itself cannot pass idly


def test_import_scan_finds_nested_relative_and_dynamic_imports(tmp_path: Path) -> None:
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


def test_import_scan_fails_on_unparseable_file(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("import numpy\n")
    (tmp_path / "broken.py").write_text("def f(:\n    import wandb\n")
    with pytest.raises(AssertionError, match="cannot parse"):
        imports_under(tmp_path, root=tmp_path)


def test_import_scan_fails_on_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no python here")
    with pytest.raises(AssertionError, match="no Python files"):
        imports_under(tmp_path, root=tmp_path)
    with pytest.raises(AssertionError, match="no Python files"):
        imports_under(tmp_path / "missing", root=tmp_path)


def test_cycle_finder_sees_function_level_and_type_checking_imports(tmp_path: Path) -> None:
    package = tmp_path / "agents"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from agents.b import g\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from agents import c\n"
    )
    (package / "c.py").write_text("from . import a\n")
    (package / "d.py").write_text("import agents.a\n")
    graph = import_graph(tmp_path)
    assert graph["agents.a"] == {"agents.b"} and graph["agents.b"] == {"agents.c"}
    assert graph["agents.c"] == {"agents.a"} and graph["agents.d"] == {"agents.a"}
    assert find_cycles(graph) == [["agents.a", "agents.b", "agents.c", "agents.a"]]
    (package / "c.py").write_text("import os\n")
    assert find_cycles(import_graph(tmp_path)) == []
