"""Small argument checks shared by the agent, the replay buffer and evaluation."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def is_integer(value: Any) -> bool:
    """A Python or numpy integer, not a bool (True would pass as 1) and not a whole float."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def checked_device(device: torch.device | str) -> torch.device:
    """torch.device, refusing CUDA where there is none with a one-line ValueError (torch's own
    error is an AssertionError from deep inside the first allocation)."""
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device} requested, but no CUDA GPU is available")
    return device
