"""Training throughput of one epoch: flexnet (NumPy backend) against PyTorch on the CPU.

MLP 784-300-100-10, ReLU, softmax cross-entropy, Adam (lr 1e-3), float32, random
data. Every contender runs in its own process, alternating, ``--repeats`` times;
the table shows medians and the ratio to PyTorch's fused Adam.

    python benchmarks/epoch_throughput.py                  # batches 32, 128, 1024
    python benchmarks/epoch_throughput.py --batches 128 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np

SIZES = (784, 300, 100, 10)
CONTENDERS = ("flexnet-numpy", "torch-adam-fused", "torch-adam")


def _data(samples: int):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((samples, SIZES[0]), dtype=np.float32)
    return x, rng.integers(0, SIZES[-1], size=samples)


def _flexnet_epoch(x, y, batch):
    import flexnet as fx

    model = fx.Sequential(
        [fx.layers.Dense(SIZES[1], input_dim=SIZES[0], activation="relu"),
         fx.layers.Dense(SIZES[2], activation="relu"),
         fx.layers.Dense(SIZES[3], activation="softmax")]
    )
    model.compile(optimizer=fx.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    return lambda n: model.fit(x[:n], y[:n], batch_size=batch, epochs=1, verbose=0)


def _torch_epoch(x, y, batch, fused):
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(SIZES[0], SIZES[1]), torch.nn.ReLU(),
        torch.nn.Linear(SIZES[1], SIZES[2]), torch.nn.ReLU(),
        torch.nn.Linear(SIZES[2], SIZES[3]),
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused=fused)
    X, Y = torch.from_numpy(x), torch.from_numpy(y)

    def epoch(n):
        perm = torch.randperm(n)
        for i in range(0, n, batch):
            index = perm[i : i + batch]
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(net(X[index]), Y[index]).backward()
            opt.step()

    return epoch


def worker(contender: str, batch: int, samples: int) -> float:
    """Samples per second of one timed epoch, after a warm-up tenth of one."""
    x, y = _data(samples)
    builders = {
        "flexnet-numpy": lambda: _flexnet_epoch(x, y, batch),
        "torch-adam-fused": lambda: _torch_epoch(x, y, batch, fused=True),
        "torch-adam": lambda: _torch_epoch(x, y, batch, fused=False),
    }
    epoch = builders[contender]()
    epoch(max(batch, samples // 10))
    start = time.perf_counter()
    epoch(samples)
    return samples / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 128, 1024])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=60_000)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.batch, args.samples)))
        return

    rates: dict[tuple[str, int], list[float]] = {}
    for batch in args.batches:
        for _ in range(args.repeats):
            for contender in CONTENDERS:
                out = subprocess.run(
                    [sys.executable, __file__, "--worker", contender, "--batch", str(batch),
                     "--samples", str(args.samples)],
                    capture_output=True, text=True, check=True,
                )
                rates.setdefault((contender, batch), []).append(json.loads(out.stdout))
    print(f"{'contender':18s}" + "".join(f"{'batch ' + str(b):>30s}" for b in args.batches))
    for contender in CONTENDERS:
        cells = []
        for batch in args.batches:
            median = statistics.median(rates[(contender, batch)])
            ref = statistics.median(rates[("torch-adam-fused", batch)])
            low, high = min(rates[(contender, batch)]), max(rates[(contender, batch)])
            cells.append(f"{median / 1e3:6.1f}k ({median / ref:4.2f}x) [{low / 1e3:.0f}-{high / 1e3:.0f}k]")
        print(f"{contender:18s}" + "".join(f"{c:>30s}" for c in cells))
    print(f"samples/s: median of {args.repeats} alternating runs (ratio of medians to "
          "torch-adam-fused) [min-max]")


if __name__ == "__main__":
    main()
