"""envs/: make_env, env_spaces, make_vector_env, and TransitionTracker over real vector envs."""

from __future__ import annotations

import sys
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from fake_envs import CounterEnv, counter_thunk, sync_vector
from gymnasium.vector import AutoresetMode
from optional_extras import require_extra

from envs import EnvError, TransitionTracker, env_spaces, factory, make_env, make_vector_env

# ---------------------------------------------------------------- custom envs registered by id


class _SpacesEnv(gym.Env):
    """An env with whatever spaces the test asks for; records the last raw action it got."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        action_space: gym.Space,
        observation_space: gym.Space,
        render_mode: str | None = None,
    ) -> None:
        self.action_space = action_space
        self.observation_space = observation_space
        self.render_mode = render_mode
        self.last_action: np.ndarray | None = None
        self.closed = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        self.last_action = np.array(action, copy=True)
        return self.observation_space.sample(), 0.0, False, False, {}

    def close(self) -> None:
        self.closed = True


_FLAT_OBS = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
_UNIT_ACTION = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
_CLOSED_FLAGS: list[_SpacesEnv] = []  # envs built by the Discrete-action id, to check close()


def _register(name: str, entry_point: Any, **kwargs: Any) -> str:
    env_id = f"SacTestEnvs/{name}-v0"
    if env_id not in gym.registry:
        gym.register(id=env_id, entry_point=entry_point, kwargs=kwargs)
    return env_id


def _discrete_tracked(render_mode: str | None = None) -> _SpacesEnv:
    env = _SpacesEnv(gym.spaces.Discrete(2), _FLAT_OBS, render_mode)
    _CLOSED_FLAGS.append(env)
    return env


def _missing_dependency(render_mode: str | None = None) -> gym.Env:
    raise gym.error.DependencyNotInstalled(
        "fakephysics is not installed, run `pip install fakephysics`\nsecond line of details"
    )


class _NoRenderModeEnv(gym.Env):
    """A valid env whose constructor predates the render_mode argument (gym.make accepts it)."""

    def __init__(self) -> None:
        self.action_space = _UNIT_ACTION
        self.observation_space = _FLAT_OBS

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        return np.zeros(2, np.float32), 0.0, False, False, {}


INF_ACTION_ID = _register(
    "InfAction",
    _SpacesEnv,
    action_space=gym.spaces.Box(-np.inf, np.inf, (1,), np.float32),
    observation_space=_FLAT_OBS,
)
WIDE_INF_ACTION_ID = _register(
    "WideInfAction",
    _SpacesEnv,
    action_space=gym.spaces.Box(-np.inf, np.inf, (30,), np.float32),
    observation_space=_FLAT_OBS,
)
DICT_OBS_ID = _register(  # state vectors in a dict, like DeepMind Control's: flattened
    "DictObs",
    _SpacesEnv,
    action_space=_UNIT_ACTION,
    observation_space=gym.spaces.Dict(
        {"b": _FLAT_OBS, "a": gym.spaces.Box(-1.0, 1.0, (), np.float64)}
    ),
)
DICT_IMAGE_OBS_ID = _register(  # a dict with an image in it: refused, not flattened
    "DictImageObs",
    _SpacesEnv,
    action_space=_UNIT_ACTION,
    observation_space=gym.spaces.Dict(
        {"state": _FLAT_OBS, "pixels": gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)}
    ),
)
IMAGE_OBS_ID = _register(
    "ImageObs",
    _SpacesEnv,
    action_space=_UNIT_ACTION,
    observation_space=gym.spaces.Box(0, 255, (8, 8, 3), np.uint8),
)
MATRIX_OBS_ID = _register(
    "MatrixObs",
    _SpacesEnv,
    action_space=_UNIT_ACTION,
    observation_space=gym.spaces.Box(-1.0, 1.0, (4, 4), np.float32),
)
ASYMMETRIC_ID = _register(
    "Asymmetric",
    _SpacesEnv,
    action_space=gym.spaces.Box(
        np.array([0.0, -3.0], np.float32), np.array([1.0, 5.0], np.float32), dtype=np.float32
    ),
    observation_space=gym.spaces.Box(-1.0, 1.0, (3,), np.float64),
)
DISCRETE_TRACKED_ID = _register("DiscreteTracked", _discrete_tracked)
MISSING_DEP_ID = _register("MissingDependency", _missing_dependency)
NO_RENDER_MODE_ID = _register("NoRenderMode", _NoRenderModeEnv)
COUNTER_ID = _register("Counter", CounterEnv)


def _env_error(fn: Any, *args: Any, **kwargs: Any) -> str:
    """Call fn, expect an EnvError (a ValueError) with a one-line message; return the message."""
    with pytest.raises(EnvError) as caught:
        fn(*args, **kwargs)
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    assert message and "\n" not in message, f"not one line: {message!r}"
    return message


# ---------------------------------------------------------------------------------- make_env


def test_make_env_pendulum_spaces_are_unit_box_and_float32() -> None:
    env = make_env("Pendulum-v1")
    try:
        space = env.action_space
        assert isinstance(space, gym.spaces.Box)
        assert space.shape == (1,)
        assert space.dtype == np.float32
        np.testing.assert_array_equal(space.low, [-1.0])
        np.testing.assert_array_equal(space.high, [1.0])
        assert env.observation_space.dtype == np.float32
        obs, _ = env.reset(seed=0)
        assert obs.dtype == np.float32 and obs.shape == (3,)
        obs, *_ = env.step(np.array([0.3], np.float32))
        assert obs.dtype == np.float32
    finally:
        env.close()


@pytest.mark.parametrize(("action", "torque"), [(1.0, 2.0), (-1.0, -2.0), (0.5, 1.0), (0.0, 0.0)])
def test_make_env_pendulum_action_rescaled_to_torque(action: float, torque: float) -> None:
    env = make_env("Pendulum-v1")
    raw = gym.make("Pendulum-v1")
    try:
        env.reset(seed=123)
        raw.reset(seed=123)
        np.testing.assert_array_equal(env.unwrapped.state, raw.unwrapped.state)
        obs, reward, *_ = env.step(np.array([action], np.float32))
        raw_obs, raw_reward, *_ = raw.step(np.array([torque], np.float32))
        # The unwrapped Pendulum saw the rescaled torque, and the dynamics match a raw step with it.
        assert env.unwrapped.last_u == pytest.approx(torque)
        np.testing.assert_allclose(obs, raw_obs, rtol=0, atol=1e-6)
        np.testing.assert_allclose(env.unwrapped.state, raw.unwrapped.state, rtol=0, atol=1e-6)
        assert reward == pytest.approx(raw_reward, abs=1e-6)
    finally:
        env.close()
        raw.close()


def test_make_env_max_torque_differs_from_unscaled_action() -> None:
    """Guards the test above: action 1.0 passed through unscaled would be a different step."""
    env = make_env("Pendulum-v1")
    raw = gym.make("Pendulum-v1")
    try:
        env.reset(seed=5)
        raw.reset(seed=5)
        obs, *_ = env.step(np.array([1.0], np.float32))
        unscaled_obs, *_ = raw.step(np.array([1.0], np.float32))
        assert not np.allclose(obs, unscaled_obs, atol=1e-4)
    finally:
        env.close()
        raw.close()


@pytest.mark.filterwarnings("ignore:.*precision lowered by casting:UserWarning")
def test_make_env_rescales_asymmetric_bounds_and_casts_float64_obs() -> None:
    env = make_env(ASYMMETRIC_ID)
    try:
        np.testing.assert_array_equal(env.action_space.low, [-1.0, -1.0])
        np.testing.assert_array_equal(env.action_space.high, [1.0, 1.0])
        assert env.observation_space.dtype == np.float32
        obs, _ = env.reset(seed=0)
        assert obs.dtype == np.float32
        for action, expected in [
            ([-1.0, -1.0], [0.0, -3.0]),
            ([1.0, 1.0], [1.0, 5.0]),
            ([0.0, 0.0], [0.5, 1.0]),
        ]:
            obs, *_ = env.step(np.array(action, np.float32))
            assert obs.dtype == np.float32
            np.testing.assert_allclose(env.unwrapped.last_action, expected, atol=1e-6)
    finally:
        env.close()


def test_make_env_mountain_car_continuous() -> None:
    env = make_env("MountainCarContinuous-v0", max_episode_steps=3)
    try:
        assert env.action_space.shape == (1,)
        np.testing.assert_array_equal(env.action_space.low, [-1.0])
        np.testing.assert_array_equal(env.action_space.high, [1.0])
        obs, _ = env.reset(seed=0)
        assert obs.dtype == np.float32 and obs.shape == (2,)
        truncated = [env.step(np.array([1.0], np.float32))[3] for _ in range(3)]
        assert truncated == [False, False, True]  # max_episode_steps reached the TimeLimit
    finally:
        env.close()


# --------------------------------------------------------------------------------- env_spaces


def test_env_spaces_pendulum_reports_sizes_and_original_bounds() -> None:
    spaces = env_spaces("Pendulum-v1")
    assert spaces.obs_dim == 3
    assert spaces.action_dim == 1
    np.testing.assert_array_equal(spaces.action_low, [-2.0])
    np.testing.assert_array_equal(spaces.action_high, [2.0])


@pytest.mark.filterwarnings("ignore:.*precision lowered by casting:UserWarning")
def test_env_spaces_custom_asymmetric_bounds() -> None:
    spaces = env_spaces(ASYMMETRIC_ID)
    assert (spaces.obs_dim, spaces.action_dim) == (3, 2)
    np.testing.assert_array_equal(spaces.action_low, [0.0, -3.0])
    np.testing.assert_array_equal(spaces.action_high, [1.0, 5.0])


def test_env_spaces_mountain_car_continuous() -> None:
    spaces = env_spaces("MountainCarContinuous-v0")
    assert (spaces.obs_dim, spaces.action_dim) == (2, 1)
    np.testing.assert_array_equal(spaces.action_low, [-1.0])
    np.testing.assert_array_equal(spaces.action_high, [1.0])


# ------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("builder", [make_env, env_spaces, make_vector_env])
def test_unknown_id_suggests_close_match(builder: Any) -> None:
    message = _env_error(builder, "Pendulm-v1")
    assert "Pendulm-v1" in message
    assert "Pendulum-v1" in message


def test_unknown_id_without_close_match_still_clear() -> None:
    message = _env_error(make_env, "Zzzqqqxxx-v9")
    assert "Zzzqqqxxx-v9" in message
    assert "unknown" in message.lower()


@pytest.mark.parametrize("builder", [make_env, env_spaces, make_vector_env])
def test_discrete_action_space_rejected(builder: Any) -> None:
    message = _env_error(builder, "CartPole-v1")
    assert "SAC needs a continuous Box action space" in message
    assert "CartPole-v1" in message


def test_infinite_action_bounds_rejected() -> None:
    message = _env_error(make_env, INF_ACTION_ID)
    assert "finite action bounds" in message
    assert INF_ACTION_ID in message
    assert "low=[-inf], high=[inf]" in message  # the bounds as numpy prints them


def test_infinite_action_bounds_message_one_line_for_wide_action() -> None:
    message = _env_error(make_env, WIDE_INF_ACTION_ID)
    assert "finite action bounds" in message


@pytest.mark.parametrize("env_id", [DICT_IMAGE_OBS_ID, IMAGE_OBS_ID, MATRIX_OBS_ID])
def test_non_flat_observation_rejected(env_id: str) -> None:
    message = _env_error(make_env, env_id)
    assert "flat Box observation" in message
    assert env_id in message
    with pytest.raises(EnvError):
        make_vector_env(env_id, num_envs=2)


def test_missing_dependency_becomes_one_line_env_error() -> None:
    message = _env_error(make_env, MISSING_DEP_ID)
    assert "fakephysics is not installed" in message
    assert "second line" not in message


@pytest.mark.parametrize("num_envs", [0, -1])
def test_make_vector_env_rejects_bad_num_envs(num_envs: int) -> None:
    message = _env_error(make_vector_env, "Pendulum-v1", num_envs=num_envs)
    assert "num_envs" in message


def test_make_vector_env_rejects_unknown_vectorization() -> None:
    message = _env_error(make_vector_env, "Pendulum-v1", num_envs=2, vectorization="bogus")
    assert "bogus" in message and "vectorization" in message


def test_rejected_env_is_closed() -> None:
    _CLOSED_FLAGS.clear()
    _env_error(make_env, DISCRETE_TRACKED_ID)
    assert len(_CLOSED_FLAGS) == 1
    assert _CLOSED_FLAGS[0].closed


def test_make_env_accepts_env_without_render_mode_argument() -> None:
    gym.make(NO_RENDER_MODE_ID).close()  # plain Gymnasium builds it
    env = make_env(NO_RENDER_MODE_ID)  # TypeError if make_env passed render_mode=None
    assert env.render_mode is None
    env.close()


# ---------------------------------------------------------------------------- make_vector_env


def test_make_vector_env_sync_spaces_and_autoreset_mode() -> None:
    envs = make_vector_env("Pendulum-v1", num_envs=3)
    try:
        assert isinstance(envs.unwrapped, gym.vector.SyncVectorEnv)
        assert envs.num_envs == 3
        assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
        space = envs.single_action_space
        assert isinstance(space, gym.spaces.Box) and space.shape == (1,)
        np.testing.assert_array_equal(space.low, [-1.0])
        np.testing.assert_array_equal(space.high, [1.0])
        assert envs.action_space.shape == (3, 1)
        obs, _ = envs.reset(seed=0)
        assert obs.shape == (3, 3) and obs.dtype == np.float32
        # Sub-env i is seeded with seed + i, so the copies start from different states.
        assert not np.allclose(obs[0], obs[1])
        obs, reward, terminated, truncated, _ = envs.step(np.ones((3, 1), np.float32))
        assert obs.shape == (3, 3) and reward.shape == (3,)
        assert [e.unwrapped.last_u for e in envs.unwrapped.envs] == pytest.approx([2.0] * 3)
    finally:
        envs.close()


def test_make_vector_env_async_matches_sync() -> None:
    actions = np.array([[1.0], [-0.5]], np.float32)
    sync = make_vector_env("Pendulum-v1", num_envs=2)
    asynchronous = make_vector_env("Pendulum-v1", num_envs=2, vectorization="async")
    try:
        assert isinstance(asynchronous.unwrapped, gym.vector.AsyncVectorEnv)
        np.testing.assert_array_equal(asynchronous.single_action_space.low, [-1.0])
        np.testing.assert_array_equal(asynchronous.single_action_space.high, [1.0])
        obs_sync, _ = sync.reset(seed=4)
        obs_async, _ = asynchronous.reset(seed=4)
        np.testing.assert_array_equal(obs_sync, obs_async)
        step_sync = sync.step(actions)
        step_async = asynchronous.step(actions)
        np.testing.assert_allclose(step_async[0], step_sync[0], atol=1e-6)
        np.testing.assert_allclose(step_async[1], step_sync[1], atol=1e-6)
        assert step_async[0].dtype == np.float32
    finally:
        sync.close()
        asynchronous.close()


def test_make_vector_env_records_episode_statistics() -> None:
    envs = make_vector_env("Pendulum-v1", num_envs=2, max_episode_steps=5)
    try:
        envs.reset(seed=0)
        for _episode in range(2):
            rewards = np.zeros(2)
            for t in range(1, 6):
                _, reward, terminated, truncated, info = envs.step(np.zeros((2, 1), np.float32))
                rewards += reward
                if t < 5:
                    assert "episode" not in info
                    assert not truncated.any()
            assert truncated.all() and not terminated.any()
            assert info["_episode"].all()
            np.testing.assert_array_equal(info["episode"]["l"], [5, 5])
            np.testing.assert_allclose(info["episode"]["r"], rewards, rtol=1e-6)
            # The autoreset step ends no episode and its (zero) reward starts no statistics.
            _, reward, _, _, info = envs.step(np.zeros((2, 1), np.float32))
            assert "episode" not in info
            np.testing.assert_array_equal(reward, [0.0, 0.0])
    finally:
        envs.close()


# --------------------------------------------------------------------------- TransitionTracker


def test_transition_tracker_drops_step_after_done() -> None:
    tracker = TransitionTracker(2)
    obs = np.arange(4, dtype=np.float32).reshape(2, 2)
    action = np.array([[0.1], [0.2]], np.float32)
    reward = np.array([1.0, 2.0])
    no = np.array([False, False])

    first = tracker.step(obs, action, reward, obs + 10, np.array([True, False]), no)
    assert len(first.obs) == 2
    np.testing.assert_array_equal(first.terminated, [1.0, 0.0])
    assert first.terminated.dtype == np.float32 and first.reward.dtype == np.float32

    second = tracker.step(obs, action, reward, obs + 20, no, np.array([False, True]))
    np.testing.assert_array_equal(second.obs, obs[1:])  # sub-env 0 was resetting
    np.testing.assert_array_equal(second.action, action[1:])
    np.testing.assert_array_equal(second.reward, [2.0])
    np.testing.assert_array_equal(second.next_obs, obs[1:] + 20)
    np.testing.assert_array_equal(second.terminated, [0.0])  # truncation still bootstraps

    third = tracker.step(obs, action, reward, obs + 30, no, no)
    np.testing.assert_array_equal(third.obs, obs[:1])  # sub-env 1 was resetting
    assert len(tracker.step(obs, action, reward, obs, no, no).obs) == 2


def _run_counter_vector(steps: int) -> tuple[dict[str, np.ndarray], list[tuple], int]:
    """Drive three counter sub-envs; return stored transitions, raw pairs, autoreset steps.

    Sub-env 0 terminates at t == 3; sub-env 1 is truncated by a TimeLimit at t == 5;
    sub-env 2 terminates at t == 4 exactly when its TimeLimit of 4 also truncates it.
    """
    envs = sync_vector(
        [
            counter_thunk(0, terminate_at=3),
            counter_thunk(1, time_limit=5),
            counter_thunk(2, terminate_at=4, time_limit=4),
        ]
    )
    tracker = TransitionTracker(envs.num_envs)
    stored: dict[str, list[np.ndarray]] = {
        k: [] for k in ("obs", "action", "reward", "next_obs", "terminated")
    }
    raw_pairs = []
    autoreset_steps = 0
    prev_done = np.zeros(envs.num_envs, dtype=bool)
    try:
        obs, _ = envs.reset(seed=0)
        tracker.reset()
        for _ in range(steps):
            action = (obs[:, :1] / 100.0).astype(np.float32)  # lets us check row alignment
            next_obs, reward, terminated, truncated, _ = envs.step(action)
            autoreset_steps += int(prev_done.sum())
            raw_pairs.append((obs.copy(), next_obs.copy(), prev_done.copy()))
            transitions = tracker.step(obs, action, reward, next_obs, terminated, truncated)
            for key, value in transitions._asdict().items():
                stored[key].append(value)
            prev_done = np.logical_or(terminated, truncated)
            obs = next_obs
    finally:
        envs.close()
    return {k: np.concatenate(v) for k, v in stored.items()}, raw_pairs, autoreset_steps


def test_transition_tracker_over_vector_env_next_step_autoreset() -> None:
    steps = 24
    stored, _, autoreset_steps = _run_counter_vector(steps)
    obs_t, next_t = stored["obs"][:, 0], stored["next_obs"][:, 0]
    marker = stored["obs"][:, 1]

    # Cycles of 4, 6 and 5 vector steps (episode + autoreset step): 6 + 4 + 4 autoreset steps.
    assert autoreset_steps == 14
    assert len(obs_t) == steps * 3 - autoreset_steps == 58
    for key in ("action", "reward", "next_obs", "terminated"):
        assert len(stored[key]) == len(obs_t)

    # Every stored transition is one real step of one sub-env: never final obs -> reset obs.
    np.testing.assert_array_equal(next_t, obs_t + 1)
    np.testing.assert_array_equal(stored["next_obs"][:, 1], marker)
    assert not np.any(next_t == 0)
    np.testing.assert_allclose(stored["action"][:, 0], obs_t / 100.0, atol=1e-7)
    np.testing.assert_array_equal(stored["reward"], 1.0)  # the autoreset step's 0.0 is absent

    terminated = stored["terminated"]
    assert terminated.dtype == np.float32
    # Sub-env 0: true terminations at t == 3, stored with their real final observation.
    is0 = marker == 0
    np.testing.assert_array_equal(terminated[is0], (next_t[is0] == 3).astype(np.float32))
    assert np.sum(next_t[is0] == 3) == 6 and next_t[is0].max() == 3
    # Sub-env 1: time-limit truncations at t == 5 keep terminated == 0.0 (bootstrap).
    is1 = marker == 1
    np.testing.assert_array_equal(terminated[is1], 0.0)
    assert np.sum(next_t[is1] == 5) == 4 and next_t[is1].max() == 5
    # Sub-env 2: termination and truncation together is a true termination.
    is2 = marker == 2
    np.testing.assert_array_equal(terminated[is2], (next_t[is2] == 4).astype(np.float32))
    assert np.sum(next_t[is2] == 4) == 5


def test_naive_storage_would_store_final_to_reset_pairs() -> None:
    """The raw vector stream does contain final -> reset pairs; the tracker must drop them."""
    _, raw_pairs, autoreset_steps = _run_counter_vector(24)
    bad = 0
    for obs, next_obs, resetting in raw_pairs:
        # Right after an episode end the vector env returns the reset observation (t == 0)...
        np.testing.assert_array_equal(next_obs[resetting, 0], 0.0)
        # ...paired with that episode's final observation, which is not a real transition.
        final_t = obs[resetting, 0]
        assert np.all(np.isin(final_t, [3.0, 4.0, 5.0]))
        bad += int(np.sum(next_obs[:, 0] != obs[:, 0] + 1))
    assert bad == autoreset_steps == 14


def test_transition_tracker_reset_clears_pending_autoreset() -> None:
    envs = sync_vector([counter_thunk(0, terminate_at=2), counter_thunk(1, terminate_at=9)])
    tracker = TransitionTracker(2)
    zeros = np.zeros((2, 1), np.float32)
    try:
        obs, _ = envs.reset(seed=0)
        tracker.reset()
        for _ in range(2):
            next_obs, reward, terminated, truncated, _ = envs.step(zeros)
            tracker.step(obs, zeros, reward, next_obs, terminated, truncated)
            obs = next_obs
        assert terminated[0]  # sub-env 0 now has an autoreset pending
        obs, _ = envs.reset(seed=1)  # a full reset replaces it
        tracker.reset()
        next_obs, reward, terminated, truncated, _ = envs.step(zeros)
        transitions = tracker.step(obs, zeros, reward, next_obs, terminated, truncated)
        assert len(transitions.obs) == 2
        np.testing.assert_array_equal(transitions.obs[:, 0], [0.0, 0.0])
        np.testing.assert_array_equal(transitions.next_obs[:, 0], [1.0, 1.0])
    finally:
        envs.close()


def test_make_vector_env_with_tracker_stores_truncated_final_obs() -> None:
    """The factory's vector env (wrappers included) with the tracker: time-limit episodes."""
    envs = make_vector_env(COUNTER_ID, num_envs=2, max_episode_steps=4, marker=7.0)
    tracker = TransitionTracker(2)
    stored_next, stored_terminated, episode_lengths = [], [], []
    try:
        obs, _ = envs.reset(seed=0)
        tracker.reset()
        for _ in range(10):  # two 4-step episodes + two autoreset steps per sub-env
            action = np.zeros((2, 1), np.float32)
            next_obs, reward, terminated, truncated, info = envs.step(action)
            assert next_obs.dtype == np.float32
            if "episode" in info:
                episode_lengths.extend(info["episode"]["l"][info["_episode"]].tolist())
            t = tracker.step(obs, action, reward, next_obs, terminated, truncated)
            np.testing.assert_array_equal(t.next_obs[:, 0], t.obs[:, 0] + 1)
            stored_next.append(t.next_obs[:, 0])
            stored_terminated.append(t.terminated)
            obs = next_obs
    finally:
        envs.close()
    next_t = np.concatenate(stored_next)
    assert len(next_t) == 2 * 8
    assert np.sum(next_t == 4) == 4  # two final observations per sub-env, none lost
    np.testing.assert_array_equal(np.concatenate(stored_terminated), 0.0)
    assert episode_lengths == [4, 4, 4, 4]


def test_dict_of_state_vectors_is_flattened_in_key_order() -> None:
    env = make_env(DICT_OBS_ID)
    assert env.observation_space.shape == (3,)  # "a" (a scalar) then "b" (2 values)
    assert env_spaces(DICT_OBS_ID).obs_dim == 3
    obs, _ = env.reset(seed=0)
    assert obs.shape == (3,) and obs.dtype == np.float32
    original = env.unwrapped.observation_space.sample()
    flat = gym.spaces.flatten(env.unwrapped.observation_space, original)
    np.testing.assert_array_equal(flat, np.concatenate([[original["a"]], original["b"]]))
    env.close()


def test_dm_control_env_is_flat_float32_and_ends_by_truncation() -> None:
    require_extra("dm_control")
    env = make_env("dm_control/walker-walk-v0")
    assert env.observation_space.shape == (24,)  # orientations 14, height 1, velocity 9
    assert env.action_space.shape == (6,)
    assert np.all(env.action_space.low == -1.0) and np.all(env.action_space.high == 1.0)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (24,) and obs.dtype == np.float32
    length, truncated = 0, False
    while not truncated and length < 1001:
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert not terminated  # no terminal states: SAC must bootstrap at the time limit
        length += 1
    assert length == 1000 and truncated
    # The 1,000-step limit is dm_control's own, not a gymnasium TimeLimit.
    assert env_spaces("dm_control/walker-walk-v0").max_episode_steps is None
    env.close()


def test_unknown_dm_control_task_names_the_id_form() -> None:
    require_extra("dm_control")
    message = _env_error(make_env, "dm_control/cheetah-fly-v0")
    assert "unknown Gymnasium env id 'dm_control/cheetah-fly-v0'" in message


def test_missing_shimmy_names_the_dmc_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without shimmy the dm_control/ ids are not registered; the error says what to install."""
    for env_id in [e for e in gym.registry if e.startswith("dm_control/")]:
        monkeypatch.delitem(gym.registry, env_id)
    monkeypatch.setitem(sys.modules, "shimmy", None)  # import shimmy now raises ImportError
    message = _env_error(make_env, "dm_control/cheetah-run-v0")
    assert 'pip install -e ".[dmc]"' in message


def test_transition_tracker_refuses_a_wrong_env_count_without_changing_state() -> None:
    tracker = TransitionTracker(2)
    obs, action = np.zeros((2, 2), np.float32), np.zeros((2, 1), np.float32)
    no = np.array([False, False])
    tracker.step(obs, action, np.zeros(2), obs, np.array([True, False]), no)  # env 0 resets next
    with pytest.raises(IndexError):
        tracker.step(obs[:1], action[:1], np.zeros(1), obs[:1], no[:1], no[:1])  # one env only
    # The failed call left the pending reset of env 0 in place: env 0's step is still dropped.
    assert len(tracker.step(obs, action, np.zeros(2), obs, no, no).obs) == 1


@pytest.mark.parametrize("field", ["obs", "action", "reward", "next_obs"])
def test_transition_tracker_refuses_non_finite_values(field: str) -> None:
    """NaN in one stored transition would make every later update NaN: refused, naming the
    sub-env, before any state changes."""
    tracker = TransitionTracker(2)
    fields = {
        "obs": np.zeros((2, 2), np.float32),
        "action": np.zeros((2, 1), np.float32),
        "reward": np.zeros(2),
        "next_obs": np.ones((2, 2), np.float32),
    }
    no = np.array([False, False])
    tracker.step(**fields, terminated=np.array([True, False]), truncated=no)  # env 0 resets next
    bad = dict(fields)
    bad[field] = fields[field].copy()
    bad[field][1] = np.nan  # env 1: a valid transition; env 0's row is dropped anyway
    with pytest.raises(
        EnvError, match=f"(env's|agent's) {field} holds NaN or inf \\(sub-env 1\\)"
    ) as raised:
        tracker.step(**bad, terminated=no, truncated=no)
    assert ("networks diverged" in str(raised.value)) == (field == "action")
    assert tracker.resetting.tolist() == [True, False]  # unchanged
    bad[field][1] = fields[field][1]
    bad[field][0] = np.inf  # only in the dropped autoreset row: not stored, not refused
    assert len(tracker.step(**bad, terminated=no, truncated=no).obs) == 1


def test_mujoco_warnings_become_python_warnings_and_write_no_log_file(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MuJoCo's default handler prints each warning and appends it to MUJOCO_LOG.TXT in the
    working directory; make_env routes them through `warnings` (shown once, no file)."""
    require_extra("mujoco")
    import mujoco

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(factory, "_shown_mujoco_warnings", set())
    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(None)  # as in a fresh process
    try:
        env = make_env("HalfCheetah-v5")
        model, data = env.unwrapped.model, env.unwrapped.data
        data.qpos[0] = np.nan  # MuJoCo warns (and resets the state) at the next step
        with pytest.warns(RuntimeWarning, match="MuJoCo: Nan, Inf or huge value in QPOS"):
            mujoco.mj_step(model, data)
        env.close()
    finally:
        mujoco.set_mju_user_warning(previous)
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
