"""What a training or evaluation stage starts with: its settings, every random source seeded
from them, its device, and its image sets."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from vvpipe import config
from vvpipe.data import ImageSet, load_image_sets
from vvpipe.errors import ParamsError

T = TypeVar("T")


def select_device(name: str) -> torch.device:
    """``auto`` picks CUDA when a GPU is visible, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ParamsError(f"device {name!r} requested but no CUDA GPU is visible")
    return device


def seed_everything(seed: int) -> None:
    """Seed every random source and make torch pick deterministic kernels."""
    # cuBLAS needs this workspace setting to be deterministic; harmless on the CPU.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False


def setup(settings_class: type[T], section: str,
          data: Path) -> tuple[T, torch.device, dict[str, ImageSet]]:
    """What a training or evaluation stage starts with: its params section (checked), every
    random source seeded from it, the device it names, and the prepared image sets."""
    settings = config.load(settings_class, section)
    seed_everything(settings.seed)
    return settings, select_device(settings.device), load_image_sets(data)
