"""Switch devices: the same model and data timed on every backend this machine has.

Trains one network (64 - 256 relu - 256 relu - 10 softmax, Adam, sparse
categorical cross-entropy, batch 128) on a synthetic 10-class problem (12,000
samples of 64 features from scikit-learn's ``make_classification``) on each
backend available here, from the same initial weights, and times it:

* NumPy on the CPU, always;
* PyTorch on the CPU through flexnet's ``"torch"`` backend, when torch is installed;
* CuPy on the GPU, and PyTorch on the GPU, when a CUDA GPU is present.

Nothing in the model code changes between them: only ``backend=`` (the script
does what ``FLEXNET_BACKEND=cupy`` does for the other examples). A warm-up epoch
(CuPy compiles its kernels then) is not timed; each figure is the median of
three epochs. On a shared or busy machine the timings move a lot from run to
run: compare the rows of one run, not runs. Prints a table of wall times per
epoch, samples per second, prediction time and test accuracy, checks that a
model moved with ``model.to(...)`` predicts the same on every backend, and
writes the timings as a bar chart (``switch_devices.png``).

    python examples/switch_devices.py                         # every backend found
    python examples/switch_devices.py --fast --out /tmp/figs  # a tiny problem, one epoch
"""

from __future__ import annotations

import importlib.util
import statistics
import time

import numpy as np
from _common import parse_args, plt, save_figure
from sklearn.datasets import make_classification

import flexnet as fx

BATCH_SIZE = 128


def contenders() -> list[tuple[str, str, object]]:
    """``(label, backend, device)`` for every backend this machine can run."""
    found = [("NumPy (CPU)", "numpy", None)]
    if importlib.util.find_spec("torch") is not None:
        import torch

        found.append(("PyTorch (CPU)", "torch", "cpu"))
        if torch.cuda.is_available():
            found.append(("PyTorch (GPU)", "torch", "cuda:0"))
    if importlib.util.find_spec("cupy") is not None:
        try:
            import cupy

            if cupy.cuda.runtime.getDeviceCount() > 0:
                found.insert(1, ("CuPy (GPU)", "cupy", 0))
        except Exception as exc:  # CuPy installed, but no driver or no device
            print(f"CuPy is installed but no GPU can be used ({type(exc).__name__}); skipping it")
    return found


def load_data(n: int, seed: int = 0):
    X, y = make_classification(n_samples=n, n_features=64, n_informative=32, n_redundant=8,
                               n_classes=10, n_clusters_per_class=2, class_sep=1.5, random_state=seed)
    X_train, X_test, y_train, y_test = fx.data.train_test_split(X, y, test_size=0.2, seed=seed)
    scaler = fx.data.StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def build_model(backend: str, device) -> fx.Sequential:
    model = fx.Sequential([
        fx.layers.Dense(256, activation="relu", input_dim=64),
        fx.layers.Dense(256, activation="relu"),
        fx.layers.Dense(10, activation="softmax"),
    ], backend=backend, device=device)
    model.compile(optimizer=fx.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def time_backend(backend, device, initial, data, epochs: int, repeats: int) -> dict:
    """Median seconds per epoch of ``fit`` (after one warm-up epoch) and of ``predict``."""
    X_train, X_test, y_train, y_test = data
    model = build_model(backend, device)
    model.set_weights(initial)  # the same starting point on every backend
    model.fit(X_train, y_train, batch_size=BATCH_SIZE, epochs=1, verbose=0)  # warm-up, not timed
    epoch_times = []
    for _ in range(repeats):
        start = time.perf_counter()
        # fit reads the loss from the device at each epoch's end, so the clock sees finished work
        history = model.fit(X_train, y_train, batch_size=BATCH_SIZE, epochs=epochs, verbose=0)
        epoch_times.append((time.perf_counter() - start) / epochs)
    predict_times = []
    for _ in range(repeats):
        start = time.perf_counter()
        probabilities = model.predict(X_test, batch_size=1024)  # NumPy out: includes the copy back
        predict_times.append(time.perf_counter() - start)
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == y_test))
    return {
        "epoch_s": statistics.median(epoch_times),
        "samples_per_s": X_train.shape[0] / statistics.median(epoch_times),
        "predict_ms": 1000 * statistics.median(predict_times),
        "loss": history.history["loss"][-1],
        "accuracy": accuracy,
        "device": str(model.backend.device),
    }


def check_moves(initial, data, targets) -> dict:
    """Train on NumPy, then ``model.to(...)`` each other backend: the predictions must agree."""
    X_train, X_test, y_train, _ = data
    model = build_model("numpy", None)
    model.set_weights(initial)
    model.fit(X_train[:1024], y_train[:1024], batch_size=BATCH_SIZE, epochs=1, verbose=0)
    expected = model.predict(X_test)
    differences = {}
    for label, backend, device in targets:
        model.to(backend, device=device)  # weights and optimizer state move; nothing else changes
        differences[label] = float(np.max(np.abs(model.predict(X_test) - expected)))
    model.to("numpy")
    return differences


def plot_timings(results: dict, n_train: int):
    labels = list(results)
    fig, (ax_fit, ax_predict) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    colors = [f"C{i}" for i in range(len(labels))]
    fit = [r["samples_per_s"] for r in results.values()]
    predict = [r["predict_ms"] for r in results.values()]
    bars = ax_fit.barh(labels, fit, color=colors)
    ax_fit.bar_label(bars, labels=[f"{v:,.0f}/s ({r['epoch_s']:.2f} s/epoch)"
                                   for v, r in zip(fit, results.values())], padding=3)
    ax_fit.set(title=f"training throughput, fit (batch {BATCH_SIZE}, {n_train:,} samples)",
               xlabel="samples per second (higher is better)")
    bars = ax_predict.barh(labels, predict, color=colors)
    ax_predict.bar_label(bars, labels=[f"{v:.1f} ms" for v in predict], padding=3)
    ax_predict.set(title="predict on the test set (batch 1024)", xlabel="milliseconds (lower is better)")
    for ax, values in ((ax_fit, fit), (ax_predict, predict)):
        ax.set_xlim(0, max(values) * 1.45)  # room for the labels
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("The same flexnet model (64-256-256-10, Adam, float32) on each backend")
    return fig


def main(argv=None) -> dict:
    args = parse_args(__doc__, argv)
    n, epochs, repeats = (600, 1, 1) if args.fast else (12000, 1, 3)
    fx.utils.set_random_seed(0)
    data = load_data(n)
    found = contenders()
    print(f"{data[0].shape[0]:,} training samples, {data[1].shape[0]:,} test samples; backends: "
          + ", ".join(label for label, _, _ in found))
    initial = build_model("numpy", None).get_weights()

    results = {}
    for label, backend, device in found:
        results[label] = time_backend(backend, device, initial, data, epochs, repeats)
        r = results[label]
        print(f"  {label}: {r['epoch_s']:.3f} s/epoch")
    base = results["NumPy (CPU)"]["epoch_s"]
    print(f"median of {repeats} runs of {epochs} epoch(s), after a warm-up epoch:")
    print(f"{'backend':<16}{'device':<10}{'s/epoch':>9}{'samples/s':>11}{'vs NumPy':>10}"
          f"{'predict ms':>12}{'loss':>8}{'test acc':>10}")
    for label, r in results.items():
        print(f"{label:<16}{r['device']:<10}{r['epoch_s']:>9.3f}{r['samples_per_s']:>11,.0f}"
              f"{base / r['epoch_s']:>9.2f}×{r['predict_ms']:>12.1f}{r['loss']:>8.4f}{r['accuracy']:>10.1%}")

    others = [c for c in found if c[1] != "numpy"]
    if others:
        for label, diff in check_moves(initial, data, others).items():
            print(f"trained on NumPy, moved with model.to() to {label}: max |Δ prediction| = {diff:.1e}")
    save_figure(plot_timings(results, data[0].shape[0]), args.out, "switch_devices")
    return results


if __name__ == "__main__":
    main()
