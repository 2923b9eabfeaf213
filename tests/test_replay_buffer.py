"""Circular replay buffer: wrap-around, dtypes, sampling and state_dict round trip."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from agents.replay_buffer import Batch, ReplayBuffer

torch.set_num_threads(1)

OBS_DIM, ACTION_DIM = 3, 2


def _transitions(start: int, n: int):
    """n transitions whose every field encodes its global index t = start..start+n-1."""
    t = np.arange(start, start + n, dtype=np.float64)
    obs = np.repeat(t[:, None], OBS_DIM, axis=1)
    action = np.repeat(t[:, None], ACTION_DIM, axis=1) / 1000.0
    reward = t + 0.5
    next_obs = obs + 100.0
    terminated = t.astype(int) % 2 == 1
    return obs, action, reward, next_obs, terminated


def _ids(buffer: ReplayBuffer) -> list[int]:
    return buffer.storage["obs"][:, 0].long().tolist()


def test_wrap_around():
    buffer = ReplayBuffer(5, OBS_DIM, ACTION_DIM)
    buffer.add(*_transitions(0, 3))
    assert (len(buffer), buffer.position) == (3, 3)
    assert _ids(buffer)[:3] == [0, 1, 2]

    buffer.add(*_transitions(3, 4))  # 3, 4 at indices 3, 4; 5, 6 wrap to 0, 1
    assert len(buffer) == 5 and buffer.size == 5
    assert buffer.position == 2
    assert _ids(buffer) == [5, 6, 2, 3, 4]  # 0 and 1 (the oldest) overwritten
    # All fields moved together.
    np.testing.assert_array_equal(buffer.storage["reward"].numpy(), np.array([5, 6, 2, 3, 4]) + 0.5)
    np.testing.assert_array_equal(
        buffer.storage["next_obs"][:, 0].numpy(), np.array([105, 106, 102, 103, 104])
    )
    np.testing.assert_array_equal(buffer.storage["terminated"].numpy(), [1, 0, 0, 1, 0])


def test_adding_more_than_capacity_keeps_newest():
    buffer = ReplayBuffer(4, OBS_DIM, ACTION_DIM)
    buffer.add(*_transitions(0, 1))
    buffer.add(*_transitions(1, 10))  # 1..10, only 7..10 can be kept
    assert len(buffer) == 4
    assert sorted(_ids(buffer)) == [7, 8, 9, 10]
    # The next write must overwrite the oldest kept transition (7), not a newer one.
    buffer.add(*_transitions(11, 1))
    assert sorted(_ids(buffer)) == [8, 9, 10, 11]


def test_stored_tensors_are_float32_for_any_input_dtype():
    buffer = ReplayBuffer(10, OBS_DIM, ACTION_DIM)
    buffer.add(
        np.ones((2, OBS_DIM), dtype=np.float64),
        np.zeros((2, ACTION_DIM), dtype=np.float64),
        np.array([1, 2], dtype=np.int64),
        torch.ones(2, OBS_DIM, dtype=torch.float64),
        np.array([True, False]),
    )
    buffer.add(
        torch.ones(1, OBS_DIM, dtype=torch.int32),
        torch.zeros(1, ACTION_DIM),
        torch.tensor([3.0], dtype=torch.float64),
        np.ones((1, OBS_DIM), dtype=np.float32),
        torch.tensor([True]),
    )
    for name, tensor in buffer.storage.items():
        assert tensor.dtype == torch.float32, name
    np.testing.assert_array_equal(buffer.storage["terminated"][:3].numpy(), [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(buffer.storage["reward"][:3].numpy(), [1.0, 2.0, 3.0])

    batch = buffer.sample(8)
    assert isinstance(batch, Batch)
    for name in Batch._fields:
        assert getattr(batch, name).dtype == torch.float32, name
    assert batch.obs.shape == (8, OBS_DIM) and batch.next_obs.shape == (8, OBS_DIM)
    assert batch.action.shape == (8, ACTION_DIM)
    assert batch.reward.shape == (8,) and batch.terminated.shape == (8,)


def test_sample_returns_only_stored_rows_consistently():
    buffer = ReplayBuffer(100, OBS_DIM, ACTION_DIM)
    buffer.add(*_transitions(10, 7))  # 7 of 100 slots filled; the rest are zeros
    batch = buffer.sample(500, generator=torch.Generator().manual_seed(0))
    ids = batch.obs[:, 0]
    assert set(ids.long().tolist()) <= set(range(10, 17))
    assert len(set(ids.long().tolist())) == 7  # 500 draws from 7 rows hit all of them
    # Fields of one sample come from the same transition.
    torch.testing.assert_close(batch.reward, ids + 0.5)
    torch.testing.assert_close(batch.next_obs, batch.obs + 100.0)
    torch.testing.assert_close(batch.action, batch.obs[:, :ACTION_DIM] / 1000.0)
    torch.testing.assert_close(batch.terminated, (ids.long() % 2).float())


def test_sample_empty_raises():
    with pytest.raises(ValueError):
        ReplayBuffer(10, OBS_DIM, ACTION_DIM).sample(4)


def test_sample_generator_reproducible():
    buffer = ReplayBuffer(50, OBS_DIM, ACTION_DIM)
    buffer.add(*_transitions(0, 50))
    a = buffer.sample(32, generator=torch.Generator().manual_seed(123))
    b = buffer.sample(32, generator=torch.Generator().manual_seed(123))
    c = buffer.sample(32, generator=torch.Generator().manual_seed(124))
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    assert not torch.equal(a.obs, c.obs)


def test_invalid_capacity_raises():
    with pytest.raises(ValueError):
        ReplayBuffer(0, OBS_DIM, ACTION_DIM)


def test_state_dict_round_trip():
    buffer = ReplayBuffer(6, OBS_DIM, ACTION_DIM)
    buffer.add(*_transitions(0, 4))
    buffer.add(*_transitions(4, 4))  # wrapped: position 2, size 6
    state = buffer.state_dict()
    restored = ReplayBuffer(6, OBS_DIM, ACTION_DIM)
    restored.load_state_dict(state)
    assert (restored.position, restored.size) == (buffer.position, buffer.size) == (2, 6)
    for name in buffer.storage:
        assert torch.equal(restored.storage[name], buffer.storage[name]), name
    # Continuing after the restore writes to the same slot in both.
    buffer.add(*_transitions(8, 1))
    restored.add(*_transitions(8, 1))
    for name in buffer.storage:
        assert torch.equal(restored.storage[name], buffer.storage[name]), name


def test_state_dict_holds_the_stored_rows_only_and_apart_from_the_buffer():
    """A view of the first rows would save the whole preallocated storage (16.8 MB for 10 rows
    of a 100k buffer) and change with later adds."""
    buffer = ReplayBuffer(100_000, OBS_DIM, ACTION_DIM)
    buffer.add(*_transitions(0, 3))
    state = buffer.state_dict()
    saved = io.BytesIO()
    torch.save(state, saved)
    assert saved.tell() < 20_000
    before = state["storage"]["obs"].clone()
    buffer.add(*_transitions(3, 3))
    assert torch.equal(state["storage"]["obs"], before)


def test_state_dict_of_partial_buffer_round_trip():
    buffer = ReplayBuffer(10, OBS_DIM, ACTION_DIM)
    buffer.add(*_transitions(0, 3))
    state = buffer.state_dict()
    assert state["storage"]["obs"].shape == (3, OBS_DIM)
    restored = ReplayBuffer(10, OBS_DIM, ACTION_DIM)
    restored.load_state_dict(state)
    assert (restored.position, len(restored)) == (3, 3)
    assert _ids(restored)[:3] == [0, 1, 2]


def test_load_state_dict_capacity_mismatch_raises():
    buffer = ReplayBuffer(6, OBS_DIM, ACTION_DIM)
    buffer.add(*_transitions(0, 2))
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(7, OBS_DIM, ACTION_DIM).load_state_dict(buffer.state_dict())


def test_load_state_dict_shape_mismatch_raises():
    buffer = ReplayBuffer(6, OBS_DIM, ACTION_DIM)
    buffer.add(*_transitions(0, 2))
    with pytest.raises(ValueError):
        ReplayBuffer(6, OBS_DIM + 1, ACTION_DIM).load_state_dict(buffer.state_dict())


def test_add_with_wrong_widths_raises_and_keeps_the_buffer() -> None:
    buffer = ReplayBuffer(10, OBS_DIM, ACTION_DIM)
    buffer.add(*_transitions(0, 3))
    before = buffer.rows.clone()
    obs, action, reward, next_obs, terminated = _transitions(3, 2)
    with pytest.raises(ValueError, match="widths"):
        buffer.add(obs, np.zeros((2, ACTION_DIM + 1)), reward, next_obs, terminated)
    with pytest.raises(ValueError, match="widths"):
        buffer.add(obs[:, :-1], action, reward, next_obs, terminated)
    with pytest.raises(ValueError, match="leading"):  # (obs_dim, N): as many numbers, wrong rows
        buffer.add(obs, action, reward, next_obs.T.copy(), terminated)
    assert (buffer.position, buffer.size) == (3, 3)
    assert torch.equal(buffer.rows[:3], before[:3])


def test_add_of_no_transitions_is_a_no_op() -> None:
    buffer = ReplayBuffer(10, OBS_DIM, ACTION_DIM)
    empty = [np.zeros((0, OBS_DIM)), np.zeros((0, ACTION_DIM)), np.zeros(0)]
    buffer.add(empty[0], empty[1], empty[2], empty[0], empty[2])
    assert (buffer.position, buffer.size) == (0, 0)


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda s: s["storage"].pop("reward"), "replay buffer fields"),
        (lambda s: s.update(position=99), "do not fit capacity"),
        (lambda s: s.update(size=7), "do not fit capacity"),
        (lambda s: s.update(position=1), "does not follow its size"),
        (lambda s: s["storage"].update(obs=s["storage"]["obs"][:2]), "field 'obs' has shape"),
    ],
)
def test_malformed_state_is_refused_and_the_buffer_kept(corrupt, message: str) -> None:
    """A missing field would leave uninitialized memory in the samples; a position past the
    capacity makes the next add write over the wrong rows."""
    source = ReplayBuffer(6, OBS_DIM, ACTION_DIM)
    source.add(*_transitions(0, 3))
    state = source.state_dict()
    corrupt(state)
    buffer = ReplayBuffer(6, OBS_DIM, ACTION_DIM)
    buffer.add(*_transitions(10, 2))
    with pytest.raises(ValueError, match=message):
        buffer.load_state_dict(state)
    assert (buffer.position, len(buffer)) == (2, 2) and _ids(buffer)[:2] == [10, 11]


@pytest.mark.parametrize("batch_size", [0, -3, 2.0, True])
def test_sample_size_must_be_a_positive_integer(batch_size) -> None:
    buffer = ReplayBuffer(6, OBS_DIM, ACTION_DIM)
    buffer.add(*_transitions(0, 3))
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        buffer.sample(batch_size)
