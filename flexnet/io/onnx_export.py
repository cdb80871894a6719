"""ONNX export: a built model as an ONNX graph that onnxruntime (or any ONNX runtime) runs.

Each layer becomes the ONNX operators that compute its inference-mode forward pass:
Dense is ``Gemm`` followed by its activation, Dropout disappears, BatchNormalization is
folded into the ``Gemm`` before it (or is ``BatchNormalization``, or a ``Mul``/``Add``
on other axes), LayerNormalization is ``LayerNormalization`` (opset 17 and later),
Flatten is ``Flatten``, the merge layers are ``Sum``, ``Sub``, ``Mul``, ``Mean``,
``Max``, ``Min`` and ``Concat``; nested models are inlined. Activations that ONNX has
are its operators; the others are compositions of them (SiLU is ``x·Sigmoid(x)``, exact
GELU is ``x·(1 + Erf(x/√2))/2`` before opset 20, which has ``Gelu``). A layer or
activation with no ONNX form is a ``ValueError`` naming it; no file is written then.
The ``onnx`` package is needed (``pip install flexnet[onnx]``).
"""

from __future__ import annotations

import math

import numpy as np

from flexnet import activations as acts
from flexnet import layers as L
from flexnet.io.archive import atomic_write
from flexnet.layers.merging import Merge
from flexnet.models import Model

__all__ = ["DEFAULT_OPSET", "FORMATS", "export", "to_onnx"]

#: The default ONNX opset: the first with LayerNormalization.
DEFAULT_OPSET = 17
_MIN_OPSET = 13  # Softmax along one axis, Gemm without C, Sum/Mean/Max/Min on any count


def _onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(f"ONNX export needs the onnx package ({exc}): pip install flexnet[onnx]") from None
    return onnx


class _Builder:
    """Collects the nodes and initializers of one ONNX graph."""

    def __init__(self, onnx, dtype: str, opset: int):
        self.onnx, self.helper = onnx, onnx.helper
        self.np_dtype = np.dtype(dtype)
        self.elem_type = onnx.helper.np_dtype_to_tensor_dtype(self.np_dtype)
        self.opset = opset
        self.nodes, self.initializers = [], []
        self._names: set[str] = set()
        self._weights: dict[tuple[int, str], str] = {}

    def fresh(self, hint: str) -> str:
        """A name not used yet in the graph, based on ``hint``."""
        name, i = hint, 0
        while name in self._names:
            i += 1
            name = f"{hint}_{i}"
        self._names.add(name)
        return name

    def const(self, hint: str, value) -> str:
        """An initializer holding ``value`` (in the graph's float dtype unless it is an integer array)."""
        value = np.asarray(value)
        if value.dtype.kind == "f":
            value = value.astype(self.np_dtype)
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(value, name))
        return name

    def weight(self, layer, key: str, value) -> str:
        """The initializer of a layer's weight, made once however many times the layer is called."""
        cache_key = (id(layer), key)
        if cache_key not in self._weights:
            self._weights[cache_key] = self.const(f"{layer.name}/{key}", value)
        return self._weights[cache_key]

    def scalar(self, hint: str, value: float) -> str:
        return self.const(hint, np.asarray(value, dtype=self.np_dtype))

    def op(self, op_type: str, inputs: list[str], hint: str, **attributes) -> str:
        """Add one node; returns the name of its output."""
        out = self.fresh(hint)
        self.nodes.append(self.helper.make_node(op_type, inputs, [out], name=self.fresh(f"{hint}/{op_type}"),
                                                **attributes))
        return out


# ---------------------------------------------------------------------------
# Activations: (builder, activation, input name, hint) -> output name.


def _named(op_type: str, **attributes):
    def convert(b, act, x, hint):
        return b.op(op_type, [x], hint, **attributes)
    return convert


def _step(b, act, x, hint):
    positive = b.op("Greater", [x, b.scalar(f"{hint}/zero", 0.0)], f"{hint}/positive")
    return b.op("Cast", [positive], hint, to=b.elem_type)


def _silu(b, act, x, hint):
    return b.op("Mul", [x, b.op("Sigmoid", [x], f"{hint}/sigmoid")], hint)


def _smooth_relu(b, act, x, hint):
    square = b.op("Mul", [x, x], f"{hint}/square")
    root = b.op("Sqrt", [b.op("Add", [square, b.scalar(f"{hint}/epsilon", act.epsilon)], f"{hint}/sum")],
                f"{hint}/sqrt")
    return b.op("Mul", [b.op("Add", [x, root], f"{hint}/twice"), b.scalar(f"{hint}/half", 0.5)], hint)


def _gelu(b, act, x, hint):
    if b.opset >= 20:
        return b.op("Gelu", [x], hint, approximate="tanh" if act.approximate else "none")
    if act.approximate:  # x (1 + tanh(√(2/π) (x + 0.044715 x³))) / 2
        cube = b.op("Mul", [b.op("Mul", [x, x], f"{hint}/square"), x], f"{hint}/cube")
        inner = b.op("Add", [x, b.op("Mul", [cube, b.scalar(f"{hint}/c", 0.044715)], f"{hint}/cx3")],
                     f"{hint}/inner")
        u = b.op("Mul", [inner, b.scalar(f"{hint}/k", math.sqrt(2.0 / math.pi))], f"{hint}/u")
        gate = b.op("Tanh", [u], f"{hint}/tanh")
    else:  # x (1 + erf(x / √2)) / 2
        gate = b.op("Erf", [b.op("Mul", [x, b.scalar(f"{hint}/k", math.sqrt(0.5))], f"{hint}/u")],
                    f"{hint}/erf")
    one_plus = b.op("Add", [gate, b.scalar(f"{hint}/one", 1.0)], f"{hint}/one_plus")
    half_x = b.op("Mul", [x, b.scalar(f"{hint}/half", 0.5)], f"{hint}/half_x")
    return b.op("Mul", [half_x, one_plus], hint)


def _elu(b, act, x, hint):
    return b.op("Elu", [x], hint, alpha=act.alpha)


def _selu(b, act, x, hint):
    return b.op("Selu", [x], hint, alpha=acts.SELU.alpha, gamma=acts.SELU.scale)


def _leaky_relu(b, act, x, hint):
    return b.op("LeakyRelu", [x], hint, alpha=act.negative_slope)


def _clip(low: float, high: float):
    def convert(b, act, x, hint):
        return b.op("Clip", [x, b.scalar(f"{hint}/low", low), b.scalar(f"{hint}/high", high)], hint)
    return convert


def _relu(b, act, x, hint):
    """Keras 3's relu: ``clip(z [z > θ], 0, m) - a max(θ - z, 0)`` (plain Relu by default)."""
    if act.negative_slope == 0.0 and act.max_value is None and act.threshold == 0.0:
        return b.op("Relu", [x], hint)
    above = b.op("Cast", [b.op("Greater", [x, b.scalar(f"{hint}/theta", act.threshold)], f"{hint}/gt")],
                 f"{hint}/above", to=b.elem_type)
    y = b.op("Mul", [x, above], f"{hint}/passed")
    if act.max_value is not None:
        y = b.op("Clip", [y, b.scalar(f"{hint}/zero", 0.0), b.scalar(f"{hint}/cap", act.max_value)],
                 f"{hint}/capped")
    if act.negative_slope != 0.0:
        below = b.op("Relu", [b.op("Sub", [b.scalar(f"{hint}/theta2", act.threshold), x], f"{hint}/gap")],
                     f"{hint}/below")
        y = b.op("Sub", [y, b.op("Mul", [below, b.scalar(f"{hint}/slope", act.negative_slope)],
                                 f"{hint}/leak")], hint)
    return y


def _log_sigmoid(b, act, x, hint):  # log σ(z) = -softplus(-z)
    neg = b.op("Neg", [x], f"{hint}/neg")
    return b.op("Neg", [b.op("Softplus", [neg], f"{hint}/softplus")], hint)


def _mish(b, act, x, hint):
    if b.opset >= 18:
        return b.op("Mish", [x], hint)
    return b.op("Mul", [x, b.op("Tanh", [b.op("Softplus", [x], f"{hint}/softplus")], f"{hint}/tanh")], hint)


def _celu(b, act, x, hint):
    return b.op("Celu", [x], hint, alpha=act.alpha)


def _softmax_axes(log: bool):
    """Softmax (or log-softmax) over one axis, or over several: ``e^{z - max} / Σ e^{z - max}``
    reduced over all of them."""
    def convert(b, act, x, hint):
        axes = act.axis if isinstance(act.axis, tuple) else (act.axis,)
        if len(axes) == 1:
            return b.op("LogSoftmax" if log else "Softmax", [x], hint, axis=axes[0])
        axes_name = b.const(f"{hint}/axes", np.asarray(axes, dtype=np.int64))
        shifted = b.op("Sub", [x, b.op("ReduceMax", [x, axes_name], f"{hint}/max", keepdims=1)],
                       f"{hint}/shifted")
        total = b.op("ReduceSum", [b.op("Exp", [shifted], f"{hint}/exp"), axes_name], f"{hint}/sum",
                     keepdims=1)
        if log:
            return b.op("Sub", [shifted, b.op("Log", [total], f"{hint}/log")], hint)
        return b.op("Div", [b.op("Exp", [shifted], f"{hint}/exp2"), total], hint)
    return convert


#: Activation class -> converter. Exact classes: a subclass may compute something else.
ACTIVATIONS = {
    acts.ReLU: _relu,
    acts.ReLU6: _clip(0.0, 6.0),
    acts.HardTanh: _clip(-1.0, 1.0),
    acts.Softsign: _named("Softsign"),
    acts.Exponential: _named("Exp"),
    acts.HardSiLU: _named("HardSwish"),
    acts.LogSigmoid: _log_sigmoid,
    acts.Mish: _mish,
    acts.CELU: _celu,
    acts.Sigmoid: _named("Sigmoid"),
    acts.Tanh: _named("Tanh"),
    acts.Softplus: _named("Softplus"),
    acts.Sign: _named("Sign"),
    acts.HardSigmoid: _named("HardSigmoid", alpha=1.0 / 6.0, beta=0.5),
    acts.ELU: _elu,
    acts.SELU: _selu,
    acts.LeakyReLU: _leaky_relu,
    acts.Softmax: _softmax_axes(log=False),
    acts.LogSoftmax: _softmax_axes(log=True),
    acts.Step: _step,
    acts.SiLU: _silu,
    acts.SmoothReLU: _smooth_relu,
    acts.GELU: _gelu,
}


def _activation(b, act, x, hint: str, where: str) -> str:
    if type(act) is acts.Linear:
        return x
    convert = ACTIVATIONS.get(type(act))
    if convert is None:
        raise ValueError(f"{where}: activation {act!r} has no ONNX form; the activations that export are "
                         f"{sorted(c.name for c in ACTIVATIONS)} and linear")
    return convert(b, act, x, hint)


# ---------------------------------------------------------------------------
# Layers: (builder, layer, input names, fold) -> output name.


def _dense(b, layer, xs, fold=None):
    W, bias = layer.params["kernel"], layer.params.get("bias")
    if fold is None:
        inputs = [xs[0], b.weight(layer, "kernel", layer.backend.to_numpy(W))]
        if bias is not None:
            inputs.append(b.weight(layer, "bias", layer.backend.to_numpy(bias)))
    else:  # a BatchNormalization after it: Y = (XW + b) a + c = X (W a) + (b a + c)
        a, c = fold
        W, bias = layer.backend.to_numpy(W), None if bias is None else layer.backend.to_numpy(bias)
        inputs = [xs[0], b.const(f"{layer.name}/kernel_folded", W * a),
                  b.const(f"{layer.name}/bias_folded", c if bias is None else bias * a + c)]
    linear = type(layer.activation) is acts.Linear
    Z = b.op("Gemm", inputs, layer.name if linear else f"{layer.name}/gemm")
    return _activation(b, layer.activation, Z, layer.name, f"layer {layer.name!r}")


def _batch_norm_stats(layer) -> dict[str, np.ndarray]:
    """γ, β (ones and zeros when turned off), the moving mean and variance, on the host."""
    to_numpy = layer.backend.to_numpy
    mean, var = to_numpy(layer.buffers["moving_mean"]), to_numpy(layer.buffers["moving_variance"])
    return {"gamma": to_numpy(layer.params["gamma"]) if layer.scale else np.ones_like(mean),
            "beta": to_numpy(layer.params["beta"]) if layer.center else np.zeros_like(mean),
            "moving_mean": mean, "moving_variance": var}


def _batch_norm_affine(layer) -> tuple[np.ndarray, np.ndarray]:
    """``a, c`` with ``BN(X) = X a + c`` in inference (per feature of the layer's axis)."""
    stats = _batch_norm_stats(layer)
    a = stats["gamma"] / np.sqrt(stats["moving_variance"] + layer.epsilon)
    return a, stats["beta"] - stats["moving_mean"] * a


def _batch_norm(b, layer, xs, fold=None):
    if layer.axis % len(layer._broadcast_shape) == 1:  # ONNX's channel axis
        inputs = [xs[0]] + [b.weight(layer, k, v) for k, v in _batch_norm_stats(layer).items()]
        return b.op("BatchNormalization", inputs, layer.name, epsilon=layer.epsilon)
    a, c = _batch_norm_affine(layer)
    shape = (1, *layer._broadcast_shape[1:])
    scaled = b.op("Mul", [xs[0], b.weight(layer, "scale", a.reshape(shape))], f"{layer.name}/scaled")
    return b.op("Add", [scaled, b.weight(layer, "offset", c.reshape(shape))], layer.name)


def _layer_norm(b, layer, xs, fold=None):
    rank = len(layer._broadcast_shape)
    axes = layer._axes
    if axes != tuple(range(axes[0], rank)):
        raise ValueError(f"layer {layer.name!r}: ONNX's LayerNormalization normalizes over the last axes, "
                         f"from one axis to the end; this layer normalizes over axes {list(axes)} of "
                         f"inputs of rank {rank}")
    if b.opset < 17:
        raise ValueError(f"layer {layer.name!r}: LayerNormalization needs opset 17 or later, got "
                         f"opset={b.opset}")
    to_numpy = layer.backend.to_numpy
    shape = layer._param_shape
    gamma = to_numpy(layer.params["gamma"]) if layer.scale else np.ones(shape)
    beta = to_numpy(layer.params["beta"]) if layer.center else np.zeros(shape)
    return b.op("LayerNormalization", [xs[0], b.weight(layer, "gamma", gamma), b.weight(layer, "beta", beta)],
                layer.name, axis=axes[0], epsilon=layer.epsilon)


def _prelu(b, layer, xs, fold=None):
    alpha = layer.backend.to_numpy(layer.params["alpha"])
    return b.op("PRelu", [xs[0], b.weight(layer, "alpha", alpha)], layer.name)


def _activation_layer(b, layer, xs, fold=None):
    out = _activation(b, layer.activation, xs[0], layer.name, f"layer {layer.name!r}")
    return out if out != xs[0] else b.op("Identity", [out], layer.name)


def _flatten(b, layer, xs, fold=None):
    return b.op("Flatten", [xs[0]], layer.name, axis=1)


def _identity(b, layer, xs, fold=None):
    return xs[0]


def _chain(op_type):
    """A binary ONNX operator applied left to right over any number of inputs."""
    def convert(b, layer, xs, fold=None):
        out = xs[0]
        for i, x in enumerate(xs[1:], 1):
            out = b.op(op_type, [out, x], layer.name if i == len(xs) - 1 else f"{layer.name}/{i}")
        return out
    return convert


def _variadic(op_type):
    def convert(b, layer, xs, fold=None):
        return b.op(op_type, list(xs), layer.name)
    return convert


def _concatenate(b, layer, xs, fold=None):
    return b.op("Concat", list(xs), layer.name, axis=layer.axis)


#: Layer class -> converter. Exact classes: a subclass may compute something else.
LAYERS = {
    L.Dense: _dense,
    L.Activation: _activation_layer,
    L.Dropout: _identity,
    L.Flatten: _flatten,
    L.BatchNormalization: _batch_norm,
    L.LayerNormalization: _layer_norm,
    L.PReLU: _prelu,
    L.Add: _variadic("Sum"),
    L.Subtract: _chain("Sub"),
    L.Multiply: _chain("Mul"),
    L.Average: _variadic("Mean"),
    L.Maximum: _variadic("Max"),
    L.Minimum: _variadic("Min"),
    L.Concatenate: _concatenate,
}


# ---------------------------------------------------------------------------
# The graph.


def _foldable(graph) -> dict[int, object]:
    """``{id(Dense step): its BatchNormalization layer}`` for each BatchNormalization that reads
    only the output of a linear Dense that nothing else reads (called once, not an output)."""
    readers: dict[int, int] = {}
    for step in graph.steps:
        for slot in step.ins:
            readers[slot] = readers.get(slot, 0) + 1
    producer = {step.out: step for step in graph.steps}
    calls: dict[int, int] = {}
    for step in graph.steps:
        calls[id(step.op)] = calls.get(id(step.op), 0) + 1
    folds = {}
    for step in graph.steps:
        dense = producer.get(step.ins[0]) if len(step.ins) == 1 else None
        if (type(step.op) is L.BatchNormalization and dense is not None and type(dense.op) is L.Dense
                and type(dense.op.activation) is acts.Linear and readers[dense.out] == 1
                and dense.out not in graph.output_slots and calls[id(dense.op)] == 1
                and calls[id(step.op)] == 1):  # Dense outputs are 2-D: the features are axis 1
            folds[id(dense)] = step.op
    return folds


def _emit(b, model, inputs: list[str]) -> list[str]:
    """Add ``model``'s graph to the builder, reading the tensors ``inputs``; returns the names
    of its outputs."""
    graph = model.graph
    names: dict[int, str] = dict(zip(graph.input_slots, inputs))
    folds = _foldable(graph)
    folded = {id(layer) for layer in folds.values()}
    for step in graph.steps:
        op, xs = step.op, [names[s] for s in step.ins]
        if isinstance(op, Model):
            names[step.out] = _emit(b, op, xs)[0]
            continue
        if id(op) in folded:  # its affine map is inside the Dense before it
            names[step.out] = xs[0]
            continue
        convert = LAYERS.get(type(op))
        if convert is None:
            kind = "merge layer" if isinstance(op, Merge) else "layer"
            raise ValueError(
                f"cannot export model {model.name!r} to ONNX: {kind} {op.name!r} of class "
                f"{type(op).__name__} has no ONNX form; the layers that export are "
                f"{sorted(c.__name__ for c in LAYERS)} (and InputLayer, and nested models of them)"
            )
        fold = folds.get(id(step))
        names[step.out] = convert(b, op, xs, None if fold is None else _batch_norm_affine(fold))
    return [names[s] for s in graph.output_slots]


def _value_info(b, name: str, shape) -> object:
    dims = ["batch" if d is None else int(d) for d in shape]
    return b.helper.make_tensor_value_info(name, b.elem_type, dims)


def to_onnx(model, filepath=None, *, opset: int = DEFAULT_OPSET, dtype: str | None = None):
    """The ONNX graph of a built model; written to ``filepath`` (atomically) when one is given.

    Args:
        model: a built flexnet model (Sequential or functional, several inputs and
            outputs allowed).
        filepath: where to write the ``.onnx`` file; None only returns the graph.
        opset: the ONNX opset (13 or later; LayerNormalization needs 17, the default;
            20 and later export GELU as ONNX's ``Gelu``).
        dtype: ``"float32"`` or ``"float64"`` for the graph's tensors; default the
            model's dtype.

    Returns:
        the ``onnx.ModelProto``, checked with ``onnx.checker.check_model(full_check=True)``.
        Its inputs and outputs are named as the model's (``model.input_names``,
        ``model.output_names``; an output named like an input gets a suffix) with a free
        batch axis ``"batch"``.

    Raises:
        ValueError: an unbuilt model, a layer or activation with no ONNX form (naming
            it), or an unsupported opset or dtype.
        ImportError: the ``onnx`` package is not installed.

    Example::

        fx.export.to_onnx(model, "model.onnx")
        session = onnxruntime.InferenceSession("model.onnx")
        (P,) = session.run(None, {model.input_names[0]: x.astype("float32")})
    """
    onnx = _onnx()
    if not isinstance(model, Model):
        raise TypeError(f"to_onnx exports a flexnet model, got {type(model).__name__}")
    model._require_built("ONNX export")
    if isinstance(opset, bool) or not isinstance(opset, int) or not _MIN_OPSET <= opset <= \
            onnx.defs.onnx_opset_version():
        raise ValueError(f"opset must be an int from {_MIN_OPSET} to {onnx.defs.onnx_opset_version()} "
                         f"(this onnx's newest), got {opset!r}")
    dtype = model.dtype if dtype is None else dtype
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    b = _Builder(onnx, dtype, opset)
    inputs = [b.fresh(name) for name in model.input_names]
    outputs = [b.fresh(name) for name in model.output_names]  # reserved before any node is named
    for out, final in zip(_emit(b, model, inputs), outputs):
        b.nodes.append(b.helper.make_node("Identity", [out], [final], name=b.fresh(f"{final}/output")))
    graph = b.helper.make_graph(
        b.nodes, model.name,
        [_value_info(b, n, s) for n, s in zip(inputs, model.input_shapes)],
        [_value_info(b, n, s) for n, s in zip(outputs, model.output_shapes)],
        initializer=b.initializers,
    )
    opsets = [b.helper.make_opsetid("", opset)]
    proto = b.helper.make_model(graph, opset_imports=opsets, producer_name="flexnet",
                                ir_version=b.helper.find_min_ir_version_for(opsets))
    onnx.checker.check_model(proto, full_check=True)
    if filepath is not None:
        data = proto.SerializeToString()
        atomic_write(filepath, lambda f: f.write(data))
    return proto


#: The formats ``model.export`` writes.
FORMATS = ("onnx",)


def export(model, filepath, format: str = "onnx", **kwargs) -> None:
    """The body of ``model.export(filepath, format)`` (Keras's name): dispatch on ``format``.

    Raises:
        ValueError: a format flexnet does not export.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {list(FORMATS)} (the formats flexnet exports), got "
                         f"{format!r}; model.save(path) writes flexnet and Keras (.keras) files")
    to_onnx(model, filepath, **kwargs)
