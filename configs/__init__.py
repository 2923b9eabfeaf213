"""Hydra config files (config.yaml, agent/, env/) and their typed schema (schema.py)."""

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent
