"""Evaluation rollouts, and the CLI that evaluates a checkpoint or an SB3 SAC model.

`evaluate(policy, envs, episodes)` runs exactly `episodes` episodes and does no logging: train.py
uses it for its periodic evaluation. Below it, the CLI is a composition root like train.py:

    python evaluate.py checkpoint=<run dir or checkpoint file> episodes=20 video=true seed=0
    python evaluate.py sb3_model=<model.zip> env=Pendulum-v1 episodes=10
    python evaluate.py checkpoint=<run dir> export_sb3=<out.zip>

It rebuilds env and agent, prints a table and writes a JSON report atomically at the very end.
Bad input stops with one `error: ...` line and exit status 2. W&B and SB3 are imported lazily,
only by the options that need them.
"""

from __future__ import annotations

import os

# Headless rendering default for pygame-ce (as in train.py; MUJOCO_GL: envs/factory.py).
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("WANDB_DISABLE_WEAVE", "true")  # see train.py

import json  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
import zipfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Dict, Optional  # noqa: E402

import gymnasium as gym  # noqa: E402
import hydra  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from hydra.core.config_store import ConfigStore  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402
from omegaconf.errors import OmegaConfBaseException  # noqa: E402

from agents import SACAgent, SACConfig  # noqa: E402
from agents.checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint_path  # noqa: E402
from agents.sb3 import (  # noqa: E402
    SB3SAC,
    SB3FormatError,
    agent_to_sb3_state,
    load_sb3_sac,
    read_sb3_sac,
)
from agents.validation import is_integer  # noqa: E402
from configs.hydra_errors import job_started, one_line, run_cli  # noqa: E402
from configs.schema import WandbConfig  # noqa: E402
from envs import (  # noqa: E402
    EnvError,
    EnvSpaces,
    env_spaces,
    flatten_state_dict,
    make_vector_env,
    record_video,
)

Policy = Callable[[np.ndarray], np.ndarray]  # batched obs (N, obs_dim) -> actions (N, A)


def evaluate(
    policy: Policy, envs: gym.vector.VectorEnv, episodes: int, seed: int | None = None
) -> dict[str, Any]:
    """Run `episodes` episodes over a next-step-autoreset vector env and summarize them.

    Each sub-env i runs a fixed quota of (episodes + i) // num_envs episodes (SB3's scheme), so
    short episodes finishing first cannot crowd out long ones and bias the mean upward.
    """
    if not isinstance(envs, gym.vector.VectorEnv):  # e.g. an SB3 VecEnv: use evaluate_policy
        raise TypeError(f"evaluate needs a gymnasium vector env, got {type(envs).__name__}")
    if not is_integer(episodes) or episodes < 1:
        raise ValueError(f"episodes must be an integer >= 1, got {episodes!r}")
    mode = envs.metadata.get("autoreset_mode", gym.vector.AutoresetMode.NEXT_STEP)
    if mode != gym.vector.AutoresetMode.NEXT_STEP:  # other modes would split episodes wrongly
        raise ValueError(f"evaluate needs a next-step autoreset vector env, got {mode}")
    num_envs = envs.num_envs
    quota = np.array([(episodes + i) // num_envs for i in range(num_envs)])
    returns: list[list[float]] = [[] for _ in range(num_envs)]
    lengths: list[list[int]] = [[] for _ in range(num_envs)]
    successes: list[list[bool]] = [[] for _ in range(num_envs)]
    episode_return = np.zeros(num_envs)
    episode_length = np.zeros(num_envs, dtype=np.int64)
    resetting = np.zeros(num_envs, dtype=bool)

    obs, _ = envs.reset(seed=seed)
    while any(len(r) < q for r, q in zip(returns, quota)):
        obs, reward, terminated, truncated, info = envs.step(policy(obs))
        live = ~resetting  # a sub-env's autoreset step belongs to no episode
        episode_return[live] += reward[live]
        episode_length[live] += 1
        done = np.logical_or(terminated, truncated) & live
        for i in np.flatnonzero(done):
            if len(returns[i]) < quota[i]:
                returns[i].append(float(episode_return[i]))
                lengths[i].append(int(episode_length[i]))
                if "is_success" in info and info.get("_is_success", np.ones(num_envs, bool))[i]:
                    successes[i].append(bool(info["is_success"][i]))
            episode_return[i] = 0.0
            episode_length[i] = 0
        resetting = np.logical_or(terminated, truncated)

    all_returns = np.array([r for per_env in returns for r in per_env])
    all_lengths = np.array([n for per_env in lengths for n in per_env])
    report: dict[str, Any] = {
        "episodes": len(all_returns),
        "return_mean": float(all_returns.mean()),
        "return_std": float(all_returns.std()),
        "return_min": float(all_returns.min()),
        "return_max": float(all_returns.max()),
        "return_median": float(np.median(all_returns)),
        "length_mean": float(all_lengths.mean()),
        "episode_returns": all_returns.tolist(),
        "episode_lengths": all_lengths.tolist(),
    }
    flat_successes = [s for per_env in successes for s in per_env]
    if flat_successes:
        report["success_rate"] = float(np.mean(flat_successes))
    return report


# ------------------------------------------------------------------------------------ the CLI


@dataclass
class EvalWandbConfig(WandbConfig):
    mode: str = "disabled"  # auto | online | offline | disabled: evaluation logs only on request


@dataclass
class EvaluateConfig:
    """`python evaluate.py key=value ...`; a misspelled key fails at once (typed schema)."""

    checkpoint: Optional[str] = None  # a train.py run dir or checkpoint file
    sb3_model: Optional[str] = None  # an SB3 SAC MlpPolicy zip (needs env=)
    env: Optional[str] = None  # Gymnasium id; with checkpoint= it overrides the saved env
    episodes: int = 10
    deterministic: bool = True  # action tanh(mu); false samples a ~ pi(.|s)
    seed: int = 0  # seeds torch and the envs' first reset
    num_envs: int = 1
    video: bool = False  # mp4s of the first `video_episodes` episodes, next to the report
    video_episodes: int = 1
    output: Optional[str] = None  # report path; default: next to the checkpoint / model
    export_sb3: Optional[str] = None  # save the agent as an SB3 SAC zip instead of evaluating
    wandb: EvalWandbConfig = field(default_factory=EvalWandbConfig)


_store = ConfigStore.instance()
_store.store(name="evaluate_schema", node=EvaluateConfig)
# Evaluation writes only its report (and videos): no outputs/ run dir, no .hydra/, no log file.
_store.store(
    name="evaluate",
    node={
        "defaults": [
            "evaluate_schema",
            "_self_",
            {"override hydra/job_logging": "disabled"},
            {"override hydra/hydra_logging": "disabled"},
        ],
        "hydra": {"run": {"dir": "."}, "sweep": {"dir": ".", "subdir": "."}, "output_subdir": None},
    },
)


class EvalError(ValueError):
    """A CLI input that cannot be evaluated (conflicting options, wrong env); one line."""


@dataclass
class EnvSpec:
    """The env to rebuild: the checkpoint's own (with its kwargs) or the one named by env=."""

    id: str
    kwargs: Dict[str, Any] = field(default_factory=dict)
    max_episode_steps: Optional[int] = None

    def make_kwargs(self) -> dict[str, Any]:
        return {"max_episode_steps": self.max_episode_steps, **self.kwargs}


def validate(cfg: EvaluateConfig) -> None:
    if (cfg.checkpoint is None) == (cfg.sb3_model is None):
        raise EvalError("give exactly one of checkpoint=<run dir or file> or sb3_model=<zip>")
    for name in ("checkpoint", "sb3_model", "env", "output", "export_sb3"):
        if getattr(cfg, name) is not None and not str(getattr(cfg, name)).strip():
            # checkpoint= would read ./checkpoint.pt, output= write ./eval_report.json
            what = "an env id" if name == "env" else "a path"
            raise EvalError(f"{name}= is empty: give {what}, or leave it out")
    if cfg.sb3_model is not None and cfg.env is None:
        raise EvalError("sb3_model= needs env=<Gymnasium id>: an SB3 zip does not name its env")
    for name in ("episodes", "num_envs", "video_episodes"):
        if getattr(cfg, name) < 1:
            raise EvalError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if cfg.num_envs > cfg.episodes:  # num_envs=10**8 spent minutes building envs never used
        raise EvalError(
            f"num_envs={cfg.num_envs} must be <= episodes={cfg.episodes}: an env beyond the "
            "episodes would run uncounted"
        )
    if cfg.wandb.mode not in ("auto", "online", "offline", "disabled"):
        raise EvalError(f"wandb.mode must be auto|online|offline|disabled, got {cfg.wandb.mode!r}")
    if cfg.video and cfg.video_episodes > cfg.episodes:  # videos are of the evaluated episodes
        raise EvalError(f"video_episodes={cfg.video_episodes} must be <= episodes={cfg.episodes}")
    if cfg.export_sb3 is not None and (cfg.video or cfg.output is not None):
        raise EvalError(
            "export_sb3= only exports (no rollouts, report or video); evaluate in a second command"
        )
    if not 0 <= cfg.seed < 2**62:  # torch takes 64-bit seeds, gymnasium non-negative ones
        raise EvalError(f"seed must be in [0, 2**62), got {cfg.seed}")


def check_writable(path: Path, key: str) -> None:
    """Refuse, before any rollout, a path whose folder cannot be made: the nearest existing
    ancestor must be a folder we may write into (a file there fails only at the very end)."""
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise EvalError(f"{key}={path} cannot be written: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK):
        raise EvalError(f"{key}={path} cannot be written: no write permission in {ancestor}")


def refuse_overwriting_other_files(out: Path) -> None:
    """An existing output= file may be replaced only by a newer report: output=<run>/summary.json
    would otherwise silently destroy the training run's summary."""
    if not out.exists():
        return
    try:
        old = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        old = None
    if not (isinstance(old, dict) and {"episode_returns", "deterministic"} <= old.keys()):
        raise EvalError(
            f"{out} exists and is not an eval report: give output=<another .json path> "
            "(only an earlier report is replaced)"
        )


def _spaces(spec: EnvSpec, obs_dim: int, action_dim: int, source: str) -> EnvSpaces:
    """The env's spaces, checked against the agent's sizes before any rollout."""
    spaces = env_spaces(spec.id, **spec.make_kwargs())
    if (spaces.obs_dim, spaces.action_dim) != (obs_dim, action_dim):
        raise EvalError(
            f"{source} obs_dim={obs_dim}, action_dim={action_dim}; {spec.id} has "
            f"obs_dim={spaces.obs_dim}, action_dim={spaces.action_dim}"
        )
    return spaces


def load_checkpoint_agent(cfg: EvaluateConfig) -> tuple[SACAgent, EnvSpec, Path]:
    """Agent and env from a train.py checkpoint: its config rebuilds the same env and networks."""
    path = resolve_checkpoint_path(cfg.checkpoint)
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
    if cfg.env is not None and cfg.env != spec.id:
        spec = EnvSpec(cfg.env)  # the saved kwargs belong to the saved env, not this one
    spaces = _spaces(spec, *dims, f"checkpoint {path} is for {saved_env['id']} with")
    try:
        agent = SACAgent(*dims, agent_config, "cpu", spaces.action_low, spaces.action_high)
        agent.load_state_dict(state)
    except (ValueError, KeyError) as error:
        raise CheckpointError(f"{path}: {error}") from error
    return agent, spec, path


def load_sb3_agent(cfg: EvaluateConfig) -> tuple[SACAgent, EnvSpec, Path]:
    """Agent from an SB3 SAC zip; env from env= (the zip stores none we can read safely)."""
    if cfg.sb3_model is None or cfg.env is None:
        raise EvalError("an SB3 model needs sb3_model=<zip> and env=<Gymnasium id>")
    path = Path(cfg.sb3_model).expanduser()
    spec = EnvSpec(cfg.env)
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
    return agent, spec, path


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


def rollout(agent: SACAgent, spec: EnvSpec, cfg: EvaluateConfig) -> dict[str, Any]:
    """evaluate() on fresh envs built as in training: actions in [-1, 1], float32 observations.

    [-1, 1] is SB3's internal action scale too: its SAC squashes with tanh and `predict` maps
    a to low + 0.5 (a + 1)(high - low) (`BasePolicy.unscale_action`), the same affine map as
    our envs' RescaleAction, so an imported SB3 policy sees exactly what it saw in SB3.
    """
    envs = make_vector_env(spec.id, cfg.num_envs, "sync", **spec.make_kwargs())
    try:
        report = evaluate(
            lambda obs: agent.act(obs, deterministic=cfg.deterministic),
            envs,
            cfg.episodes,
            seed=cfg.seed,
        )
    finally:
        envs.close()
    finite = np.isfinite(report["episode_returns"])
    if not finite.all():  # a report of NaN means nothing
        raise EvalError(
            f"{(~finite).sum()} of {finite.size} episode returns are NaN or inf on {spec.id} "
            f"(env kwargs {spec.kwargs}): the policy's actions or the env's rewards are not finite"
        )
    return report


def record(agent: SACAgent, spec: EnvSpec, cfg: EvaluateConfig, out: Path) -> list[str]:
    """mp4s of `video_episodes` episodes in videos/ beside the report. Episode i is seeded with
    seed + i, so with one env and deterministic=true video 0 replays report episode 0."""
    # record_video turns a missing moviepy or renderer into one EnvError line itself.
    paths = record_video(
        lambda obs: agent.act(obs, deterministic=cfg.deterministic),
        spec.id,
        out.parent / "videos",
        name_prefix=out.stem.removesuffix("_report"),
        episodes=cfg.video_episodes,
        seed=cfg.seed,
        **spec.make_kwargs(),
    )
    return [str(p) for p in paths]


def report_path(cfg: EvaluateConfig, source: Path) -> Path:
    """output= if given (a dir means <dir>/eval_report.json); else beside the checkpoint as
    eval_report.json, or beside an SB3 zip as <name>_eval_report.json (zips share folders)."""
    if cfg.output is not None:
        out = Path(cfg.output).expanduser()
        return out / "eval_report.json" if out.is_dir() else out
    if cfg.sb3_model is not None:
        return source.with_name(f"{source.stem}_eval_report.json")
    return source.parent / "eval_report.json"


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Readers see the old file or the complete new one, never half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:  # after Ctrl-C or a full disk mid-write, no stray .tmp
        tmp.unlink(missing_ok=True)


def format_table(report: dict[str, Any], max_rows: int = 20) -> str:
    mode = "deterministic" if report["deterministic"] else "stochastic"
    lines = [
        f"{report['env_id']}: {report['episodes']} episodes, seed {report['seed']}, {mode}",
        f"{'episode':>8} {'return':>12} {'length':>8}",
    ]
    rows = list(enumerate(zip(report["episode_returns"], report["episode_lengths"])))
    lines += [f"{i:>8} {r:>12.2f} {n:>8}" for i, (r, n) in rows[:max_rows]]
    if len(rows) > max_rows:
        lines.append(f"{'...':>8} ({len(rows) - max_rows} more in the report)")
    lines.append(
        f"return mean {report['return_mean']:.2f} ± {report['return_std']:.2f} (std), "
        f"min {report['return_min']:.2f}, max {report['return_max']:.2f}, "
        f"median {report['return_median']:.2f}"
    )
    if "success_rate" in report:
        lines.append(f"success rate {report['success_rate']:.1%}")
    return "\n".join(lines)


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
            policy_kwargs={"net_arch": list(cfg.hidden_sizes), "n_critics": cfg.num_critics},
        )
        model.policy.load_state_dict(policy_state)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.zip")
        try:
            model.save(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)  # after a failed save or replace
    finally:
        env.close()
    return path


def sb3_zip_path(path: str | Path) -> Path:
    """Where the export goes: `path`, with `.zip` appended unless it ends so (SB3's `save`
    appends it only to a name without a suffix; the export, its guard and its printed path all
    use this one)."""
    path = Path(path).expanduser()
    return path if path.suffix == ".zip" else path.with_name(path.name + ".zip")


def log_to_wandb(cfg: EvaluateConfig, report: dict[str, Any], out: Path) -> None:
    """The evaluation as a job_type="eval" W&B run. A W&B failure warns; the report stands."""
    mode = cfg.wandb.mode
    if mode == "disabled":
        return
    try:
        import wandb  # lazy: evaluate() and everything above never log
    except Exception as error:  # noqa: BLE001 - the report is written: warn, as any W&B failure
        warnings.warn(f"wandb logging skipped: wandb cannot be imported ({error})", stacklevel=2)
        return
    if mode == "auto":
        from train import has_wandb_credentials  # one credential check, shared with training

        mode = "online" if has_wandb_credentials() else "offline"
    scalars = {k: v for k, v in report.items() if not isinstance(v, list)}
    try:
        run = wandb.init(
            mode=mode,
            project=cfg.wandb.project,
            entity=cfg.wandb.entity,
            group=cfg.wandb.group,
            tags=list(cfg.wandb.tags),
            job_type="eval",
            config=scalars,
            dir=str(out.parent),
            name=f"{report['env_id']}__eval__seed{cfg.seed}__{time.strftime('%Y%m%d-%H%M%S')}",
            settings=wandb.Settings(init_timeout=cfg.wandb.init_timeout, silent=True),
        )
        for i, (r, n) in enumerate(zip(report["episode_returns"], report["episode_lengths"])):
            run.log({"episode": i, "eval/episode_return": r, "eval/episode_length": n})
        for video in report.get("videos", []):
            run.log({"eval/video": wandb.Video(video, format="mp4")})
        run.summary.update({f"eval/{k}": v for k, v in scalars.items() if isinstance(v, float)})
        sync_dir = Path(run.dir).parent  # wandb/offline-run-<time>-<id>: what `wandb sync` takes
        run.finish()
    except Exception as error:  # noqa: BLE001 - tracking must not fail a finished evaluation
        warnings.warn(f"wandb logging failed: {error}", stacklevel=2)
        return
    if mode == "offline":
        print(
            f"wandb: logged offline; upload with `wandb sync {sync_dir}`",
            file=sys.stderr,
        )


def run(cfg: EvaluateConfig) -> dict[str, Any]:
    """Everything the CLI does; returns the report (or {"export_sb3": path})."""
    validate(cfg)
    torch.manual_seed(cfg.seed)  # the one place the seed is applied (stochastic actions)
    load = load_sb3_agent if cfg.sb3_model is not None else load_checkpoint_agent
    agent, spec, source = load(cfg)
    if cfg.export_sb3 is not None:
        target = sb3_zip_path(cfg.export_sb3)  # export_sb3=m writes m.zip
        if target.resolve() == source.resolve():
            raise EvalError(f"export_sb3={cfg.export_sb3} would overwrite the model being read")
        if target.is_dir():
            raise EvalError(f"export_sb3={cfg.export_sb3} would write {target}, a folder")
        check_writable(target, "export_sb3")
        path = export_sb3(agent, spec, cfg.export_sb3)
        print(f"exported SB3 SAC model to {path}; load it with stable_baselines3.SAC.load")
        return {"export_sb3": str(path)}
    out = report_path(cfg, source)
    if out.resolve() == source.resolve():
        raise EvalError(f"output={out} would overwrite the model being read")
    if out.suffix != ".json":
        raise EvalError(f"output={out} must be a .json report path (or an existing folder)")
    check_writable(out, "output")
    refuse_overwriting_other_files(out)
    report = {
        "env_id": spec.id,
        "checkpoint": str(source) if cfg.checkpoint is not None else None,
        "sb3_model": str(source) if cfg.sb3_model is not None else None,
        "seed": cfg.seed,
        "deterministic": cfg.deterministic,
        "num_envs": cfg.num_envs,
        **rollout(agent, spec, cfg),
    }
    if cfg.video:
        report["videos"] = record(agent, spec, cfg, out)
    write_json_atomic(out, report)  # last: a failure above leaves no report behind
    print(format_table(report))
    print(f"report: {out}")
    log_to_wandb(cfg, report, out)
    return report


@hydra.main(version_base=None, config_path=None, config_name="evaluate")
def main(dict_cfg: DictConfig) -> None:
    # train.py imports this module: not at the top
    from train import Terminated, interrupt_on_sigterm, plain_warnings

    job_started()  # Hydra composed the config: its own error report applies from here
    plain_warnings()
    signal.signal(signal.SIGTERM, interrupt_on_sigterm)
    try:
        cfg: EvaluateConfig = OmegaConf.to_object(dict_cfg)
    except OmegaConfBaseException as error:  # e.g. a value interpolating an unknown resolver
        print(f"error: {one_line(error)}", file=sys.stderr)
        sys.exit(2)
    try:
        run(cfg)
    except (EvalError, CheckpointError, EnvError, SB3FormatError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as error:  # Ctrl-C or SIGTERM: a report is whole or not written
        print("interrupted", file=sys.stderr)
        sys.exit(128 + (signal.SIGTERM if isinstance(error, Terminated) else signal.SIGINT))


if __name__ == "__main__":
    run_cli(main)
