"""Rectifiers: ReLU (with Keras 3's slope, cap and threshold) and ReLU6, the smooth, leaky and
exponential kin (smooth ReLU, leaky ReLU, ELU, SELU, CELU, softplus) and the self-gated ones
(SiLU, hard SiLU, mish).
"""

from __future__ import annotations

from flexnet.activations.base import ACTIVATIONS, ActivationFunction, _number
from flexnet.activations.elementwise import sigmoid

__all__ = ["CELU", "ELU", "SELU", "HardSiLU", "LeakyReLU", "Mish", "ReLU", "ReLU6", "SiLU",
           "SmoothReLU", "Softplus"]


# -- ReLU and its capped, leaky, smooth forms ------------------------------------------------------


@ACTIVATIONS.register("relu")
class ReLU(ActivationFunction):
    """Rectified linear unit with Keras 3's arguments (``keras.activations.relu``).

    With the defaults, ``f(z) = max(z, 0)``. In general, with slope ``a``, cap ``m`` and
    threshold ``θ``::

        f(z) = clip(z [z > θ], 0, m) - a max(θ - z, 0)      (no clip when m is None)
        f'(z) = [z > θ] [0 < z < m] + a [z < θ]              ([0 < z < m] is 1 when m is None)

    so values above ``θ`` pass (capped at ``m``), and values below ``θ`` get slope ``a``.
    This is Keras's formula term for term: for ``θ < 0`` and no cap, ``f(z) = z`` on
    ``θ < z ≤ 0``. ``ReLU(max_value=6.0)`` is :class:`ReLU6`; ``ReLU(threshold=θ)`` is
    ``torch.nn.functional.threshold(z, θ, 0)`` for ``θ ≥ 0``.

    Nair & Hinton, "Rectified Linear Units Improve Restricted Boltzmann Machines", ICML 2010.

    Args:
        negative_slope: ``a``, the slope below the threshold.
        max_value: ``m ≥ 0``, the largest value returned, or ``None`` (no cap).
        threshold: ``θ``, below which values are damped (to 0 when ``a = 0``).

    Example:
        >>> import numpy as np
        >>> ReLU(negative_slope=0.5)(np.array([-10.0, -5.0, 0.0, 5.0, 10.0]))
        array([-5. , -2.5,  0. ,  5. , 10. ])
        >>> ReLU(threshold=5.0)(np.array([-10.0, -5.0, 0.0, 5.0, 10.0]))   # as Keras's docstring
        array([-0., -0.,  0.,  0., 10.])
    """

    name = "relu"

    def __init__(self, negative_slope: float = 0.0, max_value: float | None = None,
                 threshold: float = 0.0):
        self.negative_slope = _number(negative_slope, "negative_slope")
        self.max_value = None if max_value is None else _number(max_value, "max_value")
        if self.max_value is not None and self.max_value < 0.0:
            raise ValueError(f"max_value must be >= 0 or None, got {max_value!r}")
        self.threshold = _number(threshold, "threshold")

    @property
    def _plain(self) -> bool:
        return self.negative_slope == 0.0 and self.max_value is None and self.threshold == 0.0

    def forward(self, xp, Z):
        if self._plain:
            return xp.maximum(Z, 0.0)  # a Python scalar operand (Array API 2024.12): no zeros array
        Y = Z * xp.astype(Z > self.threshold, Z.dtype)
        if self.max_value is not None:
            Y = xp.clip(Y, 0.0, self.max_value)
        if self.negative_slope != 0.0:
            Y = Y - self.negative_slope * xp.maximum(self.threshold - Z, 0.0)
        return Y

    def backward(self, xp, Z, Y, dY):
        if self._plain:
            return dY * xp.astype(Z > 0, dY.dtype)  # not where(): 15x slower on NumPy
        passing = Z > self.threshold
        if self.max_value is not None:
            passing = passing & (Z > 0) & (Z < self.max_value)
        D = xp.astype(passing, dY.dtype)
        if self.negative_slope != 0.0:
            D = D + xp.astype(Z < self.threshold, dY.dtype) * self.negative_slope
        return dY * D

    def get_config(self) -> dict:
        return {"negative_slope": self.negative_slope, "max_value": self.max_value,
                "threshold": self.threshold}


@ACTIVATIONS.register("relu6")
class ReLU6(ActivationFunction):
    """ReLU capped at 6: ``f(z) = min(max(z, 0), 6)``; ``f'(z) = 1`` for ``0 < z < 6``, else 0.

    Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
    Applications", 2017.
    """

    name = "relu6"

    def forward(self, xp, Z):
        return xp.clip(Z, 0.0, 6.0)

    def backward(self, xp, Z, Y, dY):
        return dY * xp.astype((Z > 0.0) & (Z < 6.0), dY.dtype)


@ACTIVATIONS.register("smooth_relu")
class SmoothReLU(ActivationFunction):
    """Smooth ReLU ``f(z) = (z + sqrt(z² + ε)) / 2``, ``f'(z) = (z / sqrt(z² + ε) + 1) / 2``.

    A differentiable ReLU: ``f(0) = sqrt(ε)/2`` and ``|f(z) - max(z, 0)| ≤ sqrt(ε)/2``.
    With ``s = sqrt(z² + ε)`` and ``p = s + |z|`` (no cancellation), ``(s + z)(s - z) = ε``
    gives ``f(z) = p/2`` for ``z ≥ 0`` and ``ε/(2p)`` for ``z < 0``, and ``f'(z) = f(z)/s``.

    Args:
        epsilon: ``ε > 0``, the smoothing; smaller is closer to ReLU.
    """

    name = "smooth_relu"

    def __init__(self, epsilon: float = 1e-3):
        self.epsilon = _number(epsilon, "epsilon", positive=True)

    def forward(self, xp, Z):
        P = xp.sqrt(Z * Z + self.epsilon) + xp.abs(Z)
        return xp.where(Z >= 0, P * 0.5, (0.5 * self.epsilon) / P)

    def backward(self, xp, Z, Y, dY):
        return dY * Y / xp.sqrt(Z * Z + self.epsilon)

    def get_config(self) -> dict:
        return {"epsilon": self.epsilon}


@ACTIVATIONS.register("leaky_relu")
class LeakyReLU(ActivationFunction):
    """Leaky ReLU: ``f(z) = z`` for ``z > 0``, ``a·z`` otherwise; ``f'(z) = 1`` or ``a``.

    The default slope ``a = 0.2`` is that of ``keras.activations.leaky_relu``
    (Keras 3); ``keras.layers.LeakyReLU`` uses 0.3 and PyTorch 0.01.

    Maas, Hannun & Ng, "Rectifier Nonlinearities Improve Neural Network Acoustic Models",
    ICML 2013.

    Args:
        negative_slope: ``a``, the slope for ``z ≤ 0`` (Keras 2 called it ``alpha``,
            which is accepted as a keyword too).
    """

    name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.2, *, alpha: float | None = None):
        if alpha is not None:
            if negative_slope != 0.2:
                raise ValueError("give negative_slope or alpha (its Keras 2 name), not both")
            negative_slope = alpha
        self.negative_slope = _number(negative_slope, "negative_slope")

    def _slope(self, xp, Z):
        """``f'(z)``: 1 for ``z > 0``, else ``a``, from a 0/1 mask."""
        a = self.negative_slope
        return xp.astype(Z > 0, Z.dtype) * (1.0 - a) + a

    def forward(self, xp, Z):
        return Z * self._slope(xp, Z)

    def backward(self, xp, Z, Y, dY):
        return dY * self._slope(xp, Z)

    def get_config(self) -> dict:
        return {"negative_slope": self.negative_slope}


# -- exponential units ----------------------------------------------------------------------------


@ACTIVATIONS.register("elu")
class ELU(ActivationFunction):
    """Exponential linear unit (Clevert et al., "Fast and Accurate Deep Network Learning
    by Exponential Linear Units (ELUs)", ICLR 2016).

    ``f(z) = z`` for ``z > 0``, ``α (e^z - 1)`` otherwise; ``f'(z) = 1`` or
    ``α e^z = f(z) + α``. Computed as ``max(z, 0) + α·expm1(min(z, 0))``: no overflow.

    Args:
        alpha: ``α``, the value ``f`` tends to as ``z → -∞`` is ``-α``.
    """

    name = "elu"
    scale = 1.0

    def __init__(self, alpha: float = 1.0):
        self.alpha = _number(alpha, "alpha")

    def forward(self, xp, Z):
        zero = xp.zeros_like(Z)
        Y = xp.maximum(Z, zero) + self.alpha * xp.expm1(xp.minimum(Z, zero))
        return Y if self.scale == 1.0 else Y * self.scale

    def backward(self, xp, Z, Y, dY):
        positive = xp.astype(Z > 0, Z.dtype)
        # f'(z) = λ for z > 0, f(z) + λα for z ≤ 0 (Y is finite, so the masked term is 0).
        D = positive * self.scale + (1.0 - positive) * (Y + self.scale * self.alpha)
        return dY * D

    def get_config(self) -> dict:
        return {"alpha": self.alpha}


@ACTIVATIONS.register("selu")
class SELU(ELU):
    """Scaled ELU (Klambauer et al., "Self-Normalizing Neural Networks", NeurIPS 2017):
    ``f(z) = λ z`` for ``z > 0``, ``λ α (e^z - 1)`` otherwise; ``f'(z) = λ`` or ``f(z) + λα``,
    with ``α ≈ 1.6733`` and ``λ ≈ 1.0507`` (the constants of Keras and PyTorch).
    Use it with ``lecun_normal`` initialization.
    """

    name = "selu"
    alpha = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946

    def __init__(self):
        pass

    def get_config(self) -> dict:
        return {}


@ACTIVATIONS.register("celu")
class CELU(ActivationFunction):
    """Continuously differentiable ELU (Barron, "Continuously Differentiable Exponential
    Linear Units", 2017), as ``keras.activations.celu`` and ``torch.nn.functional.celu``.

    ``f(z) = z`` for ``z ≥ 0``, ``α (e^{z/α} - 1)`` otherwise; ``f'(z) = 1`` or ``e^{z/α}``.
    Computed as ``max(z, 0) + α·expm1(min(z, 0)/α)``: no overflow. ``α = 1`` is :class:`ELU`.

    Args:
        alpha: ``α > 0``; ``f`` tends to ``-α`` as ``z → -∞``.
    """

    name = "celu"

    def __init__(self, alpha: float = 1.0):
        self.alpha = _number(alpha, "alpha", positive=True)

    def forward(self, xp, Z):
        return xp.maximum(Z, 0.0) + self.alpha * xp.expm1(xp.minimum(Z, 0.0) * (1.0 / self.alpha))

    def backward(self, xp, Z, Y, dY):
        return dY * xp.exp(xp.minimum(Z, 0.0) * (1.0 / self.alpha))  # 1 for z ≥ 0

    def get_config(self) -> dict:
        return {"alpha": self.alpha}


@ACTIVATIONS.register("softplus")
class Softplus(ActivationFunction):
    """Softplus ``f(z) = log(1 + e^z)``, ``f'(z) = σ(z)``.

    Computed as ``max(z, 0) + log1p(e^{-|z|})`` (no overflow) and the derivative as
    ``σ(z) = 1 - e^{-f(z)} = -expm1(-f(z))``, accurate in both tails.
    """

    name = "softplus"

    def forward(self, xp, Z):
        return xp.maximum(Z, xp.zeros_like(Z)) + xp.log1p(xp.exp(-xp.abs(Z)))

    def backward(self, xp, Z, Y, dY):
        return dY * -xp.expm1(-Y)


# -- self-gated: z times a gate ---------------------------------------------------------------------


@ACTIVATIONS.register("silu", "swish")
class SiLU(ActivationFunction):
    """SiLU, also named swish (Ramachandran et al., "Searching for Activation Functions",
    2017; Elfwing et al., 2018): ``f(z) = z σ(z)``,
    ``f'(z) = σ(z)(1 + z(1 - σ(z))) = σ(z) + f(z)(1 - σ(z))``.
    """

    name = "silu"

    def forward(self, xp, Z):
        return Z * sigmoid.forward(xp, Z)

    def backward(self, xp, Z, Y, dY):
        S = sigmoid.forward(xp, Z)
        return dY * (S + Y * (1.0 - S))


@ACTIVATIONS.register("hard_silu", "hard_swish")
class HardSiLU(ActivationFunction):
    """Hard SiLU, also named hard swish (Howard et al., "Searching for MobileNetV3", ICCV 2019):
    ``f(z) = z · relu6(z + 3) / 6``, that is 0 for ``z ≤ -3``, ``z`` for ``z ≥ 3`` and
    ``z (z + 3) / 6`` between; ``f'(z) = relu6(z + 3)/6 + z [-3 < z < 3] / 6``.
    """

    name = "hard_silu"

    def forward(self, xp, Z):
        return Z * (xp.clip(Z + 3.0, 0.0, 6.0) * (1.0 / 6.0))

    def backward(self, xp, Z, Y, dY):
        inside = xp.astype((Z > -3.0) & (Z < 3.0), dY.dtype)
        return dY * (xp.clip(Z + 3.0, 0.0, 6.0) + Z * inside) * (1.0 / 6.0)


@ACTIVATIONS.register("mish")
class Mish(ActivationFunction):
    """Mish (Misra, "Mish: A Self Regularized Non-Monotonic Activation Function", BMVC 2020):
    ``f(z) = z tanh(softplus(z))``.

    With ``T = tanh(softplus(z))``, ``f'(z) = T + z (1 - T²) σ(z)``; softplus and σ are the
    stable forms of :class:`Softplus` and :class:`~flexnet.activations.Sigmoid`, so
    nothing overflows for large ``|z|``.
    """

    name = "mish"

    def forward(self, xp, Z):
        return Z * xp.tanh(softplus.forward(xp, Z))

    def backward(self, xp, Z, Y, dY):
        T = xp.tanh(softplus.forward(xp, Z))
        return dY * (T + Z * (1.0 - T * T) * sigmoid.forward(xp, Z))


# -- instances with the default arguments ------------------------------------------------------

relu = ReLU()
relu6 = ReLU6()
smooth_relu = SmoothReLU()
leaky_relu = LeakyReLU()
elu = ELU()
selu = SELU()
celu = CELU()
softplus = Softplus()
silu = swish = SiLU()
hard_silu = hard_swish = HardSiLU()
mish = Mish()
