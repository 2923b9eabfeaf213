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


def run_updates(agent: SACAgent, steps: int) -> list[dict[str, float]]:
    out = []
    for step in range(steps):
        torch.cuda.manual_seed(step)
        metrics = agent.update(make_batch(step, "cuda"))
        out.append({k: float(v) for k, v in metrics.items()})  # read before the next replay
    return out


def assert_same_weights(a: SACAgent, b: SACAgent, atol: float = 1e-5) -> None:
    for name in ("actor", "critic", "critic_target"):
        sa, sb = a.state_dict()[name], b.state_dict()[name]
        for key in sa:
            torch.testing.assert_close(sb[key], sa[key], rtol=1e-4, atol=atol, msg=f"{name}.{key}")
    torch.testing.assert_close(b.log_alpha, a.log_alpha, rtol=1e-4, atol=atol)


@pytest.mark.parametrize("actor_update_every", [1, 2])
def test_cuda_graph_replay_matches_eager(actor_update_every: int) -> None:
    eager = make_agent("cuda", cuda_graphs=False, actor_update_every=actor_update_every)
    graphed = make_agent("cuda", cuda_graphs=True, actor_update_every=actor_update_every)
    graphed.load_state_dict(eager.state_dict())
    eager_metrics, graphed_metrics = run_updates(eager, 12), run_updates(graphed, 12)
    assert graphed._graphed is not None and graphed._graphed.graphs  # replays really happened
    assert graphed.num_updates == eager.num_updates == 12
    for e, g in zip(eager_metrics, graphed_metrics):
        assert set(e) == set(g)
        for key in e:
            assert g[key] == pytest.approx(e[key], rel=1e-4, abs=1e-5), key
    assert_same_weights(eager, graphed)


def test_cuda_manual_update_matches_autograd() -> None:
    reference = make_agent("cuda", update_backend="autograd")
    manual = make_agent("cuda", cuda_graphs=False)
    manual.load_state_dict(reference.state_dict())
    run_updates(reference, 5)
    run_updates(manual, 5)
    assert_same_weights(reference, manual, atol=1e-4)


def test_cuda_graph_survives_load_state_dict() -> None:
    """Loading a checkpoint replaces the optimizer state the graph recorded: it must re-record."""
    agent = make_agent("cuda")
    run_updates(agent, 6)
    saved = copy.deepcopy(agent.state_dict())
    before = run_updates(agent, 3)
    agent.load_state_dict(saved)
    assert agent._graphed is None
    after = run_updates(agent, 3)
    for b, a in zip(before, after):
        assert a["critic_loss"] == pytest.approx(b["critic_loss"], rel=1e-4, abs=1e-5)
    cpu = SACAgent(OBS_DIM, ACTION_DIM, agent.config, "cpu")
    cpu.load_state_dict(agent.state_dict())  # a GPU checkpoint resumes on CPU
    assert not any(g["capturable"] for g in cpu.critic_optimizer.param_groups)
    cpu.update(Batch(*(t.cpu() for t in make_batch(0, "cuda"))))
