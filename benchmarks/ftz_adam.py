"""One step of flexnet's NumPy Adam kernel over the reference network's 266,610 float32
values with a normal state and with a state made entirely of subnormals, with and
without FTZ/DAZ (x86-64 Linux: MXCSR through glibc):  python benchmarks/ftz_adam.py"""

import ctypes
import ctypes.util
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import flexnet as fx  # noqa: E402
from flexnet.optimizers.kernels import numpy_kernel  # noqa: E402

libm = ctypes.CDLL(ctypes.util.find_library("m"))


def set_ftz(on):
    env = ctypes.create_string_buffer(32)
    libm.fegetenv(env)
    mx = int.from_bytes(env.raw[28:32], "little")
    mx = (mx | 0x8040) if on else (mx & ~0x8040)
    libm.fesetenv(ctypes.create_string_buffer(env.raw[:28] + mx.to_bytes(4, "little"), 32))
n = 266610
opt = fx.optimizers.Adam(1e-3)
P = np.zeros(n, np.float32)
kernel = numpy_kernel(opt)


def run(state_kind, ftz, reps=200):
    m = np.full(n, 1e-39 if state_kind == "subnormal" else 1e-3, np.float32)
    v = np.full(n, 1e-39 if state_kind == "subnormal" else 1e-6, np.float32)
    Gi = np.zeros(n, np.float32) if state_kind == "subnormal" else np.full(n, 1e-3, np.float32)
    scratch = {}
    set_ftz(ftz)
    opt.constants = opt.step_constants(10)
    t = time.perf_counter()
    for _ in range(reps):
        m[:] = 1e-39 if state_kind == "subnormal" else 1e-3
        v[:] = 1e-39 if state_kind == "subnormal" else 1e-6
        kernel(opt, P, Gi, {"m": m, "v": v}, scratch)
    dt = (time.perf_counter() - t) / reps
    set_ftz(False)
    return dt


res = {}
for _round in range(5):
    for kind in ("normal", "subnormal"):
        for ftz in (False, True):
            res.setdefault((kind, ftz), []).append(run(kind, ftz))
for (kind, ftz), v in res.items():
    print(f"{kind:9s} state, FTZ {'on ' if ftz else 'off'}: {min(v) * 1e6:.0f} us (best of 5), "
          f"median {sorted(v)[2] * 1e6:.0f} us")
