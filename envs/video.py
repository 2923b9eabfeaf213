"""Record policy rollouts to mp4 with Gymnasium's RecordVideo (moviepy underneath)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from envs.factory import EnvError, make_env


def record_video(
    policy: Callable[[np.ndarray], np.ndarray],
    env_id: str,
    video_dir: str | Path,
    name_prefix: str = "eval",
    episodes: int = 1,
    seed: int | None = None,
    **env_kwargs: Any,
) -> list[Path]:
    """Run `episodes` episodes of a batched policy on one rendered env; return the mp4 paths.

    Renders headless (`rgb_array`); set SDL_VIDEODRIVER=dummy / MUJOCO_GL=egl beforehand on a
    machine without a display. The fps comes from the env's `render_fps` metadata.
    """
    video_dir = Path(video_dir)
    env = make_env(env_id, render_mode="rgb_array", **env_kwargs)
    try:
        _record(env, policy, video_dir, name_prefix, episodes, seed)
    except gym.error.Error as error:  # no moviepy, no renderer: one clear line, not a traceback
        raise EnvError(f"{env_id}: cannot record video: {str(error).splitlines()[0]}") from error
    return [video_dir / f"{name_prefix}-episode-{episode}.mp4" for episode in range(episodes)]


def _record(
    env: gym.Env,
    policy: Callable[[np.ndarray], np.ndarray],
    video_dir: Path,
    name_prefix: str,
    episodes: int,
    seed: int | None,
) -> None:
    with warnings.catch_warnings():  # several recordings share one folder by design
        warnings.filterwarnings("ignore", message=".*Overwriting existing videos.*")
        env = gym.wrappers.RecordVideo(
            env, str(video_dir), episode_trigger=lambda episode: True, name_prefix=name_prefix
        )
    try:
        for episode in range(episodes):
            obs, _ = env.reset(seed=None if seed is None else seed + episode)
            done = False
            while not done:
                action = policy(obs[None])[0]
                obs, _, terminated, truncated, _ = env.step(action)
                done = terminated or truncated
    finally:
        env.close()  # flushes the last video
