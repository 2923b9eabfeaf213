"""Weights & Biases tracking for both CLIs: the credential check, one `wandb.init` call, the
training run's logger and the evaluation's run. A W&B failure warns; it never stops training
or loses an evaluation report. wandb is imported only where a run is started.
"""

from __future__ import annotations

import json
import netrc
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from configs.schema import TrainConfig, WandbConfig
from runner.reports import save_atomically


def has_wandb_credentials() -> bool:
    """An API key in the environment or in ~/.netrc (where `wandb login` stores it)."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").split("://")[-1].rstrip("/")
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def resolve_mode(mode: str) -> str:
    """wandb.mode=auto: online with credentials, else offline."""
    if mode != "auto":
        return mode
    return "online" if has_wandb_credentials() else "offline"


def init_wandb(
    mode: str,
    settings: WandbConfig,
    *,
    job_type: str,
    config: dict[str, Any],
    directory: Path,
    name: str,
):
    """`wandb.init` with the project's settings; raises what wandb raises."""
    import wandb  # only a run that tracks needs it (runner.validation checked that it imports)

    return wandb.init(
        mode=mode,
        project=settings.project,
        entity=settings.entity,
        group=settings.group,
        tags=list(settings.tags),
        job_type=job_type,
        config=config,
        dir=str(directory),
        name=name,
        # Several runs at once: a population logs one W&B run per member from one process.
        reinit="create_new",
        settings=wandb.Settings(init_timeout=settings.init_timeout, silent=True),
    )


def population_name(cfg: TrainConfig) -> str:
    """The W&B group of a population's member runs, when wandb.group does not name one."""
    started = time.strftime("%Y%m%d-%H%M%S")
    return f"{cfg.env.id}__sac__population{cfg.population}__seed{cfg.seed}__{started}"


def drop_rows_after(metrics_path: Path, step: int) -> int:
    """Remove the metrics.jsonl rows past `step`: a run resumed in its own dir from a checkpoint
    at `step` logs those steps again (they were written after that checkpoint, before a hard
    kill or from a damaged newer one). Returns how many rows went."""
    if not metrics_path.is_file():
        return 0
    lines = metrics_path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if _row_step(line) <= step]
    if len(kept) < len(lines):
        save_atomically(metrics_path, lambda tmp: tmp.write_text("".join(kept), encoding="utf-8"))
    return len(lines) - len(kept)


def _row_step(line: str) -> float:
    try:
        return float(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):  # a line cut short by a kill mid-write
        return float("inf")


class RunLogger:
    """One `write(step, scalars)` that fans out to metrics.jsonl and, when enabled, W&B.

    A W&B failure mid-run warns once and disables W&B; the local log and training go on.
    """

    def __init__(self, run_dir: Path, cfg: TrainConfig, config_dict: dict[str, Any]) -> None:
        start = time.perf_counter()
        self.local = open(  # noqa: SIM115 - line-buffered: `tail -f` works, a crash loses little
            run_dir / "metrics.jsonl", "a", buffering=1, encoding="utf-8"
        )
        self.wandb_run = None
        mode = resolve_mode(cfg.wandb.mode)
        if cfg.wandb.mode == "auto" and mode == "offline":
            print("wandb: no API key found, logging offline", file=sys.stderr)
        if mode != "disabled":
            self.wandb_run = self._init_wandb(run_dir, cfg, config_dict, mode)
        if self.wandb_run is not None and self.wandb_run.offline:
            # The run's own folder (wandb/offline-run-<time>-<id>) is what `wandb sync` takes.
            sync_dir = Path(self.wandb_run.dir).parent
            print(f"wandb: upload this run later with `wandb sync {sync_dir}`", file=sys.stderr)
        self.seconds = time.perf_counter() - start  # time spent tracking, reported in the summary

    @staticmethod
    def _init_wandb(run_dir: Path, cfg: TrainConfig, config_dict: dict[str, Any], mode: str):
        kwargs = dict(
            job_type="train",
            config=config_dict,
            directory=run_dir,
            name=f"{cfg.env.id}__sac__seed{cfg.seed}__{time.strftime('%Y%m%d-%H%M%S')}",
        )
        try:
            run = init_wandb(mode, cfg.wandb, **kwargs)
        except Exception as error:  # noqa: BLE001 - any tracking failure must not stop training
            if mode != "online":
                warnings.warn(f"wandb disabled: {error}", stacklevel=2)
                return None
            warnings.warn(
                f"wandb online init failed ({error}); falling back to offline", stacklevel=2
            )
            try:
                run = init_wandb("offline", cfg.wandb, **kwargs)
            except Exception as offline_error:  # noqa: BLE001
                warnings.warn(f"wandb disabled: {offline_error}", stacklevel=2)
                return None
        run.define_metric("global_step")
        run.define_metric("*", step_metric="global_step")  # every chart against env steps
        return run

    def write(self, step: int, scalars: dict[str, float]) -> None:
        start = time.perf_counter()
        self.local.write(json.dumps({"step": step, **scalars}) + "\n")
        self.seconds += time.perf_counter() - start
        if self.wandb_run is not None:
            self._safely(lambda: self.wandb_run.log({"global_step": step, **scalars}))

    def video(self, step: int, key: str, path: Path) -> None:
        if self.wandb_run is not None:
            import wandb

            self._safely(
                lambda: self.wandb_run.log(
                    {"global_step": step, key: wandb.Video(str(path), format="mp4")}
                )
            )

    def model(self, path: Path, name: str, aliases: list[str], metadata: dict[str, Any]) -> None:
        """Log a checkpoint file as a W&B model artifact."""
        if self.wandb_run is not None:
            import wandb

            def log_artifact() -> None:
                artifact = wandb.Artifact(name, type="model", metadata=metadata)
                artifact.add_file(str(path))
                self.wandb_run.log_artifact(artifact, aliases=aliases)

            self._safely(log_artifact)

    def _safely(self, call: Any) -> None:
        start = time.perf_counter()
        try:
            call()
        except Exception as error:  # noqa: BLE001 - tracking must never stop training
            warnings.warn(f"wandb call failed ({error}); W&B logging disabled", stacklevel=3)
            self.wandb_run = None
        self.seconds += time.perf_counter() - start

    def close(self, summary: dict[str, Any]) -> None:
        self.local.close()
        if self.wandb_run is not None:
            try:
                if summary:
                    self.wandb_run.summary.update(
                        {
                            **summary,
                            "eval/final_return_mean": summary["eval_return_mean"],
                            "eval/best_return_mean": summary["best_eval_return_mean"],
                        }
                    )
                self.wandb_run.finish()
            except Exception as error:  # noqa: BLE001
                warnings.warn(f"wandb.finish failed: {error}", stacklevel=2)


def log_eval_report(settings: WandbConfig, seed: int, report: dict[str, Any], out: Path) -> None:
    """An evaluation as a job_type="eval" W&B run. A W&B failure warns; the report stands."""
    if settings.mode == "disabled":
        return
    try:
        import wandb  # lazy: only an evaluation that logs needs it
    except Exception as error:  # noqa: BLE001 - the report is written: warn, as any W&B failure
        warnings.warn(f"wandb logging skipped: wandb cannot be imported ({error})", stacklevel=2)
        return
    mode = resolve_mode(settings.mode)
    scalars = {k: v for k, v in report.items() if not isinstance(v, list)}
    try:
        run = init_wandb(
            mode,
            settings,
            job_type="eval",
            config=scalars,
            directory=out.parent,
            name=f"{report['env_id']}__eval__seed{seed}__{time.strftime('%Y%m%d-%H%M%S')}",
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
        print(f"wandb: logged offline; upload with `wandb sync {sync_dir}`", file=sys.stderr)
