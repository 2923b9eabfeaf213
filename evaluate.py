"""Evaluate a checkpoint or an SB3 SAC model with rollouts, or export it as an SB3 zip or an
ONNX graph:

    python evaluate.py checkpoint=<run dir or checkpoint file> episodes=20 video=true seed=0
    python evaluate.py sb3_model=<model.zip> env=Pendulum-v1 episodes=10
    python evaluate.py checkpoint=<run dir> export_sb3=<out.zip>
    python evaluate.py checkpoint=<run dir> export_onnx=<policy.onnx>

A composition root like train.py: it rebuilds env and agent (runner.models), runs
`envs.evaluate` (which logs nothing), prints a table and writes a JSON report atomically at the
very end. Bad input stops with one `error: ...` line and exit status 2. W&B and SB3 are imported
lazily, only by the options that need them (and onnx by export_onnx=).
"""

from __future__ import annotations

from runner.process import headless_defaults

headless_defaults()  # before gymnasium and wandb are imported

import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import hydra  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402
from omegaconf.errors import OmegaConfBaseException  # noqa: E402

from agents import SACAgent  # noqa: E402
from agents.checkpoint import CheckpointError  # noqa: E402
from agents.sb3 import SB3FormatError  # noqa: E402
from configs.schema import EvaluateConfig  # noqa: E402
from envs import EnvError, evaluate, make_vector_env, record_video  # noqa: E402
from runner.config_store import register_configs  # noqa: E402
from runner.errors import EvalError  # noqa: E402
from runner.hydra_errors import job_started, one_line, run_cli  # noqa: E402
from runner.models import (  # noqa: E402
    EnvSpec,
    export_sb3,
    load_checkpoint_agent,
    load_sb3_agent,
    sb3_zip_path,
)
from runner.onnx_export import check_exporter, check_target, export_onnx  # noqa: E402
from runner.process import exit_status, install_sigterm_handler, plain_warnings  # noqa: E402
from runner.reports import (  # noqa: E402
    check_writable,
    format_table,
    refuse_overwriting_other_files,
    report_path,
    write_json_atomic,
)
from runner.tracking import log_eval_report  # noqa: E402
from runner.validation import validate_evaluate  # noqa: E402

register_configs()


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


def run(cfg: EvaluateConfig) -> dict[str, Any]:
    """Everything the CLI does; returns the report (or {"export_sb3" or "export_onnx": path})."""
    validate_evaluate(cfg)
    if cfg.export_onnx is not None:
        check_exporter()
    torch.manual_seed(cfg.seed)  # the one place the seed is applied (stochastic actions)
    if cfg.sb3_model is not None:
        assert cfg.env is not None  # validate_evaluate: sb3_model= needs env=
        agent, spec, source, history = load_sb3_agent(cfg.sb3_model, cfg.env)
    else:
        agent, spec, source, history = load_checkpoint_agent(str(cfg.checkpoint), cfg.env)
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
    if not cfg.deterministic and agent.sde_log_std is not None:
        raise EvalError(
            "deterministic=false is not supported for an SB3 gSDE model: its state-dependent "
            "noise is not reproduced"
        )
    if cfg.export_onnx is not None:
        target = Path(cfg.export_onnx).expanduser()
        check_target(target)
        path = export_onnx(agent, spec, target, history, source, cfg.deterministic)
        inputs = "obs" if cfg.deterministic else "obs and eps"
        print(f"exported ONNX policy to {path} (inputs {inputs}, output action in env units)")
        return {"export_onnx": str(path)}
    out = report_path(cfg.output, source, is_sb3_zip=cfg.sb3_model is not None)
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
    log_eval_report(cfg.wandb, cfg.seed, report, out)
    return report


@hydra.main(version_base=None, config_path=None, config_name="evaluate")
def main(dict_cfg: DictConfig) -> None:
    job_started()  # Hydra composed the config: its own error report applies from here
    plain_warnings()
    install_sigterm_handler()
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
        sys.exit(exit_status(error))


if __name__ == "__main__":
    run_cli(main)
