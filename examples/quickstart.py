"""Quickstart: the Keras network from the courses on the breast-cancer data.

Trains Dense 16 (input_dim=30) - 24 - Dropout 0.5 - 20 - 24 - 1 sigmoid with
Adam and binary cross-entropy on scikit-learn's bundled Wisconsin breast-cancer
data (569 samples, 30 features, loaded offline), standardized with the
training set's mean and deviation, and prints the test accuracy.

    python examples/quickstart.py                 # NumPy on the CPU
    FLEXNET_BACKEND=cupy python examples/quickstart.py   # the same on a GPU
"""

from __future__ import annotations

import argparse

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


def main(epochs: int = 40, batch_size: int = 32, verbose: int = 1, seed: int = 7) -> float:
    fx.utils.set_random_seed(seed)
    X_train, X_test, y_train, y_test = load_data()
    model = build_model()
    print(f"backend: {model.backend.name} ({model.backend.device}), dtype: {model.dtype}")
    model.summary()
    model.fit(X_train, y_train, batch_size=batch_size, epochs=epochs, verbose=verbose,
              validation_split=0.1)
    loss, accuracy = model.evaluate(X_test, y_test)
    print(f"test loss: {loss:.4f}  test accuracy: {accuracy:.2%}")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2])
    args = parser.parse_args()
    main(epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose)
