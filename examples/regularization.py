"""Regularization: L2, dropout, early stopping and batch normalization against over-fitting.

An over-fitting setup: a wide network (64 -> 128 relu -> 128 relu -> 10 softmax,
26,122 weights) trained with Adam (learning rate 0.002) for 150 epochs on only
100 of scikit-learn's bundled 8×8 digits; 300 other digits are the validation
set and the remaining 1,397 the test set. Five variants of the same network:

* **none**: the network as it is: the training loss keeps falling towards zero
  while the validation loss levels off a hundred times higher;
* **L2**: ``kernel_regularizer=fx.regularizers.L2(1e-3)`` on both hidden layers
  (adds ``λ Σ W²`` to the loss, so ``2 λ W`` to each kernel's gradient);
* **dropout**: ``Dropout(0.5)`` after each hidden layer;
* **early stopping**: ``fx.callbacks.EarlyStopping(patience=15, restore_best_weights=True)``
  stops when the validation loss has not improved for 15 epochs and puts back the best weights;
* **batch norm**: ``Dense -> BatchNormalization -> relu`` in each hidden layer
  (mainly a help to optimization; as a regularizer it is weak).

``fit`` reports a loss that includes the L2 penalty and, in training, dropout's
noise; to compare like with like, a small callback measures the plain
cross-entropy of the network in inference mode on the training and validation
sets after every epoch. Prints a table of the final train/validation/test loss
and accuracy of each variant and plots the training vs validation curves on a
log scale, where the gap between them is the over-fitting (``regularization.png``).
"""

from __future__ import annotations

import numpy as np
from _common import parse_args, plt, save_figure
from matplotlib.ticker import FormatStrFormatter, LogFormatter, MaxNLocator
from sklearn.datasets import load_digits

import flexnet as fx

WIDTH = 128
L2_FACTOR = 1e-3
DROPOUT_RATE = 0.5
PATIENCE = 15
LEARNING_RATE = 0.002


class CrossEntropyLog(fx.callbacks.Callback):
    """After each epoch, the cross-entropy (no penalty, inference mode) on each named set."""

    def __init__(self, **datasets):
        super().__init__()
        self.datasets = datasets  # name -> (X, y)
        self.history = {name: [] for name in datasets}

    def on_epoch_end(self, epoch, logs=None):
        for name, (X, y) in self.datasets.items():
            self.history[name].append(cross_entropy(self.model.predict(X, batch_size=len(X)), y))


def cross_entropy(P, y) -> float:
    """Mean ``-log P[i, y_i]`` of predicted probabilities ``P`` (NumPy) for labels ``y``."""
    return float(-np.mean(np.log(np.clip(P[np.arange(len(y)), y], 1e-7, 1.0))))


def load_data(n_train: int = 100, n_val: int = 300):
    """Digits, pixels in [0, 1]: a small training set, a validation set, the rest for testing."""
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order] / 16.0, y[order]
    parts = (slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, None))
    return [(X[s], y[s]) for s in parts]


def hidden_layers(variant: str) -> list:
    """Two hidden layers of WIDTH units, regularized as ``variant`` says."""
    layers = []
    for _ in range(2):
        if variant == "batch norm":
            layers += [fx.layers.Dense(WIDTH), fx.layers.BatchNormalization(), fx.layers.Activation("relu")]
            continue
        regularizer = fx.regularizers.L2(L2_FACTOR) if variant == "L2" else None
        layers.append(fx.layers.Dense(WIDTH, activation="relu", kernel_regularizer=regularizer))
        if variant == "dropout":
            layers.append(fx.layers.Dropout(DROPOUT_RATE))
    return layers


def build_model(variant: str) -> fx.Sequential:
    model = fx.Sequential([*hidden_layers(variant), fx.layers.Dense(10, activation="softmax")])
    model.build((None, 64))  # 64 pixels in
    model.compile(optimizer=fx.optimizers.Adam(LEARNING_RATE), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def plot(curves: dict, stopped: dict):
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5), sharex=True, sharey=True)
    for ax, (variant, c) in zip(axes.flat, curves.items()):
        epochs = range(1, len(c["train"]) + 1)
        ax.plot(epochs, c["train"], label="training", linewidth=2)
        ax.plot(epochs, c["val"], label="validation", linewidth=2)
        best = int(np.argmin(c["val"]))
        ax.plot(best + 1, c["val"][best], "k*", markersize=10, label=f"best validation (epoch {best + 1})")
        if variant in stopped:
            ax.axvline(stopped[variant], color="gray", linestyle="--",
                       label=f"stopped (epoch {stopped[variant]})")
        ax.set_title(variant)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax = axes.flat[len(curves)]
    for variant, c in curves.items():
        ax.plot(range(1, len(c["val"]) + 1), c["val"], label=variant, linewidth=2)
    ax.set_title("validation loss, all variants")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_yscale("log")  # shared: every panel; the gap between the curves is the over-fitting
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))  # labels only on a short range
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes[1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("cross-entropy (inference mode, log scale)")
    fig.suptitle(f"Over-fitting 100 digits with a 64-{WIDTH}-{WIDTH}-10 network: training vs validation loss")
    fig.tight_layout()
    return fig


def main(epochs: int, out) -> None:
    fx.utils.set_random_seed(0)
    (X_train, y_train), (X_val, y_val), (X_test, y_test) = load_data()
    variants = ["none", "L2", "dropout", "early stopping", "batch norm"]
    curves, stopped, rows = {}, {}, []
    for variant in variants:
        model = build_model("none" if variant == "early stopping" else variant)
        log = CrossEntropyLog(train=(X_train, y_train), val=(X_val, y_val))
        callbacks = [log]
        if variant == "early stopping":
            stop = fx.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE,
                                              restore_best_weights=True)
            callbacks.append(stop)
        history = model.fit(X_train, y_train, batch_size=32, epochs=epochs, verbose=0,
                            validation_data=(X_val, y_val), callbacks=callbacks)
        if variant == "early stopping" and stop.stopped_epoch:
            stopped[variant] = stop.stopped_epoch + 1
        curves[variant] = log.history
        row = {"epochs": len(history.epoch)}
        for split, X, y in (("train", X_train, y_train), ("val", X_val, y_val), ("test", X_test, y_test)):
            P = model.predict(X, batch_size=len(X))  # final weights (the best ones for early stopping)
            row[f"{split} loss"] = cross_entropy(P, y)
            row[f"{split} acc"] = float(np.mean(np.argmax(P, axis=1) == y))
        rows.append((variant, row))

    print(f"backend: {model.backend.name}; {len(X_train)} training, {len(X_val)} validation, "
          f"{len(X_test)} test digits; up to {epochs} epochs\n")
    keys = list(rows[0][1])
    print(f"{'variant':<16}" + "".join(f"{k:>12}" for k in keys))
    for variant, row in rows:
        cells = [f"{row[k]:12d}" if k == "epochs" else
                 f"{row[k]:12.2%}" if k.endswith("acc") else f"{row[k]:12.4f}" for k in keys]
        print(f"{variant:<16}" + "".join(cells))
    save_figure(plot(curves, stopped), out, "regularization")


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(epochs=5 if args.fast else 150, out=args.out)
