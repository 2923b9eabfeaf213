"""Stable-Baselines3 SAC zips <-> our SACAgent, reading the zip directly (torch, numpy, stdlib).

An SB3 zip holds `policy.pth` (the policy's state_dict), `pytorch_variables.pth` (the entropy
coefficient) and `data` (JSON hyperparameters; objects in it are pickled, and we never unpickle
them). Layouts mapped here (SB3 2.x, `sac/policies.py`, `common/policies.py`):

    actor.latent_pi.{0,2,..}  <-> actor.trunk.{0,2,..}        nn.Linear, same layout
    actor.mu, actor.log_std   <-> actor.mu, actor.log_std
    gSDE (use_sde=True):
    actor.mu.0                <-> actor.mu, with config.mean_clip (SB3's Hardtanh clip_mean)
    actor.log_std             <-> agent.sde_log_std  (latent_dim, action_dim): the noise's log σ
    critic.qf{i}.{2j}.weight  <-> critic.layers.{j}.weight[i]  (out, in) vs (n, in, out): transposed
    critic.qf{i}.{2j}.bias    <-> critic.layers.{j}.bias[i, 0]
    critic_target.*           <-> critic_target.*  (same)

Both policies act in [-1, 1]: SB3 squashes with tanh and unscales in `predict`; our envs rescale.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.checkpoint import load_error_reason
from agents.config import SACConfig
from agents.sac import SACAgent

# SB3 clamps the actor's log std to [-20, 2] (sac/policies.py LOG_STD_MIN / LOG_STD_MAX).
SB3_LOG_STD_MIN, SB3_LOG_STD_MAX = -20.0, 2.0

Tensors = dict[str, torch.Tensor]


class SB3FormatError(ValueError):
    """A file that is not an SB3 SAC MlpPolicy zip we can map; one-line message."""


@dataclass
class SB3SAC:
    """What an SB3 SAC zip tells us: sizes, the policy weights, alpha and hyperparameters."""

    policy: Tensors
    obs_dim: int
    action_dim: int
    hidden_sizes: list[int]
    num_critics: int
    log_alpha: float
    learn_alpha: bool
    hyperparameters: dict[str, Any] = field(default_factory=dict)  # SACConfig fields
    gsde: bool = False  # trained with use_sde=True: a log σ matrix in place of the log σ head
    mean_clip: float | None = None  # gSDE's clip of μ before tanh (SB3's clip_mean)
    num_timesteps: int | None = None  # env steps SB3 trained for, None where unreadable
    # The env's action bounds as the zip's data JSON prints them, None where unreadable.
    action_low: np.ndarray | None = None
    action_high: np.ndarray | None = None


def _read_zip(path: Path) -> tuple[Tensors, dict[str, Any], dict[str, Any]]:
    """(policy state_dict, pytorch variables, data JSON) of an SB3 zip, or SB3FormatError."""
    if not path.is_file():
        raise SB3FormatError(f"no SB3 model at {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "policy.pth" not in names:
                raise SB3FormatError(f"{path} is not an SB3 model zip: it has no policy.pth")

            def load(name: str) -> Any:
                if name not in names:
                    return {}
                return torch.load(
                    io.BytesIO(archive.read(name)), map_location="cpu", weights_only=True
                )  # tensors only: nothing executed

            # SB3 0.9 renamed tensors.pth to pytorch_variables.pth (SB3 #138); zoo models of
            # that age still hold the older name.
            variables_file = "tensors.pth" if "tensors.pth" in names else "pytorch_variables.pth"
            policy, variables = load("policy.pth"), load(variables_file)
            data = json.loads(archive.read("data")) if "data" in names else {}
    except SB3FormatError:
        raise
    # Any exception: a damaged zip or pickle fails deep inside zipfile, zlib or the unpickler
    # (BadZipFile, zlib.error, IndexError, UnicodeDecodeError, ...).
    except Exception as error:  # noqa: BLE001 - every unreadable file gets the one-line error
        reason = load_error_reason(error)
        raise SB3FormatError(f"{path} is corrupt or not an SB3 model zip: {reason}") from error
    if not isinstance(policy, dict) or not isinstance(data, dict):
        raise SB3FormatError(f"{path} is not an SB3 model zip: unexpected policy.pth contents")
    return policy, variables if isinstance(variables, dict) else {}, data


def _linear_stack(policy: Tensors, prefix: str) -> list[torch.Tensor]:
    """Weights of `prefix.<k>.weight` in layer order (k = 0, 2, 4: Linear, ReLU, Linear, ...)."""
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.weight")
    found = sorted((int(m.group(1)), w) for k, w in policy.items() if (m := pattern.fullmatch(k)))
    return [w for _, w in found]


def _check_sac_mlp(path: Path, policy: Tensors, data: dict[str, Any]) -> None:
    """Reject TD3/PPO/other policies and non-ReLU MLPs with the reason."""
    policy_class = data.get("policy_class") if isinstance(data.get("policy_class"), dict) else {}
    module = policy_class.get("__module__")
    if module is not None and module != "stable_baselines3.sac.policies":
        # The class itself is pickled; its readable `__init__` repr names it without unpickling.
        name = re.match(r"<function (\w+)\.", str(policy_class.get("__init__", "")))
        where = f"{module}.{name.group(1)}" if name else module
        raise SB3FormatError(f"{path} is not an SB3 SAC model: its policy is {where}")
    obs_space = data.get("observation_space")
    obs_shape = obs_space.get("_shape") if isinstance(obs_space, dict) else None
    if isinstance(obs_shape, list) and len(obs_shape) != 1:  # SB3 flattened it; we would not
        raise SB3FormatError(
            f"{path}: its observations have shape {tuple(obs_shape)}; this agent takes flat "
            f"(1-D) observations"
        )
    kwargs = _policy_kwargs(data)
    gsde = _is_gsde(policy, data)
    required = (
        "actor.latent_pi.0.weight",
        _mu_key(policy),
        "actor.log_std" if gsde else "actor.log_std.weight",
        "critic.qf0.0.weight",
        "critic_target.qf0.0.weight",
    )
    missing = [key for key in required if key not in policy]
    if missing:
        raise SB3FormatError(
            f"{path} is not an SB3 SAC MlpPolicy model: policy.pth has no "
            f"{missing[0]} (keys start {sorted(policy)[:3]})"
        )
    activation = str(kwargs.get("activation_fn", "ReLU"))
    if "ReLU" not in activation:  # stored readable as "<class 'torch.nn...Tanh'>"
        raise SB3FormatError(
            f"{path}: only the default ReLU activation is supported, got {activation}"
        )


def _policy_kwargs(data: dict[str, Any]) -> dict[str, Any]:
    """policy_kwargs as stored: plain JSON, or (when something in it is pickled) its readable
    first-level items beside the pickle, which we never load."""
    kwargs = data.get("policy_kwargs")
    return kwargs if isinstance(kwargs, dict) else {}


def _is_gsde(policy: Tensors, data: dict[str, Any]) -> bool:
    """gSDE's actor holds its noise's log σ as one matrix `actor.log_std`, not a Linear head."""
    return "actor.log_std" in policy or bool(
        data.get("use_sde") or _policy_kwargs(data).get("use_sde")
    )


def _mu_key(policy: Tensors) -> str:
    """gSDE with clip_mean > 0 wraps mu in nn.Sequential(Linear, Hardtanh): `actor.mu.0`."""
    return "actor.mu.0.weight" if "actor.mu.0.weight" in policy else "actor.mu.weight"


def _mean_clip(policy: Tensors, data: dict[str, Any]) -> float | None:
    """SB3's clip_mean where its actor clips μ: the stored value, else its default 2."""
    if "actor.mu.0.weight" not in policy:
        return None  # clip_mean=0 (or no gSDE): a plain Linear mu
    clip = _policy_kwargs(data).get("clip_mean")
    numeric = isinstance(clip, (int, float)) and not isinstance(clip, bool)
    return float(clip) if numeric and clip > 0 else 2.0


def _hyperparameters(data: dict[str, Any]) -> dict[str, Any]:
    """SACConfig fields SB3 stores as plain JSON numbers (schedules are pickled: skipped)."""
    out: dict[str, Any] = {}
    for ours, theirs in (
        ("gamma", "gamma"),
        ("tau", "tau"),
        ("batch_size", "batch_size"),
        ("buffer_size", "buffer_size"),
        ("target_entropy", "target_entropy"),
    ):
        if isinstance(data.get(theirs), (int, float)) and not isinstance(data[theirs], bool):
            out[ours] = data[theirs]
    if isinstance(data.get("learning_rate"), (int, float)):  # SB3 uses one lr for all three
        out |= dict.fromkeys(("actor_lr", "critic_lr", "alpha_lr"), data["learning_rate"])
    return out


def read_sb3_sac(path: str | Path) -> SB3SAC:
    """Read an SB3 SAC MlpPolicy zip; sizes come from the tensor shapes. Never unpickles."""
    path = Path(path).expanduser()
    policy, variables, data = _read_zip(path)
    _check_sac_mlp(path, policy, data)
    trunk = _linear_stack(policy, "actor.latent_pi")
    hidden = [int(w.shape[0]) for w in trunk]
    obs_dim, action_dim = int(trunk[0].shape[1]), int(policy[_mu_key(policy)].shape[0])
    num_critics = sum(f"critic.qf{i}.0.weight" in policy for i in range(len(policy)))
    critic_hidden = [int(w.shape[0]) for w in _linear_stack(policy, "critic.qf0")[:-1]]
    if critic_hidden != hidden:
        raise SB3FormatError(
            f"{path}: actor net_arch {hidden} differs from critic net_arch "
            f"{critic_hidden}; our agent has one hidden_sizes"
        )
    # SB3 1.x stores the one it does not use as None.
    if variables.get("log_ent_coef") is not None:  # ent_coef="auto": learned, as log alpha
        log_alpha, learn = float(variables["log_ent_coef"].detach().reshape(-1)[0]), True
    elif variables.get("ent_coef_tensor") is not None:  # a fixed ent_coef
        log_alpha, learn = math.log(float(variables["ent_coef_tensor"])), False
    else:
        log_alpha, learn = 0.0, True
    sac = SB3SAC(
        policy, obs_dim, action_dim, hidden, num_critics, log_alpha, learn, _hyperparameters(data)
    )
    sac.action_low, sac.action_high = _action_bounds_of(data, action_dim)
    sac.gsde, sac.mean_clip = _is_gsde(policy, data), _mean_clip(policy, data)
    steps = data.get("num_timesteps")
    sac.num_timesteps = steps if isinstance(steps, int) and not isinstance(steps, bool) else None
    _check_layout(path, sac)
    return sac


def _action_bounds_of(data: dict[str, Any], action_dim: int) -> tuple[Any, Any]:
    """(low, high) from the data JSON's action space, whose `low`/`high` are numpy's printout
    ("[-2.]"); (None, None) when missing, summarized ("...") or of another size."""
    space = data.get("action_space")
    bounds = []
    for key in ("low", "high"):
        text = space.get(key) if isinstance(space, dict) else None
        if not isinstance(text, str) or "..." in text:
            return None, None
        try:
            values = np.array(text.replace("[", " ").replace("]", " ").split(), dtype=np.float64)
        except ValueError:
            return None, None
        if values.shape != (action_dim,) or not np.all(np.isfinite(values)):
            return None, None
        bounds.append(values)
    return bounds[0], bounds[1]


def _check_layout(path: Path, sac: SB3SAC) -> None:
    """Every key and shape must be what an agent of the inferred sizes maps to, and no more."""
    try:
        expected = agent_to_sb3_state(_empty_agent(sac))
    except ValueError as error:  # e.g. a stored gamma outside [0, 1]
        raise SB3FormatError(f"{path}: {error}") from error
    odd = sorted(set(sac.policy) ^ set(expected))
    odd = odd or [k for k in expected if sac.policy[k].shape != expected[k].shape]
    if odd:
        raise SB3FormatError(
            f"{path} is not an SB3 SAC MlpPolicy model: unexpected, missing or "
            f"misshapen policy tensors {odd[:3]}"
        )


def _empty_agent(sac: SB3SAC, **kwargs: Any) -> SACAgent:
    config = SACConfig(
        **{
            **sac.hyperparameters,
            "hidden_sizes": sac.hidden_sizes,
            "num_critics": sac.num_critics,
            "learn_alpha": sac.learn_alpha,
            "init_alpha": math.exp(sac.log_alpha),
            # SB3's actor clamps log σ to [-20, 2]; the manual backward is for the tanh squash.
            "clamp_log_std": True,
            "log_std_min": SB3_LOG_STD_MIN,
            "log_std_max": SB3_LOG_STD_MAX,
            "mean_clip": sac.mean_clip,
            "update_backend": "autograd",
        }
    )
    agent = SACAgent(sac.obs_dim, sac.action_dim, config, **kwargs)
    if sac.gsde:  # replaced by the zip's matrix on load
        agent.sde_log_std = torch.zeros(sac.hidden_sizes[-1], sac.action_dim)
    return agent


def _critic_from_sb3(policy: Tensors, prefix: str, num_critics: int) -> Tensors:
    """SB3's n separate Linear stacks -> our ensemble: weight (n, in, out), bias (n, 1, out)."""
    state: Tensors = {}
    for j in range(len(_linear_stack(policy, f"{prefix}.qf0"))):
        members = [f"{prefix}.qf{i}.{2 * j}" for i in range(num_critics)]
        state[f"layers.{j}.weight"] = torch.stack([policy[m + ".weight"].T for m in members])
        state[f"layers.{j}.bias"] = torch.stack([policy[m + ".bias"][None] for m in members])
    return state


def _actor_key(sb3_key: str) -> str:
    """actor.latent_pi.k -> trunk.k, actor.mu.0 (gSDE's clipped mu) -> mu, else as is."""
    key = sb3_key.removeprefix("actor.")
    if key.startswith("mu.0."):
        return "mu." + key.removeprefix("mu.0.")
    return key.replace("latent_pi.", "trunk.", 1) if key.startswith("latent_pi.") else key


def load_sb3_sac(
    path: str | Path | SB3SAC,
    action_low: np.ndarray | None = None,
    action_high: np.ndarray | None = None,
    device: torch.device | str = "cpu",
) -> SACAgent:
    """An SACAgent whose actor, critics and target critics compute exactly what SB3's do (for
    a gSDE model: its deterministic actions; stochastic ones are refused).

    `path` may be the zip's `read_sb3_sac` result, to read it once.
    `predict`'s action bounds: those given, else the env's as the zip records them (SB3 saves
    its action space); a zip without readable bounds needs them given. Optimizer states are not
    carried over: the agent is for evaluation or a fresh start.
    """
    sac = path if isinstance(path, SB3SAC) else read_sb3_sac(path)  # SB3SAC: already read
    if action_low is None and action_high is None:
        if sac.action_low is None:
            raise SB3FormatError(
                f"{'the SB3 model' if path is sac else path}: its action bounds are unreadable; "
                f"pass action_low= and action_high="
            )
        action_low, action_high = sac.action_low, sac.action_high
    agent = _empty_agent(sac, device=device, action_low=action_low, action_high=action_high)
    policy = {k: v.to(agent.device, torch.float32) for k, v in sac.policy.items()}
    actor = {
        _actor_key(k): v
        for k, v in policy.items()
        if k.startswith("actor.") and k != "actor.log_std"
    }
    if sac.gsde:
        # No log σ head: gSDE's noise is latent @ E with E ~ N(0, exp(log_std)^2), drawn once
        # per rollout, not per step. The head stays zero and unused: the agent refuses
        # stochastic actions.
        head = agent.actor.log_std
        actor |= {"log_std.weight": torch.zeros_like(head.weight),
                  "log_std.bias": torch.zeros_like(head.bias)}  # fmt: skip
        agent.sde_log_std = policy["actor.log_std"].clone()
    agent.actor.load_state_dict(actor)
    agent.critic.load_state_dict(_critic_from_sb3(policy, "critic", sac.num_critics))
    agent.critic_target.load_state_dict(_critic_from_sb3(policy, "critic_target", sac.num_critics))
    with torch.no_grad():
        agent.log_alpha.fill_(sac.log_alpha)
    return agent


def agent_to_sb3_state(agent: SACAgent) -> Tensors:
    """Our agent's networks as an SB3 SAC MlpPolicy state_dict (`model.policy.load_state_dict`);
    for an imported gSDE model (`agent.sde_log_std`), that of SB3's gSDE policy.

    Deterministic actions and Q-values carry over exactly. Stochastic actions do only for an
    actor that bounds log std as SB3 does (`agent.clamp_log_std`); ours squashes it into
    [log_std_min, log_std_max] with tanh, which SB3 cannot express.
    """
    if agent.obs_norm is not None:
        # SB3's MlpPolicy has no input normalization, and clipping makes folding the running
        # statistics into the first layer inexact: the export would act differently.
        raise ValueError(
            "an agent trained with normalize_obs=true cannot be exported to SB3: its policy "
            "has no place for the observation statistics"
        )
    if agent.config.critic_layer_norm:
        raise ValueError(
            "an agent trained with critic_layer_norm=true cannot be exported to SB3: its "
            "critics have no LayerNorm"
        )
    if agent.config.critic_quantiles:
        raise ValueError(
            "an agent trained with quantile critics (agent.critic_quantiles) cannot be exported "
            "to SB3: its SAC's critics output one Q-value (TQC is in sb3-contrib)"
        )
    gsde, mean_clip = agent.sde_log_std is not None, agent.config.mean_clip
    if mean_clip is not None and not gsde:
        raise ValueError(
            "an agent with agent.mean_clip cannot be exported to SB3: its SAC clips the mean "
            "only in a gSDE model"
        )
    state: Tensors = {}
    for key, value in agent.actor.state_dict().items():
        if gsde and key.startswith("log_std."):
            continue  # gSDE's log σ is the matrix below
        if mean_clip is not None and key.startswith("mu."):  # SB3's Sequential(Linear, Hardtanh)
            key = "mu.0." + key.removeprefix("mu.")
        state["actor." + key.replace("trunk.", "latent_pi.", 1)] = value.detach().cpu().clone()
    if agent.sde_log_std is not None:
        state["actor.log_std"] = agent.sde_log_std.detach().cpu().clone()
    for prefix, critic in (("critic", agent.critic), ("critic_target", agent.critic_target)):
        layers = critic.state_dict()
        num_layers = len(layers) // 2
        for j in range(num_layers):
            weight, bias = layers[f"layers.{j}.weight"], layers[f"layers.{j}.bias"]
            for i in range(weight.shape[0]):
                name = f"{prefix}.qf{i}.{2 * j}"
                state[name + ".weight"] = weight[i].T.detach().cpu().contiguous().clone()
                state[name + ".bias"] = bias[i, 0].detach().cpu().clone()
    return state
