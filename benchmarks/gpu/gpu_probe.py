"""First GPU run for flexnet on CuPy: smoke, sync audit, graph capture + kernel count, timing.

Run from the flexnet checkout root:  python gpu_probe.py [--out DIR] [--dry-run]
--dry-run runs the backend-neutral parts on NumPy (to check this script without a GPU).
Each section is independent; results go to OUT/probe.json as they come.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import traceback
import warnings

import numpy as np

sys.path.insert(0, os.getcwd())
import flexnet as fx  # noqa: E402

SIZES = (784, 300, 100, 10)
RESULTS: dict = {}


def save(out):
    with open(os.path.join(out, "probe.json"), "w") as f:
        json.dump(RESULTS, f, indent=1, default=str)


def section(name, out):
    def deco(fn):
        t = time.perf_counter()
        try:
            RESULTS[name] = fn()
        except Exception as exc:  # keep going: one broken section must not hide the others
            RESULTS[name] = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2000:]}
        RESULTS[name + "_s"] = round(time.perf_counter() - t, 2)
        shown = json.dumps(RESULTS[name], default=str)[:600]
        print(f"== {name} ({RESULTS[name + '_s']} s): {shown}", flush=True)
        save(out)
        return fn
    return deco


def build(backend, dtype="float32", opt=None, loss="sparse_categorical_crossentropy", act="relu",
          last="softmax", sizes=SIZES, **layer_kw):
    fx.utils.set_random_seed(0)
    layers = [fx.layers.Dense(sizes[1], input_dim=sizes[0], activation=act, **layer_kw)]
    layers += [fx.layers.Dense(u, activation=act, **layer_kw) for u in sizes[2:-1]]
    layers.append(fx.layers.Dense(sizes[-1], activation=last))
    m = fx.Sequential(layers, backend=backend, dtype=dtype)
    m.compile(optimizer=opt or fx.optimizers.Adam(1e-3), loss=loss)
    return m


def data(n, dtype="float32", onehot=False):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, SIZES[0])).astype(dtype)
    y = rng.integers(0, SIZES[-1], n)
    if onehot:
        y = np.eye(SIZES[-1], dtype=dtype)[y]
    return x, y


def step_fn(m, x, y, batch=128):
    """One training step on a fixed device batch, exactly as fit's loop runs it: the data
    adapter's checks and copies happen here, outside the step (host reads allowed there);
    the step is the trainer's (generic on CuPy) ``TrainStep``."""
    trainer = m._trainer
    with m._bind().activate():
        batch_data = trainer.adapter.arrays(x[:batch], y[:batch], trainer._heads)
        train_step = trainer.setup()[2]

    def step():
        with m.backend.activate():
            train_step(batch_data.Xs, batch_data.Ys, batch_data.W)
    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    out, gpu = args.out, not args.dry_run
    os.makedirs(out, exist_ok=True)
    backend = "cupy" if gpu else "numpy"
    if gpu:
        import cupy
        import cupyx
        import cupyx.profiler

    @section("env", out)
    def _env():
        info = {"python": sys.version.split()[0], "numpy": np.__version__}
        import array_api_compat
        info["array_api_compat"] = array_api_compat.__version__
        for mod in ("cupy", "torch", "array_api_strict"):
            try:
                info[mod] = __import__(mod).__version__
            except Exception as exc:
                info[mod] = repr(exc)
        if gpu:
            info["gpus"] = cupy.cuda.runtime.getDeviceCount()
            info["name"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
            info["CUPY_TF32"] = os.environ.get("CUPY_TF32")
            info["accelerators"] = os.environ.get("CUPY_ACCELERATORS")
        return info

    @section("smoke_fit_matches_numpy", out)
    def _smoke():
        res = {}
        for dtype, rtol in (("float32", 2e-3), ("float64", 1e-9)):
            x, y = data(2048, dtype)
            ref, dev = build("numpy", dtype), build(backend, dtype)
            dev.set_weights(ref.get_weights())
            for m in (ref, dev):
                m.fit(x, y, batch_size=128, epochs=2, shuffle=False, verbose=0)
            worst = max(float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(a)))))
                        for a, b in zip(ref.get_weights(), dev.get_weights()))
            p = dev.predict(x[:256])
            ev = dev.evaluate(x, y, batch_size=512)
            dev.fit(x, y, batch_size=128, epochs=1, verbose=0)  # shuffle=True: device permutation
            moved = float(np.max(np.abs(dev.to("numpy").predict(x[:256]) - dev.to(backend).predict(x[:256]))))
            res[dtype] = {"max_rel_weight_diff": worst, "ok": worst < rtol, "predict_type": type(p).__name__,
                          "evaluate": ev, "to_numpy_roundtrip_maxdiff": moved}
        return res

    @section("sync_audit", out)
    def _audit():
        """Which configurations read the device inside a training step (predicted: clip/sign users)."""
        configs = {
            "adam_sce (benchmark)": dict(),
            "sgd_momentum": dict(opt=fx.optimizers.SGD(0.01, momentum=0.9)),
            "adam_clipnorm": dict(opt=fx.optimizers.Adam(1e-3, clipnorm=1.0)),
            "adam_clipvalue (xp.clip)": dict(opt=fx.optimizers.Adam(1e-3, clipvalue=1.0)),
            "lion (xp.sign)": dict(opt=fx.optimizers.Lion(1e-4)),
            "mae loss (xp.sign)": dict(loss="mae", last="linear"),
            "huber loss (xp.clip)": dict(loss="huber", last="linear"),
            "cce non-fused (xp.clip)": dict(loss="categorical_crossentropy", last="sigmoid"),
            "hard_sigmoid act (xp.clip)": dict(act="hard_sigmoid"),
            "gelu exact (Chebyshev)": dict(act="gelu"),
            "l1 regularizer (xp.sign)": dict(kernel_regularizer="l1"),
            "maxnorm constraint (xp.clip)": dict(kernel_constraint=fx.constraints.MaxNorm(3.0)),
        }
        res = {}
        for name, kw in configs.items():
            onehot = kw.get("loss") in ("mae", "huber", "categorical_crossentropy")
            x, y = data(256, onehot=onehot)
            m = build(backend, **kw)
            step = step_fn(m, x, y)
            step()  # warm: compiles kernels, creates optimizer state
            if not gpu:
                res[name] = "dry-run"
                continue
            cupy.cuda.Device().synchronize()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    with cupyx.allow_synchronize(False):
                        step()
                    res[name] = "no sync"
                except cupyx.DeviceSynchronized:
                    res[name] = "SYNCS: " + traceback.format_exc().strip().splitlines()[-3][:200]
        return res

    @section("graph_capture_kernel_count", out)
    def _capture():
        if not gpu:
            return "dry-run"
        res = {}
        for name, kw in {"adam_sce": {}, "sgd_plain": dict(opt=fx.optimizers.SGD(0.01))}.items():
            x, y = data(256)
            m = build(backend, **kw)
            s = cupy.cuda.Stream(non_blocking=True)
            with s:
                step = step_fn(m, x, y)
                step()
                s.synchronize()
                s.begin_capture()
                try:
                    step()
                except Exception:  # a host read inside the step: report it, leave the stream usable
                    try:
                        s.end_capture()
                    except Exception:
                        pass
                    raise
                g = s.end_capture()
            dot = g.debug_dot_str()
            with open(os.path.join(out, f"graph_{name}.dot"), "w") as f:
                f.write(dot)
            kinds = re.findall(r"\b(KERNEL|MEMCPY|MEMSET|HOST|EVENT_RECORD|WAIT_EVENT|EMPTY)\b", dot)
            res[name] = {k: kinds.count(k) for k in sorted(set(kinds))}
            res[name]["node_definitions"] = len(re.findall(r"node_\d+\s*\[", dot))
            with s:  # events on the capture stream, so GPU time covers the replay
                t = cupyx.profiler.benchmark(lambda g=g, s=s: g.launch(s), n_repeat=200, n_warmup=10)
            res[name]["graph_replay_us"] = {"cpu": float(t.cpu_times.mean() * 1e6),
                                            "gpu": float(t.gpu_times.mean() * 1e6)}
        return res

    @section("step_timing_eager", out)
    def _timing():
        res = {}
        clipped = fx.optimizers.Adam(1e-3, clipvalue=1.0)
        for name, kw in {"adam_sce": {}, "adam_clipvalue": dict(opt=clipped)}.items():
            x, y = data(256)
            m = build(backend, **kw)
            step = step_fn(m, x, y)
            step()
            if gpu:
                t = cupyx.profiler.benchmark(step, n_repeat=300, n_warmup=20)
                res[name] = {"cpu_us": float(t.cpu_times.mean() * 1e6),
                             "gpu_us": float(t.gpu_times.mean() * 1e6)}
            else:
                t0 = time.perf_counter()
                for _ in range(50):
                    step()
                res[name] = {"cpu_us": (time.perf_counter() - t0) / 50 * 1e6}
        return res

    @section("fit_epoch_vs_torch", out)
    def _epochs():
        n = 60000
        x, y = data(n)
        m = build(backend)
        X, Y = m.backend.from_numpy(x), m.backend.from_numpy(y, m.backend.index_dtype)
        m.fit(X[:6016], Y[:6016], batch_size=128, epochs=1, verbose=0)
        sync = (lambda: cupy.cuda.Device().synchronize()) if gpu else (lambda: None)
        t0 = time.perf_counter()
        m.fit(X, Y, batch_size=128, epochs=2, verbose=0)
        sync()
        res = {"flexnet_s_per_epoch": (time.perf_counter() - t0) / 2}
        if gpu:
            try:
                import torch
                sys.path.insert(0, "benchmarks")
                from compare import Torch
                for fused in (True, False):
                    tc = Torch("cuda:0", fused, SIZES, x, y, 128)
                    tc.train(6016)
                    t0 = time.perf_counter()
                    tc.train(n)
                    tc.train(n)
                    res[f"torch_cuda_adam_fused={fused}_s_per_epoch"] = (time.perf_counter() - t0) / 2
                res["torch"] = torch.__version__
            except Exception as exc:
                res["torch_error"] = repr(exc)
        return res

    @section("fused_adam_prototype", out)
    def _fused():
        """One ElementwiseKernel over the flat buffer vs flexnet's flat Adam (12 operations)."""
        if not gpu:
            return "dry-run"
        adam = cupy.ElementwiseKernel(
            "T g, T b1, T b2, T step, T eps_hat", "T p, T m, T v",
            "m = b1 * m + (1 - b1) * g; v = b2 * v + (1 - b2) * g * g; p += step * m / (sqrt(v) + eps_hat);",
            "flexnet_adam_flat")
        total = sum(i * o + o for i, o in zip(SIZES[:-1], SIZES[1:]))
        p, g = cupy.zeros(total, "f"), cupy.ones(total, "f")
        mm, vv = cupy.zeros_like(p), cupy.zeros_like(p)
        t = cupyx.profiler.benchmark(lambda: adam(g, 0.9, 0.999, -1e-3, 1e-8, p, mm, vv), n_repeat=500)
        mdl = build(backend)
        params = mdl.trainable_weights
        grads = [cupy.ones_like(w) for w in params]
        params = mdl.optimizer.apply(params, grads)  # returns the parameters after the step
        t2 = cupyx.profiler.benchmark(lambda: mdl.optimizer.apply(params, grads), n_repeat=200)
        return {"fused_flat_us": {"cpu": float(t.cpu_times.mean() * 1e6),
                                  "gpu": float(t.gpu_times.mean() * 1e6)},
                "flexnet_generic_us": {"cpu": float(t2.cpu_times.mean() * 1e6),
                                       "gpu": float(t2.gpu_times.mean() * 1e6)}}


if __name__ == "__main__":
    main()
