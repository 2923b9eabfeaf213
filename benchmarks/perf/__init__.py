"""The speed benchmark's parts: what `python benchmarks/speed.py` runs, module by module.

settings   identical hyperparameters for ours and SB3, and each side's tuned Pendulum config
training   both training loops (ours: `runner.training.Trainer.train`, what train.py runs;
           SB3's `learn()`) with a hook
flops      the FLOP count of one update, torch matmul rates, an update's recorded matmul calls
measure    timings: env step, ms per update, the matmul replay
children   each measurement as a child-process task, and the call that runs one
runs       the sequence of child runs the CLI asks for, logged as they end
machine    what the machine is, its results folder name
summary    medians and ratios over runs
report     the Markdown report and the files written
"""
