"""Data read a batch at a time: which stream serves which input, for ``fit``, ``evaluate``, ``predict``.

* ``sliced``: memory-mapped and HDF5 arrays, read by rows;
* ``iterables``: generators, iterators, torch DataLoaders, any re-iterable of batches;
* ``datasets``: :class:`flexnet.data.Dataset`, read by index by worker threads or processes;
* ``base``: what they share (unpacking, the array path's checks on every batch, the copy
  to the device, prefetch); ``prefetch``: the background thread.

Arrays in memory are not streams: they go to the device once per call
(:class:`~flexnet.training.data_adapter.ArrayData`).
"""

from __future__ import annotations

from flexnet.data import Dataset, validation_cut
from flexnet.training.streams.base import Stream, check_steps, leaves
from flexnet.training.streams.datasets import DatasetStream
from flexnet.training.streams.iterables import IterableStream, describe
from flexnet.training.streams.sliced import SlicedArrays, is_out_of_core, storage

__all__ = ["DatasetStream", "IterableStream", "SlicedArrays", "Stream", "any_streamed", "arrays_only",
           "stream_for", "streamed", "training", "validation_parts"]


def _kind(x) -> str | None:
    """``"dataset"``, ``"iterable"`` (batches to iterate), or None (arrays, or lists or dicts of them)."""
    if isinstance(x, Dataset):
        return "dataset"
    if x is None or isinstance(x, (list, tuple, dict, str, bytes)):
        return None
    if any(hasattr(x, name) for name in ("__array__", "__array_interface__", "__dlpack__")):
        return None  # an array (a NumPy array, a DataFrame, another library's array, an HDF5 dataset)
    return "iterable" if hasattr(x, "__iter__") or hasattr(x, "__next__") else None


def streamed(x, y=None, sample_weight=None) -> bool:
    """Whether ``x`` (with ``y`` and ``sample_weight``) is read a batch at a time."""
    return _kind(x) is not None or any(is_out_of_core(a) for a in leaves([x, y, sample_weight]))


def any_streamed(x, y, sample_weight, validation_data) -> bool:
    """Whether ``fit``'s training or validation data is read a batch at a time."""
    if streamed(x, y, sample_weight) or _kind(validation_data) is not None:
        return True
    return isinstance(validation_data, (tuple, list)) and streamed(*validation_data[:3])


def arrays_only(**steps) -> None:
    """Refuse step counts given with arrays in memory, naming the argument."""
    for name, value in steps.items():
        if value is not None:
            raise ValueError(
                f"{name} counts the batches of data read a batch at a time (a generator, a Dataset, a "
                f"DataLoader); with arrays an epoch is one pass over them: leave {name} None and choose "
                "batch_size"
            )


def validation_parts(validation_data) -> tuple:
    """``(x_val, y_val, sample_weight_val or None)`` of ``fit``'s ``validation_data`` tuple."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                         "sample_weight_val), or data read a batch at a time (a generator, a Dataset, "
                         "a DataLoader)")
    return (*validation_data, None) if len(validation_data) == 2 else tuple(validation_data)


def stream_for(adapter, x, y=None, sample_weight=None, *, heads=None, class_weight=None, steps=None,
               steps_name: str = "steps", batch_size=None, passes: int = 1, rows=None,
               what: str = "x") -> Stream | None:
    """The stream reading ``x`` (and ``y``, ``sample_weight``), or None for arrays in memory.

    Args:
        adapter: the model's :class:`~flexnet.training.data_adapter.DataAdapter`.
        x, y, sample_weight: as given to ``fit``, ``evaluate`` or ``predict``.
        heads: the trainer's callable for the heads; None for ``predict``.
        class_weight: ``fit``'s, applied to every batch.
        steps, steps_name: batches per epoch (None: a whole pass) and the argument's name.
        batch_size: as given (None unless the user chose one): a source that makes its own
            batches refuses one.
        passes: epochs that will read it (a generator without ``steps`` serves one).
        rows: ``(start, stop)`` of memory-mapped arrays (``validation_split``).
        what: ``"x"`` or ``"validation_data"``, for messages.
    """
    kind = _kind(x)
    steps = check_steps(steps, steps_name)
    if kind is None:
        if not streamed(x, y, sample_weight):
            return None
        arrays_only(**{steps_name: steps})
        first = next(a for a in leaves([x, y, sample_weight]) if is_out_of_core(a))
        return SlicedArrays(adapter, x, y, sample_weight, heads, class_weight, rows,
                            f"{what} ({storage(first)})")
    label = f"{what} ({describe(x) if kind == 'iterable' else type(x).__name__})"
    for name, value in (("y", y), ("sample_weight", sample_weight), ("batch_size", batch_size)):
        if value is not None:
            raise ValueError(f"{label} makes its own batches, with their targets and weights: {name} "
                             "must be None")
    if kind == "dataset":
        return DatasetStream(adapter, x, heads, class_weight, steps, steps_name, label)
    return IterableStream(adapter, x, heads, class_weight, steps, steps_name, passes, label)


def training(adapter, x, y, heads, sample_weight, class_weight, validation_split, validation_data,
             steps_per_epoch=None, validation_steps=None, batch_size=None, epochs: int = 1):
    """``(train, validation or None)`` for ``fit`` when ``x`` or ``validation_data`` is read a batch
    at a time (the other may be arrays in memory); see :meth:`DataAdapter.training`."""
    rows = val_rows = None
    if validation_data is None and validation_split:
        if _kind(x) is not None:
            raise ValueError(f"validation_split cuts arrays, and x is {describe(x)}: give validation_data "
                             "instead")
        # memory-mapped arrays: the last rows, as for arrays in memory
        n = next(a for a in leaves(x) if hasattr(a, "shape")).shape[0]
        cut = validation_cut(n, validation_split)
        rows, val_rows = (0, cut), (cut, n)
        validation_data = (x, y, sample_weight)
    train = stream_for(adapter, x, y, sample_weight, heads=heads, class_weight=class_weight,
                       steps=steps_per_epoch, steps_name="steps_per_epoch", batch_size=batch_size,
                       passes=epochs, rows=rows)
    if train is None:
        arrays_only(steps_per_epoch=steps_per_epoch)
        train = adapter.arrays(x, y, heads, sample_weight, class_weight)
    if validation_data is None:
        arrays_only(validation_steps=validation_steps)
        return train, None
    if _kind(validation_data) is not None:
        parts = (validation_data, None, None)
    else:
        parts = validation_parts(validation_data)
    val = stream_for(adapter, *parts, heads=heads, steps=validation_steps, steps_name="validation_steps",
                     passes=epochs, rows=val_rows, what="validation_data")
    if val is None:
        arrays_only(validation_steps=validation_steps)
        val = adapter.arrays(*parts[:2], heads, parts[2], suffix="_val")
    return train, val
