"""From scratch: a 2-layer sigmoid network by hand, then the same model with flexnet.

The course's first network: 3 inputs -> 4 sigmoid units -> 1 sigmoid output, no
biases (the third input column is always 1 and plays that part), trained on a
4-sample table (y = x1 XOR x2) with the sum-of-squares loss and 1500 iterations
of plain gradient descent (learning rate 1, the whole table as one batch).

1. **By hand** in plain NumPy: forward pass, backward pass by the chain rule,
   gradient-descent update.
2. **With flexnet layers**: ``Dense(4, sigmoid) -> Dense(1, sigmoid)``, loss
   ``sum_squared_error``, ``SGD(1.0)``, ``fit`` with one batch of 4 for 1500 epochs.
3. **With raw gradients**: ``model.compute_gradients(X, y)`` and the update
   ``W -= 1.0 * dW`` written out.

All three start from the same weights in float64, so their loss curves lie on
top of each other; prints the predictions beside the targets and plots the loss
per iteration (``from_scratch.png``). Parts 2 and 3 run on any backend
(``FLEXNET_BACKEND=cupy``); part 1 is NumPy on purpose: it is the lesson.
"""

from __future__ import annotations

import numpy as np
from _common import parse_args, plt, save_figure

import flexnet as fx

# The 4-sample table: the output is x1 XOR x2; x3 is a constant 1 (a bias input).
X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
y = np.array([[0], [1], [1], [0]], dtype=np.float64)
LEARNING_RATE = 1.0


# ---------------------------------------------------------------------------
# 1. By hand, in plain NumPy.


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_derivative(a):
    """σ'(z) written with the activation a = σ(z): σ'(z) = a (1 - a)."""
    return a * (1.0 - a)


class NeuralNetwork:
    """Two sigmoid layers, ``output = σ(σ(X W1) W2)``, trained by gradient descent."""

    def __init__(self, W1, W2):
        self.W1, self.W2 = W1.copy(), W2.copy()  # (3, 4) and (4, 1)

    def feedforward(self, X):
        self.layer1 = sigmoid(X @ self.W1)  # (n, 4)
        self.output = sigmoid(self.layer1 @ self.W2)  # (n, 1)
        return self.output

    def backprop(self, X, y):
        """Gradients of L = Σ (output - y)² by the chain rule, then one descent step."""
        d_output = 2.0 * (self.output - y) * sigmoid_derivative(self.output)  # ∂L/∂z2
        d_layer1 = (d_output @ self.W2.T) * sigmoid_derivative(self.layer1)  # ∂L/∂z1
        dW2 = self.layer1.T @ d_output
        dW1 = X.T @ d_layer1
        self.W1 -= LEARNING_RATE * dW1
        self.W2 -= LEARNING_RATE * dW2

    def train(self, X, y, iterations):
        losses = []
        for _ in range(iterations):
            output = self.feedforward(X)
            losses.append(float(np.sum((output - y) ** 2)))  # the loss before this step
            self.backprop(X, y)
        return losses


# ---------------------------------------------------------------------------
# 2 and 3. The same model with flexnet.


def build_model(W1, W2) -> fx.Sequential:
    """Dense(4, sigmoid) -> Dense(1, sigmoid) without biases, starting from W1, W2."""
    model = fx.Sequential([
        fx.layers.Dense(4, input_dim=3, activation="sigmoid", use_bias=False),
        fx.layers.Dense(1, activation="sigmoid", use_bias=False),
    ], dtype="float64")
    model.set_weights([W1, W2])
    model.compile(optimizer=fx.optimizers.SGD(LEARNING_RATE), loss="sum_squared_error")
    return model


def train_with_fit(W1, W2, iterations):
    model = build_model(W1, W2)
    history = model.fit(X, y, batch_size=len(X), epochs=iterations, shuffle=False, verbose=0)
    return model, history.history["loss"]


def train_with_gradients(W1, W2, iterations):
    model = build_model(W1, W2)
    losses = []
    for _ in range(iterations):
        loss, grads = model.compute_gradients(X, y)  # loss before the step, one grad per weight
        for W, dW in zip(model.trainable_weights, grads):
            W -= LEARNING_RATE * dW  # in place, on the model's device
        losses.append(float(loss))
    return model, losses


def plot(curves, predictions):
    fig, (ax_loss, ax_pred) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {  # three curves on top of each other: a line, dashes, and markers
        "by hand (NumPy)": {"linestyle": "-", "linewidth": 3, "alpha": 0.6},
        "flexnet fit": {"linestyle": "--", "linewidth": 1.5},
        "flexnet compute_gradients": {"linestyle": "none", "marker": "o", "markevery": 50},
    }
    for label, losses in curves.items():
        ax_loss.plot(range(1, len(losses) + 1), losses, label=label, **styles[label])
    ax_loss.set_xlabel("iteration")
    ax_loss.set_ylabel("sum of squared errors")
    ax_loss.set_title("Loss per iteration (the three runs coincide)")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend()

    width = 0.25
    positions = np.arange(len(X))
    for k, (label, P) in enumerate(predictions.items()):
        ax_pred.bar(positions + (k - 1) * width, P.ravel(), width, label=label)
    ax_pred.hlines(y.ravel(), positions - 1.5 * width, positions + 1.5 * width, color="black",
                   linewidth=2, label="target", zorder=3)
    ax_pred.set_xticks(positions, [f"x = ({row[0]:.0f}, {row[1]:.0f}, {row[2]:.0f})" for row in X])
    ax_pred.set_ylim(0, 1.35)
    ax_pred.set_yticks(np.linspace(0, 1, 6))
    ax_pred.set_ylabel("prediction")
    ax_pred.set_title("Predictions after training vs targets")
    ax_pred.legend(loc="upper center", fontsize=8, ncol=2)
    fig.suptitle("A 2-layer sigmoid network on the XOR table, three ways")
    fig.tight_layout()
    return fig


def main(iterations: int, out) -> None:
    fx.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    W1, W2 = rng.random((3, 4)), rng.random((4, 1))  # the course's np.random.rand

    net = NeuralNetwork(W1, W2)
    curves = {"by hand (NumPy)": net.train(X, y, iterations)}
    fit_model, curves["flexnet fit"] = train_with_fit(W1, W2, iterations)
    grad_model, curves["flexnet compute_gradients"] = train_with_gradients(W1, W2, iterations)
    predictions = {
        "by hand (NumPy)": net.feedforward(X),
        "flexnet fit": fit_model.predict(X),
        "flexnet compute_gradients": grad_model.predict(X),
    }

    print(f"backend: {fit_model.backend.name}, {iterations} iterations, learning rate {LEARNING_RATE}")
    columns = ("by hand (NumPy)", "flexnet fit", "flexnet compute_gradients")
    header = " | ".join(f"{c:>25}" for c in columns)
    print(f"\n{'loss at iteration':>20} | {header}")
    for i in sorted({0, 99, 499, iterations - 1} & set(range(iterations))):
        print(f"{i + 1:20d} | " + " | ".join(f"{curves[c][i]:25.6f}" for c in columns))
    print(f"\n{'x1 x2 x3  target':>20} | {header}   (predictions)")
    for k in range(len(X)):
        row = " | ".join(f"{float(predictions[c][k, 0]):25.4f}" for c in columns)
        print(f"{X[k, 0]:>6.0f}{X[k, 1]:3.0f}{X[k, 2]:3.0f}{y[k, 0]:8.0f} | {row}")
    reference = np.asarray(curves["by hand (NumPy)"])
    gap = max(float(np.max(np.abs(np.asarray(c) - reference))) for c in curves.values())
    print(f"\nlargest loss difference between the three runs: {gap:.2e}")
    print(f"final loss: {reference[-1]:.6f}")
    save_figure(plot(curves, predictions), out, "from_scratch")


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(iterations=150 if args.fast else 1500, out=args.out)
