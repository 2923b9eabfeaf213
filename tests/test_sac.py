"""SAC losses, gradient routing, bootstrapping, temperature, agent update/predict/state_dict."""

from __future__ import annotations

import copy
import io
import re

import numpy as np
import pytest
import torch
from torch import nn

from agents import SACAgent, SACConfig
from agents.networks import Actor, Critic
from agents.replay_buffer import Batch, ReplayBuffer
from agents.sac import actor_loss, alpha_loss, critic_loss, soft_update

torch.set_num_threads(1)

OBS_DIM, ACTION_DIM, HIDDEN = 3, 2, [32, 32]


def make_config(**overrides) -> SACConfig:
    kwargs = dict(batch_size=16, buffer_size=200, hidden_sizes=list(HIDDEN))
    kwargs.update(overrides)
    return SACConfig(**kwargs)


def make_agent(
    seed: int = 0, obs_dim: int = OBS_DIM, action_dim: int = ACTION_DIM, **overrides
) -> SACAgent:
    torch.manual_seed(seed)
    return SACAgent(obs_dim, action_dim, make_config(**overrides))


def make_buffer(
    n: int = 64, seed: int = 0, obs_dim: int = OBS_DIM, action_dim: int = ACTION_DIM
) -> ReplayBuffer:
    rng = np.random.default_rng(seed)
    buffer = ReplayBuffer(200, obs_dim, action_dim)
    buffer.add(
        rng.normal(size=(n, obs_dim)),
        rng.uniform(-1, 1, size=(n, action_dim)),
        rng.normal(size=n),
        rng.normal(size=(n, obs_dim)),
        rng.random(n) < 0.2,
    )
    return buffer


def make_batch(batch_size: int = 16, seed: int = 0) -> Batch:
    return make_buffer().sample(batch_size, generator=torch.Generator().manual_seed(seed))


def params_of(*modules: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for m in modules for p in m.parameters()]


def all_equal(xs, ys) -> bool:
    return all(torch.equal(x, y) for x, y in zip(xs, ys, strict=True))


def nets():
    torch.manual_seed(0)
    actor = Actor(OBS_DIM, ACTION_DIM, HIDDEN)
    critic = Critic(OBS_DIM, ACTION_DIM, HIDDEN, 2)
    critic_target = copy.deepcopy(critic)  # deliberately not frozen: the loss must not touch it
    return actor, critic, critic_target


# ----------------------------------------------------------------------------- gradient routing


def test_critic_loss_gradient_routing():
    actor, critic, critic_target = nets()
    loss, metrics = critic_loss(actor, critic, critic_target, make_batch(), torch.tensor(0.5), 0.99)
    loss.backward()
    for name, p in actor.named_parameters():
        assert p.grad is None, f"actor.{name} got a gradient from the critic loss"
    for name, p in critic_target.named_parameters():
        assert p.grad is None, f"critic_target.{name} got a gradient"
    for name, p in critic.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"critic.{name} got no gradient"
    assert metrics["critic_loss"].requires_grad is False
    torch.testing.assert_close(metrics["critic_loss"], loss.detach())


@pytest.mark.parametrize("alpha", [0.0, 0.2])
def test_actor_loss_gradient_routing(alpha):
    actor, critic, _ = nets()
    critic.requires_grad_(False)  # as SACAgent.update does
    loss, metrics, log_prob = actor_loss(actor, critic, make_batch().obs, torch.tensor(alpha))
    loss.backward()
    for name, p in critic.named_parameters():
        assert p.grad is None, f"critic.{name} got a gradient in the actor step"
    # With alpha = 0 the only path to mu and sigma is through Q(s, tanh(mu + sigma * eps)).
    for p in (actor.mu.weight, actor.log_std.weight, actor.trunk[0].weight):
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert not log_prob.requires_grad and log_prob.grad_fn is None
    assert log_prob.shape == (16,)
    torch.testing.assert_close(metrics["entropy"], -log_prob.mean())


def test_alpha_loss_gradient_only_to_log_alpha():
    actor, critic, _ = nets()
    critic.requires_grad_(False)
    _, _, log_prob = actor_loss(actor, critic, make_batch().obs, torch.tensor(0.2))
    # log alpha != 0: a loss in alpha instead of log alpha would scale the gradient by alpha
    log_alpha = torch.tensor(float(np.log(0.2)), requires_grad=True)
    loss, metrics = alpha_loss(log_alpha, log_prob, target_entropy=-2.0)
    loss.backward()
    assert log_alpha.grad is not None and log_alpha.grad != 0
    # d loss / d log_alpha = -mean(log_prob + target_entropy)
    torch.testing.assert_close(log_alpha.grad, -(log_prob - 2.0).mean())
    for p in list(actor.parameters()) + list(critic.parameters()):
        assert p.grad is None
    assert not metrics["alpha_loss"].requires_grad


def _count_grad_hooks(module: nn.Module) -> list[int]:
    counts = [0] * len(list(module.parameters()))
    for i, p in enumerate(module.parameters()):

        def hook(grad, i=i):
            counts[i] += 1

        p.register_hook(hook)
    return counts


def test_update_computes_critic_weight_gradients_only_once():
    # Grad hooks see autograd's work; the manual backend is checked against this one in
    # tests/test_manual_update.py.
    agent = make_agent(update_backend="autograd")
    batch = make_batch()
    critic_counts = _count_grad_hooks(agent.critic)
    actor_counts = _count_grad_hooks(agent.actor)
    agent.update(batch)
    assert agent.num_updates == 1
    # Critic step only; the actor step must not compute critic weight gradients.
    assert critic_counts == [1] * len(critic_counts)
    # Actor step only; the critic target is computed without actor gradients.
    assert actor_counts == [1] * len(actor_counts)
    assert all(p.requires_grad for p in agent.critic.parameters())
    assert not any(p.requires_grad for p in agent.critic_target.parameters())


# ------------------------------------------------------------------------------------ soft update


def test_soft_update():
    torch.manual_seed(0)
    source = Critic(OBS_DIM, ACTION_DIM, [8], 2)
    target = Critic(OBS_DIM, ACTION_DIM, [8], 2)
    src, tgt = params_of(source), params_of(target)
    assert not all_equal(src, tgt)

    soft_update(target, source, 0.0)
    assert all_equal(params_of(target), tgt)

    soft_update(target, source, 0.25)
    for new, t, s in zip(params_of(target), tgt, src):
        torch.testing.assert_close(new, t + 0.25 * (s - t))
    assert all_equal(params_of(source), src)  # the source is untouched

    soft_update(target, source, 1.0)
    assert all_equal(params_of(target), src)


# ------------------------------------------------------- the update as the agent runs it
# tests/test_manual_update.py holds the two backends to each other; these pin what both must do,
# so that a mistake they share cannot pass.


@pytest.mark.parametrize("backend", ["autograd", "manual"])
def test_update_moves_the_targets_by_tau_toward_the_updated_critic(backend: str) -> None:
    agent = make_agent(update_backend=backend, tau=0.1)
    with torch.no_grad():  # targets apart from the critic, so that every direction shows
        for p in agent.critic_target.parameters():
            p.add_(torch.randn_like(p))
    critic_old, target_old = params_of(agent.critic), params_of(agent.critic_target)
    agent.update(make_batch())
    critic_new = params_of(agent.critic)
    assert not all_equal(critic_new, critic_old)  # the critic step came first
    target_new = params_of(agent.critic_target)
    for new, old, source in zip(target_new, target_old, critic_new, strict=True):
        torch.testing.assert_close(new, old + 0.1 * (source - old))


@pytest.mark.parametrize("backend", ["autograd", "manual"])
def test_actor_loss_takes_the_min_of_the_online_critics(backend: str) -> None:
    """Online critics constant at [5, 3], target critics at [10, 8], alpha 0.5: the actor's loss
    is mean(alpha log pi) - 3 (not the max, the mean, the target critics, or -alpha log pi).
    critic_lr 1e-12 keeps the online critics constant through the critic step before it."""
    agent = make_agent(update_backend=backend, init_alpha=0.5, learn_alpha=False, critic_lr=1e-12)
    _constant_critic(agent.critic, [5.0, 3.0])
    _constant_critic(agent.critic_target, [10.0, 8.0])
    metrics = agent.update(make_batch())
    assert metrics["entropy"].abs() > 0.1  # so the entropy term's sign shows
    torch.testing.assert_close(metrics["actor_loss"], -0.5 * metrics["entropy"] - 3.0)


@pytest.mark.parametrize("backend", ["autograd", "manual"])
def test_critic_loss_bootstraps_from_the_min_of_the_target_critics(backend: str) -> None:
    """Online critics constant at [5, 3], target critics at [10, 8], alpha ~0: the TD target is
    r + gamma (1 - terminated) 8 (not the online critics' 3, nor the targets' mean 9)."""
    gamma = 0.9
    agent = make_agent(update_backend=backend, gamma=gamma, init_alpha=1e-8, learn_alpha=False)
    _constant_critic(agent.critic, [5.0, 3.0])
    _constant_critic(agent.critic_target, [10.0, 8.0])
    batch = make_batch()
    assert 0 < batch.terminated.sum() < len(batch.terminated)  # both kinds of rows
    metrics = agent.update(batch)
    target = batch.reward + gamma * (1.0 - batch.terminated) * 8.0
    expected = 0.5 * ((5.0 - target).square().mean() + (3.0 - target).square().mean())
    torch.testing.assert_close(metrics["critic_loss"], expected)
    torch.testing.assert_close(metrics["q_mean"], torch.tensor(4.0))


# -------------------------------------------------------------------------------- bootstrapping


def _constant_critic(critic: Critic, member_values) -> Critic:
    """Make every member output a constant, independent of obs and action."""
    with torch.no_grad():
        last = critic.layers[-1]
        last.weight.zero_()
        for i, v in enumerate(member_values):
            last.bias[i].fill_(v)
    return critic


class _ProbeCritic(nn.Module):
    """Returns a (n, B) leaf tensor: its gradient reveals the TD target per sample."""

    def __init__(self, values: torch.Tensor) -> None:
        super().__init__()
        self.q = nn.Parameter(values.clone())

    def forward(self, obs, action):
        return self.q


GAMMA, REWARD = 0.9, 1.5


def _two_transition_batch() -> Batch:
    obs = torch.tensor([[0.1, -0.2, 0.3]]).repeat(2, 1)
    return Batch(
        obs=obs,
        action=torch.tensor([[0.5, -0.5]]).repeat(2, 1),
        reward=torch.tensor([REWARD, REWARD]),
        next_obs=obs + 1.0,
        terminated=torch.tensor([1.0, 0.0]),  # second: a time-limit truncation
    )


def _bootstrap_nets():
    torch.manual_seed(0)
    actor = Actor(OBS_DIM, ACTION_DIM, [8])
    target = _constant_critic(Critic(OBS_DIM, ACTION_DIM, [8], 2), [5.0, 3.0])
    return actor, target


def test_td_target_terminated_vs_truncated_via_probe():
    actor, critic_target = _bootstrap_nets()
    batch = _two_transition_batch()
    q = torch.tensor([[0.7, -0.4], [2.0, 1.1]])
    probe = _ProbeCritic(q)
    loss, _ = critic_loss(actor, probe, critic_target, batch, torch.tensor(0.0), GAMMA)
    loss.backward()
    # loss = 0.5 * sum_i mean_b (q_ib - y_b)^2  =>  dloss/dq_ib = (q_ib - y_b) / B
    target = q - 2 * probe.q.grad
    expected = torch.tensor([REWARD, REWARD + GAMMA * 3.0])  # min(5, 3) = 3; no bootstrap if done
    torch.testing.assert_close(target[0], expected)
    torch.testing.assert_close(target[1], expected)


def test_td_target_terminated_vs_truncated_via_constant_critic_loss():
    actor, critic_target = _bootstrap_nets()
    batch = _two_transition_batch()

    def expected_loss(q0, y):
        return 0.5 * 2 * ((q0 - y) ** 2).mean()  # two members, both outputting q0

    right = torch.tensor([REWARD, REWARD + GAMMA * 3.0])
    ignores_done = torch.tensor([REWARD + GAMMA * 3.0] * 2)
    uses_max = torch.tensor([REWARD, REWARD + GAMMA * 5.0])
    for q0 in (0.0, 2.5, -1.0):
        critic = _constant_critic(Critic(OBS_DIM, ACTION_DIM, [8], 2), [q0, q0])
        loss, metrics = critic_loss(actor, critic, critic_target, batch, torch.tensor(0.0), GAMMA)
        torch.testing.assert_close(loss, expected_loss(q0, right))
        assert not torch.isclose(loss, expected_loss(q0, ignores_done))
        assert not torch.isclose(loss, expected_loss(q0, uses_max))
        torch.testing.assert_close(metrics["q_mean"], torch.tensor(q0))


def test_td_target_includes_entropy_bonus():
    """y = r + gamma * (1 - d) * (min_i Q'_i - alpha * log pi(a'|s')), a' ~ pi(.|s')."""
    actor, critic_target = _bootstrap_nets()
    batch = _two_transition_batch()
    alpha = 0.3
    q = torch.zeros(2, 2)
    probe = _ProbeCritic(q)
    torch.manual_seed(7)
    loss, _ = critic_loss(actor, probe, critic_target, batch, torch.tensor(alpha), GAMMA)
    loss.backward()
    target = q - 2 * probe.q.grad
    torch.manual_seed(7)  # replay the same next-action noise
    with torch.no_grad():
        _, next_log_prob = actor(batch.next_obs).rsample()
    expected = batch.reward + GAMMA * (1 - batch.terminated) * (3.0 - alpha * next_log_prob)
    torch.testing.assert_close(target[0], expected)
    assert target[0, 1] != REWARD + GAMMA * 3.0  # the entropy term is present


# ---------------------------------------------------------------------------------- temperature


@pytest.mark.parametrize("log_prob_value,direction", [(5.0, +1), (-5.0, -1)])
def test_alpha_loss_direction(log_prob_value, direction):
    """Entropy -log_prob below the target (-2) -> alpha rises; above -> alpha falls."""
    log_alpha = torch.tensor(0.0, requires_grad=True)
    optimizer = torch.optim.SGD([log_alpha], lr=0.1)
    log_prob = torch.full((8,), log_prob_value)
    loss, _ = alpha_loss(log_alpha, log_prob, target_entropy=-2.0)
    loss.backward()
    optimizer.step()
    assert torch.sign(log_alpha.detach()) == direction


def test_fixed_alpha_stays_at_init():
    agent = make_agent(learn_alpha=False, init_alpha=0.3)
    log_alpha0 = agent.log_alpha.detach().clone()
    buffer = make_buffer()
    for _ in range(5):
        metrics = agent.update(buffer.sample(16))
    assert torch.equal(agent.log_alpha.detach(), log_alpha0)
    assert agent.alpha.item() == pytest.approx(0.3, rel=1e-6)
    assert metrics["alpha"].item() == pytest.approx(0.3, rel=1e-6)


@pytest.mark.parametrize("target_entropy, direction", [(-100.0, -1), (100.0, 1)])
def test_learned_alpha_moves_toward_the_target_entropy(target_entropy, direction):
    """Entropy above the target lowers alpha (less exploration bonus); below it raises alpha."""
    agent = make_agent(init_alpha=0.3, alpha_lr=1e-2, target_entropy=target_entropy)
    buffer = make_buffer()
    for _ in range(3):
        agent.update(buffer.sample(16))
    assert (agent.alpha.item() - 0.3) * direction > 1e-3


def test_target_entropy_default_and_override():
    assert make_agent(action_dim=2).target_entropy == -2.0
    assert make_agent(action_dim=5).target_entropy == -5.0
    assert make_agent(action_dim=5, target_entropy=-1.5).target_entropy == -1.5


# ------------------------------------------------------------------------------ update schedule


def test_actor_update_every_two():
    agent = make_agent(actor_update_every=2)
    buffer = make_buffer()
    changed = []
    for _ in range(4):
        actor_before = params_of(agent.actor)
        critic_before = params_of(agent.critic)
        alpha_before = agent.log_alpha.detach().clone()
        metrics = agent.update(buffer.sample(16))
        actor_changed = not all_equal(params_of(agent.actor), actor_before)
        changed.append(actor_changed)
        assert actor_changed == (not torch.equal(agent.log_alpha.detach(), alpha_before))
        assert actor_changed == ("actor_loss" in metrics)
        assert not all_equal(params_of(agent.critic), critic_before)  # the critic steps every time
    assert changed == [True, False, True, False]


def _train_and_act(seed: int, n_updates: int = 20) -> np.ndarray:
    agent = make_agent(seed)
    buffer = make_buffer()
    generator = torch.Generator().manual_seed(0)
    for _ in range(n_updates):
        agent.update(buffer.sample(16, generator=generator))
    obs = np.random.default_rng(1).normal(size=(5, OBS_DIM))
    return agent.act(obs, deterministic=True)


def test_determinism():
    a = _train_and_act(3)
    b = _train_and_act(3)
    c = _train_and_act(4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_update_metrics():
    agent = make_agent()
    metrics = agent.update(make_batch())
    expected = {"critic_loss", "actor_loss", "alpha_loss", "alpha", "entropy", "q_mean"}
    assert expected <= set(metrics)
    for name, value in metrics.items():
        assert isinstance(value, torch.Tensor), name
        assert value.dim() == 0, name
        assert not value.requires_grad, name
        assert torch.isfinite(value), name


# ------------------------------------------------------------------------------------- predict


def test_predict_signature_and_shapes():
    agent = make_agent()
    obs = np.random.default_rng(0).normal(size=(4, OBS_DIM)).astype(np.float32)
    actions, state = agent.predict(obs)
    assert state is None
    assert actions.shape == (4, ACTION_DIM)
    single, state = agent.predict(obs[0], state=None, episode_start=None, deterministic=True)
    assert state is None
    assert single.shape == (ACTION_DIM,)
    np.testing.assert_allclose(single, actions[0], rtol=0, atol=1e-6)
    # Default is deterministic: repeated calls agree.
    np.testing.assert_array_equal(agent.predict(obs)[0], actions)


def test_predict_rescales_to_action_bounds():
    torch.manual_seed(0)
    agent = SACAgent(
        OBS_DIM, 1, make_config(), action_low=np.array([-2.0]), action_high=np.array([2.0])
    )
    # Push the mean into the tanh tails so that the bounds are approached.
    with torch.no_grad():
        agent.actor.mu.weight.mul_(50.0)
    obs = np.random.default_rng(0).normal(size=(64, OBS_DIM)).astype(np.float32)
    scaled, _ = agent.predict(obs, deterministic=True)
    np.testing.assert_allclose(scaled, 2.0 * agent.act(obs, deterministic=True), rtol=0, atol=1e-6)
    assert (scaled >= -2.0).all() and (scaled <= 2.0).all()
    assert np.abs(scaled).max() > 1.5  # actually exercises the scale, not just [-1, 1]

    stochastic, _ = agent.predict(obs, deterministic=False)
    assert (stochastic >= -2.0).all() and (stochastic <= 2.0).all()


def test_predict_asymmetric_bounds():
    torch.manual_seed(0)
    low, high = np.array([0.0, -3.0]), np.array([1.0, 5.0])
    agent = SACAgent(OBS_DIM, 2, make_config(), action_low=low, action_high=high)
    obs = np.random.default_rng(0).normal(size=(16, OBS_DIM)).astype(np.float32)
    scaled, _ = agent.predict(obs)
    unit = agent.act(obs, deterministic=True)
    np.testing.assert_allclose(scaled, low + (unit + 1) / 2 * (high - low), rtol=0, atol=1e-5)
    assert (scaled >= low).all() and (scaled <= high).all()


# --------------------------------------------------------------------------------- state_dict


def _serialize(state):
    """The checkpoint path: torch.save / torch.load(weights_only=True)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def _all_params(agent: SACAgent) -> list[torch.Tensor]:
    return params_of(agent.actor, agent.critic, agent.critic_target) + [agent.log_alpha.detach()]


def test_state_dict_round_trip():
    agent = make_agent(0)
    buffer = make_buffer()
    for _ in range(3):
        agent.update(buffer.sample(16))
    state = _serialize(agent.state_dict())

    restored = make_agent(1)  # different init
    obs = np.random.default_rng(2).normal(size=(6, OBS_DIM))
    assert not np.array_equal(restored.act(obs, True), agent.act(obs, True))
    restored.load_state_dict(state)
    np.testing.assert_array_equal(restored.act(obs, True), agent.act(obs, True))
    assert restored.alpha.item() == agent.alpha.item()
    assert restored.num_updates == agent.num_updates == 3
    assert all_equal(_all_params(restored), _all_params(agent))

    # Control: same weights but fresh optimizers diverge after one step, so the check below
    # really tests that the optimizer state was restored.
    no_optim = make_agent(2)
    fresh = no_optim.state_dict()
    partial = dict(
        state,
        actor_optimizer=fresh["actor_optimizer"],
        critic_optimizer=fresh["critic_optimizer"],
        alpha_optimizer=fresh["alpha_optimizer"],
    )
    no_optim.load_state_dict(_serialize(partial))

    batch = buffer.sample(16, generator=torch.Generator().manual_seed(9))
    for a in (agent, restored, no_optim):
        torch.manual_seed(5)
        a.update(batch)
    assert all_equal(_all_params(restored), _all_params(agent))
    assert restored.num_updates == 4
    assert not all_equal(_all_params(no_optim), _all_params(agent))


def test_load_state_dict_obs_dim_mismatch():
    state = make_agent(obs_dim=OBS_DIM).state_dict()
    with pytest.raises(ValueError, match="obs_dim"):
        make_agent(obs_dim=OBS_DIM + 1).load_state_dict(state)


def test_load_state_dict_action_dim_mismatch():
    state = make_agent(action_dim=ACTION_DIM).state_dict()
    with pytest.raises(ValueError, match="action_dim"):
        make_agent(action_dim=ACTION_DIM + 1).load_state_dict(state)


@pytest.mark.parametrize(
    "other", [{"hidden_sizes": [16, 16]}, {"hidden_sizes": [32, 32, 32]}, {"num_critics": 3}]
)
def test_load_state_dict_architecture_mismatch(other):
    state = make_agent().state_dict()
    agent = make_agent(**other)
    with pytest.raises(ValueError):
        agent.load_state_dict(state)


def test_compiled_update_matches_eager() -> None:
    """compile=true must not change the math: same seed, same batch, same parameters after."""
    torch.manual_seed(0)
    obs_dim, action_dim = 3, 1
    config = SACConfig(hidden_sizes=[16, 16], batch_size=8, update_backend="autograd")
    eager = SACAgent(obs_dim, action_dim, config)
    compiled = SACAgent(obs_dim, action_dim, config)
    compiled.load_state_dict(eager.state_dict())
    compiled.compile()
    batch = Batch(torch.randn(8, obs_dim), torch.rand(8, action_dim) * 2 - 1, torch.randn(8),
                  torch.randn(8, obs_dim), torch.zeros(8))  # fmt: skip
    for agent in (eager, compiled):
        torch.manual_seed(1)
        agent.update(batch)
    for key, value in eager.actor.state_dict().items():
        torch.testing.assert_close(compiled.actor.state_dict()[key], value, rtol=1e-4, atol=1e-5)
    for key, value in eager.critic.state_dict().items():
        torch.testing.assert_close(compiled.critic.state_dict()[key], value, rtol=1e-4, atol=1e-5)
    assert set(compiled.state_dict()["actor"]) == set(eager.state_dict()["actor"])


@pytest.mark.parametrize(
    ("low", "high", "message"),
    [
        (np.array([-2.0, -2.0, -2.0]), np.array([2.0, 2.0, 2.0]), "action_low has shape (3,)"),
        (np.array([-2.0]), np.array([2.0]), "action_low has shape (1,)"),  # not broadcast
        (np.array([[-1.0, -1.0]]), np.array([[1.0, 1.0]]), "action_low has shape (1, 2)"),
        (np.array([1.0, 1.0]), np.array([-1.0, -1.0]), "action_low must be <= action_high"),
        (np.array([-np.inf, -1.0]), np.array([np.inf, 1.0]), "action_low must be finite"),
        (np.array([-2.0, -2.0]), None, "give both action_low and action_high"),
    ],
)
def test_action_bounds_are_checked_not_broadcast(low, high, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        SACAgent(OBS_DIM, ACTION_DIM, make_config(), action_low=low, action_high=high)
    assert message in str(raised.value)


@pytest.mark.parametrize(("obs_dim", "action_dim"), [(0, 2), (3, 0), (-1, 2), (3.0, 2), (True, 2)])
def test_sizes_must_be_positive_integers(obs_dim, action_dim) -> None:
    with pytest.raises(ValueError, match="must be a positive integer"):
        SACAgent(obs_dim, action_dim, make_config())


def test_observe_refuses_wrong_width_and_non_finite_observations() -> None:
    agent = make_agent(normalize_obs=True)
    agent.observe(np.ones((5, OBS_DIM)))
    before = agent.obs_norm.state_dict()
    with pytest.raises(ValueError, match=r"expected \(N, 3\)"):
        agent.observe(np.zeros((OBS_DIM, 4)))  # 12 numbers: would regroup as 4 rows of 3
    bad = np.ones((2, OBS_DIM))
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        agent.observe(bad)
    after = agent.obs_norm.state_dict()
    assert all(torch.equal(torch.as_tensor(after[k]), torch.as_tensor(before[k])) for k in before)


@pytest.mark.parametrize("backend", ["autograd", "manual"])
def test_update_refuses_a_column_reward(backend: str) -> None:
    """reward (B, 1) would broadcast the soft target to (B, B) and train on it silently (the
    manual backend did, with as many critics as rows)."""
    agent = make_agent(update_backend=backend, num_critics=16)
    batch = make_batch()
    before = params_of(agent.critic)
    with pytest.raises(ValueError, match=r"batch.reward has shape \(16, 1\)"):
        agent.update(batch._replace(reward=batch.reward[:, None]))
    assert all_equal(params_of(agent.critic), before)


def test_failed_load_state_dict_leaves_the_agent_unchanged() -> None:
    source, target = make_agent(seed=1, normalize_obs=True), make_agent(seed=2)
    before = params_of(target.actor, target.critic)
    with pytest.raises(ValueError, match="normalize_obs"):
        target.load_state_dict(source.state_dict())  # networks fit; the normalization does not
    assert all_equal(params_of(target.actor, target.critic), before)
    assert target.num_updates == 0
    state = make_agent(seed=1).state_dict()
    del state["critic_optimizer"]
    with pytest.raises(ValueError, match=r"agent state lacks \['critic_optimizer'\]"):
        target.load_state_dict(state)
    wider = make_agent(seed=1, hidden_sizes=[32, 48]).state_dict()
    with pytest.raises(ValueError, match="actor.trunk"):
        target.load_state_dict(wider)
    assert all_equal(params_of(target.actor, target.critic), before)


def test_loaded_optimizers_take_this_configs_learning_rates() -> None:
    """A resumed run may change agent.*_lr: the config wins over the saved optimizer's lr."""
    saved = make_agent(seed=1).state_dict()  # lr 3e-4
    agent = make_agent(seed=2, actor_lr=1e-3, critic_lr=2e-3, alpha_lr=5e-4)
    agent.load_state_dict(saved)
    lrs = [g["lr"] for o in (agent.actor_optimizer, agent.critic_optimizer,
                             agent.alpha_optimizer) for g in o.param_groups]  # fmt: skip
    assert lrs == [1e-3, 2e-3, 5e-4]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"batch_size": 2.5}, "agent.batch_size must be an integer"),
        ({"num_critics": 2.5}, "agent.num_critics must be an integer"),  # was torch's empty()
        ({"hidden_sizes": [32, 2.5]}, "agent.hidden_sizes must be integers"),
        ({"gamma": True}, "agent.gamma must be a number"),
    ],
)
def test_config_types_are_checked(overrides: dict, message: str) -> None:
    make_config().validate()
    with pytest.raises(ValueError, match=message):
        make_config(**overrides).validate()


def test_act_refuses_observations_of_the_wrong_shape() -> None:
    agent = make_agent()
    for obs in (np.float32(0.0), np.zeros(OBS_DIM + 1), np.zeros((2, 2, OBS_DIM))):
        with pytest.raises(ValueError, match="observations have shape"):
            agent.act(obs)
    assert agent.act(np.zeros(OBS_DIM)).shape == (ACTION_DIM,)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_cuda_without_a_gpu_is_one_value_error() -> None:
    with pytest.raises(ValueError, match="no CUDA GPU is available"):
        SACAgent(OBS_DIM, ACTION_DIM, make_config(), device="cuda")
    with pytest.raises(ValueError, match="no CUDA GPU is available"):
        ReplayBuffer(10, OBS_DIM, ACTION_DIM, device="cuda")


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda s: s.update(log_alpha=torch.zeros(2)), "log_alpha has shape (2,)"),
        (lambda s: s["critic_optimizer"].update(param_groups=[]), "critic_optimizer does not fit"),
        (lambda s: s.update(num_updates="x"), "num_updates is 'x'"),
    ],
)
def test_state_that_fails_late_is_refused_before_any_change(corrupt, message: str) -> None:
    """These used to fail only after the networks were already replaced."""
    state = copy.deepcopy(make_agent(seed=1).state_dict())
    corrupt(state)
    agent = make_agent(seed=2)
    before = params_of(agent.actor, agent.critic) + [agent.log_alpha.detach().clone()]
    with pytest.raises(ValueError, match=re.escape(message)):
        agent.load_state_dict(state)
    assert all_equal(params_of(agent.actor, agent.critic) + [agent.log_alpha.detach()], before)


def test_scalar_bounds_apply_to_every_dimension_and_numpy_ints_count() -> None:
    agent = SACAgent(np.int64(OBS_DIM), ACTION_DIM, make_config(), action_low=-2.0, action_high=2.0)
    np.testing.assert_array_equal(agent.action_high, [2.0, 2.0])
    batch = make_buffer().sample(np.int64(8))
    assert batch.action.shape == (8, ACTION_DIM)


def test_load_state_dict_refuses_another_log_std_bound() -> None:
    """An SB3-style actor (log σ clamped) and ours (tanh-squashed) act differently on the same
    weights: a state of one is refused by the other, before anything changes."""
    clamped = make_agent(update_backend="autograd", clamp_log_std=True)
    agent = make_agent(update_backend="autograd")
    before = params_of(agent.actor)
    with pytest.raises(ValueError, match="clamp_log_std"):
        agent.load_state_dict(clamped.state_dict())
    assert all_equal(params_of(agent.actor), before)
    older = {**clamped.state_dict(), "actor_class": "SB3Actor"}  # as saved before the flag
    del older["config"]["clamp_log_std"]
    again = make_agent(update_backend="autograd", clamp_log_std=True)
    again.load_state_dict(older)
    with pytest.raises(ValueError, match="unknown class 'Gaussian'"):
        again.load_state_dict({**older, "actor_class": "Gaussian"})


def test_mean_clip_bounds_the_mean_and_must_match_the_state() -> None:
    """agent.mean_clip clips μ before tanh (SB3's gSDE actor); it trains on autograd only, and
    a state saved with another clip is refused before anything changes."""
    for bad, message in ((0.0, "must be > 0"), (float("nan"), "finite"), (True, "a number")):
        with pytest.raises(ValueError, match=message):
            make_config(update_backend="autograd", mean_clip=bad).validate()
    with pytest.raises(ValueError, match="update_backend=autograd"):
        make_config(mean_clip=2.0).validate()
    clipped = make_agent(update_backend="autograd", mean_clip=0.1)
    with torch.no_grad():
        clipped.actor.mu.bias.fill_(5.0)
    obs = np.zeros((4, OBS_DIM), np.float32)
    np.testing.assert_allclose(clipped.act(obs, deterministic=True), np.tanh(0.1), rtol=1e-6)
    agent = make_agent(update_backend="autograd")
    before = params_of(agent.actor)
    with pytest.raises(ValueError, match="disagree on agent.mean_clip"):
        agent.load_state_dict(clipped.state_dict())
    assert all_equal(params_of(agent.actor), before)
