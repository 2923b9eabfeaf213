"""The CUDA path: the manual update on the GPU and its CUDA-graph replay (skipped without CUDA)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from agents import SACAgent, SACConfig
from agents.replay_buffer import Batch, ReplayBuffer

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


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        dict(critic_layer_norm=True),
        dict(critic_quantiles=5, quantiles_dropped=1),
        dict(num_critics=4, target_subset=2),
    ],
    ids=["plain", "layer norm", "quantile critics", "REDQ"],
)
def test_cuda_graph_of_each_critic_kind_matches_eager(overrides: dict) -> None:
    eager = make_agent("cuda", cuda_graphs=False, **overrides)
    graphed = make_agent("cuda", cuda_graphs=True, **overrides)
    graphed.load_state_dict(eager.state_dict())
    assert_same_metrics(run_updates(eager, 12), run_updates(graphed, 12))
    assert_same_weights(eager, graphed)


@pytest.mark.parametrize(
    "overrides",
    [{}, dict(critic_quantiles=5, quantiles_dropped=1), dict(num_critics=4, target_subset=2)],
    ids=["plain", "quantiles", "REDQ"],
)
def test_cuda_manual_update_matches_autograd(overrides: dict) -> None:
    reference = make_agent("cuda", update_backend="autograd", **overrides)
    manual = make_agent("cuda", cuda_graphs=False, **overrides)
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
    assert agent._graphed is not None and not agent._graphed.graphs  # the old graphs dropped
    eager = make_agent("cuda", cuda_graphs=False)
    eager.load_state_dict(saved)
    assert_same_metrics(run_updates(eager, 8, seed=1), run_updates(agent, 8, seed=1))
    assert agent._graphed is not None and agent._graphed.graphs  # re-recorded, replayed
    assert_same_weights(eager, agent)
    cpu = SACAgent(OBS_DIM, ACTION_DIM, agent.config, "cpu")
    cpu.load_state_dict(agent.state_dict())  # a GPU checkpoint resumes on CPU
    assert not any(g["capturable"] for g in cpu.critic_optimizer.param_groups)
    cpu.update(Batch(*(t.cpu() for t in make_batch(0, "cuda"))))


def test_cuda_replay_buffer_samples_on_device_and_saves_to_cpu() -> None:
    """Numpy and GPU-tensor transitions land in one GPU row tensor; a checkpoint of it is CPU
    tensors a CPU buffer loads row for row."""
    buffer = ReplayBuffer(8, OBS_DIM, ACTION_DIM, "cuda")
    rng = np.random.default_rng(0)
    for _ in range(3):  # 12 transitions: wraps past capacity 8
        fields = (rng.normal(size=(2, OBS_DIM)), rng.uniform(-1, 1, (2, ACTION_DIM)),
                  rng.normal(size=2), rng.normal(size=(2, OBS_DIM)), np.zeros(2))  # fmt: skip
        buffer.add(*fields)
        buffer.add(*(torch.as_tensor(f, device="cuda") for f in fields))
    assert len(buffer) == 8 and buffer.position == 4
    batch = buffer.sample(16, torch.Generator("cuda").manual_seed(0))
    assert all(t.device.type == "cuda" for t in batch)
    assert batch.obs.shape == (16, OBS_DIM) and batch.reward.shape == (16,)
    state = buffer.state_dict()
    assert all(t.device.type == "cpu" for t in state["storage"].values())
    cpu = ReplayBuffer(8, OBS_DIM, ACTION_DIM, "cpu")
    cpu.load_state_dict(state)
    torch.testing.assert_close(cpu.rows, buffer.rows.cpu(), rtol=0, atol=0)


def test_cuda_act_with_normalization_matches_cpu() -> None:
    """act() takes numpy on a GPU agent and answers numpy, the same actions as on CPU."""
    gpu = make_agent("cuda", normalize_obs=True)
    cpu = make_agent("cpu", normalize_obs=True)
    obs = np.random.default_rng(1).normal(3.0, 2.0, (32, OBS_DIM)).astype(np.float32)
    for agent in (gpu, cpu):
        agent.observe(obs)
    cpu.load_state_dict(gpu.state_dict())
    actions = gpu.act(obs, deterministic=True)
    assert isinstance(actions, np.ndarray) and actions.shape == (32, ACTION_DIM)
    np.testing.assert_allclose(actions, cpu.act(obs, deterministic=True), atol=1e-5)


def test_cuda_sb3_import_matches_cpu_import(tmp_path) -> None:
    """An SB3 zip (saved from CPU) loaded onto the GPU computes what its CPU import does."""
    from stable_baselines3 import SAC

    from agents.sb3 import load_sb3_sac

    path = tmp_path / "sac.zip"
    SAC("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": [16]}, device="cpu").save(path)
    gpu, cpu = load_sb3_sac(path, device="cuda"), load_sb3_sac(path)
    assert gpu.device.type == "cuda"
    obs = np.random.default_rng(2).uniform([-1, -1, -8], [1, 1, 8], (50, 3)).astype(np.float32)
    np.testing.assert_allclose(gpu.predict(obs)[0], cpu.predict(obs)[0], atol=1e-5)
    actions = torch.rand(50, 1) * 2 - 1
    with torch.no_grad():
        q_gpu = gpu.critic(torch.as_tensor(obs, device="cuda"), actions.cuda()).cpu()
        q_cpu = cpu.critic(torch.as_tensor(obs), actions)
    torch.testing.assert_close(q_gpu, q_cpu, atol=1e-5, rtol=1e-5)
