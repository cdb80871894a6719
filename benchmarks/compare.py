"""Device comparison: flexnet against PyTorch, a hand-written NumPy loop and scikit-learn.

Trains the same network on the same random data with every available contender,
each in its own fresh process, the contenders alternating round by round, and
measures each device's float32 GEMM peak in the same run::

    python benchmarks/compare.py --quick                 # < 2 minutes on a 2-core CPU
    python benchmarks/compare.py                         # the official figures (BENCHMARKS.md)
    python benchmarks/compare.py --batch 32 1024 --width 64 1024 --repeats 3
    python benchmarks/compare.py --contenders flexnet-numpy,torch-adam-fused

Reference network: MLP 784-300-100-10 (``--width W`` trains 784-W-W-10 instead),
ReLU, softmax cross-entropy, Adam (lr 1e-3), float32, one epoch of 60,000 random
samples. Every contender starts from the same Glorot-uniform weights, shuffles
every epoch with a fresh permutation and gathers each batch from it, and
accumulates the epoch's loss. Prints a table and writes JSON and a PNG plot
(``benchmarks/results/`` by default). See BENCHMARKS.md for the method.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import datetime
import gc
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REFERENCE = (784, 300, 100, 10)
TINY = (8, 8, 8, 2)
ROOT = Path(__file__).resolve().parent.parent  # the checkout whose flexnet is measured
RESULTS = ROOT / "benchmarks" / "results"

# ---------------------------------------------------------------------------
# Work and memory, counted explicitly.


def train_flops(sizes) -> int:
    """FLOPs of one training sample: forward 2·in·out per Dense layer, backward 4·in·out
    (dW and dX), except the first layer's dX, which nobody reads (2·in·out there).
    Elementwise work (bias, ReLU, softmax, Adam) is not counted."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    return sum(6 * i * o for i, o in pairs) - 2 * pairs[0][0] * pairs[0][1]


def infer_flops(sizes) -> int:
    """FLOPs of one inference sample: 2·in·out per Dense layer."""
    return sum(2 * i * o for i, o in zip(sizes[:-1], sizes[1:]))


def analytic_bytes(sizes, batch: int, data_bytes: int, itemsize: int = 4) -> dict:
    """What a training run must hold: parameters, their gradients, Adam's two moments,
    one batch's activations (the input batch, and Z and Y of every layer), and the data."""
    params = sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))
    activations = batch * (sizes[0] + 2 * sum(sizes[1:]))
    parts = {
        "params": params * itemsize, "grads": params * itemsize, "adam": 2 * params * itemsize,
        "activations": activations * itemsize, "data": data_bytes,
    }
    parts["total"] = sum(parts.values())
    return parts


def arch_name(sizes) -> str:
    return "-".join(map(str, sizes))


def initial_weights(sizes) -> list[np.ndarray]:
    """Glorot-uniform kernels (inputs, units) and zero biases, the same for every contender."""
    rng = np.random.default_rng(list(sizes))
    weights = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        limit = math.sqrt(6.0 / (i + o))
        weights += [rng.uniform(-limit, limit, (i, o)).astype(np.float32), np.zeros(o, np.float32)]
    return weights


# ---------------------------------------------------------------------------
# Contenders. Each one is built for (sizes, x, y, batch) and offers train(n): one
# shuffled epoch over the first n samples, and predict(n): inference over them.


def _sync(device: str):
    """A function that waits for the device's queued work (nothing on the CPU)."""
    if device.startswith("cupy"):
        import cupy

        return lambda: cupy.cuda.get_current_stream().synchronize()
    if device.startswith("cuda"):
        import torch

        return torch.cuda.synchronize
    return lambda: None


class Flexnet:
    """flexnet through its public API: ``model.fit(..., verbose=0)`` and ``model.predict``.

    On another backend than NumPy the data is put on the device once, up front, as it is
    for PyTorch; ``fit`` then shuffles and gathers there.
    """

    def __init__(self, backend, device, sizes, x, y, batch):
        import flexnet as fx

        fx.utils.set_random_seed(0)
        layers = [fx.layers.Dense(sizes[1], input_dim=sizes[0], activation="relu")]
        layers += [fx.layers.Dense(units, activation="relu") for units in sizes[2:-1]]
        layers.append(fx.layers.Dense(sizes[-1], activation="softmax"))
        self.model = fx.Sequential(layers, backend=backend, device=device)
        self.model.set_weights(initial_weights(sizes))
        self.model.compile(optimizer=fx.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
        on_host = self.model.backend.name == "numpy"
        self.X = x if on_host else self.model.backend.from_numpy(x)
        self.Y = y if on_host else self.model.backend.from_numpy(y)
        self.batch = batch
        self.sync = _sync("cupy" if backend == "cupy" else str(device or "cpu"))

    def train(self, n):
        self.model.fit(self.X[:n], self.Y[:n], batch_size=self.batch, epochs=1, verbose=0)
        self.sync()

    def predict(self, n):
        out = self.model.predict(self.X[:n], batch_size=self.batch)
        getattr(out, "block_until_ready", lambda: None)()  # JAX answers asynchronously
        self.sync()

    def train_on_batch(self, n):
        """``n`` calls of ``model.train_on_batch`` on consecutive batches."""
        b = self.batch
        for i in range(0, n, b):
            self.model.train_on_batch(self.X[i : i + b], self.Y[i : i + b])
        self.sync()


class Torch:
    """PyTorch, a hand-written loop: ``randperm``, gather, zero_grad, forward,
    ``cross_entropy``, backward, ``Adam.step``; inference under ``no_grad`` with softmax."""

    def __init__(self, device, fused, sizes, x, y, batch):
        import torch

        torch.manual_seed(0)
        modules = []
        for i, o in zip(sizes[:-1], sizes[1:]):
            modules += [torch.nn.Linear(i, o), torch.nn.ReLU()]
        self.net = torch.nn.Sequential(*modules[:-1]).to(device)
        weights = initial_weights(sizes)
        with torch.no_grad():
            for k, linear in enumerate(self.net[::2]):
                linear.weight.copy_(torch.from_numpy(weights[2 * k].T))
                linear.bias.copy_(torch.from_numpy(weights[2 * k + 1]))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3, fused=fused)
        self.X, self.Y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        self.torch, self.device, self.batch, self.sync = torch, device, batch, _sync(device)

    def train(self, n):
        torch, F = self.torch, self.torch.nn.functional
        perm = torch.randperm(n, device=self.device)
        total = torch.zeros((), device=self.device)
        for i in range(0, n, self.batch):
            index = perm[i : i + self.batch]
            xb, yb = self.X.index_select(0, index), self.Y.index_select(0, index)
            self.opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(self.net(xb), yb)
            loss.backward()
            self.opt.step()
            total += loss.detach() * xb.shape[0]
        float(total)
        self.sync()

    def predict(self, n):
        torch, b = self.torch, self.batch
        with torch.no_grad():
            torch.cat([torch.softmax(self.net(self.X[i : min(i + b, n)]), dim=1) for i in range(0, n, b)])
        self.sync()


class JaxLoop:
    """The same network written by hand in JAX: a per-step ``jax.jit`` train step (forward,
    ``log_softmax`` cross-entropy, ``jax.grad``, Adam as ``torch.optim.Adam``) with the
    parameters and Adam's moments donated, the permutation drawn and the batch gathered on
    the device; the usual JAX training loop, as a JAX user writes it."""

    def __init__(self, sizes, x, y, batch, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
        import jax
        import jax.numpy as jnp

        self.jax, self.jnp, self.batch = jax, jnp, batch
        self.params = [jnp.asarray(w) for w in initial_weights(sizes)]
        self.m = [jnp.zeros_like(p) for p in self.params]
        self.v = [jnp.zeros_like(p) for p in self.params]
        self.X, self.Y = jnp.asarray(x), jnp.asarray(y)
        self.key, self.t = jax.random.PRNGKey(0), 0

        def forward(params, xb):
            h = xb
            for k in range(0, len(params) - 2, 2):
                h = jax.nn.relu(h @ params[k] + params[k + 1])
            return h @ params[-2] + params[-1]

        def loss_fn(params, xb, yb):
            logp = jax.nn.log_softmax(forward(params, xb))
            return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

        def step(params, m, v, X, Y, index, t):
            xb, yb = X[index], Y[index]
            loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
            c1, c2 = 1.0 - b1**t, 1.0 - b2**t
            m = [b1 * mi + (1.0 - b1) * g for mi, g in zip(m, grads)]
            v = [b2 * vi + (1.0 - b2) * g * g for vi, g in zip(v, grads)]
            params = [p - lr * (mi / c1) / (jnp.sqrt(vi / c2) + eps) for p, mi, vi in zip(params, m, v)]
            return params, m, v, loss * xb.shape[0]

        self.step = jax.jit(step, donate_argnums=(0, 1, 2))
        self.infer = jax.jit(lambda params, xb: jax.nn.softmax(forward(params, xb)))

    def train(self, n):
        jax, jnp = self.jax, self.jnp
        self.key, sub = jax.random.split(self.key)
        perm = jax.random.permutation(sub, n)
        total = jnp.zeros(())
        for i in range(0, n, self.batch):
            self.t += 1
            self.params, self.m, self.v, loss = self.step(self.params, self.m, self.v, self.X, self.Y,
                                                          perm[i : i + self.batch], float(self.t))
            total = total + loss
        float(total)

    def predict(self, n):
        b = self.batch
        out = [self.infer(self.params, self.X[i : min(i + b, n)]) for i in range(0, n, b)]
        self.jnp.concatenate(out).block_until_ready()


class NumpyMLP:
    """The same network written by hand in NumPy: ReLU, the fused softmax cross-entropy
    gradient ``(P - onehot(y)) / n``, and Adam (as ``torch.optim.Adam``) with in-place
    operations into preallocated buffers. A good, honest implementation, no tricks."""

    def __init__(self, sizes, x, y, batch, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
        self.params = initial_weights(sizes)
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.tmp = [np.empty_like(p) for p in self.params]
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0
        self.x, self.y, self.batch = x, y, batch
        self.rng = np.random.default_rng(0)

    def forward(self, X):
        A = [X]
        last = len(self.params) // 2 - 1
        for k in range(last + 1):
            Z = A[-1] @ self.params[2 * k]
            Z += self.params[2 * k + 1]
            if k < last:
                np.maximum(Z, 0.0, out=Z)
            A.append(Z)
        return A

    def step(self, X, y) -> float:
        A = self.forward(X)
        n, rows = X.shape[0], np.arange(X.shape[0])
        Z = A[-1]
        Z -= Z.max(axis=1, keepdims=True)
        P = np.exp(Z)
        s = P.sum(axis=1, keepdims=True)
        loss = float(np.sum(np.log(s[:, 0]) - Z[rows, y]))  # Σ -log softmax(z)_y
        P /= s
        P[rows, y] -= 1.0
        dZ = P
        dZ *= 1.0 / n
        grads = [None] * len(self.params)
        for k in range(len(self.params) // 2 - 1, -1, -1):
            grads[2 * k] = A[k].T @ dZ
            grads[2 * k + 1] = dZ.sum(axis=0)
            if k:
                dZ = dZ @ self.params[2 * k].T
                dZ *= A[k] > 0  # ReLU backward: A is max(Z, 0)
        self.adam(grads)
        return loss

    def adam(self, grads):
        self.t += 1
        b1, b2 = self.b1, self.b2
        scale = 1.0 / math.sqrt(1.0 - b2**self.t)
        rate = -self.lr / (1.0 - b1**self.t)
        for p, g, m, v, tmp in zip(self.params, grads, self.m, self.v, self.tmp):
            m *= b1
            np.multiply(g, 1.0 - b1, out=tmp)
            m += tmp
            v *= b2
            np.multiply(g, g, out=tmp)
            tmp *= 1.0 - b2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp *= scale
            tmp += self.eps
            np.divide(m, tmp, out=tmp)
            tmp *= rate
            p += tmp

    def train(self, n):
        perm = self.rng.permutation(n)
        total = 0.0
        for i in range(0, n, self.batch):
            index = perm[i : i + self.batch]
            total += self.step(np.take(self.x, index, axis=0), np.take(self.y, index))
        return total / n

    def predict(self, n):
        out = []
        for i in range(0, n, self.batch):
            Z = self.forward(self.x[i : min(i + self.batch, n)])[-1]
            Z -= Z.max(axis=1, keepdims=True)
            P = np.exp(Z)
            P /= P.sum(axis=1, keepdims=True)
            out.append(P)
        return np.concatenate(out)


class Sklearn:
    """scikit-learn ``MLPClassifier(solver="adam", max_iter=1)``: ``fit`` trains one epoch
    (shuffled, from a fresh initialisation of the same distribution); ``predict_proba``
    runs the whole input as one batch. L2 penalty ``alpha=0`` as for the others."""

    def __init__(self, sizes, x, y, batch):
        from sklearn.neural_network import MLPClassifier

        self.clf = MLPClassifier(
            hidden_layer_sizes=tuple(sizes[1:-1]), activation="relu", solver="adam", alpha=0.0,
            batch_size=batch, learning_rate_init=1e-3, max_iter=1, shuffle=True, random_state=0,
        )
        self.x, self.y = x, y

    def train(self, n):
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.clf.fit(self.x[:n], self.y[:n])

    def predict(self, n):
        self.clf.predict_proba(self.x[:n])


# name -> (device, what it needs, builder(sizes, x, y, batch), GEMM library it runs on)
CONTENDERS = {
    "flexnet-numpy": ("cpu", "numpy", lambda *a: Flexnet("numpy", None, *a), "numpy"),
    "flexnet-torch": ("cpu", "torch", lambda *a: Flexnet("torch", "cpu", *a), "torch"),
    "torch-adam-fused": ("cpu", "torch", lambda *a: Torch("cpu", True, *a), "torch"),
    "torch-adam": ("cpu", "torch", lambda *a: Torch("cpu", False, *a), "torch"),
    "numpy-loop": ("cpu", "numpy", NumpyMLP, "numpy"),
    "flexnet-jax": ("cpu", "jax", lambda *a: Flexnet("jax", None, *a), "numpy"),
    "jax-jit-loop": ("cpu", "jax", JaxLoop, "numpy"),
    "sklearn": ("cpu", "sklearn", Sklearn, "numpy"),
    "flexnet-cupy": ("cuda:0", "cupy", lambda *a: Flexnet("cupy", 0, *a), "cupy"),
    "flexnet-torch-cuda": ("cuda:0", "torch-cuda", lambda *a: Flexnet("torch", "cuda:0", *a), "torch-cuda"),
    "torch-cuda-adam-fused": ("cuda:0", "torch-cuda", lambda *a: Torch("cuda:0", True, *a), "torch-cuda"),
    "torch-cuda-adam": ("cuda:0", "torch-cuda", lambda *a: Torch("cuda:0", False, *a), "torch-cuda"),
}
#: The contenders whose memory --quick measures (all CPU ones but scikit-learn otherwise).
QUICK_MEMORY = ("flexnet-numpy", "numpy-loop", "torch-adam-fused")
#: The reference framework on each device (ratios "x torch" are to this one).
REFERENCE_CONTENDER = {"cpu": "torch-adam-fused", "cuda:0": "torch-cuda-adam-fused"}


# ---------------------------------------------------------------------------
# The worker: runs in a fresh process, prints one JSON line.


def flush_denormals() -> bool:
    """Set FTZ and DAZ on this thread (x86-64 Linux: MXCSR through glibc's fesetenv)."""
    if platform.machine() not in ("x86_64", "AMD64") or not sys.platform.startswith("linux"):
        return False
    if "torch" in sys.modules:
        sys.modules["torch"].set_flush_denormal(True)
    libm = ctypes.CDLL(ctypes.util.find_library("m"))
    env = ctypes.create_string_buffer(32)  # glibc's fenv_t: x87 state, then MXCSR at byte 28
    if libm.fegetenv(env) != 0:
        return False
    mxcsr = int.from_bytes(env.raw[28:32], "little") | 0x8040
    return libm.fesetenv(ctypes.create_string_buffer(env.raw[:28] + mxcsr.to_bytes(4, "little"), 32)) == 0


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _gemm(library: str, sizes, repeats: int) -> dict:
    """Best float32 square-GEMM rate of one library (GFLOP/s): C = A B into a preallocated C."""
    best = {}
    for n in sizes:
        host = np.random.default_rng(n).standard_normal((2, n, n), dtype=np.float32)
        if library == "numpy":
            a, b, c = host[0], host[1], np.empty((n, n), np.float32)

            def mm(a=a, b=b, c=c):
                np.matmul(a, b, out=c)
        elif library == "cupy":
            import cupy

            a, b, c = cupy.asarray(host[0]), cupy.asarray(host[1]), cupy.empty((n, n), cupy.float32)
            sync = _sync("cupy")

            def mm(a=a, b=b, c=c, sync=sync):
                cupy.matmul(a, b, out=c)
                sync()
        else:
            import torch

            device = "cuda:0" if library == "torch-cuda" else "cpu"
            a, b = torch.from_numpy(host[0]).to(device), torch.from_numpy(host[1]).to(device)
            c, sync = torch.empty((n, n), device=device), _sync(device)

            def mm(a=a, b=b, c=c, sync=sync):
                torch.mm(a, b, out=c)
                sync()
        mm()
        best[n] = max(2 * n**3 / _timed(mm) / 1e9 for _ in range(repeats))
    return {"gflops": max(best.values()), "by_size": best}


def _run_config(name: str, cfg: dict, x, y) -> dict:
    """Train (and infer) one configuration: a warm-up tenth of an epoch (a whole epoch for
    the compiled JAX contenders, which compile once per shape of step: their compile time is
    reported apart, as ``compile_s``), then timed runs."""
    build = CONTENDERS[name][2]
    sizes, batch, n = cfg["sizes"], cfg["batch"], cfg["samples"]
    x, y = x[:n], y[:n]
    contender = build(sizes, x, y, batch)
    compiled = "jax" in name
    warm = n if compiled else min(n, max(batch, n // 10))
    warm_s = _timed(lambda: contender.train(warm))
    out = {"train": n / _timed(lambda: contender.train(n))}
    if compiled:
        out["compile_s"] = max(0.0, warm_s - n / out["train"])
    if cfg["infer"]:
        contender.predict(warm)
        out["infer"] = n / _timed(lambda: contender.predict(n))
    if cfg["tiny"] and hasattr(contender, "train_on_batch"):
        contender.train_on_batch(warm)
        out["train_on_batch"] = n / batch / _timed(lambda: contender.train_on_batch(n))
    return out


def _proc_status() -> dict:
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {k: int(fields[k].split()[0]) * 1024 for k in ("VmRSS", "VmHWM")}


def _memory(name: str, spec: dict) -> dict:
    """Peak RSS growth of one training epoch against the analytic bytes, then the growth
    from N to 2N further epochs (RSS, and tracemalloc for what NumPy allocates)."""
    import tracemalloc

    build = CONTENDERS[name][2]
    sizes, batch = spec["sizes"], spec["batch"]
    # One-time costs are not the run's: imports, thread pools and BLAS buffers, first-call
    # caches. A few steps of the tiny net on a few samples pay them before the baseline.
    rng = np.random.default_rng(1)
    warm = build(list(TINY), rng.standard_normal((64, TINY[0]), dtype=np.float32),
                 np.arange(64) % TINY[-1], 16)
    warm.train(64)
    np.ones((256, 256), np.float32) @ np.ones((256, 256), np.float32)
    del warm
    gc.collect()
    base = _proc_status()["VmRSS"]
    with open("/proc/self/clear_refs", "w") as f:  # resets VmHWM to the current RSS
        f.write("5")
    x, y = load_data(spec["data"], "", spec["samples"])
    contender = build(sizes, x, y, batch)
    contender.train(x.shape[0])
    peak = _proc_status()["VmHWM"] - base
    analytic = analytic_bytes(sizes, batch, x.nbytes + y.nbytes)
    del contender
    gc.collect()

    small, epochs = spec["growth_samples"], spec["growth_epochs"]
    contender = build(sizes, x[:small], y[:small], spec["growth_batch"])
    contender.train(small)
    tracemalloc.start()
    readings = []
    for _ in range(2):
        for _ in range(epochs):
            contender.train(small)
        gc.collect()
        readings.append((_proc_status()["VmRSS"], tracemalloc.get_traced_memory()[0]))
    tracemalloc.stop()
    steps = epochs * math.ceil(small / spec["growth_batch"])
    return {
        "peak_growth": peak, "analytic": analytic, "ratio": peak / analytic["total"],
        "growth_steps": steps,
        "rss_per_step": (readings[1][0] - readings[0][0]) / steps,
        "traced_per_step": (readings[1][1] - readings[0][1]) / steps,
    }


def _probe() -> dict:
    """Versions, the machine, and which optional contenders can run here."""
    info = {
        "python": platform.python_version(), "numpy": np.__version__, "cpu": _cpu_model(),
        "cores": os.cpu_count(), "blas": _numpy_blas(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "malloc_env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")},
        "available": ["numpy"],
    }
    for module in ("flexnet", "torch", "sklearn", "cupy", "array_api_compat", "jax"):
        if importlib.util.find_spec(module) is None:
            continue
        try:
            mod = __import__(module)
        except Exception as exc:  # noqa: BLE001 - a broken optional install is just absent
            info.setdefault("import_errors", {})[module] = repr(exc)
            continue
        info[module] = getattr(mod, "__version__", "?")
        if module == "flexnet":
            info["flexnet_path"] = os.path.dirname(mod.__file__)
        info["available"].append(module)
        if module == "torch":
            info["torch_threads"] = mod.get_num_threads()
            if mod.cuda.is_available():
                info["available"].append("torch-cuda")
                info["gpu"] = mod.cuda.get_device_name(0)
        if module == "cupy":
            try:
                if mod.cuda.runtime.getDeviceCount() == 0:
                    info["available"].remove("cupy")
            except Exception:  # noqa: BLE001 - no driver, no GPU
                info["available"].remove("cupy")
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _numpy_blas() -> str:
    try:
        config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{config.get('name')} {config.get('version')}"
    except Exception:  # noqa: BLE001 - older NumPy: no dict mode
        return "unknown"


def worker(spec: dict) -> dict:
    if spec["task"] == "probe":
        return _probe()
    if spec.get("flush_denormals"):
        if "torch" in spec.get("needs", ""):
            import torch  # noqa: F401 - so that flush_denormals sets torch's flag too
        spec["flushed"] = flush_denormals()
    if spec["task"] == "gemm":
        return _gemm(spec["library"], spec["sizes"], spec["repeats"])
    if spec["task"] == "memory":
        return _memory(spec["contender"], spec)
    results = []
    for cfg in spec["configs"]:
        x, y = load_data(spec["data"], "tiny_" if cfg["tiny"] else "", cfg["samples"])
        results.append(_run_config(spec["contender"], cfg, x, y))
    return {"results": results, "flushed": spec.get("flushed", False)}


def save_data(folder: str, n: int, n_tiny: int) -> None:
    """The random data every contender trains on: inputs and class labels, as .npy files."""
    rng = np.random.default_rng(0)
    for prefix, sizes, count in (("", REFERENCE, n), ("tiny_", TINY, n_tiny)):
        np.save(os.path.join(folder, prefix + "x.npy"),
                rng.standard_normal((count, sizes[0]), dtype=np.float32))
        np.save(os.path.join(folder, prefix + "y.npy"), rng.integers(0, sizes[-1], count))


def load_data(folder: str, prefix: str, n: int):
    """The first ``n`` samples, read straight into fresh arrays (nothing more is held)."""
    out = []
    for name in ("x.npy", "y.npy"):
        with open(os.path.join(folder, prefix + name), "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(f)
            n = min(n, shape[0])
            count = n * math.prod(shape[1:])
            out.append(np.fromfile(f, dtype=dtype, count=count).reshape((n, *shape[1:])))
    return out[0], out[1]


# ---------------------------------------------------------------------------
# The parent: plans the rounds, runs the workers, reports.


WORKER_SECONDS: list = []  # (task, contender, wall seconds) of every worker, for the JSON


def _spawn(spec: dict, timeout: float = 1800) -> dict:
    """Run one worker in a fresh interpreter that imports flexnet from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)],
        capture_output=True, text=True, timeout=timeout, env=env,
    )
    WORKER_SECONDS.append((spec["task"], spec.get("contender") or spec.get("library"),
                           round(time.perf_counter() - start, 2)))
    if out.returncode != 0:
        raise RuntimeError(f"worker {spec.get('contender') or spec['task']} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _available(probe: dict) -> list[str]:
    have = set(probe["available"])
    return [name for name, (_, needs, _, _) in CONTENDERS.items()
            if needs in have and ("flexnet" in have or not name.startswith("flexnet"))]


def _samples(sizes, batch: int, limit: int, flop_budget: float) -> int:
    """One epoch of ``limit`` samples, shortened for wide networks to about ``flop_budget``
    FLOPs (whole batches, at least 8 of them)."""
    fit = int(flop_budget / train_flops(sizes)) // batch * batch
    return max(min(limit, max(fit, 8 * batch)), batch)


def _median(values):
    return statistics.median(values) if values else None


def _ratio(a, b):
    return a / b if a and b else None


def summarize(raw: dict) -> dict:
    """Medians, GFLOP/s, % of the device peak and the ratios, from the raw runs."""
    peaks = {}
    for library, runs in raw["gemm"].items():
        peaks[library] = max(r["gflops"] for r in runs)
    device_peak = {}
    for device, _, _, library in CONTENDERS.values():
        if library in peaks:
            device_peak[device] = max(device_peak.get(device, 0.0), peaks[library])
    rows = []
    for (name, key), runs in raw["runs"].items():
        cfg = raw["configs"][key]
        device, _, _, library = CONTENDERS[name]
        train = [r["train"] for r in runs]
        row = {
            "contender": name, "device": device, "arch": arch_name(cfg["sizes"]), "batch": cfg["batch"],
            "samples": cfg["samples"], "tiny": cfg["tiny"], "train": train, "train_median": _median(train),
        }
        if cfg["tiny"]:
            row["us_per_step"] = 1e6 / row["train_median"] * cfg["batch"]
            tob = [r["train_on_batch"] for r in runs if "train_on_batch" in r]
            if tob:
                row["us_per_train_on_batch"] = 1e6 / _median(tob)
        else:
            row["gflops"] = row["train_median"] * train_flops(cfg["sizes"]) / 1e9
            row["pct_device_peak"] = _ratio(100 * row["gflops"], device_peak.get(device))
            row["pct_library_peak"] = _ratio(100 * row["gflops"], peaks.get(library))
            infer = [r["infer"] for r in runs if "infer" in r]
            row["infer"], row["infer_median"] = infer, _median(infer)
        rows.append(row)
    index = {(r["contender"], r["arch"], r["batch"]): r for r in rows}
    for row in rows:
        ref = index.get((REFERENCE_CONTENDER.get(row["device"]), row["arch"], row["batch"]), {})
        loop = index.get(("numpy-loop", row["arch"], row["batch"]), {})
        skl = index.get(("sklearn", row["arch"], row["batch"]), {})
        row["x_torch_fused"] = _ratio(row["train_median"], ref.get("train_median"))
        row["x_numpy_loop"] = _ratio(row["train_median"], loop.get("train_median"))
        row["x_sklearn"] = _ratio(row["train_median"], skl.get("train_median"))
        # The median of the per-round ratios: rounds alternate, so this pairs runs taken close in time.
        row["x_torch_fused_paired"] = _median([a / b for a, b in zip(row["train"], ref.get("train", []))])
        if not row["tiny"]:
            row["infer_x_torch"] = _ratio(row["infer_median"], ref.get("infer_median"))
    return {"gemm_peaks": peaks, "device_peaks": device_peak, "rows": rows}


def targets(summary: dict, memory: dict) -> list[tuple[str, str, bool | None]]:
    """The issue's CPU targets for flexnet on NumPy, with the measured figure."""
    index = {(r["contender"], r["arch"], r["batch"]): r for r in summary["rows"]}
    ref, out = arch_name(REFERENCE), []

    def check(label, value, threshold, fmt, lower_is_better=False):
        if value is None:
            out.append((label, "not measured", None))
        else:
            ok = value <= threshold if lower_is_better else value >= threshold
            out.append((label, fmt.format(value), ok))

    for batch in (32, 128, 1024):
        row = index.get(("flexnet-numpy", ref, batch))
        if row is None:
            continue
        check(f"train b{batch} >= 1.0x torch fused Adam", row["x_torch_fused"], 1.0, "{:.2f}x")
        check(f"train b{batch} >= 0.95x NumPy loop", row["x_numpy_loop"], 0.95, "{:.2f}x")
        check(f"train b{batch} >= 2x scikit-learn", row["x_sklearn"], 2.0, "{:.2f}x")
        check(f"infer b{batch} >= 1.0x torch", row["infer_x_torch"], 1.0, "{:.2f}x")
    row = index.get(("flexnet-numpy", ref, 1024))
    if row is not None:
        check("train b1024 >= 75% of the CPU GEMM peak", row["pct_device_peak"], 75.0, "{:.0f}%")
    tiny = index.get(("flexnet-numpy", arch_name(TINY), 1))
    if tiny is not None:
        check("8-8-8-2 step at batch 1 (fit) <= 100 us", tiny["us_per_step"], 100.0, "{:.0f} us", True)
        check("8-8-8-2 train_on_batch <= 100 us", tiny.get("us_per_train_on_batch"), 100.0, "{:.0f} us", True)
    mem = memory.get("flexnet-numpy")
    if mem is not None:
        check("peak memory <= 1.3x analytic", mem["ratio"], 1.3, "{:.2f}x", True)
        check("no step-to-step growth (RSS, < 1 KB/step)", mem["rss_per_step"], 1024, "{:.0f} B/step", True)
    return out


def _fmt(value, spec="{:.2f}", none="-"):
    return none if value is None else spec.format(value)


def _rate(value):
    return "-" if value is None else f"{value / 1e3:.1f}k"


def print_report(result: dict) -> None:
    meta, s = result["meta"], result["summary"]
    print(f"\n{meta['date']}  {meta['cpu']} ({meta['cores']} cores)  numpy {meta['numpy']} "
          f"({meta['blas']})  torch {meta.get('torch', '-')}  sklearn {meta.get('sklearn', '-')}  "
          f"flexnet {meta.get('flexnet', '-')}")
    print(f"median of {result['settings']['repeats']} alternating runs; flush denormals: "
          f"{result['settings']['flush_denormals']}; malloc env: {meta['malloc_env'] or 'default'}")
    print("GEMM peak (float32, GFLOP/s): " + ", ".join(f"{k} {v:.0f}" for k, v in s["gemm_peaks"].items())
          + "; device peak = the best library on the device")
    rows = [r for r in s["rows"] if not r["tiny"]]
    head = (f"{'contender':22s} {'device':7s} {'network':16s} {'batch':>5s} {'train/s':>8s} "
            f"{'[min-max]':>13s} {'GFLOP/s':>7s} {'%peak':>5s} {'xtorch':>6s} {'xloop':>5s} {'xsklrn':>6s} "
            f"{'infer/s':>8s} {'xtorch':>6s}")
    print("\nTraining (one epoch through fit or the loop) and inference; FLOPs per sample: "
          + ", ".join(f"{a} {f['train'] / 1e6:.3f}M train / {f['infer'] / 1e6:.3f}M infer"
                      for a, f in result["flops"].items() if a != arch_name(TINY)))
    print(head)
    print("-" * len(head))
    for r in sorted(rows, key=lambda r: (r["device"], r["arch"], r["batch"], r["contender"])):
        spread = f"[{min(r['train']) / 1e3:.0f}-{max(r['train']) / 1e3:.0f}k]"
        print(f"{r['contender']:22s} {r['device']:7s} {r['arch']:16s} {r['batch']:5d} "
              f"{_rate(r['train_median']):>8s} {spread:>13s} {r['gflops']:7.0f} "
              f"{_fmt(r['pct_device_peak'], '{:.0f}'):>5s} {_fmt(r['x_torch_fused']):>6s} "
              f"{_fmt(r['x_numpy_loop']):>5s} {_fmt(r['x_sklearn']):>6s} {_rate(r['infer_median']):>8s} "
              f"{_fmt(r['infer_x_torch']):>6s}")
    tiny = [r for r in s["rows"] if r["tiny"]]
    if tiny:
        print(f"\nTiny {arch_name(TINY)} net, batch 1: microseconds per training step "
              "(an epoch of batch-1 steps through fit or the loop / separate train_on_batch calls)")
        for r in sorted(tiny, key=lambda r: r["us_per_step"]):
            tob = r.get("us_per_train_on_batch")
            print(f"  {r['contender']:22s} {r['us_per_step']:7.0f} us/step"
                  + (f"   train_on_batch {tob:7.0f} us/call" if tob else ""))
    if result["memory"]:
        print("\nMemory: peak RSS growth of one training epoch vs analytic (params + grads + Adam + one "
              "batch's activations + data); growth per step from N to 2N more epochs")
        for name, m in result["memory"].items():
            a = m["analytic"]
            print(f"  {name:22s} peak {m['peak_growth'] / 2**20:7.1f} MiB vs {a['total'] / 2**20:7.1f} MiB "
                  f"({m['ratio']:.2f}x; data {a['data'] / 2**20:.1f}, weights+grads+adam "
                  f"{(a['params'] + a['grads'] + a['adam']) / 2**20:.1f}, activations "
                  f"{a['activations'] / 2**20:.1f})  per step: RSS {m['rss_per_step']:+.0f} B, "
                  f"traced {m['traced_per_step']:+.0f} B over {m['growth_steps']} steps")
    if result["targets"]:
        print("\nTargets (flexnet on NumPy, CPU):")
        for label, value, ok in result["targets"]:
            mark = {True: "PASS", False: "MISS", None: "----"}[ok]
            print(f"  {mark}  {label}: {value}")


def plot(result: dict, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return
    rows = [r for r in result["summary"]["rows"] if not r["tiny"]]
    archs = sorted({r["arch"] for r in rows}, key=lambda a: [int(v) for v in a.split("-")])
    fig, axes = plt.subplots(len(archs), 2, figsize=(12, 4.5 * len(archs)), squeeze=False)
    for i, arch in enumerate(archs):
        for name in CONTENDERS:
            mine = sorted((r for r in rows if r["arch"] == arch and r["contender"] == name),
                          key=lambda r: r["batch"])
            if not mine:
                continue
            style = "-" if name.startswith("flexnet") else "--"
            label = f"{name} ({mine[0]['device']})"
            axes[i, 0].plot([r["batch"] for r in mine], [r["train_median"] for r in mine], style,
                            marker="o", label=label)
            infer = [(r["batch"], r["infer_median"]) for r in mine if r["infer_median"]]
            if infer:
                note = " (one batch)" if name == "sklearn" else ""
                axes[i, 1].plot(*zip(*infer), style, marker="o", label=label + note)
        for j, what in enumerate(("training, one epoch", "inference")):
            ax = axes[i, j]
            ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel="samples/s",
                   title=f"{what}, MLP {arch}")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
    meta, peaks = result["meta"], result["summary"]["gemm_peaks"]
    fig.suptitle(f"flexnet vs PyTorch, a NumPy loop and scikit-learn: float32, Adam, softmax cross-entropy\n"
                 f"{meta['cpu']}, {meta['cores']} cores, {meta['date'][:10]}; GEMM peak (GFLOP/s) "
                 + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items()), fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run: < 2 minutes on a 2-core CPU")
    parser.add_argument("--batch", type=int, nargs="+", help="batch sizes (default 32 128 1024)")
    parser.add_argument("--width", nargs="+",
                        help="hidden widths W, each training 784-W-W-10; 'ref' is 784-300-100-10 (default)")
    parser.add_argument("--repeats", type=int, help="alternating rounds (default 5, quick 2)")
    parser.add_argument("--samples", type=int, help="samples per epoch (default 60000, quick 12000)")
    parser.add_argument("--contenders", help="comma-separated names (default: every available one); "
                        f"known: {', '.join(CONTENDERS)}")
    parser.add_argument("--no-tiny", action="store_true", help="skip the 8-8-8-2 batch-1 step")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    parser.add_argument("--flush-denormals", action="store_true",
                        help="set FTZ/DAZ in every worker (torch.set_flush_denormal and MXCSR)")
    parser.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=None,
                        help="one process per contender, configuration and round (default; "
                        "--quick runs all configurations of a round in one process per contender)")
    parser.add_argument("--json", type=Path, help="where to write the results (default benchmarks/results/)")
    parser.add_argument("--plot", type=Path, help="where to write the PNG (default next to the JSON)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    started = time.perf_counter()
    quick = args.quick
    repeats = args.repeats or (2 if quick else 5)
    batches = args.batch or [32, 128, 1024]
    limit = args.samples or (12_000 if quick else 60_000)
    isolate = (not quick) if args.isolate is None else args.isolate
    archs = []
    for w in args.width or ["ref"]:
        archs.append(REFERENCE if w == "ref" else (REFERENCE[0], int(w), int(w), REFERENCE[-1]))
    stem = "compare-quick" if quick else "compare"
    json_path = args.json or RESULTS / f"{stem}.json"
    plot_path = args.plot or json_path.with_suffix(".png")

    probe = _spawn({"task": "probe"})
    available = _available(probe)
    names = args.contenders.split(",") if args.contenders else available
    unknown = [n for n in names if n not in CONTENDERS]
    if unknown:
        parser.error(f"unknown contenders {unknown}; known: {list(CONTENDERS)}")
    missing = [n for n in names if n not in available]
    if missing:
        parser.error(f"{missing} cannot run here (library or GPU missing); available: {available}")
    print(f"contenders: {', '.join(names)}", flush=True)

    flop_budget = 2e10 if quick else 1.2e11
    configs = []
    for sizes in archs:
        for batch in batches:
            configs.append({"sizes": list(sizes), "batch": batch, "tiny": False, "infer": True,
                            "samples": _samples(sizes, batch, limit, flop_budget)})
    if not args.no_tiny:
        configs.append({"sizes": list(TINY), "batch": 1, "tiny": True, "infer": False,
                        "samples": 500 if quick else 3000})

    with tempfile.TemporaryDirectory(prefix="flexnet-bench-") as tmp:
        n_max = max([limit] + [c["samples"] for c in configs if not c["tiny"]])
        save_data(tmp, n_max, max([1] + [c["samples"] for c in configs if c["tiny"]]))
        data_path = tmp

        libraries = sorted({CONTENDERS[n][3] for n in names if CONTENDERS[n][0] != "cpu"}
                           | {"numpy"} | ({"torch"} if "torch" in probe["available"] else set()))
        gemm_sizes, gemm_reps = ([2048], 5) if quick else ([2048, 3072, 4096], 3)
        flush = args.flush_denormals
        raw = {"gemm": {lib: [] for lib in libraries}, "runs": {}, "configs": {}}
        groups = [[i] for i in range(len(configs))] if isolate else [list(range(len(configs)))]
        for round_ in range(repeats):
            if round_ == 0 or (round_ == repeats - 1 and not quick):  # GEMM peak: at the start and end
                for lib in libraries:
                    raw["gemm"][lib].append(_spawn({"task": "gemm", "library": lib, "sizes": gemm_sizes,
                                                    "repeats": gemm_reps, "flush_denormals": flush,
                                                    "needs": lib}))
            order = names[round_ % len(names):] + names[: round_ % len(names)]  # rotate the order
            for group in groups:
                for name in order:
                    spec = {"task": "train", "contender": name, "configs": [configs[i] for i in group],
                            "data": data_path, "flush_denormals": flush,
                            "needs": CONTENDERS[name][1]}
                    out = _spawn(spec)
                    if flush and not out["flushed"]:
                        print(f"warning: {name} could not flush denormals on this platform")
                    for i, result in zip(group, out["results"]):
                        key = f"{arch_name(configs[i]['sizes'])}/b{configs[i]['batch']}"
                        raw["configs"][key] = configs[i]
                        raw["runs"].setdefault((name, key), []).append(result)
            print(f"round {round_ + 1}/{repeats} done ({time.perf_counter() - started:.0f} s)", flush=True)

        memory = {}
        if not args.no_memory:
            for name in names:
                if CONTENDERS[name][0] != "cpu" or name == "sklearn" or (quick and name not in QUICK_MEMORY):
                    continue
                memory[name] = _spawn({
                    "task": "memory", "contender": name, "sizes": list(REFERENCE), "batch": 1024,
                    "samples": limit, "data": data_path, "growth_samples": min(3200, limit),
                    "growth_batch": 32,
                    "growth_epochs": 2 if quick else 5, "flush_denormals": flush,
                    "needs": CONTENDERS[name][1]})

    summary = summarize(raw)
    result = {
        "meta": probe,
        "settings": {"quick": quick, "repeats": repeats, "batches": batches, "isolate": isolate,
                     "samples": limit, "flush_denormals": flush, "contenders": names,
                     "gemm_sizes": gemm_sizes, "argv": sys.argv[1:]},
        "flops": {arch_name(c["sizes"]): {"train": train_flops(c["sizes"]), "infer": infer_flops(c["sizes"])}
                  for c in configs},
        "gemm": raw["gemm"],
        "summary": summary,
        "memory": memory,
        "elapsed_s": None,
        "worker_seconds": WORKER_SECONDS,
    }
    result["targets"] = targets(summary, memory)
    result["elapsed_s"] = round(time.perf_counter() - started, 1)
    print_report(result)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"\njson: {json_path}")
    plot(result, plot_path)
    print(f"elapsed: {result['elapsed_s']:.0f} s")


if __name__ == "__main__":
    main()
