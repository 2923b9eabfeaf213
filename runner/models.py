"""Trained models in and out: a train.py checkpoint or an SB3 SAC zip as an agent, the env it
acts in and what training recorded, and an agent exported as an SB3 SAC zip. Every unusable file
is a one-line error.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

import gymnasium as gym
import numpy as np

from agents import SACAgent, SACConfig
from agents.checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint_path
from agents.sb3 import SB3SAC, SB3FormatError, agent_to_sb3_state, load_sb3_sac, read_sb3_sac
from agents.validation import clamps_log_std
from envs import EnvSpaces, env_spaces, flatten_state_dict
from runner.errors import EvalError
from runner.reports import save_atomically


@dataclass
class EnvSpec:
    """The env to rebuild: the checkpoint's own (with its kwargs) or the one named by env=."""

    id: str
    kwargs: Dict[str, Any] = field(default_factory=dict)
    max_episode_steps: Optional[int] = None

    def make_kwargs(self) -> dict[str, Any]:
        return {"max_episode_steps": self.max_episode_steps, **self.kwargs}


def _spaces(spec: EnvSpec, obs_dim: int, action_dim: int, source: str) -> EnvSpaces:
    """The env's spaces, checked against the agent's sizes before any rollout."""
    spaces = env_spaces(spec.id, **spec.make_kwargs())
    if (spaces.obs_dim, spaces.action_dim) != (obs_dim, action_dim):
        raise EvalError(
            f"{source} obs_dim={obs_dim}, action_dim={action_dim}; {spec.id} has "
            f"obs_dim={spaces.obs_dim}, action_dim={spaces.action_dim}"
        )
    return spaces


# What training recorded about a model: {"step": env steps, "eval_return_mean": the last
# evaluation's mean return}, each None where the file does not say.
History = Dict[str, Any]


def load_checkpoint_agent(
    checkpoint: str, env: str | None = None
) -> tuple[SACAgent, EnvSpec, Path, History]:
    """Agent, env and history from a train.py checkpoint (a run dir or file): its config
    rebuilds the same env and networks; `env` evaluates it on another env of the same sizes."""
    path = resolve_checkpoint_path(checkpoint)
    try:
        payload = load_checkpoint(path)
    except CheckpointError as error:
        if _is_sb3_zip(path):
            raise EvalError(
                f"{path} is an SB3 model zip, not a checkpoint of this project: give it as "
                f"sb3_model={path} env=<Gymnasium id>"
            ) from error
        raise
    try:
        saved_env, state = payload["config"]["env"], payload["agent"]
        saved_env["id"]  # noqa: B018 - checked here, used below
        agent_config = SACConfig(**payload["config"]["agent"])
        dims = int(state["obs_dim"]), int(state["action_dim"])
    except (KeyError, TypeError) as error:
        raise CheckpointError(f"{path} lacks the config or agent it needs: {error}") from error
    spec = EnvSpec(
        saved_env["id"], dict(saved_env.get("kwargs") or {}), saved_env.get("max_episode_steps")
    )
    if env is not None and env != spec.id:
        spec = EnvSpec(env)  # the saved kwargs belong to the saved env, not this one
    spaces = _spaces(spec, *dims, f"checkpoint {path} is for {saved_env['id']} with")
    try:
        # The saved state says how its actor bounds log σ (older states by their class name).
        agent_config.clamp_log_std = clamps_log_std(state)
        agent = SACAgent(*dims, agent_config, "cpu", spaces.action_low, spaces.action_high)
        agent.load_state_dict(state)
    except (ValueError, KeyError) as error:
        raise CheckpointError(f"{path}: {error}") from error
    last_eval = payload.get("eval") if isinstance(payload.get("eval"), dict) else {}
    history = {"step": payload.get("step"), "eval_return_mean": last_eval.get("return_mean")}
    return agent, spec, path, history


def load_sb3_agent(sb3_model: str, env: str) -> tuple[SACAgent, EnvSpec, Path, History]:
    """Agent from an SB3 SAC zip; the env is given (the zip stores none we can read safely).
    The history's step is SB3's num_timesteps; SB3 saves no evaluation in the zip."""
    path = Path(sb3_model).expanduser()
    spec = EnvSpec(env)
    try:
        sac = read_sb3_sac(path)  # sizes first, to check them against the env's
    except SB3FormatError as error:
        if _is_torch_checkpoint(path):
            raise EvalError(
                f"{path} is a torch checkpoint (as train.py writes), not an SB3 model zip: give "
                f"it as checkpoint={path}"
            ) from error
        raise
    spaces = _spaces(spec, sac.obs_dim, sac.action_dim, f"SB3 model {path} has")
    refuse_other_action_bounds(sac, spaces, path, spec.id)
    # env_spaces gives the raw bounds: `predict` unscales to them as SB3's predict does.
    agent = load_sb3_sac(sac, spaces.action_low, spaces.action_high)
    return agent, spec, path, {"step": sac.num_timesteps, "eval_return_mean": None}


def refuse_other_action_bounds(sac: SB3SAC, spaces: EnvSpaces, path: Path, env_id: str) -> None:
    """SB3 maps the policy's [-1, 1] onto the action space saved in its zip; the rollout maps it
    onto the env's bounds. Where those differ, every action would be rescaled: a policy other
    than the one SB3 runs, reported as if it were."""
    if sac.action_low is None or sac.action_high is None:  # a zip without a readable space
        return
    same = np.allclose(sac.action_low, spaces.action_low) and np.allclose(
        sac.action_high, spaces.action_high
    )
    if not same:
        raise EvalError(
            f"SB3 model {path} acts in [{_bounds(sac.action_low)}, {_bounds(sac.action_high)}], "
            f"{env_id} in [{_bounds(spaces.action_low)}, {_bounds(spaces.action_high)}]: "
            "evaluate it on the env (and wrappers) it was trained with"
        )


def _bounds(values: np.ndarray) -> str:
    """One number when all are equal, else the list: a bound as a user would write it."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    if flat.size and np.all(flat == flat[0]):
        return f"{flat[0]:g}"
    return "[" + ", ".join(f"{v:g}" for v in flat) + "]"


def _is_sb3_zip(path: Path) -> bool:
    """A zip with SB3's policy.pth at its top (our checkpoints are torch zips without one)."""
    return "policy.pth" in _zip_members(path)


def _is_torch_checkpoint(path: Path) -> bool:
    """A torch.save zip, as train.py writes (its pickle is <name>/data.pkl)."""
    return any(name.endswith("/data.pkl") for name in _zip_members(path))


def _zip_members(path: Path) -> list[str]:
    """The member names of a zip, or none: for a hint, reading names beats loading a checkpoint
    with its replay buffer (gigabytes)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return []


def export_sb3(agent: SACAgent, spec: EnvSpec, path: str | Path) -> Path:
    """Save `agent` as an SB3 SAC zip that `SAC.load` reads; deterministic actions and Q-values
    carry over exactly (see agents.sb3.agent_to_sb3_state). Written atomically."""
    from stable_baselines3 import SAC  # lazy: only this option needs SB3

    try:
        policy_state = agent_to_sb3_state(agent)
    except ValueError as error:  # e.g. normalize_obs, which SB3's MlpPolicy cannot express
        raise EvalError(f"cannot export to SB3: {error}") from error
    path = sb3_zip_path(path)
    cfg, alpha = agent.config, float(agent.alpha)
    policy_kwargs: dict[str, Any] = {
        "net_arch": list(cfg.hidden_sizes),
        "n_critics": cfg.num_critics,
    }
    gsde = agent.sde_log_std is not None  # an imported gSDE model goes back as one
    if gsde:
        policy_kwargs["clip_mean"] = cfg.mean_clip or 0.0  # 0: SB3's mu without Hardtanh
    # The raw env, not make_env's: SB3 rescales actions itself from the env's own bounds. Dict
    # observations of state vectors (DeepMind Control) flattened as in training, since SB3's
    # MlpPolicy takes a Box: such a zip's user wraps the env in FlattenObservation too.
    env = flatten_state_dict(gym.make(spec.id, **spec.make_kwargs()))
    try:
        model = SAC(
            "MlpPolicy",
            env,
            device="cpu",
            learning_rate=cfg.actor_lr,
            buffer_size=cfg.buffer_size,
            batch_size=cfg.batch_size,
            tau=cfg.tau,
            gamma=cfg.gamma,
            target_entropy=agent.target_entropy,
            ent_coef=f"auto_{alpha}" if cfg.learn_alpha else alpha,
            use_sde=gsde,
            policy_kwargs=policy_kwargs,
        )
        model.policy.load_state_dict(policy_state)
        return save_atomically(path, model.save, tmp_suffix=".tmp.zip")
    finally:
        env.close()


def sb3_zip_path(path: str | Path) -> Path:
    """Where the export goes: `path`, with `.zip` appended unless it ends so (SB3's `save`
    appends it only to a name without a suffix; the export, its guard and its printed path all
    use this one)."""
    path = Path(path).expanduser()
    return path if path.suffix == ".zip" else path.with_name(path.name + ".zip")
