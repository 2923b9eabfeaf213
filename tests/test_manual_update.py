"""The manual-backward update (agents/fast/manual_update.py) against the autograd reference.

Both agents start from the same weights and optimizer states, see the same batches and draw the
same policy noise; every loss metric and every gradient must agree to float32 rounding.
"""

from __future__ import annotations

import copy

import pytest
import torch
from sac_test_support import random_batch

from agents import SACAgent, SACConfig
from agents.fast.manual_update import actor_action
from agents.optim import _adam_math, adam_step

torch.set_num_threads(1)


def make_pair(obs_dim: int, action_dim: int, **overrides) -> tuple[SACAgent, SACAgent]:
    torch.manual_seed(0)
    kwargs = dict(batch_size=32, buffer_size=100, hidden_sizes=[32, 32]) | overrides
    reference = SACAgent(obs_dim, action_dim, SACConfig(update_backend="autograd", **kwargs))
    manual = SACAgent(obs_dim, action_dim, SACConfig(update_backend="manual", **kwargs))
    manual.load_state_dict(reference.state_dict())
    return reference, manual


def gradients(agent: SACAgent) -> dict[str, torch.Tensor]:
    named = {f"actor.{k}": p for k, p in agent.actor.named_parameters()}
    named |= {f"critic.{k}": p for k, p in agent.critic.named_parameters()}
    named["log_alpha"] = agent.log_alpha
    return {k: p.grad.clone() for k, p in named.items() if p.grad is not None}


CASES = {
    "default": dict(obs_dim=3, action_dim=1),
    "three critics, three layers": dict(
        obs_dim=5, action_dim=3, num_critics=3, hidden_sizes=[24, 16, 8]
    ),  # fmt: skip
    "one layer": dict(obs_dim=4, action_dim=2, hidden_sizes=[16]),
    "actor every second step": dict(obs_dim=3, action_dim=2, actor_update_every=2),
    "fixed alpha": dict(obs_dim=3, action_dim=2, learn_alpha=False, init_alpha=0.3),
    "normalized observations": dict(obs_dim=3, action_dim=2, normalize_obs=True),
    "critics with layer norm": dict(
        obs_dim=5, action_dim=3, num_critics=3, hidden_sizes=[24, 16], critic_layer_norm=True
    ),  # fmt: skip
    "truncated quantile critics": dict(
        obs_dim=4, action_dim=2, num_critics=3, critic_quantiles=5, quantiles_dropped=2
    ),  # fmt: skip
    "quantile critics, nothing dropped, layer norm": dict(
        obs_dim=3, action_dim=1, critic_quantiles=4, quantiles_dropped=0, critic_layer_norm=True
    ),  # fmt: skip
    "REDQ, 2 of 5 critics": dict(obs_dim=4, action_dim=2, num_critics=5, target_subset=2),
    "REDQ, 1 of 3, actor every second step, layer norm": dict(
        obs_dim=3,
        action_dim=2,
        num_critics=3,
        target_subset=1,
        actor_update_every=2,
        critic_layer_norm=True,
    ),  # fmt: skip
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_manual_update_matches_autograd(case: str) -> None:
    overrides = dict(CASES[case])
    obs_dim, action_dim = overrides.pop("obs_dim"), overrides.pop("action_dim")
    reference, manual = make_pair(obs_dim, action_dim, **overrides)
    for agent in (reference, manual):
        agent.observe(torch.randn(50, obs_dim, generator=torch.Generator().manual_seed(9)) * 3)
    for step in range(4):
        batch = random_batch(obs_dim, action_dim, seed=step)
        results = []
        for agent in (reference, manual):
            for p in (*agent.actor.parameters(), *agent.critic.parameters(), agent.log_alpha):
                p.grad = None  # only this step's gradients are compared
            torch.manual_seed(100 + step)
            results.append((agent.update(batch), gradients(agent)))
        (ref_metrics, ref_grads), (man_metrics, man_grads) = results
        assert set(man_metrics) == set(ref_metrics)
        for key, value in ref_metrics.items():
            torch.testing.assert_close(man_metrics[key], value, rtol=1e-5, atol=1e-6, msg=key)
        assert set(man_grads) == set(ref_grads)
        for key, value in ref_grads.items():
            torch.testing.assert_close(man_grads[key], value, rtol=1e-4, atol=1e-6, msg=key)
    for ref_p, man_p in zip(reference.state_dict()["actor"].values(),
                            manual.state_dict()["actor"].values()):  # fmt: skip
        torch.testing.assert_close(man_p, ref_p, rtol=1e-4, atol=1e-5)
    for name in ("critic", "critic_target"):
        for key, value in reference.state_dict()[name].items():
            torch.testing.assert_close(manual.state_dict()[name][key], value, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(manual.log_alpha, reference.log_alpha)


def test_manual_update_terminal_rows_do_not_bootstrap() -> None:
    """Doubling the target critic's output changes the critic gradient only through rows that
    bootstrap: with every row terminated the gradient must not move."""
    obs_dim, action_dim = 3, 1
    grads = []
    for terminated in (1.0, 0.0):
        for scale in (1.0, 2.0):
            _, agent = make_pair(obs_dim, action_dim)
            with torch.no_grad():
                agent.critic_target.layers[-1].weight.mul_(scale)
                agent.critic_target.layers[-1].bias.mul_(scale)
            batch = random_batch(obs_dim, action_dim, seed=0)._replace(
                terminated=torch.full((32,), terminated)
            )
            torch.manual_seed(0)
            agent.update(batch)
            grads.append(agent.critic.layers[0].weight.grad.clone())
    assert torch.equal(grads[0], grads[1])
    assert not torch.allclose(grads[2], grads[3])


def test_update_backend_validated() -> None:
    with pytest.raises(ValueError, match="update_backend"):
        SACConfig(update_backend="jax").validate()


def _step_both(ours, reference, weights, copies, step_ours=adam_step) -> None:
    grads = [torch.randn_like(w) for w in weights]
    for w, c, g in zip(weights, copies, grads):
        w.grad, c.grad = g.clone(), g.clone()
    step_ours(ours)
    reference.step()


def _assert_same(ours, reference, weights, copies) -> None:
    for w, c in zip(weights, copies):
        assert torch.equal(w, c)
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(ours.state[w][key], reference.state[c][key]), key


def test_adam_step_equals_optimizer_step() -> None:
    """The direct fused-Adam call updates weights and state exactly as `optimizer.step()`,
    also after the events that replace the step counters it shares (state loads, deep copies)
    and after a plain `optimizer.step()` on the shared counters."""
    torch.manual_seed(0)
    weights = [torch.randn(8, 4, requires_grad=True), torch.randn(4, requires_grad=True)]
    copies = [w.detach().clone().requires_grad_() for w in weights]
    ours = torch.optim.Adam(weights, lr=1e-2, fused=True)
    reference = torch.optim.Adam(copies, lr=1e-2, fused=True)
    for _ in range(5):
        _step_both(ours, reference, weights, copies)
        _assert_same(ours, reference, weights, copies)
    _step_both(ours, reference, weights, copies, step_ours=torch.optim.Adam.step)
    _assert_same(ours, reference, weights, copies)
    assert ours.state[weights[0]]["step"].item() == 6.0

    ours.load_state_dict(copy.deepcopy(reference.state_dict()))  # new step tensors: rebuilt
    for _ in range(2):
        _step_both(ours, reference, weights, copies)
        _assert_same(ours, reference, weights, copies)

    holder = {"weights": weights, "optimizer": ours}
    clone = copy.deepcopy(holder)  # a deep copy keeps its own counter; the original is untouched
    clone_weights, clone_optimizer = clone["weights"], clone["optimizer"]
    for w in clone_weights:
        w.grad = torch.ones_like(w)
    adam_step(clone_optimizer)
    assert clone_optimizer.state[clone_weights[0]]["step"].item() == 9.0
    assert ours.state[weights[0]]["step"].item() == 8.0
    _step_both(ours, reference, weights, copies)
    _assert_same(ours, reference, weights, copies)


def test_compiled_manual_update_matches_eager() -> None:
    """compile=true compiles the whole manual update (Adam in plain ops): same results."""
    _, eager = make_pair(3, 2, hidden_sizes=[16, 16])
    _, compiled = make_pair(3, 2, hidden_sizes=[16, 16])
    compiled.compile()
    for step in range(3):  # the first update goes through optimizer.step() (Adam's state init)
        batch = random_batch(3, 2, seed=step)
        for agent in (eager, compiled):
            torch.manual_seed(step)
            agent.update(batch)
    for name in ("actor", "critic", "critic_target", "critic_optimizer", "actor_optimizer"):
        torch.testing.assert_close(
            compiled.state_dict()[name], eager.state_dict()[name], rtol=1e-4, atol=1e-6
        )
    torch.testing.assert_close(compiled.log_alpha, eager.log_alpha, rtol=1e-4, atol=1e-6)


def test_manual_update_refuses_a_clamped_log_std() -> None:
    """Its backward is for the tanh-squashed log σ; an SB3-style clamp must train on autograd."""
    with pytest.raises(ValueError, match="update_backend=autograd"):
        SACConfig(clamp_log_std=True, update_backend="manual").validate()
    SACConfig(clamp_log_std=True, update_backend="autograd").validate()


def test_adam_math_equals_optimizer_step() -> None:
    """The plain-op Adam that runs under torch.compile, against torch's own, several steps."""
    torch.manual_seed(0)
    weights = [torch.randn(8, 4, requires_grad=True), torch.randn(4, requires_grad=True)]
    copies = [w.detach().clone().requires_grad_() for w in weights]
    ours = torch.optim.Adam(weights, lr=1e-2, fused=True)
    reference = torch.optim.Adam(copies, lr=1e-2)
    for step in range(6):
        scale = (1e-6, 1.0, 10.0)[step % 3]  # tiny gradients: where eps matters
        grads = [torch.randn_like(w) * scale for w in weights]
        for w, c, g in zip(weights, copies, grads):
            w.grad, c.grad = g.clone(), g.clone()
        if step == 0:
            ours.step()  # creates the state, as the first update does
        else:
            group = ours.param_groups[0]
            with torch.no_grad():
                _adam_math(weights, [ours.state[w] for w in weights], group["lr"],
                           *group["betas"], group["eps"])  # fmt: skip
        reference.step()
        for w, c in zip(weights, copies):
            torch.testing.assert_close(w, c, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("hidden_sizes", [[16], [32, 24, 8]])
def test_actor_action_is_the_distributions_action(hidden_sizes: list[int]) -> None:
    """act()'s plain-op forward equals Actor(obs)'s TanhNormal: mode, and squash of a given eps."""
    torch.manual_seed(3)
    agent = SACAgent(5, 3, SACConfig(hidden_sizes=hidden_sizes, log_std_min=-3.0, log_std_max=1.0))
    obs = torch.randn(7, 5) * 3.0
    eps = torch.randn(7, 3)
    with torch.no_grad():
        dist = agent.actor(obs)
        torch.testing.assert_close(actor_action(agent.actor, obs, None), dist.mode)
        torch.testing.assert_close(actor_action(agent.actor, obs, eps), dist.squash(eps))
    # act() draws eps from the global generator, as randn of the action's shape.
    torch.manual_seed(11)
    action = agent.act(obs.numpy())
    torch.manual_seed(11)
    expected = dist.squash(torch.randn(7, 3))
    torch.testing.assert_close(torch.from_numpy(action), expected)


def test_act_on_one_unbatched_observation() -> None:
    """One (obs_dim,) observation gives one (action_dim,) action, as its (1, obs_dim) batch does."""
    agent = SACAgent(4, 2, SACConfig(hidden_sizes=[16]))
    obs = torch.randn(4).numpy()
    torch.manual_seed(5)
    single = agent.act(obs)
    torch.manual_seed(5)
    batched = agent.act(obs[None])
    assert single.shape == (2,)
    torch.testing.assert_close(torch.from_numpy(single), torch.from_numpy(batched[0]))
    assert agent.act(obs, deterministic=True).shape == (2,)
