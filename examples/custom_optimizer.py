"""Write your own optimizer, and train with a hand-written loop over ``compute_gradients``.

An optimizer is two methods: ``init(param)`` makes the state of one parameter and
``update(grad, state, param)`` returns the step to add to it and the new state;
the base class :class:`flexnet.optimizers.Optimizer` owns the loop over
parameters, the step counter ``self.iterations`` and the learning rate. This
example writes two:

* ``Momentum``, heavy-ball SGD ``v ← β v + g;  θ ← θ - α v``, and checks that it
  takes exactly the steps of the built-in ``SGD(momentum=0.9)``;
* ``AdaBelief`` (Zhuang et al., NeurIPS 2020), which is not in flexnet: Adam with
  the second moment of ``g - m`` (the "belief" in the gradient) instead of ``g``.

It then trains the same network (2 - 32 tanh - 32 tanh - 1 sigmoid, binary
cross-entropy, on scikit-learn's two moons, generated offline) from the same
initial weights with SGD, Momentum, AdaBelief and Adam, using a training loop
written by hand: ``fx.data.batches`` for the mini-batches, ``model.compute_gradients``
for the loss and gradients, ``optimizer.apply`` for the step. It checks that
``model.fit`` takes the same steps as that loop, prints the final loss and test
accuracy of each optimizer, and writes the loss and gradient-norm curves
(``custom_optimizer_curves.png``) and AdaBelief's decision boundary
(``custom_optimizer_boundary.png``).

    python examples/custom_optimizer.py                        # NumPy on the CPU
    FLEXNET_BACKEND=cupy python examples/custom_optimizer.py   # the same on a GPU
    python examples/custom_optimizer.py --fast --out /tmp/figs # a few epochs
"""

from __future__ import annotations

import math

import numpy as np
from _common import parse_args, plt, save_figure
from sklearn.datasets import make_moons

import flexnet as fx


class Momentum(fx.optimizers.Optimizer):
    """Heavy-ball momentum: ``v ← β v + g;  θ ← θ - α v``."""

    def __init__(self, learning_rate=0.01, beta=0.9, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta = beta

    def init(self, param):
        return {"v": param * 0.0}  # zeros of the parameter's shape, dtype and device

    def update(self, grad, state, param):
        v = self.beta * state["v"] + grad
        return -self.learning_rate * v, {"v": v}


class AdaBelief(fx.optimizers.Optimizer):
    """AdaBelief (Zhuang et al., "AdaBelief Optimizer: Adapting Stepsizes by the Belief in
    Observed Gradients", NeurIPS 2020)::

        m ← β1 m + (1-β1) g               s ← β2 s + (1-β2) (g - m)² + ε
        θ ← θ - α (m / (1-β1ᵗ)) / (√(s / (1-β2ᵗ)) + ε)
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def init(self, param):
        return {"m": param * 0.0, "s": param * 0.0}

    def update(self, grad, state, param):
        t = self.iterations + 1  # this step's number: iterations counts the steps already taken
        b1, b2 = self.beta_1, self.beta_2
        m = b1 * state["m"] + (1.0 - b1) * grad
        d = grad - m
        s = b2 * state["s"] + (1.0 - b2) * (d * d) + self.epsilon
        step = (m / (1.0 - b1**t)) / ((s / (1.0 - b2**t)) ** 0.5 + self.epsilon)
        return -self.learning_rate * step, {"m": m, "s": s}


def load_data(n: int, seed: int = 0):
    X, y = make_moons(n_samples=n, noise=0.25, random_state=seed)
    X_train, X_test, y_train, y_test = fx.data.train_test_split(X, y.reshape(-1, 1), test_size=0.25,
                                                                seed=seed)
    scaler = fx.data.StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def build_model(optimizer) -> fx.Sequential:
    model = fx.Sequential([
        fx.layers.Dense(32, activation="tanh", input_dim=2),
        fx.layers.Dense(32, activation="tanh"),
        fx.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
    return model


def train_by_hand(model, X, y, epochs: int, batch_size: int = 32, seed: int = 0) -> dict:
    """The training loop ``fit`` runs, written out: per epoch, the mean loss and the
    gradient norm of every step.

    The data is copied to the model's device once; each step's loss and gradients stay
    there and are read back once per epoch (a read makes the device wait).
    """
    backend, xp = model.backend, model.backend.xp
    X, y = backend.from_numpy(X, model.dtype), backend.from_numpy(y, model.dtype)
    history = {"loss": [], "grad_norm": []}
    for epoch in range(epochs):
        total, norms = 0.0, []
        # shuffle=True draws a new order from seed + epoch (any int or a numpy Generator works)
        for xb, yb in fx.data.batches(X, y, batch_size=batch_size, shuffle=True, seed=seed + epoch):
            loss, grads = model.compute_gradients(xb, yb)  # weights unchanged; grads in trainable order
            norms.append(xp.sqrt(sum(xp.sum(g * g) for g in grads)))  # the global gradient norm
            model.apply_gradients(grads)  # one optimizer step, as fit takes it (every backend)
            total = total + loss * xb.shape[0]
        history["loss"].append(float(total) / X.shape[0])
        history["grad_norm"] += [float(v) for v in norms]
    return history


def max_difference(a: list, b: list) -> float:
    return max(float(np.max(np.abs(u - v))) for u, v in zip(a, b))


def check_momentum_matches_sgd(X, y, steps: int = 20) -> float:
    """Train two copies of a model for ``steps`` steps, with ``Momentum`` and with the
    built-in ``SGD(momentum=0.9)``; return the largest difference of their weights."""
    reference = build_model(fx.optimizers.SGD(0.1, momentum=0.9))
    mine = build_model(Momentum(0.1, beta=0.9))
    mine.set_weights(reference.get_weights())
    for step in range(steps):
        batch = slice(32 * step % len(X), 32 * step % len(X) + 32)
        reference.train_on_batch(X[batch], y[batch])
        mine.train_on_batch(X[batch], y[batch])
    return max_difference(reference.get_weights(), mine.get_weights())


def check_fit_is_the_loop(X, y, epochs: int = 2) -> float:
    """``fit(shuffle=False)`` and the same steps written by hand give the same weights."""
    by_fit = build_model(AdaBelief(1e-2))
    by_hand = build_model(AdaBelief(1e-2))
    by_hand.set_weights(by_fit.get_weights())
    by_fit.fit(X, y, batch_size=32, epochs=epochs, shuffle=False, verbose=0)
    for _ in range(epochs):
        for xb, yb in fx.data.batches(X, y, batch_size=32):
            _, grads = by_hand.compute_gradients(xb, yb)
            by_hand.apply_gradients(grads)
    return max_difference(by_fit.get_weights(), by_hand.get_weights())


def plot_curves(histories: dict, steps_per_epoch: int):
    fig, (ax_loss, ax_norm) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for name, h in histories.items():
        ax_loss.plot(range(1, len(h["loss"]) + 1), h["loss"], label=name)
        norms = np.asarray(h["grad_norm"])
        window = min(steps_per_epoch, len(norms))  # a moving average over one epoch of steps
        smooth = np.convolve(norms, np.ones(window) / window, mode="valid")
        ax_norm.plot(np.arange(window, len(norms) + 1) / steps_per_epoch, smooth, label=name)
    ax_loss.set(title="training loss (binary cross-entropy)", xlabel="epoch")
    ax_norm.set(title="global gradient norm ‖g‖ (moving mean over an epoch of steps)",
                xlabel="epoch")
    for ax in (ax_loss, ax_norm):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Two moons, the same network and initial weights, four optimizers (hand-written loop)")
    return fig


def plot_boundary(model, X, y, title: str):
    xx, yy = np.meshgrid(np.linspace(X[:, 0].min() - 0.5, X[:, 0].max() + 0.5, 200),
                         np.linspace(X[:, 1].min() - 0.5, X[:, 1].max() + 0.5, 200))
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    p = model.predict(grid, batch_size=4096).reshape(xx.shape)
    fig, ax = plt.subplots(figsize=(6, 5), layout="constrained")
    contour = ax.contourf(xx, yy, p, levels=np.linspace(0.0, 1.0, 11), cmap="RdBu_r", alpha=0.45)
    ax.contour(xx, yy, p, levels=[0.5], colors="black", linewidths=1.5)
    for label, color, marker in ((0, "#08306b", "o"), (1, "#67000d", "^")):
        points = X[y[:, 0] == label]
        ax.scatter(points[:, 0], points[:, 1], color=color, marker=marker, edgecolors="white",
                   linewidths=0.5, s=24, label=f"class {label}")
    ax.legend(loc="upper right")
    fig.colorbar(contour, ax=ax, label="P(class 1)")
    ax.set(title=title, xlabel="x₁ (standardized)", ylabel="x₂ (standardized)")
    return fig


def main(argv=None) -> dict:
    args = parse_args(__doc__, argv)
    epochs, n = (3, 400) if args.fast else (60, 1000)
    fx.utils.set_random_seed(0)
    X_train, X_test, y_train, y_test = load_data(n)
    steps_per_epoch = math.ceil(X_train.shape[0] / 32)

    reference = build_model("sgd")
    print(f"backend: {reference.backend.name} ({reference.backend.device}), dtype: {reference.dtype}")
    print(f"two moons: {X_train.shape[0]} training points, {X_test.shape[0]} test points")
    diff = check_momentum_matches_sgd(X_train, y_train)
    print(f"Momentum (ours) against fx.optimizers.SGD(momentum=0.9), 20 steps: max |Δw| = {diff:.2e}")
    diff = check_fit_is_the_loop(X_train, y_train)
    print(f"model.fit(shuffle=False) against the hand-written loop, 2 epochs: max |Δw| = {diff:.2e}")

    optimizers = {
        "SGD(0.1)": fx.optimizers.SGD(0.1),
        "Momentum(0.1) (ours)": Momentum(0.1),
        "AdaBelief(0.01) (ours)": AdaBelief(0.01),
        "Adam(0.01)": fx.optimizers.Adam(0.01),
    }
    initial = reference.get_weights()
    histories, models = {}, {}
    for name, optimizer in optimizers.items():
        model = build_model(optimizer)
        model.set_weights(initial)  # every optimizer starts from the same point
        histories[name] = train_by_hand(model, X_train, y_train, epochs)
        models[name] = model

    print(f"after {epochs} epochs of {steps_per_epoch} steps:")
    print(f"{'optimizer':<24}{'train loss':>12}{'test loss':>12}{'test accuracy':>15}")
    results = {}
    for name, model in models.items():
        loss, accuracy = model.evaluate(X_test, y_test)
        results[name] = {"train_loss": histories[name]["loss"][-1], "test_loss": loss, "accuracy": accuracy}
        print(f"{name:<24}{histories[name]['loss'][-1]:>12.4f}{loss:>12.4f}{accuracy:>15.1%}")

    save_figure(plot_curves(histories, steps_per_epoch), args.out, "custom_optimizer_curves")
    name = "AdaBelief(0.01) (ours)"
    title = f"{name}: decision boundary, test points (accuracy {results[name]['accuracy']:.1%})"
    save_figure(plot_boundary(models[name], X_test, y_test, title), args.out, "custom_optimizer_boundary")
    return results


if __name__ == "__main__":
    main()
