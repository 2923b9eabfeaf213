"""A policy as an ONNX graph that runs anywhere onnxruntime does (a robot, a game engine, C++ or
the web): raw env observations in, actions in the env's own units out, with the observation
normalization, tanh(μ) (or tanh(μ + σ ε) for a given ε) and the rescaling to the env's action
bounds inside. Its metadata names the env and its spaces, the package version and what training
recorded. examples/onnx_rollout.py runs one with onnxruntime and numpy alone.
"""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.util
import json
import logging
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from agents import SACAgent
from envs import make_env
from runner.errors import EvalError
from runner.models import EnvSpec, History
from runner.reports import check_writable, save_atomically

FORMAT = "sac-onnx-policy"  # metadata "format": how an earlier export is recognized
FORMAT_VERSION = "1"
OPSET = 18


class PolicyGraph(nn.Module):
    """obs (B, obs_dim) [, eps (B, action_dim)] -> action (B, action_dim) in env units: what
    `SACAgent.predict` computes, with the frozen statistics and the bounds as constants."""

    def __init__(self, agent: SACAgent) -> None:
        super().__init__()
        self.actor = copy.deepcopy(agent.actor).cpu().float().eval()
        self.clip = None if agent.obs_norm is None else float(agent.obs_norm.clip)
        if agent.obs_norm is not None:
            mean, std = agent.obs_norm.mean_std(torch.float32)
            self.register_buffer("obs_mean", mean.cpu())
            self.register_buffer("obs_std", std.cpu())
        # float64, as `predict` rescales: for bounds like Pendulum's ±2 the env then gets the
        # very float32 action that evaluate.py's RescaleAction gives it, and the same return.
        self.register_buffer("low", torch.as_tensor(agent.action_low, dtype=torch.float64))
        self.register_buffer("high", torch.as_tensor(agent.action_high, dtype=torch.float64))

    def forward(self, obs: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
        if self.clip is not None:  # as RunningObsNorm.__call__
            obs = ((obs - self.obs_mean) / self.obs_std).clamp(-self.clip, self.clip)
        dist = self.actor(obs)
        action = (dist.mode if eps is None else dist.squash(eps)).double()  # in [-1, 1]
        # [-1, 1] -> [low, high], the affine map of `predict` (and of SB3's unscale_action)
        return (self.low + 0.5 * (action + 1.0) * (self.high - self.low)).float()


def check_exporter() -> None:
    """torch.onnx's exporter (torch.export based) needs onnxscript, which needs onnx: one line
    before any work, not an ImportError from deep inside the export."""
    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise EvalError(
            f"export_onnx= needs {' and '.join(missing)}: pip install onnx onnxscript "
            "(onnxruntime too, to run the graph)"
        )


def check_target(path: Path) -> None:
    """Refuse, before the export, a path that is a folder, not an .onnx file (so neither a
    checkpoint nor an SB3 zip), unwritable, or an existing file other than an earlier export
    (which is replaced)."""
    if path.is_dir():
        raise EvalError(f"export_onnx={path} is a folder: give the .onnx file to write")
    if path.suffix != ".onnx":
        raise EvalError(f"export_onnx={path} must be an .onnx path")
    check_writable(path, "export_onnx")
    if path.exists() and not is_policy_export(path):
        raise EvalError(
            f"{path} exists and is not an ONNX policy export: give export_onnx=<another .onnx "
            "path> (only an earlier export is replaced)"
        )


def is_policy_export(path: Path) -> bool:
    """Whether `path` holds a graph this module wrote (its metadata says so)."""
    import onnx  # lazy: only export_onnx= needs it

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - any file onnx cannot parse is not an export
        return False
    return any(p.key == "format" and p.value == FORMAT for p in model.metadata_props)


def export_onnx(
    agent: SACAgent,
    spec: EnvSpec,
    path: str | Path,
    history: History,
    source: Path,
    deterministic: bool = True,
) -> Path:
    """Write `agent`'s policy to `path` as an ONNX graph, atomically. Inputs "obs" (float32,
    (batch, obs_dim)) and, unless `deterministic`, "eps" (float32, (batch, action_dim), the
    N(0, 1) draw of a = tanh(μ + σ ε)); output "action" (float32, (batch, action_dim))."""
    path = Path(path).expanduser()
    graph = PolicyGraph(agent)
    batch = torch.export.Dim("batch")
    example: tuple[torch.Tensor, ...] = (torch.zeros(2, agent.obs_dim),)
    inputs, shapes = ["obs"], [{0: batch}]
    if not deterministic:
        example += (torch.zeros(2, agent.action_dim),)
        inputs, shapes = ["obs", "eps"], [{0: batch}, {0: batch}]
    # The torch.export-based exporter (torch's default since 2.9; the TorchScript one is
    # deprecated). It logs a warning per torchvision operator it cannot register and a pytree
    # FutureWarning, none of them about this graph: kept out of the CLI's output.
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                graph, example, input_names=inputs, output_names=["action"],
                dynamic_shapes=shapes, opset_version=OPSET, dynamo=True, verbose=False,
            )  # fmt: skip
    finally:
        exporter_log.setLevel(level)
    program.model.metadata_props.update(_metadata(agent, spec, history, source, deterministic))
    return save_atomically(path, program.save)


def _metadata(
    agent: SACAgent, spec: EnvSpec, history: History, source: Path, deterministic: bool
) -> dict[str, str]:
    """ONNX metadata_props (strings; JSON where structured, inf written as "inf")."""
    env = make_env(spec.id, **spec.make_kwargs())  # the observation space training saw
    try:
        obs_space = env.observation_space
    finally:
        env.close()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "env_id": spec.id,
        "env_kwargs": _json(spec.kwargs),
        "max_episode_steps": _json(spec.max_episode_steps),
        "observation_space": _json(_box(obs_space.low, obs_space.high)),
        "action_space": _json(_box(agent.action_low, agent.action_high)),
        "deterministic": _json(deterministic),
        "normalize_obs": _json(agent.obs_norm is not None),
        "package_version": package_version(),
        "step": _json(history.get("step")),
        "eval_return_mean": _json(history.get("eval_return_mean")),
        "source": str(source),
    }


def _box(low: Any, high: Any) -> dict[str, Any]:
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    return {"shape": list(low.shape), "dtype": "float32", "low": low.tolist(),
            "high": high.tolist()}  # fmt: skip


def _json(value: Any) -> str:
    """Standard JSON (no Infinity/NaN tokens, which many parsers reject): ±inf as strings."""

    def finite(item: Any) -> Any:
        if isinstance(item, float) and not math.isfinite(item):
            return str(item)  # "inf", "-inf", "nan": float() in Python and numpy reads them
        if isinstance(item, dict):
            return {key: finite(v) for key, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [finite(v) for v in item]
        return item

    return json.dumps(finite(value), allow_nan=False, default=str)


def package_version() -> str:
    """This package's version: the installed distribution's, else pyproject.toml's."""
    try:
        return importlib.metadata.version("sac")
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        import tomllib  # Python 3.11+
    except ImportError:
        return "unknown"
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    try:
        return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"
