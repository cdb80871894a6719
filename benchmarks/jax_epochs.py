"""Seconds per training step of flexnet's compiled JAX runner, epoch by epoch, with the
hand-written per-step ``jax.jit`` loop of ``compare.py`` for comparison.

    python benchmarks/jax_epochs.py                    # 784-300-100-10, batch 32, 2,048 samples
    taskset -c 0 python benchmarks/jax_epochs.py       # pinned to one core
    JAX_LOG_COMPILES=1 python benchmarks/jax_epochs.py # shows that the chunk compiles once

On a 2-vCPU VM the compiled runner's epochs vary between about 1 and 80 ms per step for
one executable (see BENCHMARKS.md); pinned to one core they run at the hand loop's speed.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args(argv)
    from compare import JaxLoop

    import flexnet as fx

    n, b = args.samples, args.batch
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 784)).astype("float32")
    y = rng.integers(0, 10, n)
    fx.utils.set_random_seed(0)
    model = fx.Sequential([fx.layers.Dense(300, input_dim=784, activation="relu"),
                           fx.layers.Dense(100, activation="relu"),
                           fx.layers.Dense(10, activation="softmax")], backend="jax")
    model.compile(optimizer=fx.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    X, Y = model.backend.from_numpy(x), model.backend.from_numpy(y)
    hand = JaxLoop((784, 300, 100, 10), x, y, b)
    steps = -(-n // b)
    for epoch in range(args.epochs):
        start = time.perf_counter()
        history = model.fit(X, Y, batch_size=b, epochs=1, verbose=0)
        ours = time.perf_counter() - start
        start = time.perf_counter()
        hand.train(n)
        theirs = time.perf_counter() - start
        print(f"epoch {epoch}: flexnet-jax {ours / steps * 1e3:6.1f} ms/step "
              f"(loss {history.history['loss'][0]:.3f}), hand-written jit loop "
              f"{theirs / steps * 1e3:6.1f} ms/step", flush=True)


if __name__ == "__main__":
    main()
