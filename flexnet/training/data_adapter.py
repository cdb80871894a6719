"""Everything about incoming data: conversion, checks, weights, splits and batches.

:class:`DataAdapter` turns what a user passes to ``fit``/``evaluate``/``predict``
(NumPy arrays, lists, arrays of the model's backend, any other library's arrays
through DLPack; a list or dict per input and output) into checked arrays on the
model's device, once per call, with the
clear errors flexnet promises: wrong feature counts, mismatched lengths, labels
outside the classes, NaN or infinity, empty data. :class:`ArrayData` holds the
result and cuts it into mini-batches. Data read a batch at a time (memory-mapped and
HDF5 arrays, generators, DataLoaders, :class:`flexnet.data.Dataset`) goes to
:mod:`flexnet.training.streams`, which runs the same checks on every batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import array_api_compat
import array_api_compat.numpy as host_xp
import numpy as np

from flexnet import data
from flexnet.backend import Backend, dtype_name
from flexnet.training import streams
from flexnet.training.source import Source
from flexnet.transfer import as_array, is_array, is_device_array, like, namespace_of

__all__ = ["ArrayData", "DataAdapter", "DEFAULT_BATCH_SIZE", "Shard"]

DEFAULT_BATCH_SIZE = 32


@dataclass
class ArrayData(Source):
    """Inputs, targets and sample weights on the model's device, checked.

    Attributes:
        Xs: one array per input, ``n`` samples each.
        Ys: one array per output (empty for prediction).
        W: per-sample weights ``(n,)`` or None.
        template: an input as the caller gave it when results go back in the caller's
            kind of array (a NumPy array for host data, another library's array),
            None when the inputs were the model's own arrays (see :func:`flexnet.transfer.like`).
    """

    Xs: list
    Ys: list
    W: object = None
    template: object = None

    @property
    def n(self) -> int:
        return self.Xs[0].shape[0]

    def num_batches(self, batch_size: int) -> int:
        return data.num_batches(self.n, batch_size)

    def order(self, rng):
        """A permutation of the samples on the device."""
        return rng.permutation(self.n)

    def batches(self, batch_size: int, order=None):
        """Yield ``(Xs, Ys, W)`` per mini-batch; ``order`` is a device permutation or None."""
        k, m = len(self.Xs), len(self.Ys)
        for batch in data.batches(*self.Xs, *self.Ys, self.W, batch_size=batch_size, order=order):
            yield list(batch[:k]), list(batch[k:k + m]), batch[-1]

    def rows(self, start: int, stop: int) -> tuple[list, list, object]:
        """``(Xs, Ys, W)`` of rows ``[start, stop)`` (views)."""
        W = None if self.W is None else self.W[start:stop]
        return [X[start:stop, ...] for X in self.Xs], [Y[start:stop, ...] for Y in self.Ys], W

    def block(self, rank: int, size: int) -> ArrayData:
        """Rank ``rank``'s contiguous block of rows when the rows are split into ``size``
        blocks whose lengths differ by at most one (views; possibly empty)."""
        return ArrayData(*self.rows(rank * self.n // size, (rank + 1) * self.n // size), self.template)

    def take(self, index) -> tuple[list, list, object]:
        """``(Xs, Ys, W)`` of the rows ``index`` (an integer array on the device)."""
        xp = array_api_compat.array_namespace(index)
        rows = [xp.take(A, index, axis=0) for A in (*self.Xs, *self.Ys)]
        k = len(self.Xs)
        return rows[:k], rows[k:], None if self.W is None else xp.take(self.W, index, axis=0)


@dataclass
class Shard:
    """One rank's share of the training data of a data-parallel ``fit`` over ``size`` ranks.

    With ``strided`` (``fit(shard=True)``: every rank holds all the data) rank ``r`` trains
    on positions ``r, r + size, r + 2·size, ...`` of each epoch's order, so that at batch size
    ``b`` step ``j`` of the ``size`` ranks together covers positions ``[j·size·b, (j+1)·size·b)``
    of the order: the batch one process takes at batch size ``size·b``. Otherwise
    (``shard=False``) each rank trains on the data it holds, in its own order. A rank whose
    samples run out before the others' takes empty steps, so that every rank runs the
    same number of steps.

    Attributes:
        data: the data this rank holds.
        rank, size: this rank and the number of ranks.
        counts: how many samples each rank trains on per epoch.
        strided: whether ``data`` is the whole data set, shared out by position.
    """

    data: ArrayData
    rank: int
    size: int
    counts: list
    strided: bool

    streamed = False  # arrays in memory (a stream's share is a data_parallel.StreamShard)

    @property
    def n(self) -> int:
        """The samples of an epoch, all ranks together."""
        return sum(self.counts)

    def num_batches(self, batch_size: int) -> int:
        """Steps per epoch (the same on every rank)."""
        return max(data.num_batches(c, batch_size) for c in self.counts)

    def steps(self, batch_size: int, order):
        """Yield ``(Xs, Ys, W, share)`` for each step of an epoch: this rank's batch and its
        fraction of the step's samples, all ranks together; ``(None, None, None, 0.0)`` for a
        step where this rank has no sample left.

        Args:
            batch_size: samples per rank and step.
            order: the epoch's order, an integer array on the device: of all the samples when
                ``strided``, else of this rank's own samples (None: as stored).
        """
        mine = self.counts[self.rank]
        if self.strided:
            order = order[self.rank::self.size]
        for j in range(self.num_batches(batch_size)):
            start = j * batch_size
            stop = min(start + batch_size, mine)
            total = sum(max(0, min(batch_size, c - start)) for c in self.counts)
            if stop <= start:
                yield None, None, None, 0.0
                continue
            rows = self.data.rows(start, stop) if order is None else self.data.take(order[start:stop])
            yield (*rows, (stop - start) / total)


def _reshape_hint(shape: tuple, input_shape: tuple | None) -> str:
    """How to give a 1-D array the axes a model with inputs of ``input_shape`` expects."""
    features = input_shape[1:] if input_shape is not None else None
    if features == (1,):
        return "for a single feature use x.reshape(-1, 1)"
    if features is not None and len(features) == 1 and shape == features:
        return (f"it looks like one sample of {features[0]} features: use x.reshape(1, -1) "
                "(or x[None, :])")
    if features is not None:
        return f"the model expects shape (n, {', '.join(map(str, features))})"
    return "for one sample use x.reshape(1, -1); for a single feature, x.reshape(-1, 1)"


class DataAdapter:
    """Converts and checks data for one model.

    Args:
        model: the model (its backend, dtype, input and output names and shapes; it
            is built from the first inputs if it allows that).
        backend: where the arrays go and are checked; the model's by default. A stream's
            batches on the host are checked there, before they are copied (:meth:`on_host`).
    """

    def __init__(self, model, backend: Backend | None = None):
        self.model = model
        self._backend = backend
        self._host = None

    @property
    def backend(self) -> Backend:
        """Where the arrays go and are checked."""
        return self._backend or self.model.backend

    def on_host(self) -> DataAdapter:
        """The same conversion and checks on NumPy arrays on the host (one batch before it is
        copied to the device: the checks then read nothing back from the device)."""
        if self._host is None:
            self._host = DataAdapter(self.model, Backend.resolve("numpy"))
        return self._host

    # -- conversion -----------------------------------------------------------------
    def to_backend(self, a, what: str, dtype: str | None):
        """``(array on the model's backend, template)``; never modifies ``a`` (see
        :meth:`flexnet.Backend.adopt`): ``template`` says how results for this data go back
        (see :class:`ArrayData`). A value too large for ``dtype`` becomes infinite without a
        warning: :meth:`check_finite` then says that it overflows."""
        with np.errstate(over="ignore"):
            return self.backend.adopt(a, what, dtype)

    def check_finite(self, X, what: str, source=None) -> None:
        """Raise ValueError if a float array holds NaN or infinity.

        ``source`` is the data ``X`` was cast from: when it is finite, the message says
        that its values overflow ``X``'s dtype.
        """
        xp = self.backend.xp
        if not xp.isdtype(X.dtype, "real floating"):
            return
        # NaN and ±inf survive a sum, so a finite sum proves every entry finite in one
        # read-only pass; only an infinite sum (or an overflow) needs the exact check,
        # whose boolean temporary is as large as the data.
        if bool(xp.isfinite(xp.sum(X))) or bool(xp.all(xp.isfinite(X))):
            return
        if source is not None and source is not X:
            source_xp, source = namespace_of(source)
            if bool(source_xp.all(source_xp.isfinite(source))):
                big, name = float(source_xp.max(source_xp.abs(source))), dtype_name(X.dtype)
                raise ValueError(f"{what} holds values up to {big:.4g}, beyond the range of {name} "
                                 f"(±{float(xp.finfo(X.dtype).max):.4g}): scale the data, or build the "
                                 "model with dtype='float64'")
        raise ValueError(f"{what} contains NaN or infinity")

    @staticmethod
    def per_io(value, names: list[str], what: str) -> list:
        """Split ``value`` (an array, a list/tuple or a dict keyed by name) into one per name."""
        if isinstance(value, dict):
            missing = [n for n in names if n not in value]
            unknown = sorted(set(value) - set(names))
            if missing or unknown:
                raise ValueError(f"{what} is a dict with keys {sorted(value)} but the model's "
                                 f"{what} names are {names}")
            return [value[n] for n in names]
        if len(names) == 1:
            if (isinstance(value, (list, tuple)) and len(value) == 1 and is_array(value[0])
                    and value[0].ndim > 0):  # [np.float32(1.0)] is one sample, not a list of arrays
                return [value[0]]
            return [value]
        if not isinstance(value, (list, tuple)) or len(value) != len(names):
            got = f"a list of {len(value)}" if isinstance(value, (list, tuple)) else type(value).__name__
            raise ValueError(f"the model has {len(names)} {what}s {names}; give a list or a dict of "
                             f"{len(names)} arrays, got {got}")
        return list(value)

    # -- inputs, targets, weights ----------------------------------------------------------
    def inputs(self, x, what: str = "x"):
        """Move inputs to the backend (building the model if needed) and check their shapes.

        Returns ``(list of arrays, template)``: the first input as given when every input
        came in the same kind of array other than the model's (see :class:`ArrayData`).
        """
        model = self.model
        model._bind()
        if x is None:
            raise ValueError(f"{what} is required, got None")
        names = model.input_names if model.built else ["input"]  # unbuilt: a Sequential, one input
        parts = self.per_io(x, names, "input")
        Xs, templates, sources = [], [], []
        for part in parts:
            label = what if len(parts) == 1 else f"{what}[{names[len(Xs)]!r}]"
            sources.append(as_array(part, label))
            X, template = self.to_backend(sources[-1], label, model.dtype)
            if X.ndim < 2:
                shape = model.input_shapes[len(Xs)] if model.built else None
                raise ValueError(f"{label} must have a batch axis and a feature axis, got shape "
                                 f"{tuple(X.shape)}; {_reshape_hint(tuple(X.shape), shape)}")
            if X.shape[0] == 0:
                raise ValueError(f"{label} is empty (0 samples)")
            Xs.append(X)
            templates.append(template)
        if not model.built:
            model._lazy_build(Xs[0])
        for k, (X, shape) in enumerate(zip(Xs, model.input_shapes)):
            label = what if len(Xs) == 1 else f"{what}[{model.input_names[k]!r}]"
            if tuple(X.shape[1:]) != tuple(shape[1:]):
                raise ValueError(f"model {model.name!r} expects {label} of shape (n, "
                                 f"{', '.join(map(str, shape[1:]))}), got shape {tuple(X.shape)}")
            if X.shape[0] != Xs[0].shape[0]:
                raise ValueError(f"all inputs need the same number of samples, got "
                                 f"{[int(a.shape[0]) for a in Xs]}")
            self.check_finite(X, label, sources[k])
        same_kind = len({type(t) for t in templates}) == 1
        return Xs, templates[0] if same_kind else None

    def targets(self, y, n: int, heads, what: str = "y") -> list:
        """One target array per output, checked against its loss and shape, on the backend."""
        if y is None:
            raise ValueError(f"{what} is required for training and evaluation, got None")
        model = self.model
        parts = self.per_io(y, model.output_names, "output")
        out = []
        for k, (part, head) in enumerate(zip(parts, heads)):
            label = what if len(parts) == 1 else f"{what}[{head.name!r}]"
            out.append(self._target(as_array(part, label), n, head.loss, model.output_shapes[k], label))
        return out

    def _target(self, y, n: int, loss, output_shape, what: str):
        if y is None:
            raise ValueError(f"{what} is required for training and evaluation, got None")
        b, dtype = self.backend, self.model.dtype

        def prepare(xp, Y):
            try:
                return loss.prepare_targets(xp, Y, output_shape, dtype)
            except ValueError as exc:  # the loss's message, said about this argument
                raise ValueError(f"{what}: {exc}") from None

        if is_device_array(y):
            Y, _ = self.to_backend(y, what, None)
            Y = prepare(b.xp, Y)
        else:
            host = np.asarray(y)
            if host.dtype.kind not in "biuf":
                raise TypeError(f"{what} must hold numbers, got dtype {host.dtype}")
            with np.errstate(over="ignore"):  # a value too large for the dtype: check_finite says so
                host = prepare(host_xp, host)
            integral = np.issubdtype(host.dtype, np.integer)
            Y = b.from_numpy(host, b.index_dtype if integral else None)
        if Y.shape[0] != n:
            raise ValueError(f"x has {n} samples but {what} has {Y.shape[0]}; they must match")
        self.check_finite(Y, what, y)
        return Y

    def sample_weight(self, sample_weight, n: int, what: str = "sample_weight"):
        """Per-sample weights as a ``(n,)`` array of the model's dtype, or None."""
        if sample_weight is None:
            return None
        W, _ = self.to_backend(as_array(sample_weight, what), what, self.model.dtype)
        if tuple(W.shape) != (n,):
            raise ValueError(f"{what} must have shape ({n},), one weight per sample, got "
                             f"{tuple(W.shape)}")
        xp = self.backend.xp
        if not bool(xp.all(xp.isfinite(W))) or bool(xp.any(W < 0)):
            raise ValueError(f"{what} must be finite and non-negative")
        return W

    def weights(self, sample_weight, class_weight, Ys, heads, n: int):
        """``sample_weight`` times the weight of each sample's class (first output)."""
        W = self.sample_weight(sample_weight, n)
        if class_weight is None:
            return W
        classes = max(2, math.prod(self.model.output_shapes[0][1:]))  # one unit: classes 0 and 1
        C = heads[0].loss.class_sample_weights(self.backend.xp, Ys[0], class_weight,
                                               self.model.dtype, classes)
        return C if W is None else W * C

    # -- whole calls --------------------------------------------------------------------------
    def arrays(self, x, y, heads, sample_weight=None, class_weight=None, suffix: str = "") -> ArrayData:
        """Inputs, targets and weights of a ``fit``/``evaluate`` call, on the device."""
        Xs, _ = self.inputs(x, "x" + suffix)
        heads = heads()  # resolved once the model is built (a Sequential may build from x)
        n = Xs[0].shape[0]
        Ys = self.targets(y, n, heads, "y" + suffix)
        if class_weight is None:
            W = self.sample_weight(sample_weight, n, "sample_weight" + suffix)
        else:
            W = self.weights(sample_weight, class_weight, Ys, heads, n)
        return ArrayData(Xs, Ys, W)

    def training(self, x, y, heads, sample_weight, class_weight, validation_split, validation_data,
                 steps_per_epoch=None, validation_steps=None, batch_size=None, epochs: int = 1):
        """``(train, validation or None)`` for ``fit``: Keras's ``validation_split`` takes the
        last fraction of the samples, before any shuffling. Data read a batch at a time
        (memory-mapped or HDF5 arrays, generators, DataLoaders, Datasets) is a stream
        (:func:`flexnet.training.streams.training`; ``batch_size`` as given, None unless the
        user chose one; ``epochs``: how many will read the data)."""
        if streams.any_streamed(x, y, sample_weight, validation_data):
            return streams.training(self, x, y, heads, sample_weight, class_weight, validation_split,
                                    validation_data, steps_per_epoch, validation_steps, batch_size, epochs)
        streams.arrays_only(steps_per_epoch=steps_per_epoch, validation_steps=validation_steps)
        sample_weight = as_array(sample_weight, "sample_weight")
        if validation_data is None and validation_split:
            (x, y, *weights), validation_data = data.split_validation(
                x, y, validation_split, sample_weight=sample_weight)
            sample_weight = weights[0] if weights else None
        train = self.arrays(x, y, heads, sample_weight, class_weight)
        if validation_data is None:
            return train, None
        x_val, y_val, weights = streams.validation_parts(validation_data)
        return train, self.arrays(x_val, y_val, heads, weights, suffix="_val")

    def evaluation(self, x, y, heads, sample_weight=None, steps=None, batch_size=None) -> Source:
        """The data of an ``evaluate`` call: arrays on the device, or a stream."""
        stream = streams.stream_for(self, x, y, sample_weight, heads=heads, steps=steps,
                                    batch_size=batch_size)
        if stream is not None:
            return stream
        streams.arrays_only(steps=steps)
        return self.arrays(x, y, heads, sample_weight)

    def prediction(self, x) -> ArrayData:
        """The inputs of one batch (``model(x)``, ``predict_on_batch``), on the device."""
        Xs, template = self.inputs(x)
        return ArrayData(Xs, [], None, template)

    def inference(self, x, steps=None, batch_size=None) -> Source:
        """The inputs of a ``predict`` call: arrays on the device, or a stream."""
        stream = streams.stream_for(self, x, steps=steps, batch_size=batch_size)
        if stream is not None:
            return stream
        streams.arrays_only(steps=steps)
        return self.prediction(x)

    def outputs(self, outputs: list, template=None):
        """Join per-batch outputs into new arrays (never views of the inputs), one array per
        output, in the kind of ``template`` (NumPy for host inputs, the caller's library for
        another library's arrays; see :class:`ArrayData`)."""
        xp = self.model.backend.xp
        joined = []
        for k in range(len(outputs[0])):
            parts = [batch[k] for batch in outputs]
            # one batch: the output may be a view of the input (a Flatten or Dropout model)
            P = xp.concat(parts, axis=0) if len(parts) > 1 else xp.asarray(parts[0], copy=True)
            joined.append(P if template is None else like(P, template))
        return joined[0] if len(joined) == 1 else joined
