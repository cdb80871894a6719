"""NCCL for CuPy arrays: allreduce and broadcast between GPUs, set up over MPI.

NVIDIA's collective library moves data between GPUs over NVLink, PCIe or the
network without a copy through host memory, and runs on the CUDA stream, in order
with the kernels around it (nothing waits on the host). Rank 0 draws NCCL's unique
id and MPI broadcasts it; then every rank joins the NCCL communicator on the GPU
of its first CuPy array. One NCCL rank per GPU: give each process its own device
(``fx.set_backend("cupy", device=comm.local_rank)``).

Written against ``cupy.cuda.nccl`` (CuPy 13-14); run where a GPU is present.
"""

from __future__ import annotations

__all__ = ["NcclTransport", "available"]


def available() -> bool:
    """Whether CuPy and its NCCL bindings can be imported."""
    try:
        from cupy.cuda import nccl  # noqa: F401
    except ImportError:
        return False
    return True


class NcclTransport:
    """Allreduce and broadcast of CuPy arrays among the ranks of ``comm`` through NCCL.

    Args:
        comm: the :class:`~flexnet.distributed.mpi.MPICommunicator` (its ranks, and MPI to
            broadcast NCCL's unique id).
        like: a CuPy array on this rank's GPU (the NCCL communicator lives there).

    Raises:
        ImportError: CuPy has no NCCL.
    """

    def __init__(self, comm, like):
        import cupy
        from cupy.cuda import nccl

        self._cupy, self._nccl = cupy, nccl
        uid = nccl.get_unique_id() if comm.rank == 0 else None
        uid = comm.comm.bcast(uid, root=0)
        self.device = like.device
        with self.device:
            self.comm = nccl.NcclCommunicator(comm.size, uid, comm.rank)
        self._ops = {"sum": nccl.NCCL_SUM, "max": nccl.NCCL_MAX, "min": nccl.NCCL_MIN}
        self._types = {"float16": nccl.NCCL_FLOAT16, "float32": nccl.NCCL_FLOAT32,
                       "float64": nccl.NCCL_FLOAT64, "int32": nccl.NCCL_INT32, "int64": nccl.NCCL_INT64,
                       "uint8": nccl.NCCL_UINT8, "int8": nccl.NCCL_INT8}

    def _buffer(self, x):
        """``(x contiguous, NCCL dtype)``; ``x`` must be on this rank's GPU."""
        if x.device != self.device:
            raise ValueError(f"NCCL runs on GPU {self.device.id} for this rank, got an array on GPU "
                             f"{x.device.id}: keep every array of a rank on one GPU")
        name = str(x.dtype)
        if name not in self._types:
            raise TypeError(f"NCCL cannot reduce arrays of dtype {name}; it takes {sorted(self._types)}")
        if not x.flags.c_contiguous:
            raise ValueError("NCCL needs contiguous arrays")
        return x, self._types[name]

    def allreduce(self, x, op: str):
        """``x`` reduced in place over every rank, on the current CUDA stream."""
        x, kind = self._buffer(x)
        stream = self._cupy.cuda.get_current_stream()
        with self.device:
            self.comm.allReduce(x.data.ptr, x.data.ptr, x.size, kind, self._ops[op], stream.ptr)
        return x

    def broadcast(self, x, root: int):
        """``x`` takes rank ``root``'s values, in place, on the current CUDA stream."""
        x, kind = self._buffer(x)
        stream = self._cupy.cuda.get_current_stream()
        with self.device:
            self.comm.bcast(x.data.ptr, x.size, kind, root, stream.ptr)
        return x
