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


def breast_cancer_split(random_state: int):
    """scikit-learn's breast-cancer data, split 75/25 (stratified) and standardized with the
    training statistics: ``Xtr, Xte, ytr, yte``."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=random_state, stratify=y)
    mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
    return (Xtr - mu) / sd, (Xte - mu) / sd, ytr, yte
