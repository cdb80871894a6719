"""Initializers that draw nothing: a constant (a number, or an array broadcast to the shape),
zeros, ones and the identity.
"""

from __future__ import annotations

import numbers

import numpy as np

from flexnet.initializers.base import INITIALIZERS, Initializer, _number
from flexnet.transfer import as_host_array

__all__ = ["Constant", "Identity", "Ones", "Zeros"]


@INITIALIZERS.register("constant")
class Constant(Initializer):
    """Every entry equal to ``value``, or ``value`` broadcast to the shape (NumPy's rules).

    Args:
        value: a number, or an array of numbers (a list, a NumPy array or an array of any
            backend, copied on the host once) that broadcasts to the shapes it is called
            with (Keras's ``Constant`` takes a NumPy array too).

    Raises:
        ValueError: a value that is not finite numbers; when called, an array that does not
            broadcast to the shape.

    Example:
        >>> import numpy as np
        >>> Constant([1.0, 2.0, 3.0])(shape=(2, 3))
        array([[1., 2., 3.],
               [1., 2., 3.]], dtype=float32)
    """

    def __init__(self, value=0.0):
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            self.value = _number(value, "value")
            return
        array = as_host_array(value, "the Constant value")
        if array.dtype.kind not in "iuf" or not np.all(np.isfinite(array)):
            raise ValueError(f"the Constant value must be finite numbers, got {value!r:.200}")
        self.value = float(array) if array.ndim == 0 else np.array(array, dtype=np.float64)

    def __call__(self, shape, dtype, rng):
        b = rng.backend
        shape = tuple(shape)
        if isinstance(self.value, float):
            return b.xp.full(shape, self.value, dtype=b.dtype(dtype), device=b.device)
        try:
            host = np.broadcast_to(self.value, shape)
        except ValueError:
            raise ValueError(f"the Constant value of shape {self.value.shape} does not broadcast to "
                             f"the shape {shape} it is asked for") from None
        return b.from_numpy(np.array(host, dtype=dtype), dtype)

    def get_config(self):
        return {"value": self.value if isinstance(self.value, float) else self.value.tolist()}


@INITIALIZERS.register("zeros", "zero")
class Zeros(Constant):
    """All zeros (the default bias initializer)."""

    def __init__(self):
        super().__init__(0.0)

    def get_config(self):
        return {}


@INITIALIZERS.register("ones", "one")
class Ones(Constant):
    """All ones."""

    def __init__(self):
        super().__init__(1.0)

    def get_config(self):
        return {}


@INITIALIZERS.register("identity")
class Identity(Initializer):
    """``gain · I``: ones on the main diagonal of a 2-D kernel, zeros elsewhere.

    A non-square ``(m, n)`` kernel gets the first ``min(m, n)`` diagonal entries.

    Args:
        gain: the diagonal value.

    Raises:
        ValueError: when called for a shape that is not 2-D.
    """

    def __init__(self, gain: float = 1.0):
        self.gain = _number(gain, "gain")

    def __call__(self, shape, dtype, rng):
        shape = tuple(shape)
        if len(shape) != 2:
            raise ValueError(f"the identity initializer needs a 2-D shape, got {shape}")
        b = rng.backend
        eye = b.xp.eye(shape[0], shape[1], dtype=b.dtype(dtype), device=b.device)
        return eye if self.gain == 1.0 else eye * self.gain

    def get_config(self):
        return {"gain": self.gain}


