"""The CUDA path: the manual update on the GPU and its CUDA-graph replay (skipped without CUDA)."""

from __future__ import annotations

import copy

import pytest
import torch

from agents.replay_buffer import Batch
from agents.sac import SACAgent, SACConfig

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

OBS_DIM, ACTION_DIM = 5, 2


def make_agent(device: str, **overrides) -> SACAgent:
    torch.manual_seed(0)
    kwargs = dict(batch_size=64, buffer_size=100, hidden_sizes=[64, 64]) | overrides
    return SACAgent(OBS_DIM, ACTION_DIM, SACConfig(**kwargs), device)


def make_batch(seed: int, device: str) -> Batch:
    g = torch.Generator().manual_seed(seed)
    batch = Batch(
        obs=torch.randn(64, OBS_DIM, generator=g),
        action=torch.rand(64, ACTION_DIM, generator=g) * 2 - 1,
        reward=torch.randn(64, generator=g),
        next_obs=torch.randn(64, OBS_DIM, generator=g),
        terminated=(torch.rand(64, generator=g) < 0.2).float(),
    )
    return Batch(*(t.to(device) for t in batch))


def run_updates(agent: SACAgent, steps: int, seed: int = 0) -> list[dict[str, float]]:
    """Seeded once: the noise of every update comes from one generator stream."""
    torch.cuda.manual_seed(seed)
    out = []
    for step in range(steps):
        metrics = agent.update(make_batch(step, "cuda"))
        out.append({k: float(v) for k, v in metrics.items()})  # read before the next replay
    return out


def assert_same_metrics(expected: list[dict], actual: list[dict]) -> None:
    assert len(expected) == len(actual)
    for e, a in zip(expected, actual):
        assert set(e) == set(a)
        for key in e:
            assert a[key] == pytest.approx(e[key], rel=1e-4, abs=1e-5), key


def assert_same_weights(a: SACAgent, b: SACAgent, atol: float = 1e-5) -> None:
    for name in ("actor", "critic", "critic_target"):
        sa, sb = a.state_dict()[name], b.state_dict()[name]
        for key in sa:
            torch.testing.assert_close(sb[key], sa[key], rtol=1e-4, atol=atol, msg=f"{name}.{key}")
    torch.testing.assert_close(b.log_alpha, a.log_alpha, rtol=1e-4, atol=atol)


@pytest.mark.parametrize("actor_update_every", [1, 2, 5])
def test_cuda_graph_replay_matches_eager(actor_update_every: int) -> None:
    eager = make_agent("cuda", cuda_graphs=False, actor_update_every=actor_update_every)
    graphed = make_agent("cuda", cuda_graphs=True, actor_update_every=actor_update_every)
    graphed.load_state_dict(eager.state_dict())
    steps = 12 + 3 * actor_update_every  # past every kind's eager warm-up
    eager_metrics, graphed_metrics = run_updates(eager, steps), run_updates(graphed, steps)
    assert graphed._graphed is not None
    assert len(graphed._graphed.graphs) == (1 if actor_update_every == 1 else 2)
    assert graphed.num_updates == eager.num_updates == steps
    assert_same_metrics(eager_metrics, graphed_metrics)
    assert_same_weights(eager, graphed)


def test_cuda_graph_records_anew_when_settings_change() -> None:
    """A learning-rate change after recording must reach the replayed update."""
    eager = make_agent("cuda", cuda_graphs=False)
    graphed = make_agent("cuda", cuda_graphs=True)
    graphed.load_state_dict(eager.state_dict())
    for agent in (eager, graphed):
        run_updates(agent, 6)
        for group in agent.critic_optimizer.param_groups:
            group["lr"] = 1e-2
    assert_same_metrics(run_updates(eager, 6, seed=1), run_updates(graphed, 6, seed=1))
    assert_same_weights(eager, graphed)
    assert len(graphed._graphed.graphs) == 1  # the stale graph was dropped


def test_cuda_manual_update_matches_autograd() -> None:
    reference = make_agent("cuda", update_backend="autograd")
    manual = make_agent("cuda", cuda_graphs=False)
    manual.load_state_dict(reference.state_dict())
    run_updates(reference, 5)
    run_updates(manual, 5)
    assert_same_weights(reference, manual, atol=1e-4)


def test_cuda_graph_survives_load_state_dict() -> None:
    """Loading a checkpoint replaces the optimizer state the graph recorded: it must re-record
    and then replay exactly what an eager agent loaded from the same state computes."""
    agent = make_agent("cuda")
    run_updates(agent, 6)
    saved = copy.deepcopy(agent.state_dict())
    run_updates(agent, 3, seed=5)
    agent.load_state_dict(saved)
    assert agent._graphed is None
    eager = make_agent("cuda", cuda_graphs=False)
    eager.load_state_dict(saved)
    assert_same_metrics(run_updates(eager, 8, seed=1), run_updates(agent, 8, seed=1))
    assert agent._graphed is not None and agent._graphed.graphs  # re-recorded, replayed
    assert_same_weights(eager, agent)
    cpu = SACAgent(OBS_DIM, ACTION_DIM, agent.config, "cpu")
    cpu.load_state_dict(agent.state_dict())  # a GPU checkpoint resumes on CPU
    assert not any(g["capturable"] for g in cpu.critic_optimizer.param_groups)
    cpu.update(Batch(*(t.cpu() for t in make_batch(0, "cuda"))))
