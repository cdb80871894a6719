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


def randomize_weights(model, seed: int = 0, scale: float = 0.7) -> None:
    """Random weights for every layer of a built flexnet model (moving variances positive), so
    that no layer is the identity it starts as: for comparing a model with another runtime.
    Variances (BatchNormalization's moving ones, Normalization's) stay positive."""
    import numpy as np

    rng = np.random.default_rng(seed)
    weights = []
    for layer in model._flat_layers():
        for key, w in [*layer.params.items(), *layer.buffers.items()]:
            value = rng.normal(scale=scale, size=tuple(w.shape))
            weights.append(np.abs(value) + 0.3 if key in ("moving_variance", "variance") else value)
    model.set_weights(weights)


def doubler_layer():
    """A user layer class no file format knows: ``Y = 2X``."""
    import flexnet as fx

    class Doubler(fx.layers.Layer):
        def forward(self, X, training=False):
            return X * 2.0

        def backward(self, dY):
            return dY * 2.0

    return Doubler
