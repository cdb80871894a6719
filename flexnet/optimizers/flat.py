"""Many parameters as one flat vector: the layout that optimizers update in a few kernels.

An optimizer whose rule treats every entry on its own updates all of a model's
parameters at once, as one vector ``θ`` of ``N`` numbers (and one gradient ``g``,
one state vector per state entry): a handful of array operations per step
instead of a handful per parameter. :class:`FlatLayout` records where each
parameter sits in that vector; the state helpers walk optimizer states made of
dicts, lists and tuples of arrays.
"""

from __future__ import annotations

import math

import array_api_compat
import numpy as np

from flexnet.ops import clip
from flexnet.transfer import to_device_like

__all__ = ["FlatLayout", "check_saved_state", "clip_flat", "join_states", "tree_layout", "tree_leaves",
           "tree_map"]


def tree_map(fn, tree):
    """Apply ``fn`` to every array in a state made of dicts, lists and tuples."""
    if isinstance(tree, dict):
        return {k: tree_map(fn, v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(tree_map(fn, v) for v in tree)
    if tree is None or isinstance(tree, (int, float, str)):
        return tree
    return fn(tree)


def tree_leaves(tree) -> list:
    """The arrays of a state, in :func:`tree_map`'s order."""
    leaves: list = []
    tree_map(leaves.append, tree)
    return leaves


def tree_layout(tree) -> list:
    """``(path, shape)`` of every array of a state, to compare two states' structure."""
    layout = []

    def walk(path, node):
        if isinstance(node, dict):
            for k in sorted(node):
                walk(f"{path}[{k!r}]", node[k])
        elif isinstance(node, (list, tuple)):
            for j, v in enumerate(node):
                walk(f"{path}[{j}]", v)
        elif node is not None and not isinstance(node, (int, float, str)):
            layout.append((path, tuple(node.shape)))

    walk("", tree)
    return layout


class FlatLayout:
    """Where each of a list of parameters sits in one flat vector.

    Parameter ``k`` of shape ``shapes[k]`` is ``θ[offsets[k] : offsets[k] + sizes[k]]``
    reshaped. On NumPy, CuPy, PyTorch and array-api-strict the reshaped slices are
    views, so updating the vector in place updates the parameters.

    Args:
        params: the parameters (arrays of one namespace, device and dtype).

    Raises:
        ValueError: the parameters do not share one namespace, device and dtype.
    """

    def __init__(self, params: list):
        if not params:
            raise ValueError("an optimizer needs at least one parameter")
        self.xp = array_api_compat.array_namespace(*params)
        self.device = array_api_compat.device(params[0])
        self.dtype = params[0].dtype
        for k, p in enumerate(params):
            if p.dtype != self.dtype or array_api_compat.device(p) != self.device:
                raise ValueError(
                    f"parameters must share one dtype and device: parameter 0 is {self.dtype} on "
                    f"{self.device}, parameter {k} is {p.dtype} on {array_api_compat.device(p)}"
                )
        self.shapes = [tuple(p.shape) for p in params]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.offsets = [sum(self.sizes[:k]) for k in range(len(self.sizes))]
        self.total = sum(self.sizes)

    def flatten(self, arrays: list):
        """One vector of all ``arrays`` (shaped as the parameters), in order."""
        xp = self.xp
        if len(arrays) == 1:
            return xp.reshape(arrays[0], (self.total,))
        pieces = [xp.reshape(a, (size,)) for a, size in zip(arrays, self.sizes)]
        if array_api_compat.is_jax_namespace(xp):
            return _placed_one_by_one(xp, pieces, self.total)
        return xp.concat(pieces)

    def split(self, flat) -> list:
        """The parameter-shaped pieces of a vector (views where the namespace has them)."""
        xp = self.xp
        return [xp.reshape(flat[o : o + s], shape)
                for o, s, shape in zip(self.offsets, self.sizes, self.shapes)]

    def split_state(self, state) -> list:
        """A flat optimizer state as one state per parameter (views of its vectors)."""
        pieces = []
        for o, s, shape in zip(self.offsets, self.sizes, self.shapes):
            pieces.append(tree_map(lambda a, o=o, s=s, shape=shape: self.xp.reshape(a[o : o + s], shape),
                                   state))
        return pieces

    def same_as(self, params: list) -> bool:
        return [tuple(p.shape) for p in params] == self.shapes


def _placed_one_by_one(xp, pieces: list, total: int):
    """``concat(pieces)`` for JAX, written piece by piece into a zero vector. XLA's CPU
    compiler fuses a concatenate with what produces its pieces (the bias gradients'
    reductions, the softmax cross-entropy gradient) and then computes those per element of
    the 266,610-long gradient of 784-300-100-10: 1 to 80 ms a step from one epoch to the next
    on 2 cores, against 0.7 ms this way (``benchmarks/jax_epochs.py``)."""
    from jax import lax  # only reached with JAX's namespace

    out = xp.zeros((total,), dtype=pieces[0].dtype)
    offset = 0
    for piece in pieces:
        out = lax.dynamic_update_slice(out, piece, (offset,))
        offset += piece.shape[0]
    return out


def clip_flat(G, layout: FlatLayout, optimizer):
    """The gradient vector ``G`` clipped by value, by each parameter's norm, or by the norm of
    all, as ``optimizer``'s clipping arguments say (at most one is set); no read of the device."""
    xp = layout.xp
    clipvalue, clipnorm = optimizer.clipvalue, optimizer.clipnorm
    global_clipnorm = optimizer.global_clipnorm
    if clipvalue is not None:
        return clip(xp, G, -clipvalue, clipvalue)
    if global_clipnorm is not None:
        return G * _clip_scale(xp, xp.sum(G * G), global_clipnorm)
    if clipnorm is not None:
        scales = [xp.broadcast_to(_clip_scale(xp, xp.sum(g * g), clipnorm), (size,))
                  for g, size in zip(layout.split(G), layout.sizes)]
        return G * xp.concat(scales)
    return G


def _clip_scale(xp, squared_norm, c: float):
    """``min(1, c / (‖g‖ + 1e-6))`` as a 0-D array, as ``torch.nn.utils.clip_grad_norm_``."""
    return xp.minimum(c / (xp.sqrt(squared_norm) + 1e-6), 1.0)


def check_saved_state(optimizer, saved: list, params: list) -> None:
    """Raise ValueError unless ``saved`` (one host state per parameter) fits ``params``."""
    if len(saved) != len(params):
        raise ValueError(f"the saved state is for {len(saved)} parameters but {len(params)} were given")
    for i, (param, entry) in enumerate(zip(params, saved)):
        expected, got = tree_layout(optimizer.init(param)), tree_layout(entry)
        if expected != got:
            raise ValueError(
                f"the saved state of parameter {i} has arrays {got} but this "
                f"{type(optimizer).__name__} needs {expected} for a parameter of shape "
                f"{tuple(param.shape)}"
            )


def join_states(saved: list, like):
    """One flat state from one host state per parameter, on ``like``'s device and dtype."""
    per_param = [tree_leaves(entry) for entry in saved]
    flat = (np.concatenate([np.reshape(leaves[j], (-1,)) for leaves in per_param])  # one at a time
            for j in range(len(per_param[0])))
    return tree_map(lambda _: to_device_like(next(flat), like), saved[0])
