"""A model's trainable weights as views into one flat vector, for one optimizer step over all.

:class:`FlatParameters` copies the weights that training updates into one vector
``θ`` and hands each layer a view of its piece, so that an optimizer updating
``θ`` in place updates every layer at once. Which weights train is decided when
it is made (at ``compile``, as in Keras: a later change of ``layer.trainable``
takes effect at the next ``compile``). A weight replaced from outside
(``set_weights``, ``load_weights``) is noticed and gathered again.
"""

from __future__ import annotations

import array_api_compat

from flexnet.optimizers.flat import FlatLayout

__all__ = ["FlatParameters"]


def _has_views(xp) -> bool:
    """Whether reshaped slices of an array of ``xp`` share its memory (so that updating the
    vector in place updates the layers): NumPy, CuPy, PyTorch and array-api-strict."""
    return (array_api_compat.is_numpy_namespace(xp) or array_api_compat.is_cupy_namespace(xp)
            or array_api_compat.is_torch_namespace(xp) or array_api_compat.is_array_api_strict_namespace(xp))


class FlatParameters:
    """The trainable weights of ``layers`` as views of one vector.

    Args:
        layers: the model's layers that own weights; the trainable ones (now) train.

    Attributes:
        entries: ``(layer, key)`` of each trained weight, in gradient order.
        layout: where each weight sits in :attr:`vector`.
        vector: the flat vector ``θ``, or None when nothing trains.
    """

    def __init__(self, layers):
        self.entries = [(layer, key) for layer in layers if layer.trainable for key in layer.params]
        self.layout = FlatLayout(self.arrays()) if self.entries else None
        self.vector = None
        self._views: list = []
        if self.entries:
            self._shared = _has_views(self.layout.xp)
            self.gather()

    def arrays(self) -> list:
        """The trained weights as the layers hold them now."""
        return [layer.params[key] for layer, key in self.entries]

    def gather(self) -> None:
        """Copy the layers' weights into a new vector and give the layers views of it."""
        xp, arrays = self.layout.xp, self.arrays()
        self.vector = xp.concat([xp.reshape(a, (-1,)) for a in arrays]) if len(arrays) > 1 else \
            xp.reshape(arrays[0], (-1,)) + 0  # a copy: the vector must own its memory
        self.scatter(self.vector)

    def scatter(self, vector) -> None:
        """Make ``vector`` the parameters: the layers get views (or pieces) of it."""
        self.vector = vector
        self._views = self.layout.split(vector)
        for (layer, key), view in zip(self.entries, self._views):
            layer.params[key] = view

    def sync(self) -> None:
        """Gather again if a layer's weight was replaced since the last step."""
        if any(layer.params[key] is not view for (layer, key), view in zip(self.entries, self._views)):
            self.gather()

    def updated(self, vector) -> None:
        """Take the vector an optimizer step returned (a new array where arrays cannot
        change in place, or where slices are not views)."""
        if vector is not self.vector or not self._shared:
            self.scatter(vector)

    def gradients(self, grads: list):
        """The gradients as one vector in :attr:`layout`."""
        return self.layout.flatten(grads)
