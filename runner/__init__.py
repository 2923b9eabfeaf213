"""What the command-line tools share: config checks and error wording, signals, W&B tracking,
run dirs, resume, the training loop, and model loading and export.

May import agents, envs, configs, wandb and Hydra; never train.py or evaluate.py (the CLIs
import this package, not each other).
"""
