"""Data computed in Python, one batch at a time: :class:`Dataset`, Keras's ``PyDataset``.

``fit``, ``evaluate`` and ``predict`` read a Dataset batch by batch, ahead of the
training step, with as many worker threads or processes as it asks for
(:mod:`flexnet.training.streams` does the reading).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

__all__ = ["Dataset", "PyDataset"]


class Dataset(ABC):
    """A data set that computes its batches in Python: read files, augment, generate.

    Subclass it with ``__len__`` (the number of batches) and ``__getitem__(index)``
    (batch ``index``, ``0 <= index < len(self)``), and pass an instance to ``fit``,
    ``evaluate`` or ``predict`` as ``x`` (or as ``validation_data``). This is the shape of
    Keras's ``keras.utils.PyDataset``: a class written for Keras works with its base class
    replaced.

    A batch is ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``, as Keras reads it
    (a list counts as a tuple): NumPy arrays (or a list or dict of them for several inputs
    or outputs), or arrays of the model's backend, of ``b`` samples each. ``fit`` and
    ``evaluate`` need ``y``. Every batch is checked as arrays given to ``fit`` are (shapes,
    dtypes, NaN, labels), and an error names the batch.

    Each epoch reads the batches in order, or in a new random order with
    ``fit(shuffle=True)`` (the default; drawn from the model's generator), calling
    :meth:`on_epoch_begin` before the first and :meth:`on_epoch_end` after the last. A
    Dataset whose :attr:`num_batches` is None is endless: ``fit`` then needs
    ``steps_per_epoch`` and reads on from one epoch to the next.

    Batches are read ahead of the step that uses them, while it runs: by one background
    thread (``workers=1``, the default), a pool of ``workers`` threads, or ``workers``
    processes (``use_multiprocessing=True``), at most ``max_queue_size`` batches ahead.
    Threads suit reading files and NumPy work (which releases Python's lock); processes
    suit Python-heavy augmentation, but each holds a copy of the Dataset (made again every
    epoch, after :meth:`on_epoch_end`), sent to them pickled (they start from a fork server on
    Linux, spawned elsewhere; never forked from the training process, whose threads could
    deadlock a forked child): it must be picklable (a class defined at the top of a module),
    and files are best opened in ``__getitem__``. ``workers=0`` reads
    each batch in the training loop itself, when the step asks for it (no overlap, for
    debugging ``__getitem__``).

    Args:
        workers: how many batches are read at once (see above); 0 reads in the training loop.
        use_multiprocessing: read in ``workers`` processes rather than threads.
        max_queue_size: at most this many batches read ahead of the step.

    Example:
        >>> import numpy as np
        >>> import flexnet as fx
        >>> class NoisyCopies(fx.data.Dataset):
        ...     '''Batches of 16 noisy copies of X's rows, and their labels.'''
        ...     def __init__(self, X, y, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.X, self.y = X, y
        ...     def __len__(self):
        ...         return len(self.X) // 16
        ...     def __getitem__(self, index):
        ...         rows = slice(16 * index, 16 * (index + 1))
        ...         noise = np.random.default_rng(index).normal(0.0, 0.1, size=(16, 2))
        ...         return self.X[rows] + noise, self.y[rows]
        >>> X = np.random.default_rng(0).normal(size=(64, 2))
        >>> data = NoisyCopies(X, (X[:, 0] > 0).astype(int), workers=2)
        >>> model = fx.Sequential([fx.layers.Dense(2, activation="softmax", input_dim=2)])
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        >>> len(model.fit(data, epochs=3, verbose=0).history["loss"])
        3
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ValueError(f"workers must be an int >= 0, got {workers!r}")
        if not isinstance(use_multiprocessing, bool):
            raise ValueError(f"use_multiprocessing must be True or False, got {use_multiprocessing!r}")
        if use_multiprocessing and workers == 0:
            raise ValueError("use_multiprocessing=True needs workers >= 1 (the number of processes)")
        if isinstance(max_queue_size, bool) or not isinstance(max_queue_size, int) or max_queue_size < 1:
            raise ValueError(f"max_queue_size must be an int >= 1, got {max_queue_size!r}")
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    # A subclass that does not call super().__init__() gets the defaults.
    @property
    def workers(self) -> int:
        """How many batches are read at once (0: in the training loop, when asked for)."""
        return self.__dict__.get("_workers", 1)

    @property
    def use_multiprocessing(self) -> bool:
        """Whether the workers are processes."""
        return self.__dict__.get("_use_multiprocessing", False)

    @property
    def max_queue_size(self) -> int:
        """At most this many batches are read ahead of the step."""
        return self.__dict__.get("_max_queue_size", 10)

    @abstractmethod
    def __getitem__(self, index: int):
        """Batch ``index``: ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``."""

    @property
    def num_batches(self) -> int | None:
        """The number of batches (``len(self)``), or None for an endless Dataset (one
        without ``__len__``, or one that overrides this property to say so)."""
        length = getattr(self, "__len__", None)
        return None if length is None else length()

    def on_epoch_begin(self) -> None:
        """Called before the first batch of every epoch."""

    def on_epoch_end(self) -> None:
        """Called after the last batch of every epoch (e.g. to reshuffle files)."""

    def __iter__(self):
        """The batches in order (endlessly when :attr:`num_batches` is None)."""
        index = 0
        while self.num_batches is None or index < self.num_batches:
            yield self[index]
            index += 1


#: Keras's name for :class:`Dataset`.
PyDataset = Dataset
