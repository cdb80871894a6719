"""What ``compile`` decides once for each output: its loss, weight, metrics and fused loss.

:class:`CompileSpec` checks and resolves the arguments of ``compile`` (before
the model may be built); :class:`CompiledLoss` and :class:`CompiledMetrics`
bind them to a built model's outputs. Training and evaluation both use these
objects, so the per-output loss loop, the fused sigmoid/softmax choice, the
penalties and the logged names exist once.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

from flexnet import losses, optimizers
from flexnet import metrics as metrics_module
from flexnet.losses.base import MEAN_REDUCTIONS

__all__ = ["CompileSpec", "CompiledLoss", "CompiledMetrics", "Head"]


_ONE_METRIC = (str, metrics_module.Metric, losses.Loss)


def _flat_metric_ids(metrics) -> list:
    if metrics is None:
        return []
    if isinstance(metrics, _ONE_METRIC):
        return [metrics]
    values = metrics.values() if isinstance(metrics, dict) else metrics
    out = []
    for m in values:
        out += _flat_metric_ids(m) if isinstance(m, (list, tuple, dict)) else [m]
    return out


class CompileSpec:
    """The arguments of ``compile``, resolved to objects and checked.

    Args:
        optimizer: a name or an :class:`~flexnet.optimizers.Optimizer`.
        loss: a loss (name or object), or a list or dict of them (one per output).
        metrics: metric names or objects (or losses); a dict keys lists by output name.
            They are unweighted.
        loss_weights: a list or dict of factors, one per output.
        jit_compile: run the backend's compiled step (``"auto"``: where there is one).
        weighted_metrics: as ``metrics``, weighted by the sample and class weights.

    Raises:
        ValueError: a missing or empty loss, a loss with ``reduction=None``, an unknown name.
    """

    def __init__(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                 weighted_metrics=None, jit_compile="auto"):
        if jit_compile not in ("auto", True, False):
            raise ValueError(f"jit_compile must be 'auto', True or False, got {jit_compile!r}")
        self.jit_compile = jit_compile
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='mse' or 'binary_crossentropy'")
        if isinstance(metrics, _ONE_METRIC):
            metrics = [metrics]
        if isinstance(weighted_metrics, _ONE_METRIC):
            weighted_metrics = [weighted_metrics]
        self.optimizer = optimizers.get(optimizer)
        if isinstance(loss, dict):
            self.loss = {k: losses.get(v) for k, v in loss.items()}
            first = next(iter(self.loss.values()), None)
        elif isinstance(loss, (list, tuple)):
            self.loss = [losses.get(v) for v in loss]
            first = next(iter(self.loss), None)
        else:
            self.loss = first = losses.get(loss)
        if first is None:
            raise ValueError("compile() got an empty loss list or dict")
        for resolved in _flat_losses(self.loss):
            if not resolved.reduces:
                raise ValueError(
                    f"loss {resolved.name!r} has reduction=None, which gives per-sample values; "
                    "training needs one number per batch: use reduction='sum_over_batch_size' "
                    "(the default), 'sum' or 'mean_with_sample_weight'")
        for identifier in _flat_metric_ids(metrics) + _flat_metric_ids(weighted_metrics):
            metrics_module.get(identifier, loss=first)  # fail on unknown names now, not at fit
        self.metrics = metrics
        self.weighted_metrics = weighted_metrics
        self.loss_weights = loss_weights


def _flat_losses(loss) -> list:
    if isinstance(loss, dict):
        return list(loss.values())
    return list(loss) if isinstance(loss, list) else [loss]


def per_output(spec, names: list[str], what: str, default=None) -> list:
    """One entry per output from a single value, a list or a dict keyed by output name."""
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - set(names))
        if unknown:
            raise ValueError(f"{what} has keys {unknown} that are not outputs; the outputs are {names}")
        return [spec.get(name, default) for name in names]
    if isinstance(spec, (list, tuple)):
        if len(spec) != len(names):
            raise ValueError(f"{what} has {len(spec)} entries for {len(names)} outputs {names}")
        return list(spec)
    return [spec] * len(names)


@dataclass
class Head:
    """What training attaches to one output: its loss, weight, metrics and fused twin."""

    name: str
    loss: losses.Loss
    weight: float = 1.0
    metrics: list = field(default_factory=list)  # unweighted
    weighted_metrics: list = field(default_factory=list)  # weighted by sample and class weights
    fused: losses.Loss | None = None  # the loss taking the output layer's logits
    logits_layer: object = None  # the layer whose logits feed ``fused``


class CompiledLoss:
    """The total loss of a built model: ``Σ_k w_k L_k`` over its outputs, plus penalties.

    Args:
        spec: the checked ``compile`` arguments.
        model: a built model (its output names and shapes, graph and layers are read).

    Attributes:
        heads: one :class:`Head` per output, in output order.
    """

    def __init__(self, spec: CompileSpec, model):
        names = model.output_names
        loss_list = per_output(spec.loss, names, "loss")
        missing = [n for n, loss in zip(names, loss_list) if loss is None]
        if missing:
            raise ValueError(f"no loss for outputs {missing}")
        weights = [1.0 if w is None else w
                   for w in per_output(spec.loss_weights, names, "loss_weights", 1.0)]
        for w in weights:
            if isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w) or w < 0:
                raise ValueError(f"loss_weights must be finite numbers >= 0, got {w!r}")
        self.heads = []
        for k, (name, loss, weight) in enumerate(zip(names, loss_list, weights)):
            head = Head(name, loss, float(weight))
            layer = model.graph.output_layer(k)
            if layer is not None and layer.activity_regularizer is None:
                head.fused = loss.logits_loss(getattr(layer, "activation", None))
                head.logits_layer = layer if head.fused is not None else None
            self.heads.append(head)
        self.graph = model.graph
        self.xp = model.backend.xp
        layers = model._flat_layers()
        self.regularized = [layer for layer in layers if layer.regularizers]
        self.has_activity = model.graph.has_activity()
        self.mean_reduced = all(h.loss.reduction in MEAN_REDUCTIONS for h in self.heads)

    @property
    def multi(self) -> bool:
        return len(self.heads) > 1

    def _output_loss(self, head: Head, Y, P, weighted: dict):
        if head.fused is not None:  # from the logits: exact where P saturates
            return head.fused.value(self.xp, Y, head.logits_layer.logits(), **weighted)
        return head.loss.value(self.xp, Y, P, **weighted)

    def __call__(self, Ys, Ps, W=None):
        """``(L, Ls)``: the total loss (penalties included) of a forward pass already made,
        and the per-output losses (None for one output), 0-d device arrays."""
        weighted = {} if W is None else {"sample_weight": W}
        Ls = [self._output_loss(h, Y, P, weighted) for h, Y, P in zip(self.heads, Ys, Ps)]
        L = None
        for head, Lk in zip(self.heads, Ls):
            L = _add(L, Lk * head.weight if head.weight != 1.0 else Lk)
        return _add(L, self.penalty(Ps[0].shape[0])), (Ls if self.multi else None)

    def value_and_gradients(self, Ys, Ps, W=None):
        """``(L, Ls, dYs, logits)``: the losses as in :meth:`__call__` but without the
        penalties, the gradient at each output (at its logits where ``logits[k]``)."""
        weighted = {} if W is None else {"sample_weight": W}
        L, Ls, dYs, logits = None, [], [], []
        for head, Y, P in zip(self.heads, Ys, Ps):
            Lk = self._output_loss(head, Y, P, weighted)
            if head.fused is not None:
                dY = head.fused.logits_gradient(self.xp, Y, P, **weighted)
            else:
                dY = head.loss.gradient(self.xp, Y, P, **weighted)
            Ls.append(Lk)
            if head.weight != 1.0:
                Lk, dY = Lk * head.weight, dY * head.weight
            L = _add(L, Lk)
            dYs.append(dY)
            logits.append(head.fused is not None)
        return L, (Ls if self.multi else None), dYs, logits

    def penalty(self, n: int):
        """Weight penalties plus activity penalties (``R(Y)/n``) of the last forward pass,
        a 0-d array, or None when the model has none."""
        total = None
        for layer in self.regularized:
            total = _add(total, layer.regularization_loss())
        if self.has_activity:
            for regularizer, Y in self.graph.activity_terms():
                total = _add(total, regularizer.penalty(self.xp, Y) * (1.0 / n))
        return total

    def add_penalty_gradients(self) -> None:
        """Add ``∂R/∂W`` to the gradients of every regularized trainable weight."""
        for layer in self.regularized:
            if layer.trainable:
                layer.add_regularization_gradients()

    # -- epoch totals -------------------------------------------------------------------
    def accumulate(self, totals, L, Ls, n: int) -> list:
        """Running sums of per-sample losses (each batch loss is reduced over ``n`` samples),
        kept on the device."""
        new = [L * float(n) if self.mean_reduced else L]
        if Ls is not None:
            new += [Lk * (1.0 / h.loss.scale(n)) for Lk, h in zip(Ls, self.heads)]
        return new if totals is None else [t + v for t, v in zip(totals, new)]

    def names(self, prefix: str = "") -> list[str]:
        """The logged names: ``loss``, then ``<output>_loss`` per output when there are several."""
        return [prefix + "loss"] + ([f"{prefix}{h.name}_loss" for h in self.heads] if self.multi else [])

    def logs(self, totals, n: int, prefix: str = "") -> dict:
        """The epoch's mean losses as floats (one device read per value)."""
        values = [float(totals[0]) / (n if self.mean_reduced else 1)]
        values += [float(total) * head.loss.scale(n) for head, total in zip(self.heads, totals[1:])]
        return dict(zip(self.names(prefix), values))


class CompiledMetrics:
    """Each output's metrics and weighted metrics, resolved from ``compile``'s names against its
    loss and units, and the names they are logged under.

    As in Keras 3, ``metrics`` are unweighted and ``weighted_metrics`` are weighted by the
    sample and class weights. Logged names are the metric's name (``o1_`` + name for
    several outputs); a weighted metric whose name is taken is logged as ``weighted_`` +
    name; a name still taken gets ``_1``, ``_2``... A metric whose result is an array (one
    value per class or threshold) is logged as one float per entry, ``name_0``, ``name_1``...

    Args:
        spec: the checked ``compile`` arguments.
        loss: the model's :class:`CompiledLoss` (its heads get their metrics here).
        model: the built model.

    Raises:
        ValueError: one metric object given twice (for two outputs, or as both kinds).
    """

    def __init__(self, spec: CompileSpec, loss: CompiledLoss, model):
        self.heads = loss.heads
        self.xp = model.backend.xp
        seen: list = []
        for kind, attribute in ((spec.metrics, "metrics"), (spec.weighted_metrics, "weighted_metrics")):
            for k, (head, ids) in enumerate(zip(self.heads, _per_head(kind, model.output_names))):
                units = model.output_shapes[k][-1]
                resolved = [metrics_module.get(m, loss=head.loss, output_units=units) for m in ids]
                for m in resolved:  # one object in one place: its sums are its own
                    if any(m is o for o in seen):
                        raise ValueError(f"metric object {m!r} is given twice (for two outputs, or "
                                         "in metrics and weighted_metrics); pass names or one "
                                         "object per place")
                    seen.append(m)
                setattr(head, attribute, resolved)
        self.metrics = ([m for h in self.heads for m in h.metrics]
                        + [m for h in self.heads for m in h.weighted_metrics])
        self.names = self._log_names()

    def _log_names(self) -> list[str]:
        """The logged name of each of :attr:`metrics`, in order (Keras's ``CompileMetrics``)."""
        multi = len(self.heads) > 1
        taken: dict[str, int] = {}

        def unique(name: str) -> str:
            if name not in taken:
                taken[name] = 1
                return name
            index, taken[name] = taken[name], taken[name] + 1
            return f"{name}_{index}"

        names = [unique(f"{h.name}_{m.name}" if multi else m.name) for h in self.heads for m in h.metrics]
        for h in self.heads:
            for m in h.weighted_metrics:
                name = f"{h.name}_{m.name}" if multi else m.name
                if name in taken:
                    name = f"{h.name}_weighted_{m.name}" if multi else f"weighted_{m.name}"
                names.append(unique(name))
        return names

    def reset(self) -> None:
        for m in self.metrics:
            m.reset()

    def update(self, Ys, Ps, W=None) -> None:
        """Add one batch to every metric (no device read): ``W`` goes to the weighted ones."""
        weighted = {} if W is None else {"sample_weight": W}
        for head, Y, P in zip(self.heads, Ys, Ps):
            for m in head.metrics:
                m.update(self.xp, Y, P)
            for m in head.weighted_metrics:
                m.update(self.xp, Y, P, **weighted)

    def logs(self, prefix: str = "") -> dict:
        """``{name: float}`` with Keras's names (``o1_accuracy`` for several outputs)."""
        logs = {}
        for name, m in zip(self.names, self.metrics):
            value = m.result()
            if isinstance(value, float):
                logs[prefix + name] = value
            else:
                logs.update({f"{prefix}{name}_{i}": float(v) for i, v in enumerate(value)})
        return logs


def _per_head(spec, names: list[str]) -> list[list]:
    """The metric identifiers of each output: a dict keys them by output name; a list (or one
    metric) applies to every output."""
    if isinstance(spec, dict):
        lists = per_output(spec, names, "metrics", [])
    else:
        lists = [list(spec or [])] * len(names)
    return [[m] if isinstance(m, _ONE_METRIC) else list(m or []) for m in lists]


def _add(total, term):
    if term is None:
        return total
    return term if total is None else total + term
