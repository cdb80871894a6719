"""flexnet: dense neural networks with the Keras interface, open gradients, and any
Array API backend (NumPy, CuPy, PyTorch, array-api-strict).

    import flexnet as fx
    model = fx.Sequential([fx.layers.Dense(16, input_dim=30, activation="relu"),
                           fx.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(X, y, batch_size=64, epochs=30)
"""

from flexnet import (
    activations,
    callbacks,
    constraints,
    data,
    distributed,
    export,
    gradcheck,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    random,
    registry,
    regularizers,
    saving,
    schedules,
    utils,
)
from flexnet.backend import Backend, floatx, get_backend, set_backend, set_floatx
from flexnet.layers import Input
from flexnet.models import Model, Sequential
from flexnet.version import __version__ as __version__

__all__ = [
    "Backend",
    "Input",
    "Model",
    "Sequential",
    "activations",
    "callbacks",
    "constraints",
    "data",
    "distributed",
    "export",
    "gradcheck",
    "floatx",
    "get_backend",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "random",
    "registry",
    "regularizers",
    "saving",
    "schedules",
    "set_backend",
    "set_floatx",
    "utils",
]
