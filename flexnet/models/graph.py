"""The graph executor: runs a model's layers forward in order and backward in reverse.

A :class:`Graph` is a list of :class:`Step` objects over numbered slots (one
slot per tensor): a step reads the slots of its inputs and writes the slot of
its output. ``Sequential`` is a chain (step ``i`` reads slot ``i``, writes slot
``i + 1``); a functional model is any order in which every step comes after the
steps it reads. Both run here: forward fills the slots, backward walks the
steps in reverse, summing the gradients that reach a slot from every step that
read it, and the gradients of a layer called at several steps (a shared layer).

Each step of a layer owns a :class:`~flexnet.layers.Cache`, set on the layer
before its forward and again before its backward, so a layer called twice keeps
two caches. A nested model is a step whose operation runs its own graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flexnet.layers import Cache, Layer

__all__ = ["Graph", "Step"]


@dataclass(eq=False)
class Step:
    """One call of an operation (a layer, or a nested model) in a graph.

    Attributes:
        op: the layer or model called.
        ins: the slots it reads, in the order of its inputs.
        out: the slot it writes.
        takes_list: the operation receives a list of arrays (merge layers).
        needs_dx: some input is not a graph input, so its gradient is read.
        shared: the operation is called at other steps of this graph too.
        node: the functional API's node of this call (None in a Sequential).
        cache: what this call's forward keeps for its backward.
        activity: the output, kept for the layer's activity regularizer.
    """

    op: Any
    ins: list[int]
    out: int
    takes_list: bool = False
    needs_dx: bool = True
    shared: bool = False
    node: Any = None
    cache: Cache = field(default_factory=Cache)
    activity: Any = None
    consumers: int = 0

    @property
    def graph(self):
        """The nested model's graph, or None for a layer."""
        return None if isinstance(self.op, Layer) else self.op.graph


class Graph:
    """Steps in an executable order over slots, with the model's input and output slots.

    Args:
        input_slots: the slot of each model input.
        steps: the steps, each after the steps whose output it reads.
        output_slots: the slot of each model output.
    """

    def __init__(self, input_slots: list[int], steps: list[Step], output_slots: list[int]):
        self.input_slots = list(input_slots)
        self.steps = list(steps)
        self.output_slots = list(output_slots)
        self.n_slots = 1 + max([*self.input_slots, *(s.out for s in self.steps)])
        inputs = set(self.input_slots)
        calls: dict[int, int] = {}
        producer = {}
        for step in self.steps:
            calls[id(step.op)] = calls.get(id(step.op), 0) + 1
            producer[step.out] = step
        for step in self.steps:
            step.shared = calls[id(step.op)] > 1
            step.needs_dx = any(s not in inputs for s in step.ins)
            step.consumers = 0
        for step in self.steps:
            for s in step.ins:
                if s in producer:
                    producer[s].consumers += 1
        self._producer = producer
        self._checked_shared = False
        self.is_chain = False  # a Sequential's graph (summary() shows no "Connected to")

    @classmethod
    def chain(cls, ops: list) -> Graph:
        """The graph of a Sequential: ``ops[i]`` reads slot ``i`` and writes slot ``i + 1``."""
        graph = cls([0], [Step(op, [i], i + 1) for i, op in enumerate(ops)], [len(ops)])
        graph.is_chain = True
        return graph

    def append(self, op) -> None:
        """Add one more step at the end of a chain (``Sequential.add`` on a built model)."""
        last = self.output_slots[0]
        step = Step(op, [last], last + 1, needs_dx=bool(self.steps))
        if self.steps:
            self.steps[-1].consumers += 1
        self.steps.append(step)
        self._producer[step.out] = step
        self.output_slots = [last + 1]
        self.n_slots = last + 2

    # -- computing ------------------------------------------------------------------
    def forward(self, Xs: list, training: bool) -> list:
        """The outputs for one batch of each input."""
        vals: list = [None] * self.n_slots
        for slot, X in zip(self.input_slots, Xs):
            vals[slot] = X
        check = not self._checked_shared
        for step in self.steps:
            op = step.op
            args = [vals[s] for s in step.ins]
            if step.graph is not None:
                Y = step.graph.forward(args, training)[0]
            else:
                op.cache = step.cache
                before = _array_attributes(op) if check and step.shared else None
                Y = op.forward(args if step.takes_list else args[0], training=training)
                if before is not None:
                    _check_no_state_outside_cache(op, before)
                if op.activity_regularizer is not None:
                    step.activity = Y
            vals[step.out] = Y
        self._checked_shared = True
        return [vals[s] for s in self.output_slots]

    def backward(self, dYs: list, logits: list, input_grads: bool = False):
        """Backpropagate one gradient per output, filling every layer's ``grads``.

        ``logits[k]`` is True when ``dYs[k]`` is the gradient at output ``k``'s
        pre-activation (a fused loss): that layer's ``backward_logits`` runs instead
        of its ``backward``. Returns the input gradients when ``input_grads``, else
        None (the first layers then skip computing them).
        """
        g: list = [None] * self.n_slots
        fused = set()
        for slot, dY, from_logits in zip(self.output_slots, dYs, logits):
            g[slot] = dY if g[slot] is None else g[slot] + dY
            if from_logits:
                fused.add(slot)
        summed: dict[int, dict] = {}
        touched: set[int] = set()
        for step in reversed(self.steps):
            dY = g[step.out]
            if dY is None:  # this step does not reach the loss
                continue
            op = step.op
            touched.add(id(op))
            need = input_grads or step.needs_dx
            if step.graph is not None:
                dXs = step.graph.backward([dY], [False], input_grads=need)
            else:
                dXs = self._layer_backward(step, dY, step.out in fused, need)
                if step.shared:
                    acc = summed.setdefault(id(op), {})
                    for key, value in op.grads.items():
                        acc[key] = value if key not in acc else acc[key] + value
            if dXs is not None:
                for s, d in zip(step.ins, dXs):
                    if d is not None:
                        g[s] = d if g[s] is None else g[s] + d
        for step in self.steps:
            op = step.op
            if id(op) in summed:
                op.grads = summed.pop(id(op))
            if id(op) not in touched and step.graph is None:  # no path to the loss: zero
                op.grads = {k: op.xp.zeros_like(p) for k, p in op.params.items()}
        if not input_grads:
            return None
        return [g[slot] for slot in self.input_slots]

    @staticmethod
    def _layer_backward(step: Step, dY, from_logits: bool, need: bool):
        op = step.op
        op.cache = step.cache
        if step.activity is not None:
            Y = step.activity
            dY = dY + op.activity_regularizer.gradient(op.xp, Y) * (1.0 / Y.shape[0])
        fn = op.backward_logits if from_logits else op.backward
        if not need:
            op.backward_without_input_grad(fn, dY)
            return None
        dX = fn(dY)
        return dX if step.takes_list else [dX]

    # -- structure --------------------------------------------------------------------
    def output_layer(self, k: int):
        """The layer whose output is model output ``k`` if a loss may be fused with its
        activation (called once, read by nothing else, with a ``backward_logits``), else None."""
        slot = self.output_slots[k]
        step = self._producer.get(slot)
        if step is None or step.shared or step.consumers or self.output_slots.count(slot) > 1:
            return None
        op = step.op
        return op if isinstance(op, Layer) and hasattr(op, "backward_logits") else None

    def activity_terms(self) -> list:
        """``(regularizer, Y)`` for every activity regularizer in the last forward pass."""
        out = []
        for step in self.steps:
            if step.graph is not None:
                out += step.graph.activity_terms()
            elif step.activity is not None:
                out.append((step.op.activity_regularizer, step.activity))
        return out

    def has_activity(self) -> bool:
        """Whether any layer (nested models included) has an activity regularizer."""
        return any(step.graph.has_activity() if step.graph is not None
                   else step.op.activity_regularizer is not None for step in self.steps)

    def clear(self) -> None:
        """Forget every cached array (after a move to another device)."""
        for step in self.steps:
            step.cache, step.activity = Cache(), None


def _array_attributes(op) -> dict[str, int]:
    return {k: id(v) for k, v in vars(op).items() if hasattr(v, "shape")}


def _check_no_state_outside_cache(op, before: dict[str, int]) -> None:
    """A layer called at several steps must keep its forward state in ``self.cache``: one
    that writes it to its own attributes would give every call's backward the last call's."""
    changed = sorted(k for k, i in _array_attributes(op).items() if before.get(k) != i)
    if changed:
        raise TypeError(
            f"layer {op.name!r} is called at several places of this model but its forward keeps "
            f"{changed} on the layer itself; keep what backward needs in self.cache instead "
            f"(self.cache.{changed[0]} = ...), so that each call has its own"
        )
