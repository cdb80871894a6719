"""The processes of one job and the collective operations data-parallel training needs.

:func:`initialize` returns the job's :class:`Communicator`: an
:class:`~flexnet.distributed.mpi.MPICommunicator` over ``MPI.COMM_WORLD`` when the
script was started by an MPI launcher (``mpiexec``, ``mpirun``, ``srun``), and a
:class:`LocalCommunicator` of one rank otherwise, so the same script runs anywhere.
Arrays go in and come out as arrays of their own library (NumPy, CuPy, PyTorch,
JAX, array-api-strict); Python objects are pickled.
"""

from __future__ import annotations

import os
import sys

__all__ = ["Communicator", "DataParallelError", "LocalCommunicator", "OPS", "initialize", "launched_by_mpi"]

#: The reductions :meth:`Communicator.allreduce` takes.
OPS = ("sum", "max", "min")

#: Variables that MPI launchers set in every process they start: MPICH and Intel MPI
#: (``PMI_*``), Open MPI, PMIx, MVAPICH.
_LAUNCHER_VARIABLES = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE")


class DataParallelError(ValueError):
    """The ranks of a data-parallel call disagree (their model, settings or data). Raised on
    every rank at once, so no rank is left waiting for another."""


def _check_op(op: str) -> str:
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    return op


def _check_root(root, size: int) -> int:
    if isinstance(root, bool) or not isinstance(root, int) or not 0 <= root < size:
        raise ValueError(f"root must be a rank in [0, {size}), got {root!r}")
    return root


class Communicator:
    """A group of ``size`` processes, each knowing its ``rank``; every collective operation
    is called by every rank, in the same order.

    Attributes:
        rank: this process's index, ``0 <= rank < size``; rank 0 is the *primary* one
            (it prints progress and writes files in a data-parallel ``fit``).
        size: the number of processes.
        local_rank: this process's index among those on the same machine (to choose
            its GPU: ``fx.set_backend("cupy", device=comm.local_rank)``).
        local_size: the number of processes on this machine.
    """

    rank = 0
    size = 1
    local_rank = 0
    local_size = 1

    @property
    def primary(self) -> bool:
        """Whether this is rank 0."""
        return self.rank == 0

    def allreduce(self, x, op: str = "sum"):
        """Combine ``x`` elementwise over every rank (``"sum"``, ``"max"`` or ``"min"``).

        Args:
            x: an array (any shape) of the same shape and dtype on every rank.
            op: the reduction.

        Returns:
            the result: ``x`` itself, reduced in place, where arrays can change
            (NumPy, CuPy, PyTorch, array-api-strict); a new array on JAX.
        """
        _check_op(op)
        return x

    def broadcast(self, x, root: int = 0):
        """Every rank's ``x`` takes rank ``root``'s values (in place where arrays can change,
        as :meth:`allreduce`; returns the result). ``x`` has the same shape and dtype everywhere."""
        _check_root(root, self.size)
        return x

    def allgather(self, x) -> list:
        """Every rank's array ``x``, one per rank in rank order, on every rank; the first axis
        may differ between ranks, the others and the dtype may not."""
        return [x]

    def broadcast_object(self, obj, root: int = 0):
        """Rank ``root``'s picklable ``obj`` on every rank."""
        _check_root(root, self.size)
        return obj

    def allgather_object(self, obj) -> list:
        """Every rank's picklable ``obj``, one per rank in rank order."""
        return [obj]

    def barrier(self) -> None:
        """Wait until every rank has called it."""

    def abort(self, code: int = 1) -> None:
        """End every process of the job with exit status ``code``."""
        raise SystemExit(code)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rank={self.rank}, size={self.size})"


class LocalCommunicator(Communicator):
    """One process alone (rank 0 of 1): every collective operation returns its input.

    What :func:`initialize` gives outside an MPI launcher, so that a data-parallel
    script also runs as a plain ``python script.py``.
    """


_WORLD: Communicator | None = None


def launched_by_mpi(environ=None) -> bool:
    """Whether this process was started by an MPI launcher (it set one of the variables
    MPICH, Intel MPI, Open MPI, PMIx or MVAPICH give every process)."""
    environ = os.environ if environ is None else environ
    return any(name in environ for name in _LAUNCHER_VARIABLES)


def initialize(timeout: float | None = 600.0, gpu: str = "auto") -> Communicator:
    """The job's communicator: every process of an MPI job, or this process alone.

    Under an MPI launcher (``mpiexec -n 4 python train.py``, ``srun``) this is an
    :class:`~flexnet.distributed.mpi.MPICommunicator` over ``MPI.COMM_WORLD`` (through
    mpi4py: ``pip install flexnet[mpi]``); otherwise a :class:`LocalCommunicator` of one
    rank, without importing MPI. The first call decides; later calls return the same
    communicator (their arguments must then be the defaults or the first call's).

    With more than one rank, an uncaught exception on any rank ends the whole job
    (``MPI_Abort``, as ``python -m mpi4py`` does) instead of leaving the other ranks
    waiting for it.

    Args:
        timeout: seconds a rank may wait inside one collective operation before it
            decides that another rank failed or hangs, prints so and ends the job;
            ``None`` waits for ever.
        gpu: how CuPy arrays travel: ``"nccl"`` (NVIDIA's collectives, through
            ``cupy.cuda.nccl``), ``"mpi"`` (device pointers given to a CUDA-aware MPI),
            ``"host"`` (copied through host memory), or ``"auto"``: NCCL where CuPy has it,
            else host copies (a CUDA-aware MPI is never assumed: one that is not would crash).

    Returns:
        the :class:`Communicator`.

    Raises:
        ImportError: launched by MPI but mpi4py is missing.

    Example:
        >>> import flexnet as fx
        >>> comm = fx.distributed.initialize()
        >>> comm.rank, comm.size          # python alone: one rank
        (0, 1)
    """
    global _WORLD
    if _WORLD is not None:
        requested = (timeout, gpu)
        if requested not in ((600.0, "auto"), getattr(_WORLD, "_options", requested)):
            raise ValueError(f"initialize() was already called with (timeout, gpu)="
                             f"{getattr(_WORLD, '_options', None)}; it cannot change to {requested}")
        return _WORLD
    mpi_imported = "mpi4py.MPI" in sys.modules
    if launched_by_mpi() or mpi_imported:
        try:
            from mpi4py import MPI
        except ImportError as exc:
            raise ImportError(
                "this process was started by an MPI launcher but mpi4py is missing: "
                "pip install 'flexnet[mpi]' (mpi4py and the MPICH wheel), or mpi4py built against "
                "your cluster's MPI"
            ) from exc
        from flexnet.distributed.mpi import MPICommunicator

        _WORLD = MPICommunicator(MPI.COMM_WORLD, timeout=timeout, gpu=gpu)
        if _WORLD.size > 1:
            _abort_on_uncaught_exception(_WORLD)
    else:
        _WORLD = LocalCommunicator()
    _WORLD._options = (timeout, gpu)
    return _WORLD


def _abort_on_uncaught_exception(comm: Communicator) -> None:
    """Chain ``sys.excepthook``: print the traceback as usual, then end every rank."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        sys.stderr.write(f"flexnet.distributed: rank {comm.rank} of {comm.size} ended with an uncaught "
                         f"{kind.__name__}; ending every rank of the job (MPI_Abort)\n")
        sys.stderr.flush()
        comm.abort(1)

    sys.excepthook = hook
