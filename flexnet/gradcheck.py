"""Gradient checking: compare a backward pass with central differences.

``check_layer_gradients`` and ``check_model_gradients`` return the worst
relative error over the input and every parameter; in float64 a correct
backward gives about 1e-8 or less. Use them to verify layers you write.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_layer_gradients", "check_model_gradients", "numerical_gradient"]


def numerical_gradient(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences ``(f(x + εe_i) - f(x - εe_i)) / 2ε`` of a scalar function of a
    host array ``x`` (float64), one entry at a time. ``x`` is restored afterwards."""
    x = np.array(x, dtype=np.float64, copy=True)
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f(x)
        flat[i] = old - eps
        down = f(x)
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """``‖a - n‖ / max(‖a‖ + ‖n‖, 1e-12)``: scale-free, 0 when the two agree."""
    diff = np.linalg.norm(analytic - numeric)
    return float(diff / max(np.linalg.norm(analytic) + np.linalg.norm(numeric), 1e-12))


def check_layer_gradients(layer, X, *, training: bool = False, eps: float = 1e-6,
                          seed: int = 0) -> dict[str, float]:
    """Relative errors of a built layer's ``backward`` against central differences.

    The scalar checked is ``f = Σ forward(X) ⊙ R`` for a fixed random ``R``, so
    ``backward(R)`` must give ``∂f/∂X`` and ``grads`` the ``∂f/∂params``.

    Args:
        layer: a built layer (e.g. inside a model, or after ``layer.setup(...)``).
        X: an input batch on the layer's backend.
        training: forward mode (keep ``False`` for layers with randomness).
        eps: the finite-difference step (the layer's dtype should be float64).
        seed: seed of ``R``.

    Returns:
        ``{"input": err, "<param>": err, ...}``.
    """
    b = layer.backend
    dtype = layer.dtype
    Y = layer.forward(X, training=training)
    R_host = np.random.default_rng(seed).standard_normal(tuple(Y.shape))
    R = b.from_numpy(R_host, dtype)
    dX = layer.backward(R)
    analytic = {"input": b.to_numpy(dX)}
    analytic.update({k: b.to_numpy(g) for k, g in layer.grads.items()})

    def f_of_input(x_host):
        out = layer.forward(b.from_numpy(x_host, dtype), training=training)
        return float(np.sum(b.to_numpy(out) * R_host))

    errors = {"input": relative_error(analytic["input"],
                                      numerical_gradient(f_of_input, b.to_numpy(X), eps))}
    for name in list(layer.params):
        original = layer.params[name]

        def f_of_param(p_host, name=name):
            layer.params[name] = b.from_numpy(p_host, dtype)
            return f_of_input(b.to_numpy(X))

        numeric = numerical_gradient(f_of_param, b.to_numpy(original), eps)
        layer.params[name] = original
        errors[name] = relative_error(analytic[name], numeric)
    return errors


def check_model_gradients(model, x, y, *, eps: float = 1e-6) -> float:
    """Worst relative error of ``model.compute_gradients`` (inference mode) against
    central differences of the loss, over every trainable weight.

    The model must be compiled and should be float64; it is left unchanged.
    """
    _, grads = model.compute_gradients(x, y, training=False)
    b = model.backend
    analytic = [b.to_numpy(g) for g in grads]
    entries = [(layer, key) for layer in model._flat_layers() if layer.trainable for key in layer.params]
    worst = 0.0
    for (owner, key), expected in zip(entries, analytic):
        w = b.to_numpy(owner.params[key])

        def loss_at(w_host, owner=owner, key=key):
            owner.params[key] = b.from_numpy(w_host, model.dtype)
            return float(model.compute_gradients(x, y, training=False)[0])

        numeric = numerical_gradient(loss_at, w, eps)
        owner.params[key] = b.from_numpy(w, model.dtype)
        worst = max(worst, relative_error(expected, numeric))
    return worst
