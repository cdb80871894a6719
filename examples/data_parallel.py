"""Data-parallel training over MPI ranks: the same script on every rank, each on its share.

Trains Flatten (8x8) - Dense 128 relu - Dense 64 relu - Dense 10 softmax on
scikit-learn's bundled digits (loaded offline) with a DistributedOptimizer: every
rank holds the whole training set and trains on positions r, r + size, ... of each
epoch's order at 32 samples a step, and the gradients of the ranks are combined
with one allreduce per step. So ``size`` ranks take exactly the steps of one process
at batch size ``32 · size``: rank 0 checks this by training that process too and
printing the largest weight difference (float32 rounding). Rank 0 alone prints and
plots the curves (``data_parallel.png``); ``evaluate`` shares the test set out.

    mpiexec -n 2 python examples/data_parallel.py   # two ranks (pip install flexnet[mpi])
    python examples/data_parallel.py                # one rank: the same script, alone
    mpiexec -n 2 python examples/data_parallel.py --fast --out /tmp/figs
"""

from __future__ import annotations

import time

import numpy as np
from _common import parse_args, plt, save_figure
from sklearn.datasets import load_digits

import flexnet as fx

BATCH = 32  # per rank and step


def load_data(seed: int = 0):
    """Images ``(n, 8, 8)`` in [0, 1] and integer labels, split 75/25 at random (the same on every rank)."""
    digits = load_digits()
    return fx.data.train_test_split(digits.images / 16.0, digits.target, test_size=0.25, seed=seed)


def build_model(optimizer) -> fx.Sequential:
    with fx.utils.seeded(7):  # the same initial weights and shuffles wherever it is built
        model = fx.Sequential([
            fx.layers.Flatten(input_shape=(8, 8)),
            fx.layers.Dense(128, activation="relu"),
            fx.layers.Dense(64, activation="relu"),
            fx.layers.Dense(10, activation="softmax"),
        ], name="digits_mlp")
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main() -> None:
    args = parse_args(__doc__)
    comm = fx.distributed.initialize()
    epochs = 3 if args.fast else 20
    x_train, x_test, y_train, y_test = load_data()

    # The learning rate of one process at the global batch size 32 · size (docs/distributed.md).
    model = build_model(fx.distributed.DistributedOptimizer(fx.optimizers.Adam(1e-3)))
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=BATCH, epochs=epochs, validation_split=0.2,
                        verbose=2 if args.fast else 1)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test)  # each rank a block of the test set; results of all

    if comm.size > 1 and comm.rank == 0:  # the same steps, taken by one process at the global batch size
        alone = build_model(fx.optimizers.Adam(1e-3))
        alone.fit(x_train, y_train, batch_size=BATCH * comm.size, epochs=epochs, validation_split=0.2,
                  verbose=0)
        gap = max(float(np.max(np.abs(a - b))) for a, b in zip(model.get_weights(), alone.get_weights()))
        print(f"largest weight difference to one process at batch {BATCH * comm.size}: {gap:.2g}")

    if comm.rank == 0:
        samples = fx.data.validation_cut(len(x_train), 0.2) * epochs
        ranks = f"{comm.size} rank{'s' * (comm.size > 1)}"
        print(f"trained on {ranks} at {BATCH} samples per rank and step: "
              f"{samples / seconds:,.0f} samples/s, {seconds:.1f} s")
        print(f"test accuracy: {accuracy:.2%} (loss {loss:.4f})")
        fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
        for ax, key in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            ax.plot(history.history[key], label="training")
            ax.plot(history.history[f"val_{key}"], label="validation")
            ax.set_xlabel("epoch")
            ax.set_ylabel(key)
            ax.grid(alpha=0.3)
            ax.legend()
        fig.suptitle(f"digits MLP on {ranks}, {BATCH} samples per rank and step")
        save_figure(fig, args.out, "data_parallel")


if __name__ == "__main__":
    main()
