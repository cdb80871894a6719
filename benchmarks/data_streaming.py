"""Data read a batch at a time (memory-mapped files, Datasets): memory bound, throughput, overlap.

    python benchmarks/data_streaming.py                 # all three, official sizes (several minutes)
    python benchmarks/data_streaming.py --quick         # small sizes, to check the script (a minute)
    python benchmarks/data_streaming.py memory --cap-gib 1 --factor 4
    python benchmarks/data_streaming.py throughput dataset --repeats 5

* ``memory``: a float32 file ``factor`` times larger than a cap on the memory the process
  may allocate (``RLIMIT_DATA``: private writable memory, which is what malloc and NumPy
  get; the kernel's pages of a read-only mapped file do not count, and are reclaimable)
  is written to a temporary folder; a fresh process trains one epoch on it under the cap,
  counted from what it holds once NumPy, flexnet and the backend's library are imported
  (torch maps about 0.5 GiB of its own at import),
  memory-mapped, per backend. It reports the peak of ``tracemalloc`` (NumPy's
  allocations), the peak anonymous memory (``RssAnon``, sampled every 10 ms) and the peak
  RSS, which counts the file's pages too. Completing at all is the proof: a process that
  allocates past the cap gets a MemoryError.
* ``throughput``: with the file in the page cache, samples/s of an epoch trained on the
  memory-mapped file against the same arrays loaded in memory (the reference network
  784-300-100-10, Adam, batch 128, shuffled), per backend; rounds alternate the two.
* ``dataset``: a :class:`flexnet.data.Dataset` whose ``__getitem__`` augments each batch
  (random shifts, brightness, noise), read with ``workers=0`` (in the loop: no overlap), 1
  (a prefetch thread), 2 threads and 2 processes, against the arrays in memory. "Busy" is
  the fraction of the epoch spent inside training steps (a callback's clock between
  ``on_train_batch_begin`` and ``on_train_batch_end``); the target is a busy fraction at
  least 0.8 times the in-memory one. The prefetch overlap is the share of the reading
  time that the prefetch thread hides: ``(T(workers=0) - T(workers=1)) / T_read``, with
  ``T_read`` the time to make an epoch's batches alone.

Timings are medians over the rounds with the min-max spread; ratios are medians of the
per-round ratios. Results go to ``benchmarks/results/data_streaming.json`` (``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import flexnet as fx

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SIZES = (784, 300, 100, 10)  # the reference network of BENCHMARKS.md


# -- data -------------------------------------------------------------------------------------


def write_file(path: pathlib.Path, rows: int, features: int, classes: int = 10, chunk: int = 1 << 14):
    """Standard-normal float32 rows written chunk by chunk (never whole in memory) and labels from a
    random linear teacher, so that training has something to learn; returns the labels' path."""
    rng = np.random.default_rng(0)
    teacher = rng.normal(size=(features, classes)).astype(np.float32)
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, features))
    y = np.empty(rows, dtype=np.int64)
    for start in range(0, rows, chunk):
        block = rng.standard_normal((min(chunk, rows - start), features), dtype=np.float32)
        X[start:start + len(block)] = block
        y[start:start + len(block)] = np.argmax(block @ teacher, axis=1)
    X.flush()
    del X
    labels = path.with_name(path.stem + "-labels.npy")
    np.save(labels, y)
    return labels


class Clock:
    """A callback's view of an epoch: its wall time and the time spent inside training steps."""

    def __init__(self):
        clock = self

        class _Callback(fx.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                clock.busy, clock.start = 0.0, time.perf_counter()

            def on_train_batch_begin(self, batch, logs=None):
                clock.step = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                clock.busy += time.perf_counter() - clock.step

            def on_epoch_end(self, epoch, logs=None):
                clock.epochs.append((time.perf_counter() - clock.start, clock.busy))

        self.callback = _Callback()
        self.epochs: list[tuple[float, float]] = []


def train_epochs(x, y=None, backend="numpy", epochs=2, batch_size=128, **fit_kwargs):
    """``(seconds, busy seconds)`` of the last of ``epochs`` epochs (the first warms up)."""
    fx.utils.set_random_seed(0)
    layers = [fx.layers.Dense(SIZES[1], activation="relu", input_dim=SIZES[0]),
              fx.layers.Dense(SIZES[2], activation="relu"), fx.layers.Dense(SIZES[3], activation="softmax")]
    model = fx.Sequential(layers, backend=backend)
    model.compile(optimizer=fx.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    clock = Clock()
    if y is None:
        model.fit(x, epochs=epochs, verbose=0, callbacks=[clock.callback], **fit_kwargs)
    else:
        model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, callbacks=[clock.callback],
                  **fit_kwargs)
    return clock.epochs[-1]


def summary(values) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "rounds": values}


def backends() -> list[str]:
    import importlib.util

    return ["numpy"] + (["torch"] if importlib.util.find_spec("torch") else [])


# -- memory -------------------------------------------------------------------------------------

_MEMORY_WORKER = r"""
import json, resource, sys, threading, time, tracemalloc
cap, path, labels, backend, batch = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
import numpy as np
import flexnet as fx

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

if backend != "numpy":
    __import__(backend)  # its libraries' own mappings (torch's are ~0.5 GiB) are not the data's
base = status("VmData")
resource.setrlimit(resource.RLIMIT_DATA, (base + cap, base + cap))

peak_anon, done = [status("RssAnon")], threading.Event()
def sample():
    while not done.is_set():
        peak_anon.append(status("RssAnon"))
        time.sleep(0.01)

X, y = np.load(path, mmap_mode="r"), np.load(labels)
model = fx.Sequential([fx.layers.Dense(64, activation="relu", input_dim=X.shape[1]),
                       fx.layers.Dense(10, activation="softmax")], backend=backend)
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
threading.Thread(target=sample, daemon=True).start()
tracemalloc.start()
start = time.perf_counter()
history = model.fit(X, y, batch_size=batch, epochs=1, verbose=0)
seconds = time.perf_counter() - start
traced = tracemalloc.get_traced_memory()[1]
done.set()
print(json.dumps({"backend": backend, "seconds": seconds, "samples_per_s": len(y) / seconds,
                  "tracemalloc_peak": traced, "rss_anon_peak": max(peak_anon), "vm_hwm": status("VmHWM"),
                  "vm_data_at_start": base, "vm_data_limit": base + cap, "history": history.history}))
"""


def bench_memory(args) -> dict:
    cap = int(args.cap_gib * 2**30)
    features = 1024
    rows = int(args.factor * cap) // (4 * features)
    out = {"cap_bytes": cap, "factor": args.factor, "rows": rows, "features": features, "runs": []}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        path = pathlib.Path(tmp) / "x.npy"
        start = time.perf_counter()
        labels = write_file(path, rows, features)
        out["file_bytes"] = path.stat().st_size
        out["write_seconds"] = time.perf_counter() - start
        print(f"memory: wrote {out['file_bytes'] / 2**30:.2f} GiB in {out['write_seconds']:.0f} s; "
              f"cap {cap / 2**30:.2f} GiB", flush=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        for backend in args.backends:
            result = subprocess.run([sys.executable, "-c", _MEMORY_WORKER, str(cap), str(path), str(labels),
                                     backend, str(args.batch)], capture_output=True, text=True, env=env)
            if result.returncode != 0:
                run = {"backend": backend, "failed": result.stderr[-2000:]}
            else:
                run = json.loads(result.stdout.strip().splitlines()[-1])
            out["runs"].append(run)
            if "failed" in run:
                print(f"  {backend}: FAILED under the cap\n{run['failed']}", flush=True)
            else:
                print(f"  {backend}: {run['seconds']:.1f} s ({run['samples_per_s']:.0f} samples/s), "
                      f"tracemalloc peak {run['tracemalloc_peak'] / 2**20:.1f} MiB, RssAnon peak "
                      f"{run['rss_anon_peak'] / 2**20:.0f} MiB, peak RSS (with file pages) "
                      f"{run['vm_hwm'] / 2**20:.0f} MiB, accuracy {run['history']['accuracy'][-1]:.3f}",
                      flush=True)
    return out


# -- throughput: memory-mapped against in memory -------------------------------------------------


def bench_throughput(args) -> dict:
    out = {"rows": args.rows, "batch": args.batch, "backends": {}}
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        path = pathlib.Path(tmp) / "x.npy"
        labels = np.load(write_file(path, args.rows, SIZES[0]))
        in_memory = np.load(path)
        mapped = np.load(path, mmap_mode="r")
        float(np.sum(mapped))  # into the page cache
        for backend in args.backends:
            rates = {"in_memory": [], "memmap": []}
            for r in range(args.repeats):
                order = ("in_memory", "memmap") if r % 2 == 0 else ("memmap", "in_memory")
                for kind in order:
                    x = in_memory if kind == "in_memory" else mapped
                    seconds, _ = train_epochs(x, labels, backend, batch_size=args.batch)
                    rates[kind].append(args.rows / seconds)
            ratios = [m / a for m, a in zip(rates["memmap"], rates["in_memory"])]
            out["backends"][backend] = {"in_memory": summary(rates["in_memory"]),
                                        "memmap": summary(rates["memmap"]), "ratio": summary(ratios)}
            row = out["backends"][backend]
            print(f"throughput {backend}: in memory {row['in_memory']['median']:.0f} samples/s "
                  f"[{row['in_memory']['min']:.0f}-{row['in_memory']['max']:.0f}], memory-mapped "
                  f"{row['memmap']['median']:.0f} [{row['memmap']['min']:.0f}-{row['memmap']['max']:.0f}]: "
                  f"{row['ratio']['median']:.2f}x [{row['ratio']['min']:.2f}-{row['ratio']['max']:.2f}]",
                  flush=True)
    return out


# -- a Dataset that augments every batch -----------------------------------------------------------


class Augmented(fx.data.Dataset):
    """Batches of 28x28 images shifted by up to 2 pixels each way, rescaled and noised (at the top
    of the module: worker processes unpickle it)."""

    def __init__(self, X, y, batch, **kwargs):
        super().__init__(**kwargs)
        self.X, self.y, self.batch = X, y, batch

    def __len__(self):
        return -(-len(self.X) // self.batch)

    def __getitem__(self, index):
        rng = np.random.default_rng(index)
        rows = slice(index * self.batch, (index + 1) * self.batch)
        images = self.X[rows].reshape(-1, 28, 28)
        b = len(images)
        shift = rng.integers(-2, 3, size=(b, 2))
        i = (np.arange(28)[None, :] - shift[:, :1]) % 28
        j = (np.arange(28)[None, :] - shift[:, 1:]) % 28
        images = images[np.arange(b)[:, None, None], i[:, :, None], j[:, None, :]]
        images = images * rng.uniform(0.8, 1.2, size=(b, 1, 1)).astype(np.float32)
        images += rng.normal(0.0, 0.1, size=images.shape).astype(np.float32)
        return images.reshape(b, 784), self.y[rows]


def augmenting_dataset(X, y, batch: int, **kwargs):
    return Augmented(X, y, batch, **kwargs)


def bench_dataset(args) -> dict:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, 10, size=args.rows)
    probe = augmenting_dataset(X, y, args.batch)
    kinds = {"workers=0": dict(workers=0), "workers=1": dict(workers=1), "2 threads": dict(workers=2),
             "2 processes": dict(workers=2, use_multiprocessing=True)}
    out = {"rows": args.rows, "batch": args.batch, "backends": {}}
    for backend in args.backends:
        runs = {"in_memory": [], **{kind: [] for kind in kinds}, "read": []}
        for r in range(args.repeats):
            start = time.perf_counter()
            for index in range(len(probe)):
                probe[index]
            runs["read"].append(time.perf_counter() - start)
            names = ["in_memory", *kinds]
            for name in names[r % len(names):] + names[:r % len(names)]:
                if name == "in_memory":
                    runs[name].append(train_epochs(X, y, backend, batch_size=args.batch))
                else:
                    runs[name].append(train_epochs(augmenting_dataset(X, y, args.batch, **kinds[name]),
                                                   backend=backend))
        result = {"read_seconds": summary(runs["read"])}
        for name in ["in_memory", *kinds]:
            seconds = [s for s, _ in runs[name]]
            busy = [b / s for s, b in runs[name]]
            result[name] = {"samples_per_s": summary([args.rows / s for s in seconds]), "busy": summary(busy)}
            if name != "in_memory":
                reference = runs["in_memory"]
                result[name]["busy_ratio"] = summary([(b / s) / (rb / rs) for (s, b), (rs, rb)
                                                      in zip(runs[name], reference)])
                result[name]["speed_ratio"] = summary([rs / s for (s, _), (rs, _)
                                                       in zip(runs[name], reference)])
        result["prefetch_overlap"] = summary([(s0 - s1) / read for (s0, _), (s1, _), read
                                              in zip(runs["workers=0"], runs["workers=1"], runs["read"])])
        out["backends"][backend] = result
        print(f"dataset {backend}: reading alone {result['read_seconds']['median']:.2f} s an epoch; "
              f"in memory "
              f"{result['in_memory']['samples_per_s']['median']:.0f} samples/s, busy "
              f"{result['in_memory']['busy']['median']:.2f}", flush=True)
        for name in kinds:
            row = result[name]
            print(f"  {name:12s} {row['samples_per_s']['median']:7.0f} samples/s "
                  f"({row['speed_ratio']['median']:.2f}x), "
                  f"busy {row['busy']['median']:.2f}: {row['busy_ratio']['median']:.2f}x in-memory's "
                  f"[{row['busy_ratio']['min']:.2f}-{row['busy_ratio']['max']:.2f}]", flush=True)
        overlap = result["prefetch_overlap"]
        print(f"  prefetch overlap (share of the reading hidden by one thread): {overlap['median']:.2f} "
              f"[{overlap['min']:.2f}-{overlap['max']:.2f}]", flush=True)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("which", nargs="*", metavar="{memory,throughput,dataset}",
                        help="which measurements (default: all three)")
    parser.add_argument("--quick", action="store_true", help="small sizes, fewer rounds")
    parser.add_argument("--cap-gib", type=float, default=None, help="memory cap (default 1; quick 0.25)")
    parser.add_argument("--factor", type=float, default=4.0, help="file size / cap")
    parser.add_argument("--rows", type=int, default=None, help="samples for throughput and dataset")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--backends", nargs="+", default=None)
    parser.add_argument("--tmp", default=None, help="folder for the temporary files")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    kinds = ["memory", "throughput", "dataset"]
    if unknown := [which for which in args.which if which not in kinds]:
        parser.error(f"unknown measurement {unknown}: expected some of {kinds}")
    args.which = args.which or kinds
    args.cap_gib = args.cap_gib or (0.25 if args.quick else 1.0)
    args.rows = args.rows or (8_192 if args.quick else 65_536)
    args.repeats = args.repeats or (2 if args.quick else 5)
    args.backends = args.backends or backends()
    report = {"command": " ".join(["python", "benchmarks/data_streaming.py", *(argv or sys.argv[1:])]),
              "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "numpy": np.__version__, "flexnet": fx.__version__}}
    for which in args.which:
        report[which] = {"memory": bench_memory, "throughput": bench_throughput,
                         "dataset": bench_dataset}[which](args)
    path = pathlib.Path(args.json) if args.json else RESULTS / (
        "data_streaming-quick.json" if args.quick else "data_streaming.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
