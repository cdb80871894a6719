"""Training across processes and machines: data-parallel ``fit`` over MPI (and NCCL on GPUs).

The same script runs on every rank (``mpiexec -n 4 python train.py``)::

    import flexnet as fx

    comm = fx.distributed.initialize()         # one rank when started without mpiexec
    model.compile(optimizer=fx.distributed.DistributedOptimizer(fx.optimizers.Adam(1e-3)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=64, epochs=10)  # every rank trains on its share of x

:func:`initialize` gives the :class:`Communicator` (``rank``, ``size``, ``allreduce``,
``broadcast``, ``allgather``); :class:`DistributedOptimizer` combines the gradient
over the ranks at every step; a model compiled with one trains data-parallel
(see ``docs/distributed.md``). MPI comes from mpi4py (``pip install flexnet[mpi]``),
imported only when the script was started by an MPI launcher.
"""

from flexnet.distributed.communicator import (
    Communicator,
    DataParallelError,
    LocalCommunicator,
    initialize,
    launched_by_mpi,
)
from flexnet.distributed.optimizer import DistributedOptimizer

__all__ = ["Communicator", "DataParallelError", "DistributedOptimizer", "LocalCommunicator", "initialize",
           "launched_by_mpi"]
