"""The MPI communicator (mpi4py): collective operations on the arrays of every backend.

How an array reaches MPI depends on where it lives:

* host memory that NumPy can write (NumPy; PyTorch on the CPU): MPI reads and writes it
  directly, in place, with no copy;
* CuPy on a GPU: NCCL (:mod:`flexnet.distributed.nccl`), or a CUDA-aware MPI given the
  device pointer through ``__cuda_array_interface__``, or a copy through host memory,
  as :func:`~flexnet.distributed.initialize`'s ``gpu`` says;
* anything else (JAX, whose arrays never change; array-api-strict; PyTorch on a GPU):
  a copy to host memory, the collective there, and a copy back.

A watchdog thread ends the job when one collective operation waits longer than the
timeout: a rank that failed or hangs never leaves the others waiting silently.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time

import array_api_compat
import numpy as np
from mpi4py import MPI

from flexnet.distributed import nccl
from flexnet.distributed.communicator import Communicator, _check_op, _check_root
from flexnet.transfer import host_view, to_device_like, to_numpy, writable

__all__ = ["MPICommunicator"]

_MPI_OPS = {"sum": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}
GPU_TRANSPORTS = ("auto", "nccl", "mpi", "host")


#: Seconds a failing rank waits after flushing its output, before MPI_Abort.
_ABORT_GRACE_S = 0.5

def _put_back(host: np.ndarray, x):
    """``host``'s values as the result for ``x``: written into ``x`` where arrays can change,
    else a new array of ``x``'s library, device and dtype."""
    new = to_device_like(host, x)
    if not writable(x):
        return new
    x[...] = new
    return x


class _Watchdog:
    """Ends the job when the main thread spends more than ``timeout`` seconds in one
    collective operation (the other ranks never came: one failed, hangs, or runs a
    different sequence of operations)."""

    def __init__(self, comm: MPICommunicator, timeout: float):
        self.comm, self.timeout = comm, float(timeout)
        self.since: float | None = None
        self.what, self.shape = "", None
        self.calls = 0
        thread = threading.Thread(target=self._watch, name="flexnet-mpi-watchdog", daemon=True)
        thread.start()

    @contextlib.contextmanager
    def waiting(self, what: str, shape=None):
        self.calls += 1
        self.what, self.shape, self.since = what, shape, time.monotonic()
        try:
            yield
        finally:
            self.since = None

    def _watch(self) -> None:
        period = min(1.0, self.timeout / 10)
        while True:
            time.sleep(period)
            since = self.since
            if since is not None and time.monotonic() - since > self.timeout:
                comm = self.comm
                what = self.what if self.shape is None else f"{self.what} of an array of shape {self.shape}"
                sys.stderr.write(
                    f"flexnet.distributed: rank {comm.rank} of {comm.size} has waited more than "
                    f"{self.timeout:g} s in {what} (its collective operation number {self.calls}) for the "
                    "other ranks: one of them failed, hangs, or runs different operations; ending every "
                    "rank of the job (MPI_Abort)\n")
                sys.stderr.flush()
                if MPI.Query_thread() >= MPI.THREAD_MULTIPLE:
                    comm.abort(1)  # MPI may be called from this thread while the main one waits in it
                os._exit(1)  # else the launcher ends the other processes when this one exits



class MPICommunicator(Communicator):
    """A :class:`~flexnet.distributed.communicator.Communicator` over an mpi4py communicator.

    Use :func:`flexnet.distributed.initialize` rather than making one: it picks
    ``MPI.COMM_WORLD`` and installs the exception hook.

    Args:
        comm: an ``mpi4py.MPI.Comm`` (intracommunicator).
        timeout: seconds one collective operation may wait before the job is ended;
            ``None`` waits for ever.
        gpu: how CuPy arrays travel (see :func:`~flexnet.distributed.initialize`).
    """

    def __init__(self, comm, timeout: float | None = 600.0, gpu: str = "auto"):
        if gpu not in GPU_TRANSPORTS:
            raise ValueError(f"gpu must be one of {GPU_TRANSPORTS}, got {gpu!r}")
        if timeout is not None and not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
                                        and math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        node = comm.Split_type(MPI.COMM_TYPE_SHARED)
        self.local_rank, self.local_size = node.Get_rank(), node.Get_size()
        node.Free()
        self.gpu = gpu
        self._nccl = None  # made at the first collective operation on CuPy arrays
        self._watchdog = _Watchdog(self, timeout) if timeout is not None and self.size > 1 else None

    def _waiting(self, what: str, x=None):
        if self._watchdog is None:
            return contextlib.nullcontext()
        return self._watchdog.waiting(what, None if x is None else tuple(x.shape))

    # -- where a CuPy array goes ------------------------------------------------------------
    def _device_path(self, x) -> str | None:
        """``"nccl"`` or ``"mpi"`` for a CuPy array that travels on its device, else None."""
        if not array_api_compat.is_cupy_array(x) or self.gpu == "host":
            return None
        if self.gpu == "mpi":
            return "mpi"
        if self._nccl is None:
            if not nccl.available():
                if self.gpu == "nccl":
                    raise ImportError("gpu='nccl' needs CuPy's NCCL bindings (cupy.cuda.nccl), which do not "
                                      "import here; use gpu='mpi' (a CUDA-aware MPI) or gpu='host'")
                self.gpu = "host"
                return None
            self._nccl = nccl.NcclTransport(self, x)
        return "nccl"

    @staticmethod
    def _synchronize(x) -> None:
        """CuPy kernels run asynchronously: MPI must see the finished values."""
        import cupy

        cupy.cuda.get_current_stream().synchronize()

    # -- arrays ------------------------------------------------------------------------------
    def allreduce(self, x, op: str = "sum"):
        _check_op(op)
        if self.size == 1:
            return x
        return self._in_place(x, f"allreduce({op!r})", lambda: self._nccl.allreduce(x, op),
                              lambda buffer: self.comm.Allreduce(MPI.IN_PLACE, buffer, op=_MPI_OPS[op]))

    def broadcast(self, x, root: int = 0):
        _check_root(root, self.size)
        if self.size == 1:
            return x
        return self._in_place(x, f"broadcast from rank {root}", lambda: self._nccl.broadcast(x, root),
                              lambda buffer: self.comm.Bcast(buffer, root=root))

    def _in_place(self, x, what: str, nccl, mpi):
        """One collective operation on ``x`` in place, by the cheapest path its array allows:
        ``nccl()`` for CuPy with NCCL, ``mpi(buffer)`` on device memory (CUDA-aware MPI), on
        a host view of ``x``'s memory, or on a host copy put back into ``x``'s kind."""
        with self._waiting(what, x):
            path = self._device_path(x)
            if path == "nccl":
                return nccl()
            if path == "mpi":
                self._synchronize(x)
                mpi(x)
                return x
            view = host_view(x)
            if view is not None:
                mpi(view)
                return x
            host = np.ascontiguousarray(to_numpy(x))
            mpi(host)
            return _put_back(host, x)

    def allgather(self, x) -> list:
        if self.size == 1:
            return [x]
        with self._waiting("allgather", x):
            host = np.ascontiguousarray(to_numpy(x))
            shapes = self.comm.allgather((tuple(host.shape), host.dtype.str))
            for rank, (shape, dtype) in enumerate(shapes):
                if shape[1:] != host.shape[1:] or dtype != host.dtype.str:
                    raise ValueError(
                        f"allgather needs arrays that differ only in their first axis: rank {self.rank} "
                        f"has shape {host.shape} ({host.dtype}), rank {rank} {shape} ({np.dtype(dtype)})")
            counts = [math.prod(shape) for shape, _ in shapes]
            out = np.empty(sum(counts), dtype=host.dtype)
            self.comm.Allgatherv(host.reshape(-1), [out, counts])
        offsets = np.cumsum([0, *counts])
        return [to_device_like(out[a:b].reshape(shape), x)
                for a, b, (shape, _) in zip(offsets[:-1], offsets[1:], shapes)]

    # -- Python objects --------------------------------------------------------------------
    def broadcast_object(self, obj, root: int = 0):
        _check_root(root, self.size)
        if self.size == 1:
            return obj
        with self._waiting(f"broadcast of a Python object from rank {root}"):
            return self.comm.bcast(obj, root=root)

    def allgather_object(self, obj) -> list:
        if self.size == 1:
            return [obj]
        with self._waiting("allgather of Python objects"):
            return self.comm.allgather(obj)

    def barrier(self) -> None:
        with self._waiting("barrier"):
            self.comm.Barrier()

    def abort(self, code: int = 1) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        # MPICH's launcher tears the job down on MPI_Abort without forwarding what the ranks
        # wrote just before: on a busy machine the error message was lost now and then
        time.sleep(_ABORT_GRACE_S)
        self.comm.Abort(code)
        os._exit(code)  # some MPIs return from MPI_Abort and end the processes a moment later
