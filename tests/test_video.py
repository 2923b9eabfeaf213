"""Headless evaluation videos for each env family (classic control, Box2D, MuJoCo)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from optional_extras import require_extra

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # as the CLIs do (runner.process)
os.environ.setdefault("MUJOCO_GL", "egl")

from envs import make_env, record_video  # noqa: E402

FAMILIES = [
    ("Pendulum-v1", None),
    ("LunarLanderContinuous-v3", "Box2D"),  # pip install -e ".[box2d]"
    ("HalfCheetah-v5", "mujoco"),  # pip install -e ".[mujoco]"
]


@pytest.mark.parametrize(("env_id", "module"), FAMILIES)
def test_record_video_headless(env_id: str, module: str | None, tmp_path: Path) -> None:
    if module is not None:
        require_extra(module)
    import imageio.v3 as iio

    probe = make_env(env_id)
    action_dim = probe.action_space.shape[0]
    probe.close()
    (path,) = record_video(
        lambda obs: np.zeros((len(obs), action_dim), np.float32),
        env_id, tmp_path, name_prefix="t", seed=0, max_episode_steps=30,
    )  # fmt: skip
    assert path == tmp_path / "t-episode-0.mp4"
    frames = iio.imread(path)
    assert frames.ndim == 4 and frames.shape[0] >= 25 and frames.shape[-1] == 3
    assert frames.std() > 5  # a rendered scene, not a blank frame
