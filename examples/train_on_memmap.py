"""Train on a memory-mapped file, read a batch at a time: never loaded whole.

Writes scikit-learn's bundled digits (loaded offline), 75% of them copied many times
with pixel noise, into a float32 ``.npy`` file chunk by chunk, opens it with
``np.load(mmap_mode="r")`` and trains Dense 128 relu - Dense 64 relu - Dense 10
softmax on it with ``fit``: each step reads its 64 shuffled rows from the file (sorted
within the batch), checks them and trains, while a background thread prepares the
next batch. ``tracemalloc`` measures what the training allocates: far less than the
file. The 25% of the digits held out test the model.

    python examples/train_on_memmap.py            # a ~37 MB file (200 noisy copies)
    python examples/train_on_memmap.py --fast     # a ~2 MB file, for the tests
    python examples/train_on_memmap.py --copies 2000   # ~370 MB
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
import time
import tracemalloc

import numpy as np
from _common import parse_args, plt, save_figure
from sklearn.datasets import load_digits

import flexnet as fx


def write_file(path: pathlib.Path, X: np.ndarray, y: np.ndarray, copies: int, seed: int = 0):
    """``copies`` noisy copies of ``(X, y)`` written to ``path`` (float32 rows) and its labels' file,
    one copy at a time; returns the two paths."""
    rng = np.random.default_rng(seed)
    n = len(X)
    rows = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(copies * n, X.shape[1]))
    labels = np.empty(copies * n, dtype=np.int64)
    for c in range(copies):
        noisy = X + rng.normal(0.0, 0.1, size=X.shape)
        rows[c * n:(c + 1) * n] = np.clip(noisy, 0.0, 1.0)
        labels[c * n:(c + 1) * n] = y
    rows.flush()
    del rows
    labels_path = path.with_name(path.stem + "-labels.npy")
    np.save(labels_path, labels)
    return path, labels_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--copies", type=int, default=None, help="noisy copies of the training digits")
    args = parse_args(__doc__, parser=parser)
    copies = args.copies or (10 if args.fast else 200)
    epochs = 2 if args.fast else 3
    digits = load_digits()
    X_train, X_test, y_train, y_test = fx.data.train_test_split(
        digits.data / 16.0, digits.target, test_size=0.25, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        path, labels_path = write_file(pathlib.Path(tmp) / "digits.npy", X_train, y_train, copies)
        X = np.load(path, mmap_mode="r")  # a view of the file: nothing read yet
        y = np.load(labels_path)
        size = path.stat().st_size
        print(f"file: {X.shape[0]} rows x {X.shape[1]} float32 = {size / 2**20:.1f} MiB, memory-mapped")

        with fx.utils.seeded(0):
            model = fx.Sequential([
                fx.layers.Dense(128, activation="relu", input_dim=64),
                fx.layers.Dense(64, activation="relu"),
                fx.layers.Dense(10, activation="softmax"),
            ])
        model.compile(optimizer=fx.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        tracemalloc.start()
        start = time.perf_counter()
        history = model.fit(X, y, batch_size=64, epochs=epochs, verbose=0, validation_data=(X_test, y_test))
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del X  # the mapping closes with the last reference, before the folder goes

    print(f"trained {epochs} epochs in {seconds:.1f} s ({epochs * len(y) / seconds:.0f} samples/s)")
    print(f"peak allocated while training: {peak / 2**20:.1f} MiB "
          f"({peak / size:.2f} of the file; the arrays would hold it all)")
    for epoch, (acc, val) in enumerate(zip(history.history["accuracy"], history.history["val_accuracy"])):
        print(f"epoch {epoch + 1}: train accuracy {acc:.3f}, test accuracy {val:.3f}")
    _, accuracy = model.evaluate(X_test, y_test)
    print(f"test accuracy: {100 * accuracy:.1f}%")

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(range(1, epochs + 1), history.history["accuracy"], "o-", label="training (from the file)")
    ax.plot(range(1, epochs + 1), history.history["val_accuracy"], "s-", label="test (held out)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_title(f"digits x {copies} noisy copies, memory-mapped ({size / 2**20:.0f} MiB)")
    ax.legend()
    save_figure(fig, args.out, "train_on_memmap")


if __name__ == "__main__":
    main()
