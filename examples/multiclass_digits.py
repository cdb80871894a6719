"""Multiclass: softmax on scikit-learn's 8x8 digits, with Flatten and a confusion matrix.

Trains Flatten (8x8) - Dense 128 relu - Dropout 0.2 - Dense 64 relu - Dense 10
softmax with Adam and sparse categorical cross-entropy on the 1,797 handwritten
digits bundled with scikit-learn (loaded offline), pixels scaled to [0, 1].
Prints the test accuracy (about 98%; at least 95%), the per-class accuracy and
the confusion matrix, and writes three figures: the training curves
(``digits_curves.png``), the confusion matrix (``digits_confusion.png``) and the
test digits the network got wrong (``digits_mistakes.png``).

    python examples/multiclass_digits.py                        # NumPy on the CPU
    FLEXNET_BACKEND=cupy python examples/multiclass_digits.py   # the same on a GPU
    python examples/multiclass_digits.py --fast --out /tmp/figs # a few epochs
"""

from __future__ import annotations

import time

import numpy as np
from _common import parse_args, plt, save_figure
from sklearn.datasets import load_digits

import flexnet as fx

CLASSES = 10


def load_data(seed: int = 0):
    """Images ``(n, 8, 8)`` in [0, 1] and integer labels, split 75/25 at random."""
    digits = load_digits()
    images = digits.images / 16.0  # pixel intensities are 0..16
    return fx.data.train_test_split(images, digits.target, test_size=0.25, seed=seed)


def build_model() -> fx.Sequential:
    model = fx.Sequential([
        fx.layers.Flatten(input_shape=(8, 8)),  # (n, 8, 8) -> (n, 64): one vector per image
        fx.layers.Dense(128, activation="relu"),
        fx.layers.Dropout(0.2),
        fx.layers.Dense(64, activation="relu"),
        fx.layers.Dense(CLASSES, activation="softmax"),
    ], name="digits_mlp")
    # Integer labels 0..9 go with the sparse loss; "accuracy" becomes sparse categorical accuracy.
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: int = CLASSES) -> np.ndarray:
    """``C[i, j]`` = number of samples of class ``i`` predicted as ``j``."""
    return np.bincount(y_true * classes + y_pred, minlength=classes * classes).reshape(classes, classes)


def print_confusion(C: np.ndarray) -> None:
    print("confusion matrix (rows: true digit, columns: predicted digit)")
    print("     " + "".join(f"{j:>4d}" for j in range(C.shape[1])) + "   recall")
    for i, row in enumerate(C):
        print(f"{i:>4d} " + "".join(f"{c:>4d}" for c in row) + f"   {row[i] / row.sum():6.1%}")


def plot_confusion(C: np.ndarray, accuracy: float):
    fig, ax = plt.subplots(figsize=(6.2, 5.4))
    image = ax.imshow(C, cmap="Blues")
    for i in range(C.shape[0]):
        for j in range(C.shape[1]):
            if C[i, j]:
                ax.text(j, i, str(C[i, j]), ha="center", va="center", fontsize=9,
                        color="white" if C[i, j] > C.max() / 2 else "black")
    ax.set_xticks(range(CLASSES))
    ax.set_yticks(range(CLASSES))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(f"Digits test set: confusion matrix (accuracy {accuracy:.1%})")
    fig.colorbar(image, ax=ax, label="test samples")
    return fig


def plot_mistakes(images, y_true, y_pred, probabilities, limit: int = 16):
    """The misclassified test digits, with the true label, the prediction and its probability."""
    wrong = np.flatnonzero(y_true != y_pred)[:limit]
    cols = max(4, min(8, len(wrong)))
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.7 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        ax.imshow(images[i], cmap="gray_r", vmin=0.0, vmax=1.0)
        ax.set_title(f"{y_true[i]} → {y_pred[i]} ({probabilities[i, y_pred[i]]:.0%})", fontsize=9)
    if not len(wrong):
        axes.flat[0].text(0.5, 0.5, "no mistakes", ha="center", va="center")
    fig.suptitle(f"Misclassified test digits ({len(wrong)} shown): true → predicted (probability)")
    return fig


def main(argv=None) -> dict:
    args = parse_args(__doc__, argv)
    epochs = 3 if args.fast else 40
    fx.utils.set_random_seed(0)
    X_train, X_test, y_train, y_test = load_data()
    if args.fast:
        X_train, y_train = X_train[:300], y_train[:300]
    model = build_model()
    print(f"backend: {model.backend.name} ({model.backend.device}), dtype: {model.dtype}")
    print(f"train: {X_train.shape[0]} images of {X_train.shape[1]}x{X_train.shape[2]}, "
          f"test: {X_test.shape[0]}")
    model.summary()

    start = time.perf_counter()
    history = model.fit(X_train, y_train, batch_size=32, epochs=epochs, validation_split=0.15,
                        verbose=0 if args.fast else 2)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(X_test, y_test)
    probabilities = model.predict(X_test)  # NumPy in, NumPy out: (n, 10), rows sum to 1
    y_pred = np.argmax(probabilities, axis=1)
    C = confusion_matrix(y_test, y_pred)

    print(f"trained {epochs} epochs in {seconds:.1f} s")
    print(f"test loss: {loss:.4f}  test accuracy: {accuracy:.2%}  (target: at least 95%)")
    print_confusion(C)
    if not args.fast and accuracy < 0.95:
        print("WARNING: the test accuracy is below the 95% this example is meant to reach")

    fig, _ = history.plot(title="Digits: sparse categorical cross-entropy and accuracy")
    save_figure(fig, args.out, "digits_curves")
    save_figure(plot_confusion(C, accuracy), args.out, "digits_confusion")
    save_figure(plot_mistakes(X_test, y_test, y_pred, probabilities), args.out, "digits_mistakes")
    return {"accuracy": accuracy, "loss": loss, "confusion": C}


if __name__ == "__main__":
    main()
