"""Optimizers compared: SGD, momentum, RMSprop, Adam, Adam with decay, and one written here.

The same network (64 -> 64 relu -> 32 relu -> 10 softmax) starts from the same
weights on the same data (scikit-learn's bundled 8×8 digits, 10 classes, pixels
scaled to [0, 1]) and trains with mini-batches of 64 under six optimizers:

* ``SGD(0.01)``: plain gradient descent, ``θ ← θ - α g``;
* ``SGD(0.01, momentum=0.9)``: ``v ← μ v + g``, ``θ ← θ - α v``;
* ``RMSprop(0.001)``: each weight's step divided by a running RMS of its gradients;
* ``Adam(0.001)``: momentum and RMSprop together, with bias correction;
* Adam with learning-rate decay: a larger start, ``α_t = 0.005 / (1 + 0.1 · epoch)``
  (``fx.schedules.InverseTimeDecay``);
* ``AdaMax``, written below as a subclass of ``fx.optimizers.Optimizer``: Adam
  with the infinity norm in place of the RMS (Kingma & Ba, "Adam: A Method for
  Stochastic Optimization", ICLR 2015, section 7.1). It is ``init`` (the state
  for one weight) plus ``update`` (one step from a gradient): the base class
  owns the loop, the step counter and the learning rate.

Prints the final training loss and validation accuracy of each and plots the
loss curves (``optimizers_compared.png``).
"""

from __future__ import annotations

import array_api_compat
from _common import parse_args, plt, save_figure
from sklearn.datasets import load_digits

import flexnet as fx

BATCH_SIZE = 64


class AdaMax(fx.optimizers.Optimizer):
    """AdaMax::

        m ← β1 m + (1-β1) g
        u ← max(β2 u, |g|)
        θ ← θ - α / (1 - β1^t) · m / (u + ε)
    """

    name = "AdaMax"

    def __init__(self, learning_rate=0.002, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def init(self, param):
        return {"m": param * 0.0, "u": param * 0.0}  # zeros of param's shape, dtype and device

    def update(self, grad, state, param):
        xp = array_api_compat.array_namespace(grad)  # NumPy, CuPy, torch...: whatever the model uses
        t = self.iterations + 1  # this step's number, from 1
        m = self.beta_1 * state["m"] + (1.0 - self.beta_1) * grad
        u = xp.maximum(self.beta_2 * state["u"], xp.abs(grad))
        delta = (-self.learning_rate / (1.0 - self.beta_1**t)) * m / (u + self.epsilon)
        return delta, {"m": m, "u": u}


def optimizers(steps_per_epoch: int) -> dict:
    """A fresh optimizer per run (an optimizer keeps state for one model's weights)."""
    decay = fx.schedules.InverseTimeDecay(0.005, decay_steps=steps_per_epoch, decay_rate=0.1,
                                          staircase=True)  # 0.005 / (1 + 0.1 · epoch)
    return {
        "SGD (α=0.01)": fx.optimizers.SGD(0.01),
        "momentum (α=0.01, μ=0.9)": fx.optimizers.SGD(0.01, momentum=0.9),
        "RMSprop (α=0.001)": fx.optimizers.RMSprop(0.001),
        "Adam (α=0.001)": fx.optimizers.Adam(0.001),
        "Adam, decay (α=0.005/(1+0.1·epoch))": fx.optimizers.Adam(decay),
        "AdaMax, custom (α=0.002)": AdaMax(0.002),
    }


def load_data():
    X, y = load_digits(return_X_y=True)
    return fx.data.train_test_split(X / 16.0, y, test_size=0.25, seed=0)


def build_model() -> fx.Sequential:
    return fx.Sequential([
        fx.layers.Dense(64, input_dim=64, activation="relu"),
        fx.layers.Dense(32, activation="relu"),
        fx.layers.Dense(10, activation="softmax"),
    ])


def plot(histories: dict):
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, h in histories.items():
        epochs = range(1, len(h["loss"]) + 1)
        ax_loss.plot(epochs, h["loss"], label=name, linewidth=2)
        ax_acc.plot(epochs, h["val_accuracy"], label=name, linewidth=2)
    ax_loss.set_yscale("log")
    ax_loss.set_title("Training loss")
    ax_loss.set_ylabel("categorical cross-entropy (log scale)")
    ax_acc.set_title("Validation accuracy")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0.5, 1.0)
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(f"Six optimizers, one network (64-64-32-10) from the same weights, 8×8 digits, "
                 f"batches of {BATCH_SIZE}")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.legend(*ax_loss.get_legend_handles_labels(), loc="lower center", ncol=3, frameon=False)
    return fig


def main(epochs: int, out) -> None:
    fx.utils.set_random_seed(0)
    X_train, X_val, y_train, y_val = load_data()
    initial = build_model().get_weights()  # every run starts from these weights
    steps_per_epoch = fx.data.num_batches(len(X_train), BATCH_SIZE)
    histories = {}
    for name, optimizer in optimizers(steps_per_epoch).items():
        model = build_model()
        model.set_weights(initial)
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(X_train, y_train, batch_size=BATCH_SIZE, epochs=epochs, verbose=0,
                            validation_data=(X_val, y_val))
        histories[name] = history.history
    print(f"backend: {model.backend.name}; {len(X_train)} training and {len(X_val)} validation "
          f"digits; {epochs} epochs of {steps_per_epoch} steps\n")
    print(f"{'optimizer':<38}{'train loss':>12}{'val loss':>10}{'val accuracy':>14}")
    for name, h in histories.items():
        print(f"{name:<38}{h['loss'][-1]:12.4f}{h['val_loss'][-1]:10.4f}{h['val_accuracy'][-1]:14.2%}")
    save_figure(plot(histories), out, "optimizers_compared")


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(epochs=3 if args.fast else 50, out=args.out)
