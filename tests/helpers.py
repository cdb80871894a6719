"""Helpers shared by test modules (pytest puts tests/ on sys.path)."""

from __future__ import annotations


def torch_activations() -> dict:
    """flexnet activation name -> the PyTorch function computing the same thing."""
    import torch

    return {
        "linear": lambda z: z,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "softmax": lambda z: torch.softmax(z, dim=-1),
    }
