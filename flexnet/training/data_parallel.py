"""Data-parallel training: the same script on every rank, each on its own share of the data.

The trainer consults a *distribution* at the few points where training on several
ranks differs from training alone. :class:`Local` is one process (what the trainer
does without distribution); :class:`DataParallel` is chosen when the model was compiled
with a :class:`~flexnet.distributed.DistributedOptimizer` on more than one rank:

* at the start of ``fit`` the ranks compare their model, optimizer, loss, metrics and
  ``fit`` arguments (a rank that differs is an error on every rank), then take rank 0's
  weights and optimizer state;
* each epoch, rank 0's order (its model's generator, as one process would draw it) is
  broadcast and every rank trains on its :class:`~flexnet.training.data_adapter.Shard`;
  at each step the :class:`~flexnet.distributed.DistributedOptimizer` combines the
  gradient with this rank's share of the step's samples (one allreduce);
* at the end of each epoch and of each evaluation one allreduce adds up the loss totals,
  the metrics' sums and (in ``fit``) the changes to the layers' buffers, which are
  averaged (BatchNormalization's moving statistics); so every rank logs the same values;
* ``evaluate`` and ``predict`` work on contiguous blocks of the data (``predict``
  gathers the blocks' outputs on every rank);
* data read a batch at a time (a memory-mapped or HDF5 file, a :class:`flexnet.data.Dataset`)
  is shared out the same way, each rank reading only its own rows or batches
  (:class:`StreamShard`); a generator or DataLoader cannot be shared out by position, so
  each rank passes its own (``shard=False``);
* an exception on one rank ends every rank (the others would wait for it for ever).
"""

from __future__ import annotations

import contextlib
import math
import sys
import traceback

from flexnet.distributed import DataParallelError, DistributedOptimizer
from flexnet.training.data_adapter import Shard
from flexnet.transfer import to_numpy

__all__ = ["LOCAL", "DataParallel", "Local", "StreamShard", "distribution_for"]


class Local:
    """Training in one process: every hook does what a trainer alone does."""

    rank, size, primary = 0, 1, True

    def data(self, data, shard: bool, purpose: str):
        """The part of ``data`` this rank works on (``purpose``: ``"train"``, ``"evaluate"``
        or ``"predict"``)."""
        return data

    def start_fit(self, trainer, train, val, shard: bool, **settings) -> tuple:
        """Before the first epoch of ``fit``: check that the ranks agree and share rank 0's
        state; returns the training and validation data this rank works on."""
        return train, val

    def run_epoch(self, runner, train, batch_size: int, shuffle: bool, cbs) -> tuple[list, int]:
        """Train one epoch; returns the loss totals and the number of samples they cover."""
        order = train.order(runner.model.rng) if shuffle else None
        totals = runner.run_epoch(train, batch_size, order, cbs)
        return totals, train.n  # after the epoch: a stream counts its samples as it reads them

    def combine(self, totals, n: int, loss, metrics) -> tuple[list, int]:
        """The evaluation's loss totals and samples, all ranks together (metrics combined in place)."""
        return totals, n

    def gather(self, outputs: list, inputs, shard: bool) -> list:
        """The outputs of ``predict``'s batches, all ranks together when ``shard``."""
        return outputs

    def stop(self, stop_training: bool) -> bool:
        """Whether training stops: on several ranks, as soon as any rank asks for it."""
        return stop_training

    def verbose(self, verbose: int) -> int:
        """The verbosity of this rank (only rank 0 prints)."""
        return verbose

    def guard(self, what: str):
        """A context around a call in which an exception on one rank ends every rank."""
        return contextlib.nullcontext()


LOCAL = Local()


def distribution_for(optimizer, model) -> Local:
    """:class:`DataParallel` for ``model`` compiled with a
    :class:`~flexnet.distributed.DistributedOptimizer` over more than one rank, else :data:`LOCAL`."""
    if isinstance(optimizer, DistributedOptimizer) and optimizer.communicator.size > 1:
        return DataParallel(optimizer.communicator, model)
    return LOCAL


def _plain(value):
    """A picklable, comparable description of a setting (functions and objects by name)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "get_config"):
        return {"class": type(value).__name__, "config": _plain(value.get_config())}
    return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', type(value).__name__)}"


def _flatten(tree, prefix: str = "") -> dict:
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else k))
        return out
    return {prefix: tree}


def _check_metric(metric) -> None:
    """A metric that keeps sums of its own (it overrides ``reset``) must name them, so that they
    can be added up over the ranks."""
    cls = type(metric)
    owner = next(c for c in cls.__mro__ if "reset" in vars(c))
    sums = next(c for c in cls.__mro__ if "sums" in vars(c) or "_sum_shapes" in vars(c))
    if owner is not sums and issubclass(owner, sums):
        raise DataParallelError(
            f"metric {metric.name!r} ({cls.__name__}) overrides reset() but not _sum_shapes() (or sums() "
            "and set_sums()): on several ranks its running sums are added up at the end of each epoch, "
            "so it must name them")


class DataParallel(Local):
    """Data-parallel training over the ranks of ``comm`` (see the module docstring).

    Args:
        comm: the :class:`~flexnet.distributed.Communicator`, more than one rank.
        model: the model being trained.
    """

    def __init__(self, comm, model):
        self.comm, self.model = comm, model
        self.rank, self.size, self.primary = comm.rank, comm.size, comm.primary

    # -- data ------------------------------------------------------------------------------
    def data(self, data, shard: bool, purpose: str):
        if data.streamed:
            return self._stream(data, shard, purpose)
        if shard:
            self._same_data(data, purpose)
        if purpose != "train":
            return data.block(self.rank, self.size) if shard else data
        if shard:
            counts = [len(range(r, data.n, self.size)) for r in range(self.size)]
        else:
            counts = self.comm.allgather_object(data.n)
        return Shard(data, self.rank, self.size, counts, strided=shard)

    def _stream(self, stream, shard: bool, purpose: str):
        """A stream's part: with ``shard``, this rank's positions of each epoch's order (``fit``) or
        its contiguous block (``evaluate``, ``predict``), read by this rank alone."""
        if shard:
            if not hasattr(stream, "shard"):
                raise DataParallelError(
                    f"{purpose} with shard=True shares one data set out over the ranks by position, which "
                    f"{stream.what} cannot do (each rank would read every batch): pass shard=False and give "
                    "each rank its own part (a generator over its own files, a DataLoader with torch's "
                    "DistributedSampler)")
            mine = (type(stream).__name__, stream.n if stream.n is not None else None,
                    getattr(stream, "length", None))
            every = self.comm.allgather_object(mine)
            if any(theirs != every[0] for theirs in every):
                raise DataParallelError(
                    f"{purpose} with shard=True shares one data set out over the ranks, but the ranks hold "
                    f"different ones ({', '.join(f'rank {r}: {t}' for r, t in enumerate(every))}); pass the "
                    "same data on every rank, or shard=False when each rank passes its own part")
            if purpose != "train":
                return stream.block(self.rank, self.size)
            stream.shard(self.rank, self.size)
        return stream if purpose != "train" else StreamShard(stream, self.comm, strided=shard)

    def _same_data(self, data, purpose: str) -> None:
        """``shard=True`` shares out one data set: every rank must hold the same one (its size,
        shapes, and first and last samples are compared)."""
        arrays = [*data.Xs, *data.Ys] + ([] if data.W is None else [data.W])
        mine = (data.n, [tuple(a.shape) for a in arrays],
                [to_numpy(a[i:i + 1, ...]) for a in arrays for i in (0, data.n - 1)])
        first = self.comm.allgather_object(mine)
        for rank, theirs in enumerate(first):
            same = theirs[:2] == first[0][:2] and all(
                a.dtype == b.dtype and (a == b).all() for a, b in zip(theirs[2], first[0][2]))
            if not same:
                raise DataParallelError(
                    f"{purpose} with shard=True shares one data set out over the ranks, but rank {rank} "
                    f"holds {theirs[0]} samples of shapes {theirs[1]} and rank 0 {first[0][0]} of shapes "
                    f"{first[0][1]}{'' if theirs[:2] != first[0][:2] else ' with other values'}; pass "
                    "the same data on every rank, or shard=False when each rank passes its own part")

    # -- start of fit ------------------------------------------------------------------------
    def start_fit(self, trainer, train, val, shard: bool, **settings) -> tuple:
        train = self.data(train, shard, "train")
        val = None if val is None else self.data(val, shard, "evaluate")
        loss, metrics, step = trainer.setup()
        model, optimizer = trainer.model, step.optimizer
        if not loss.mean_reduced:
            raise DataParallelError(
                "a data-parallel fit needs losses with reduction='sum_over_batch_size' (the default): "
                "the ranks' gradients are combined as means over the step's samples")
        for metric in metrics.metrics:
            _check_metric(metric)
        mine = _plain({
            "model": {"class": type(model).__name__, "backend": model.backend.name, "dtype": model.dtype,
                      "weight_shapes": [list(w.shape) for layer in step.layers for w in layer.weights]},
            "optimizer": {"class": type(optimizer).__name__, "config": optimizer.get_config()},
            "loss": [{"loss": h.loss, "weight": h.weight} for h in loss.heads],
            "metrics": list(metrics.names),
            "fit": {**settings, "shard": shard, "validation": val is not None},
        })
        self._agree(_flatten(mine), "fit")
        # rank 0's weights and optimizer state, on every rank
        weights = self.comm.broadcast_object(model.get_weights() if self.primary else None)
        state = self.comm.broadcast_object(optimizer.get_state() if self.primary else None)
        if not self.primary:
            model.set_weights(weights)
            step.parameters.sync()
            optimizer.set_state(state, step.params())
        return train, val

    def _agree(self, mine: dict, what: str) -> None:
        every = self.comm.allgather_object(mine)
        for rank, theirs in enumerate(every[1:], start=1):
            keys = sorted(set(theirs) | set(every[0]))
            differ = [k for k in keys if theirs.get(k, "<missing>") != every[0].get(k, "<missing>")]
            if differ:
                text = "; ".join(f"{k}: {every[0].get(k, '<missing>')!r} on rank 0, "
                                 f"{theirs.get(k, '<missing>')!r} on rank {rank}" for k in differ[:6])
                more = f" (and {len(differ) - 6} more)" if len(differ) > 6 else ""
                raise DataParallelError(
                    f"the ranks of a data-parallel {what} must run the same model with the same settings, "
                    f"but rank {rank} differs from rank 0: {text}{more}")

    # -- epochs ------------------------------------------------------------------------------
    def _order(self, train: Shard, shuffle: bool):
        """The epoch's order: rank 0's permutation of all the samples, broadcast (``strided``),
        or this rank's own permutation of its samples (None: as stored)."""
        model = self.model
        backend = model.backend
        if train.streamed:  # rank 0's order of the rows or batches (strided), or this rank's own
            if not shuffle:
                return None
            if not train.strided:
                return train.data.order(model.rng)
            return self.comm.broadcast_object(train.data.order(model.rng) if self.primary else None)
        if not train.strided:
            return model.rng.permutation(train.data.n) if shuffle else None
        index = backend.dtype(backend.index_dtype)
        if not shuffle:
            return backend.xp.arange(train.n, dtype=index, device=backend.device)
        if self.primary:
            order = backend.xp.astype(model.rng.permutation(train.n), index)
        else:
            order = backend.xp.zeros((train.n,), dtype=index, device=backend.device)
        return self.comm.broadcast(order)

    def run_epoch(self, runner, train: Shard, batch_size: int, shuffle: bool, cbs) -> tuple[list, int]:
        step, loss = runner.step, runner.loss
        optimizer, xp = step.optimizer, self.model.backend.xp
        buffers = _Buffers(step.layers)
        totals, n = None, 0
        try:
            for index, (Xs, Ys, W, share) in enumerate(train.steps(batch_size, self._order(train, shuffle))):
                cbs.on_train_batch_begin(index)
                optimizer.share = share
                if Xs is None:  # this rank has no sample left: its part of the step is zero
                    step.update([xp.zeros_like(p) for p in step.params()])
                else:
                    L, Ls = step(Xs, Ys, W)
                    totals = loss.accumulate(totals, L, Ls, Xs[0].shape[0])
                    n += Xs[0].shape[0]
                cbs.on_train_batch_end(index)
        finally:
            optimizer.share = None
        return self._combine(totals, n, loss, runner.metrics, buffers)


    def combine(self, totals, n: int, loss, metrics) -> tuple[list, int]:
        return self._combine(totals, n, loss, metrics, None)

    def _combine(self, totals, n: int, loss, metrics, buffers) -> tuple[list, int]:
        """One allreduce of the loss totals, the metrics' sums and the buffers' changes, and one
        allgather of the counts; every rank then holds the sums of all ranks."""
        backend = self.model.backend
        xp = backend.xp
        like = xp.zeros((), dtype=backend.dtype(self.model.dtype), device=backend.device)
        if totals is None:
            totals = [like] * (1 + len(loss.heads) * loss.multi)
        mine = [n, *([m.sum_shapes(), m.sum_counts()] for m in metrics.metrics)]
        every = self.comm.allgather_object(mine)  # shapes first: a rank may not have seen a sample
        groups = [list(totals)]
        for k, metric in enumerate(metrics.metrics, start=1):
            shapes = [next((c[k][0][j] for c in every if c[k][0][j] is not None), (0,))
                      for j in range(len(mine[k][0]))]
            groups.append(metric.sums(like, shapes)[0])
        groups.append([] if buffers is None else buffers.changes())
        pieces = [p for group in groups for p in group]
        vector = self.comm.allreduce(xp.concat([xp.reshape(xp.astype(p, like.dtype), (-1,)) for p in pieces]))
        summed = [sum(c[0] for c in every)]
        summed += [[sum(column) for column in zip(*(c[k][1] for c in every))] for k in range(1, len(mine))]
        values, offset = [], 0
        for group in groups:
            values.append([])
            for p in group:
                size = math.prod(p.shape)
                values[-1].append(xp.reshape(vector[offset:offset + size], tuple(p.shape)))
                offset += size
        for metric, arrays, ints in zip(metrics.metrics, values[1:-1], summed[1:]):
            metric.set_sums(arrays, ints)
        if buffers is not None:
            buffers.average(values[-1], self.size)
        return values[0], summed[0]

    # -- the rest of a call ------------------------------------------------------------------
    def gather(self, outputs: list, inputs, shard: bool) -> list:
        """Every rank's outputs, as one batch per rank in rank order (a rank with an empty
        block contributes empty outputs)."""
        if not shard:
            return outputs
        xp = self.model.backend.xp
        if outputs:
            local = [xp.concat([batch[k] for batch in outputs], axis=0) for k in range(len(outputs[0]))]
        else:
            local = list(self.model.graph.forward(inputs.Xs, False))
        gathered = [self.comm.allgather(P) for P in local]
        return [[pieces[r] for pieces in gathered] for r in range(self.size)]

    def stop(self, stop_training: bool) -> bool:
        return any(self.comm.allgather_object(bool(stop_training)))

    def verbose(self, verbose: int) -> int:
        return verbose if self.primary else 0

    @contextlib.contextmanager
    def guard(self, what: str):
        try:
            yield
        except DataParallelError:
            raise  # raised on every rank at once: nobody waits
        except BaseException:
            traceback.print_exc()
            sys.stderr.write(
                f"flexnet.distributed: rank {self.rank} of {self.size} failed in {what}; the other ranks "
                f"wait for it in collective operations, so every rank of the job ends now (MPI_Abort)\n")
            sys.stderr.flush()
            self.comm.abort(1)
            raise


class StreamShard:
    """One rank's part of a stream (data read a batch at a time) in a data-parallel ``fit``.

    The ranks' streams may make batches of different sizes and, read by their own ranks, not
    know how many they will make: at each step the ranks exchange their batch sizes (one
    small allgather), which gives each rank its share of the step's samples; a rank whose
    stream has run out takes empty steps until every rank's has, so that all run the same
    steps. With ``strided`` (``fit(shard=True)``) the stream reads positions
    ``rank, rank + size, ...`` of rank 0's order, so that ``size`` ranks at batch size ``b``
    train as one process at ``size·b`` on a file's rows.

    Args:
        data: this rank's stream (already sharded when ``strided``).
        comm: the ranks' communicator.
        strided: whether ``data`` reads this rank's positions of one data set shared out.
    """

    streamed = True

    def __init__(self, data, comm, strided: bool):
        self.data, self.comm, self.strided = data, comm, strided
        self.rank, self.size = comm.rank, comm.size
        self._steps = {}

    @property
    def n(self) -> int | None:
        """The samples of an epoch on this rank (after its first epoch)."""
        return self.data.n

    def num_batches(self, batch_size: int) -> int | None:
        """Steps per epoch, the most any rank's stream makes (a collective: every rank asks at the
        same point of ``fit``); None when a rank's is not known before it is read."""
        if batch_size not in self._steps:
            counts = self.comm.allgather_object(self.data.num_batches(batch_size))
            self._steps[batch_size] = None if None in counts else max(counts)
        return self._steps[batch_size]

    def steps(self, batch_size: int, order):
        """Yield ``(Xs, Ys, W, share)`` per step, as :meth:`Shard.steps` does (``order``: the
        epoch's order of the stream's rows or batches, or None)."""
        batches = iter(self.data.batches(batch_size, order))
        try:
            while True:
                batch = next(batches, None)
                b = 0 if batch is None else batch[0][0].shape[0]
                total = sum(self.comm.allgather_object(b))
                if total == 0:
                    return
                yield (None, None, None, 0.0) if batch is None else (*batch, b / total)
        finally:
            self.data.close()


class _Buffers:
    """The layers' floating-point buffers at the start of an epoch, to average what the epoch
    changed in them over the ranks: ``b ← b_0 + Σ_r (b_r - b_0) / size``. A buffer no rank
    changed keeps its exact value (its changes are all zero)."""

    def __init__(self, layers):
        self.entries = []
        for layer in layers:
            xp = layer.xp
            for key, b in layer.buffers.items():
                if xp.isdtype(b.dtype, "real floating"):
                    self.entries.append((layer, key, xp.asarray(b, copy=True)))

    def changes(self) -> list:
        return [layer.buffers[key] - start for layer, key, start in self.entries]

    def average(self, summed: list, size: int) -> None:
        for (layer, key, start), total in zip(self.entries, summed):
            layer.buffers[key] = start + layer.xp.astype(total, start.dtype) * (1.0 / size)
