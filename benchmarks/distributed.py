"""Data-parallel training over MPI: allreduce time against size, samples/s per rank, and a
ring-allreduce cost model that predicts the reference network's scaling on a cluster.

    python benchmarks/distributed.py            # launches mpiexec -n 1, 2, 3 itself (about a minute)
    python benchmarks/distributed.py --quick    # fewer sizes and samples (CI smoke run)

Measured on this machine (``mpiexec`` on localhost, MPI over shared memory, one BLAS
thread per rank):

* the time of one ``comm.allreduce`` of a float32 vector (flexnet's communicator on NumPy,
  and mpi4py's ``Allreduce`` directly) for 1 to 4M values, on 2 and 3 ranks;
* samples per second of ``fit`` on the reference network (MLP 784-300-100-10, ReLU,
  softmax cross-entropy, Adam, float32, 128 samples per rank and step) on 1, 2, 3 ranks.

The cost model is the ring allreduce's (Patarasuk and Yuan 2009; Thakur, Rabenseifner
and Gropp 2005): ``T(n, p) = 2 (p - 1) α + 2 (p - 1) / p · n β``, ``n`` bytes over ``p``
ranks, ``α`` the latency of one message, ``β`` seconds per byte (transfer plus
reduction). ``α`` and ``β`` are fitted to the 2-rank times and checked against the 3-rank
times; the interconnects' ``α`` and ``β`` come from their specifications (see
``docs/distributed.md``). A step of data-parallel ``fit`` computes, then allreduces
(no overlap), so with ``t_c`` the one-rank compute time of a step, weak-scaling
efficiency is ``t_c / (t_c + T(4 N, p))`` for ``N`` parameters.

Writes ``benchmarks/results/distributed.json`` and ``distributed.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
REFERENCE = (784, 300, 100, 10)
BATCH = 128  # samples per rank and step
#: name -> (α seconds per message, β seconds per byte), from the hardware's specifications:
#: InfiniBand HDR 200 Gb/s (about 1.5 µs MPI latency, 24 GB/s achieved per direction) and
#: 10 Gigabit Ethernet with TCP (about 30 µs, 1.1 GB/s achieved).
INTERCONNECTS = {"InfiniBand HDR 200 Gb/s": (1.5e-6, 1 / 24e9), "10 GbE (TCP)": (30e-6, 1 / 1.1e9)}


def parameters(sizes=REFERENCE) -> int:
    return sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))


def ring_time(nbytes: float, p: int, alpha: float, beta: float) -> float:
    """Seconds of one ring allreduce of ``nbytes`` over ``p`` ranks."""
    return 0.0 if p == 1 else 2 * (p - 1) * alpha + 2 * (p - 1) / p * nbytes * beta


# -- workers (run under mpiexec) -------------------------------------------------------------


def worker_allreduce(quick: bool) -> dict:
    from mpi4py import MPI

    import flexnet as fx

    comm = fx.distributed.initialize()
    sizes = [1, 100, 10_000, parameters(), 1_000_000] if quick else \
        [1, 10, 100, 1_000, 10_000, 100_000, parameters(), 1_000_000, 4_000_000]
    rows = []
    for n in sizes:
        G = np.ones(n, dtype=np.float32)
        least = 5 if n > 1e6 else 20
        flexnet_s = _fixed(lambda G=G: comm.allreduce(G), comm, least)
        raw_s = _fixed(lambda G=G: comm.comm.Allreduce(MPI.IN_PLACE, G, op=MPI.SUM), comm, least)
        rows.append({"values": n, "bytes": 4 * n, "flexnet_s": flexnet_s, "mpi4py_s": raw_s})
    return {"ranks": comm.size, "allreduce": rows}


def _fixed(call, comm, repeats: int) -> float:
    """Median seconds of ``repeats`` calls, all ranks starting together each time."""
    call()  # warm up
    times = []
    for _ in range(repeats):
        comm.barrier()
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def worker_throughput(quick: bool) -> dict:
    import flexnet as fx

    comm = fx.distributed.initialize()
    steps = 16 if quick else 96  # steps per epoch, whatever the number of ranks
    n = steps * BATCH * comm.size
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, REFERENCE[0])).astype(np.float32)
    y = rng.integers(0, REFERENCE[-1], size=n)
    with fx.utils.seeded(0):
        model = fx.Sequential([fx.layers.Dense(REFERENCE[1], input_dim=REFERENCE[0], activation="relu"),
                               fx.layers.Dense(REFERENCE[2], activation="relu"),
                               fx.layers.Dense(REFERENCE[3], activation="softmax")])
    model.compile(optimizer=fx.distributed.DistributedOptimizer(fx.optimizers.Adam(1e-3)),
                  loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)  # warm up
    epochs = []
    for _ in range(2 if quick else 5):
        comm.barrier()
        start = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
        epochs.append(time.perf_counter() - start)
    seconds = float(np.median(epochs))
    # one more epoch, taken apart: each gradient allreduce waits at a barrier first, so that the
    # time the ranks wait for each other (uneven compute) is apart from the transfer itself
    waits, transfers = [], []
    allreduce = comm.allreduce

    def timed(x, op="sum"):
        if x.shape != (parameters(),):
            return allreduce(x, op)
        start = time.perf_counter()
        comm.barrier()
        ready = time.perf_counter()
        out = allreduce(x, op)
        waits.append(ready - start)
        transfers.append(time.perf_counter() - ready)
        return out

    comm.allreduce = timed
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    comm.allreduce = allreduce
    wait, transfer = (float(np.mean(v)) if v else 0.0 for v in (waits, transfers))
    return {"ranks": comm.size, "samples": n, "steps": steps, "epoch_s": seconds, "step_s": seconds / steps,
            "wait_in_step_s": wait, "allreduce_in_step_s": transfer,
            "compute_step_s": seconds / steps - wait - transfer,
            "samples_per_s": n / seconds, "samples_per_s_per_rank": n / seconds / comm.size}


# -- the driver --------------------------------------------------------------------------------


def launch(ranks: int, kind: str, quick: bool) -> dict:
    """Run a worker on ``ranks`` ranks; returns rank 0's result."""
    out = HERE / "results" / f".distributed-{kind}-{ranks}.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")])
    command = [shutil.which("mpiexec") or "mpiexec", "-n", str(ranks), sys.executable, __file__,
               "--worker", kind, "--json", str(out)] + (["--quick"] if quick else [])
    subprocess.run(command, check=True, env=env, timeout=600)
    result = json.loads(out.read_text())
    out.unlink()
    return result


def fit_ring(rows: list, p: int) -> tuple[float, float]:
    """Least-squares ``(α, β)`` of :func:`ring_time` to measured ``(bytes, seconds)`` on ``p`` ranks,
    weighting each point by its inverse time (relative errors)."""
    n = np.array([r["bytes"] for r in rows], dtype=float)
    t = np.array([r["flexnet_s"] for r in rows])
    A = np.stack([np.full_like(n, 2 * (p - 1)), 2 * (p - 1) / p * n], axis=1) / t[:, None]
    (alpha, beta), *_ = np.linalg.lstsq(A, np.ones_like(t), rcond=None)
    return float(alpha), float(beta)


def report(results: dict, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    alpha, beta = results["model"]["local_alpha_s"], results["model"]["local_beta_s_per_byte"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    for p, rows in results["allreduce"].items():
        n = np.array([r["bytes"] for r in rows])
        ax.loglog(n, [r["flexnet_s"] for r in rows], "o", label=f"{p} ranks, flexnet")
        ax.loglog(n, [r["mpi4py_s"] for r in rows], "x", label=f"{p} ranks, mpi4py")
        model = [ring_time(b, int(p), alpha, beta) for b in n]
        ax.loglog(n, model, "-", alpha=0.5, label=f"{p} ranks, model")
    ax.set_xlabel("bytes (float32)")
    ax.set_ylabel("seconds per allreduce")
    ax.set_title("allreduce on localhost")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    ps = np.array([1, 2, 4, 8, 16, 32, 64])
    t_c, nbytes = results["model"]["compute_step_s"], 4 * parameters()
    for name, (a, b) in INTERCONNECTS.items():
        bx.semilogx(ps, [t_c / (t_c + ring_time(nbytes, int(p), a, b)) for p in ps], "o-", label=name)
    bx.set_xlabel("nodes")
    bx.set_ylabel("efficiency (weak scaling)")
    bx.set_ylim(0, 1.05)
    bx.set_title(f"predicted: MLP 784-300-100-10, {BATCH} samples/node/step")
    bx.grid(alpha=0.3, which="both")
    bx.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", choices=["allreduce", "throughput"])
    parser.add_argument("--json", type=pathlib.Path)
    parser.add_argument("--out", type=pathlib.Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if args.worker:
        result = (worker_allreduce if args.worker == "allreduce" else worker_throughput)(args.quick)
        import flexnet as fx

        if fx.distributed.initialize().rank == 0:
            args.json.write_text(json.dumps(result))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()  # other work on the machine shows in every figure
    allreduce = {p: launch(p, "allreduce", args.quick)["allreduce"] for p in (2, 3)}
    throughput = {p: launch(p, "throughput", args.quick) for p in (1, 2, 3)}
    alpha, beta = fit_ring(allreduce[2], 2)
    checked = [{"bytes": r["bytes"], "measured_s": r["flexnet_s"],
                "model_s": ring_time(r["bytes"], 3, alpha, beta)} for r in allreduce[3]]
    t_c, nbytes = throughput[1]["step_s"], 4 * parameters()
    steps = {p: {"measured_s": throughput[p]["step_s"], "model_s": t_c + ring_time(nbytes, p, alpha, beta)}
             for p in (2, 3)}
    predictions = {name: {p: {"allreduce_s": ring_time(nbytes, p, a, b),
                              "efficiency": t_c / (t_c + ring_time(nbytes, p, a, b)),
                              "samples_per_s": p * BATCH / (t_c + ring_time(nbytes, p, a, b))}
                          for p in (8, 64)}
                   for name, (a, b) in INTERCONNECTS.items()}
    results = {"cores": os.cpu_count(), "load_average": [load, os.getloadavg()], "parameters": parameters(),
               "batch_per_rank": BATCH,
               "allreduce": allreduce, "throughput": throughput,
               "model": {"local_alpha_s": alpha, "local_beta_s_per_byte": beta, "compute_step_s": t_c,
                         "three_ranks": checked, "steps": steps, "predictions": predictions}}
    (args.out / "distributed.json").write_text(json.dumps(results, indent=1))
    report(results, args.out / "distributed.png")

    print(f"allreduce of float32 vectors on localhost (median of repeats), {os.cpu_count()} cores, "
          f"load average {load[0]:.1f} before and {os.getloadavg()[0]:.1f} after")
    print(f"{'values':>10} {'2 ranks flexnet':>16} {'mpi4py':>10} {'3 ranks flexnet':>16} {'model':>10}")
    for r2, r3, c in zip(allreduce[2], allreduce[3], checked):
        print(f"{r2['values']:>10,} {r2['flexnet_s'] * 1e6:>13.1f} µs {r2['mpi4py_s'] * 1e6:>7.1f} µs "
              f"{r3['flexnet_s'] * 1e6:>13.1f} µs {c['model_s'] * 1e6:>7.1f} µs")
    print(f"fitted on 2 ranks: α = {alpha * 1e6:.2f} µs, β = {beta * 1e9:.3f} ns/byte "
          f"({1 / beta / 1e9:.2f} GB/s)")
    print(f"\nfit of MLP 784-300-100-10 ({parameters():,} parameters), {BATCH} samples per rank and step")
    for p, r in throughput.items():
        model = f" (model: allreduce {ring_time(nbytes, p, alpha, beta) * 1e3:.2f} ms)" if p > 1 else ""
        ms = {k: r[k] * 1e3 for k in ("step_s", "compute_step_s", "wait_in_step_s", "allreduce_in_step_s")}
        print(f"{p} rank(s): {r['samples_per_s']:>7,.0f} samples/s, {r['samples_per_s_per_rank']:>7,.0f} per "
              f"rank; step {ms['step_s']:.1f} ms = compute {ms['compute_step_s']:.1f} ms + waiting "
              f"{ms['wait_in_step_s']:.2f} ms + allreduce {ms['allreduce_in_step_s']:.2f} ms{model}")
    print("\npredicted (compute of one rank here, no overlap of compute and allreduce):")
    for name, rows in predictions.items():
        for p, r in rows.items():
            print(f"{name:>24}, {p:>2} nodes: allreduce {r['allreduce_s'] * 1e3:.3f} ms, "
                  f"efficiency {r['efficiency']:.1%}, {r['samples_per_s']:,.0f} samples/s")
    print(f"\nwrote {args.out / 'distributed.json'} and {args.out / 'distributed.png'}")


if __name__ == "__main__":
    main()
