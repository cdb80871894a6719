"""Quickstart: the Keras network from the courses on the breast-cancer data.

Trains Dense 16 (input_dim=30) - 24 - Dropout 0.5 - 20 - 24 - 1 sigmoid with
Adam and binary cross-entropy on scikit-learn's bundled Wisconsin breast-cancer
data (569 samples, 30 features, loaded offline), standardized with the
training set's mean and deviation; prints the test accuracy (about 96%) and
plots the training curves (``quickstart.png``).

    python examples/quickstart.py                        # NumPy on the CPU
    FLEXNET_BACKEND=cupy python examples/quickstart.py   # the same on a GPU
    python examples/quickstart.py --fast --out /tmp/figs # a few epochs, figures elsewhere
"""

from __future__ import annotations

import argparse

from _common import parse_args, plt, save_figure
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

import flexnet as fx


def load_data(seed: int = 42):
    """Train/test split (75/25, stratified), standardized with training statistics."""
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=seed, stratify=y
    )
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    return (X_train - mean) / std, (X_test - mean) / std, y_train, y_test


def build_model() -> fx.Sequential:
    model = fx.Sequential([
        fx.layers.Dense(16, input_dim=30, activation="relu"),
        fx.layers.Dense(24, activation="relu"),
        fx.layers.Dropout(0.5),
        fx.layers.Dense(20, activation="relu"),
        fx.layers.Dense(24, activation="relu"),
        fx.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model


def plot_history(history, test_accuracy: float):
    """Loss and accuracy per epoch, training and validation side by side."""
    h = history.history
    epochs = range(1, len(h["loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((ax_loss, "loss", "binary cross-entropy"), (ax_acc, "accuracy", "accuracy")):
        ax.plot(epochs, h[key], label="training")
        ax.plot(epochs, h[f"val_{key}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    ax_acc.axhline(test_accuracy, color="gray", linestyle="--", label=f"test ({test_accuracy:.1%})")
    ax_loss.set_title("Loss")
    ax_acc.set_title("Accuracy")
    ax_loss.legend()
    ax_acc.legend(loc="lower right")
    fig.suptitle("Quickstart: Dense 16-24-Dropout-20-24-1 on breast cancer (Adam)")
    return fig


def main(epochs: int = 40, batch_size: int = 32, verbose: int = 1, seed: int = 7, out=None) -> float:
    """Train, print the test accuracy, save the curves to ``out`` (if given); return the accuracy."""
    fx.utils.set_random_seed(seed)
    X_train, X_test, y_train, y_test = load_data()
    model = build_model()
    print(f"backend: {model.backend.name} ({model.backend.device}), dtype: {model.dtype}")
    model.summary()
    history = model.fit(X_train, y_train, batch_size=batch_size, epochs=epochs, verbose=verbose,
                        validation_split=0.1)
    loss, accuracy = model.evaluate(X_test, y_test)
    print(f"test loss: {loss:.4f}  test accuracy: {accuracy:.2%}")
    if out is not None:
        save_figure(plot_history(history, accuracy), out, "quickstart")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="default 40 (3 with --fast)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--verbose", type=int, default=None, choices=[0, 1, 2],
                        help="default 2 (0 with --fast)")
    args = parse_args(__doc__, parser=parser)
    main(epochs=(3 if args.fast else 40) if args.epochs is None else args.epochs, batch_size=args.batch_size,
         verbose=(0 if args.fast else 2) if args.verbose is None else args.verbose, out=args.out)
