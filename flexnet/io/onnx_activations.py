"""ONNX forms of flexnet's activations, for :mod:`flexnet.io.onnx_export`.

Each converter takes ``(builder, activation, input name, hint)`` and returns the name of
the output: the ONNX operator of that name where ONNX has one, a composition of operators
otherwise (SiLU is ``x·Sigmoid(x)``, exact GELU ``x·(1 + Erf(x/√2))/2`` before opset 20).
"""

from __future__ import annotations

import math

import numpy as np

from flexnet import activations as acts

__all__ = ["ACTIVATIONS", "convert_activation", "relu"]


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
    """``LeakyRelu``, whose slope is a float32 attribute; where float32 would round the slope
    (a float64 graph), ``PRelu`` with the slope as a constant of the graph's dtype."""
    a = act.negative_slope
    if b.np_dtype == np.float32 or float(np.float32(a)) == a:
        return b.op("LeakyRelu", [x], hint, alpha=a)
    return b.op("PRelu", [x, b.scalar(f"{hint}/slope", a)], hint)


def _clip(low: float, high: float):
    def convert(b, act, x, hint):
        return b.op("Clip", [x, b.scalar(f"{hint}/low", low), b.scalar(f"{hint}/high", high)], hint)
    return convert


def relu(b, act, x, hint):
    """Keras 3's relu: ``clip(z [z > θ], 0, m) - a max(θ - z, 0)`` (plain Relu by default).

    ``act`` is anything with ``negative_slope`` (a), ``max_value`` (m, None for no cap) and
    ``threshold`` (θ): the activation, or the ReLU layer, which computes the same."""
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
        if b.opset >= 18:  # ReduceMax takes its axes as an input from opset 18, an attribute before
            top = b.op("ReduceMax", [x, axes_name], f"{hint}/max", keepdims=1)
        else:
            top = b.op("ReduceMax", [x], f"{hint}/max", axes=list(axes), keepdims=1)
        shifted = b.op("Sub", [x, top], f"{hint}/shifted")
        total = b.op("ReduceSum", [b.op("Exp", [shifted], f"{hint}/exp"), axes_name], f"{hint}/sum",
                     keepdims=1)
        if log:
            return b.op("Sub", [shifted, b.op("Log", [total], f"{hint}/log")], hint)
        return b.op("Div", [b.op("Exp", [shifted], f"{hint}/exp2"), total], hint)
    return convert


#: Activation class -> converter. Exact classes: a subclass may compute something else.
ACTIVATIONS = {
    acts.ReLU: relu,
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


def convert_activation(b, act, x, hint: str, where: str) -> str:
    """The output of ``act`` applied to the tensor ``x`` (``x`` itself for linear); ``where``
    names the layer in the error for an activation with no ONNX form."""
    if type(act) is acts.Linear:
        return x
    convert = ACTIVATIONS.get(type(act))
    if convert is None:
        raise ValueError(f"{where}: activation {act!r} has no ONNX form; the activations that export are "
                         f"{sorted(c.name for c in ACTIVATIONS)} and linear")
    return convert(b, act, x, hint)
