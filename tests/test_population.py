"""A population of K agents updated as one member-batched update (agents/population.py).

Each member must get exactly the update it would get alone: the same batches and noise give a
lone agent's parameters, optimizer moments and metrics; a change to one member's batch or
parameters leaves every other member's update bit-identical; a NaN in one stays in that one.
"""

from __future__ import annotations

import pytest
import torch
from sac_test_support import random_batch

from agents import SACAgent, SACConfig
from agents.population import Population, fork_generator
from agents.replay_buffer import Batch

torch.set_num_threads(1)

OBS_DIM, ACTION_DIM = 5, 2


def make_config(**overrides) -> SACConfig:
    return SACConfig(**(dict(batch_size=32, buffer_size=100, hidden_sizes=[32, 32]) | overrides))


def make_lone(seed: int, config: SACConfig) -> SACAgent:
    """A lone agent as a run seeded `seed` builds it, drawing from its own generator after."""
    torch.manual_seed(seed)
    agent = SACAgent(OBS_DIM, ACTION_DIM, config)
    agent.generator = fork_generator(agent.device)
    return agent


def make_population(seeds: list[int], config: SACConfig) -> Population:
    return Population([make_lone(seed, config) for seed in seeds])


def make_batch(seed: int) -> Batch:
    return random_batch(OBS_DIM, ACTION_DIM, seed)


def flat_state(state: dict) -> dict[str, torch.Tensor]:
    """Every tensor of an agent state_dict, by a dotted name."""
    out: dict[str, torch.Tensor] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, torch.Tensor):
            out[prefix] = value
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}", item)

    walk("", state)
    return out


def assert_states_equal(ours: dict, theirs: dict, **tolerance) -> None:
    a, b = flat_state(ours), flat_state(theirs)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key, **(tolerance or dict(atol=0, rtol=0)))


CONFIGS = {
    "default": {},
    "three critics, actor every second update": dict(num_critics=3, actor_update_every=2),
    "fixed alpha, normalized observations": dict(learn_alpha=False, normalize_obs=True),
    "critics with layer norm": dict(critic_layer_norm=True),
    "truncated quantile critics": dict(critic_quantiles=5, quantiles_dropped=1),
    "REDQ, 2 of 4 critics": dict(num_critics=4, target_subset=2),
}


@pytest.mark.parametrize("overrides", CONFIGS.values(), ids=CONFIGS.keys())
def test_each_member_gets_the_update_it_would_get_alone(overrides: dict) -> None:
    """Three members and three lone agents with the same seeds, on the same batches: the
    members end with the lone agents' parameters, optimizer state, α and metrics (to float32
    rounding: a batched matmul may sum in another order than a lone one)."""
    config = make_config(**overrides)
    seeds = [4, 5, 6]
    population = make_population(seeds, config)
    lone = [make_lone(seed, config) for seed in seeds]
    for step in range(4):
        batches = [make_batch(100 * step + k) for k in range(len(seeds))]
        if config.normalize_obs:
            for member, agent, batch in zip(population.members, lone, batches):
                member.observe(batch.obs)
                agent.observe(batch.obs)
        metrics = population.update(batches)
        for k, agent in enumerate(lone):
            alone = agent.update(batches[k])
            for key, value in alone.items():
                torch.testing.assert_close(metrics[key][k], value, atol=1e-5, rtol=1e-5)
    for k, agent in enumerate(lone):
        assert_states_equal(
            population.member_state_dict(k), agent.state_dict(), atol=1e-5, rtol=1e-5
        )


def test_a_population_of_one_is_bit_identical_to_the_lone_agent() -> None:
    config = make_config(actor_update_every=2, normalize_obs=True)
    population, lone = make_population([3], config), make_lone(3, config)
    for step in range(5):
        batch = make_batch(step)
        population.members[0].observe(batch.obs)
        lone.observe(batch.obs)
        metrics = population.update([batch])
        for key, value in lone.update(batch).items():
            assert torch.equal(metrics[key][0], value), key
    assert_states_equal(population.member_state_dict(0), lone.state_dict())


def _updated_members(population: Population, batches: list[Batch]) -> list[dict]:
    for _ in range(3):
        population.update(batches)
    return [population.member_state_dict(k) for k in range(len(population))]


def test_changing_one_member_leaves_the_others_bit_identical() -> None:
    config = make_config()
    batches = [make_batch(k) for k in range(3)]
    before = _updated_members(make_population([0, 1, 2], config), batches)
    other_batch = [batches[0], make_batch(99), batches[2]]
    after_batch = _updated_members(make_population([0, 1, 2], config), other_batch)
    changed_params = make_population([0, 1, 2], config)
    with torch.no_grad():
        changed_params.members[1].actor.mu.weight.add_(0.5)
        changed_params.members[1].critic.layers[0].weight.mul_(2.0)
    after_params = _updated_members(changed_params, batches)
    for after in (after_batch, after_params):
        assert_states_equal(after[0], before[0])
        assert_states_equal(after[2], before[2])
        with pytest.raises(AssertionError):  # the changed member itself did change
            assert_states_equal(after[1], before[1])


def test_a_diverged_member_leaves_the_others_finite_and_unchanged() -> None:
    config = make_config()
    batches = [make_batch(k) for k in range(3)]
    before = _updated_members(make_population([0, 1, 2], config), batches)
    poisoned = make_population([0, 1, 2], config)
    with torch.no_grad():
        poisoned.members[1].critic.layers[1].weight[0, 0, 0] = float("nan")
    after = _updated_members(poisoned, batches)
    assert torch.isnan(flat_state(after[1])[".critic.layers.1.weight"]).any()
    assert_states_equal(after[0], before[0])
    assert_states_equal(after[2], before[2])


def test_member_state_dicts_load_into_lone_agents_and_are_copies() -> None:
    config = make_config()
    population = make_population([0, 1], config)
    population.update([make_batch(0), make_batch(1)])
    state = population.member_state_dict(1)
    weight = state["actor"]["mu.weight"]
    assert weight.untyped_storage().nbytes() == weight.numel() * weight.element_size()
    fresh = SACAgent(OBS_DIM, ACTION_DIM, config)
    fresh.load_state_dict(state)
    assert_states_equal(fresh.state_dict(), state)
    obs = torch.randn(4, OBS_DIM).numpy()
    assert (fresh.act(obs, deterministic=True) == population.members[1].act(obs, True)).all()


def test_a_resumed_member_brings_its_optimizer_state_into_the_stacks() -> None:
    """Members restored from lone states (a resumed run) continue as the lone agents do."""
    config = make_config()
    lone = [make_lone(seed, config) for seed in (0, 1)]
    for k, agent in enumerate(lone):
        agent.update(make_batch(k))
    restored = [make_lone(seed, config) for seed in (7, 8)]
    for agent, source in zip(restored, lone):
        agent.load_state_dict(source.state_dict())
        agent.generator.set_state(source.generator.get_state())
    population = Population(restored)
    population.update([make_batch(10), make_batch(11)])
    for k, agent in enumerate(lone):
        agent.update(make_batch(10 + k))
        assert_states_equal(
            population.member_state_dict(k), agent.state_dict(), atol=1e-5, rtol=1e-5
        )


def test_several_members_need_the_manual_backend() -> None:
    config = make_config(update_backend="autograd")
    with pytest.raises(ValueError, match="update_backend=manual"):
        make_population([0, 1], config)
    population = make_population([0], config)  # one member: the reference path itself
    lone = make_lone(0, config)
    torch.manual_seed(5)
    metrics = population.update([make_batch(0)])
    torch.manual_seed(5)
    assert torch.equal(metrics["critic_loss"][0], lone.update(make_batch(0))["critic_loss"])
