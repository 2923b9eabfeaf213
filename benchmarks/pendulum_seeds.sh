#!/usr/bin/env bash
# Five seeds of the default Pendulum-v1 config (`python train.py env=Pendulum-v1`), one at a time;
# prints each run's final deterministic eval return (10 episodes) and steps/s.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/pendulum_seeds}
for seed in 0 1 2 3 4; do
  python train.py env=Pendulum-v1 seed=$seed wandb.mode=disabled progress=false \
    hydra.run.dir="$out/seed$seed" >/dev/null 2>&1
  python -c "import json,sys; s=json.load(open('$out/seed$seed/summary.json')); \
print(f\"seed $seed: eval_return_mean {s['eval_return_mean']:.1f} ± {s['eval_return_std']:.1f}, \
{s['steps_per_second']:.0f} steps/s, {s['total_steps']} steps\")"
done
