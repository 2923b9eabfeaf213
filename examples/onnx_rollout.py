"""Run an exported policy in its Gymnasium env with onnxruntime and numpy alone (no torch, nor
this package), and print the returns:

    python evaluate.py checkpoint=<run dir> export_onnx=policy.onnx
    python examples/onnx_rollout.py policy.onnx --episodes 10 --seed 0

The env id, its kwargs and time limit come from the graph's metadata (--env names another env
of the same spaces). Episodes are seeded as evaluate.py seeds them with num_envs=1 (and as SB3's
evaluate_policy after DummyVecEnv.seed): the first reset takes --seed, later ones continue the
env's own random stream. A deterministic graph therefore gives the returns evaluate.py reports
for the same seed and episodes. A stochastic one (exported with deterministic=false) takes eps
~ N(0, 1) as its second input, drawn here from numpy's generator: other samples than torch's.
"""

from __future__ import annotations

import argparse
import json

import gymnasium as gym
import numpy as np
import onnxruntime as ort


def load_policy(path: str) -> tuple[ort.InferenceSession, dict[str, str]]:
    """The graph, ready to run on the CPU, and its metadata (env id, spaces, training record)."""
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session, session.get_modelmeta().custom_metadata_map


def make_env(metadata: dict[str, str], env_id: str | None = None) -> gym.Env:
    """The env the policy was trained on, built with its saved kwargs and time limit."""
    if env_id is None or env_id == metadata["env_id"]:
        kwargs = json.loads(metadata.get("env_kwargs", "{}"))
        steps = json.loads(metadata.get("max_episode_steps", "null"))
        env = gym.make(metadata["env_id"], max_episode_steps=steps, **kwargs)
    else:  # the saved kwargs belong to the saved env (as with evaluate.py's env=)
        env = gym.make(env_id)
    if isinstance(env.observation_space, (gym.spaces.Dict, gym.spaces.Tuple)):
        env = gym.wrappers.FlattenObservation(env)  # dict observations, flattened as in training
    return env


def rollout(
    session: ort.InferenceSession, env: gym.Env, episodes: int, seed: int
) -> list[tuple[float, int]]:
    """(return, length) of each of `episodes` episodes."""
    stochastic = len(session.get_inputs()) == 2  # inputs obs and eps
    action_dim = session.get_outputs()[0].shape[1]
    rng = np.random.default_rng(seed)
    results = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed if episode == 0 else None)
        total, length, done = 0.0, 0, False
        while not done:
            feed = {"obs": np.asarray(obs, dtype=np.float32)[None]}  # a batch of one
            if stochastic:
                feed["eps"] = rng.standard_normal((1, action_dim)).astype(np.float32)
            action = session.run(["action"], feed)[0][0]
            obs, reward, terminated, truncated, _ = env.step(action)
            total, length = total + float(reward), length + 1
            done = terminated or truncated
        results.append((total, length))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("policy", help="an .onnx file written by evaluate.py export_onnx=")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env", default=None, help="Gymnasium id (default: the metadata's)")
    args = parser.parse_args()
    session, metadata = load_policy(args.policy)
    env = make_env(metadata, args.env)
    try:
        results = rollout(session, env, args.episodes, args.seed)
    finally:
        env.close()
    for episode, (total, length) in enumerate(results):
        print(f"episode {episode}: return {total!r}, length {length}")
    returns = np.array([total for total, _ in results])
    print(
        f"{env.spec.id if env.spec else metadata['env_id']}: mean return {returns.mean():.2f} "
        f"± {returns.std():.2f} over {len(returns)} episodes, seed {args.seed}"
    )


if __name__ == "__main__":
    main()
