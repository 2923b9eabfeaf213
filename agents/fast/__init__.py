"""The fast update path: SAC's update with hand-written backward passes, and its CUDA graph.

Given plain modules, optimizers and tensors (`UpdateParts`), never the agent; imported only by
agents/sac.py, and held to its readable loss functions by tests/test_manual_update.py.
"""

from agents.fast.cuda_graph import GraphedUpdate, fast_update_path
from agents.fast.layers import Layers, actor_layers, agent_layers, ensemble_layers, linear_layers
from agents.fast.manual_update import actor_action, manual_update, update_step
from agents.fast.parts import UpdateParts

__all__ = [
    "GraphedUpdate",
    "Layers",
    "UpdateParts",
    "actor_action",
    "actor_layers",
    "agent_layers",
    "ensemble_layers",
    "fast_update_path",
    "linear_layers",
    "manual_update",
    "update_step",
]
