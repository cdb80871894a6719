"""``Normalization``: standardize features with statistics computed once from data (``adapt``)
or given, as Keras's preprocessing layer of that name.
"""

from __future__ import annotations

import math

import numpy as np

from flexnet.layers.base import LAYERS, Layer, normalize_axes
from flexnet.transfer import as_host_array, is_array

__all__ = ["Normalization"]

#: Keras's ``backend.epsilon()``: the smallest standard deviation divided by.
EPSILON = 1e-7


def _batches(data):
    """The batches of ``data``: one array (of any library, or a nested list of numbers), or a
    list, tuple or iterable of arrays, as host float64 arrays."""
    if is_array(data):
        yield as_host_array(data, "adapt data").astype(np.float64)
        return
    if isinstance(data, (list, tuple)) and not all(is_array(b) for b in data):
        yield as_host_array(data, "adapt data").astype(np.float64)
        return
    try:
        iterator = iter(data)
    except TypeError:
        kind = type(data).__name__
        raise TypeError(f"adapt takes an array or an iterable of batches, got {kind}") from None
    for batch in iterator:
        yield as_host_array(batch, "a batch of adapt data").astype(np.float64)


@LAYERS.register()
class Normalization(Layer):
    """Shifts and scales features to mean 0 and variance 1 (``keras.layers.Normalization``)::

        Y = (X - mean) / max(sqrt(variance), ε)        (invert=True:  Y = mean + X · max(sqrt(variance), ε))

    with ``ε = 1e-7``, as Keras computes it. ``mean`` and ``variance`` have one entry per
    index of the kept ``axis`` (per feature by default) and are either computed from data
    by :meth:`adapt` (the population variance, as NumPy's ``var``), or given. Adapted
    statistics are the layer's non-trainable weights ``mean`` and ``variance``, saved
    with the model; given ones are part of its config. Backward: ``dX = dY / max(sqrt(variance), ε)``
    (``· max(...)`` when inverted); nothing is learned.

    Args:
        axis: the axis or axes of the input (batch axis 0 included in the count) that keep
            separate statistics: ``-1`` (default) one per feature of the last axis; a tuple
            for several; ``None`` one mean and variance for everything.
        mean, variance: the statistics, given together: a number, or an array that
            broadcasts onto the kept axes (aligned from the right); then :meth:`adapt` is
            not used.
        invert: map normalized values back (``mean + X · std``).
        name, input_shape, trainable, activity_regularizer: see :class:`Layer`.

    Example:
        >>> import numpy as np
        >>> import flexnet as fx
        >>> layer = fx.layers.Normalization(axis=-1)
        >>> layer.adapt(np.array([[0., 7., 4.], [2., 9., 6.], [0., 7., 4.], [2., 9., 6.]]))
        >>> layer(np.array([[0., 7., 4.]]))
        array([[-1., -1., -1.]], dtype=float32)
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.axis = normalize_axes(axis, "axis")
        if (mean is None) != (variance is None):
            raise ValueError(f"give mean and variance together, got mean={mean!r} and variance={variance!r}")
        self.input_mean = self.input_variance = None
        if mean is not None:
            mean, variance = np.asarray(mean, dtype=np.float64), np.asarray(variance, dtype=np.float64)
            if mean.shape != variance.shape:
                raise ValueError(f"mean and variance must have the same shape, got {mean.shape} and "
                                 f"{variance.shape}")
            if mean.ndim > len(self.axis):
                raise ValueError(f"mean of shape {mean.shape} has more axes than axis={axis!r} keeps")
            if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(variance)) and np.all(variance >= 0)):
                raise ValueError("mean must be finite and variance finite and >= 0")
            self.input_mean, self.input_variance = mean, variance
        self.invert = bool(invert)
        self._adapted = None  # (mean, variance) from adapt() before the layer is built

    # -- which axes ----------------------------------------------------------------------
    def _kept(self, ndim: int) -> tuple[int, ...]:
        if any(not -ndim <= a < ndim for a in self.axis):
            raise ValueError(f"Normalization {self.name or self.default_name!r}: axis {self.axis} is out of "
                             f"range for inputs with {ndim} axes")
        kept = tuple(sorted({a % ndim for a in self.axis}))
        if 0 in kept:
            raise ValueError(f"Normalization {self.name or self.default_name!r}: axis {self.axis} names the "
                             "batch axis 0; statistics are kept per feature, never per sample")
        return kept

    def check_input_shape(self, input_shape) -> None:
        self._kept(len(input_shape))

    def build(self, input_shape):
        ndim = len(input_shape)
        self._keep = self._kept(ndim)
        self._broadcast = tuple(input_shape[d] if d in self._keep else 1 for d in range(ndim))
        stats_shape = tuple(input_shape[d] for d in self._keep)
        if self.input_mean is not None:
            self._set_given()
            return
        self.add_weight("mean", stats_shape, "zeros", trainable=False)
        self.add_weight("variance", stats_shape, "ones", trainable=False)
        if self._adapted is not None:
            mean, variance = self._adapted
            if mean.shape != stats_shape:
                raise ValueError(f"Normalization {self.name or self.default_name!r} was adapted to data "
                                 f"with statistics of shape {mean.shape}, but receives inputs of shape "
                                 f"{tuple(input_shape)} (statistics of shape {stats_shape})")
            self._store(mean, variance)
            self._adapted = None

    def _set_given(self) -> None:
        """The given statistics, aligned from the right onto the kept axes, as arrays of the
        input's rank on the layer's device."""
        shapes = []
        for stat in (self.input_mean, self.input_variance):
            expanded = [1] * len(self._broadcast)
            for i in range(1, stat.ndim + 1):
                expanded[self._keep[-i]] = stat.shape[-i]
            try:
                shapes.append(np.broadcast_to(stat.reshape(expanded), self._broadcast))
            except ValueError:
                raise ValueError(f"Normalization {self.name or self.default_name!r}: mean and variance of "
                                 f"shape {stat.shape} do not broadcast onto the kept axes of inputs "
                                 f"{self._broadcast}") from None
        self._given = tuple(self.backend.from_numpy(np.array(a, copy=True), self.dtype) for a in shapes)

    def _store(self, mean, variance) -> None:
        self.buffers["mean"] = self.backend.from_numpy(mean, self.dtype)
        self.buffers["variance"] = self.backend.from_numpy(variance, self.dtype)

    def move(self, backend, rng) -> None:
        super().move(backend, rng)
        if self.input_mean is not None:
            self._set_given()

    # -- statistics from data --------------------------------------------------------------
    def adapt(self, data) -> None:
        """Compute the mean and variance of ``data`` per index of the kept axes (Keras's
        ``adapt``), over the batch and every other axis.

        Args:
            data: an array (NumPy, a list of numbers, or any backend's), or a list or
                iterable of such batches, combined exactly (pairwise update of the mean and
                the variance, as Keras's ``adapt`` does for datasets).

        Raises:
            ValueError: the layer was given ``mean`` and ``variance``, no data, or batches
                whose shapes do not fit the kept axes.
        """
        if self.input_mean is not None:
            raise ValueError(f"Normalization {self.name or self.default_name!r} was given mean and "
                             "variance; adapt computes them instead, for a layer made without them")
        total_mean = total_var = None
        count = 0
        for batch in _batches(data):
            if batch.ndim < 1 or batch.shape[0] == 0:
                raise ValueError(f"adapt needs batches with samples on the first axis, got shape "
                                 f"{batch.shape}")
            keep = self._keep if self.built else self._kept(batch.ndim)
            reduce = tuple(d for d in range(batch.ndim) if d not in keep)
            mean, var = np.mean(batch, axis=reduce), np.var(batch, axis=reduce)
            if total_mean is not None and mean.shape != total_mean.shape:
                raise ValueError(f"adapt batches disagree: statistics of shape {mean.shape} after "
                                 f"{total_mean.shape}")
            n = math.prod(batch.shape[d] for d in reduce)
            if total_mean is None:
                total_mean, total_var, count = mean, var, n
                continue
            count += n
            weight = n / count
            new_mean = total_mean * (1.0 - weight) + mean * weight
            total_var = ((total_var + (total_mean - new_mean) ** 2) * (1.0 - weight)
                         + (var + (mean - new_mean) ** 2) * weight)
            total_mean = new_mean
        if total_mean is None:
            raise ValueError("adapt received no data (an empty iterable of batches)")
        if not self.built:
            self._adapted = (total_mean, total_var)
            return
        expected = tuple(self.buffers["mean"].shape)
        if total_mean.shape != expected:
            raise ValueError(f"Normalization {self.name or self.default_name!r} keeps statistics of shape "
                             f"{expected}, but the adapt data gives {total_mean.shape}")
        self._store(total_mean, total_var)

    # -- computing -------------------------------------------------------------------------
    def _std_and_mean(self):
        xp = self.xp
        if self.input_mean is not None:
            mean, variance = self._given
        else:
            mean = xp.reshape(self.buffers["mean"], self._broadcast)
            variance = xp.reshape(self.buffers["variance"], self._broadcast)
        return xp.maximum(xp.sqrt(variance), EPSILON), mean

    def forward(self, X, training=False):
        std, mean = self._std_and_mean()
        self.cache.std = std
        return mean + X * std if self.invert else (X - mean) / std

    def backward(self, dY):
        std = self.cache.std
        return dY * std if self.invert else dY / std

    def get_config(self):
        def listed(a):
            return None if a is None else a.tolist()

        axis = None if not self.axis else (self.axis[0] if len(self.axis) == 1 else list(self.axis))
        return {**super().get_config(), "axis": axis, "mean": listed(self.input_mean),
                "variance": listed(self.input_variance), "invert": self.invert}
