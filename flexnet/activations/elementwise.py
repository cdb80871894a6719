"""Elementwise activations: identity, step and sign; the sigmoids and tanh; the rectifiers
(ReLU and its smooth, leaky and exponential kin, softplus, SiLU).
"""

from __future__ import annotations

from flexnet.activations.base import ACTIVATIONS, ActivationFunction, _number

__all__ = ["ELU", "SELU", "HardSigmoid", "LeakyReLU", "Linear", "ReLU", "SiLU", "Sigmoid", "Sign",
           "SmoothReLU", "Softplus", "Step", "Tanh"]


# -- identity, step, sign -----------------------------------------------------------------------


@ACTIVATIONS.register("linear", "identity")
class Linear(ActivationFunction):
    """Identity: ``f(z) = z``, ``f'(z) = 1``. Also named ``"identity"``."""

    name = "linear"

    def forward(self, xp, Z):
        return Z

    def backward(self, xp, Z, Y, dY):
        return dY


@ACTIVATIONS.register("step")
class Step(ActivationFunction):
    """Heaviside step: ``f(z) = 1`` for ``z > 0``, else ``0``.

    ``f'(z) = 0`` wherever it exists (everywhere but ``z = 0``), so :meth:`backward`
    returns zeros: no gradient flows through a step, and layers below it do not learn
    by gradient descent (the perceptron rule is not backpropagation).
    """

    name = "step"

    def forward(self, xp, Z):
        return xp.astype(Z > 0, Z.dtype)

    def backward(self, xp, Z, Y, dY):
        return xp.zeros_like(dY)


@ACTIVATIONS.register("sign")
class Sign(ActivationFunction):
    """Sign: ``f(z) = -1, 0, 1`` for ``z < 0``, ``z = 0``, ``z > 0``.

    ``f'(z) = 0`` wherever it exists (everywhere but ``z = 0``), so :meth:`backward`
    returns zeros, as for :class:`Step`.
    """

    name = "sign"

    def forward(self, xp, Z):
        return xp.sign(Z)

    def backward(self, xp, Z, Y, dY):
        return xp.zeros_like(dY)


# -- sigmoids -----------------------------------------------------------------------------------


@ACTIVATIONS.register("sigmoid")
class Sigmoid(ActivationFunction):
    """Logistic sigmoid ``σ(z) = 1 / (1 + e^{-z})``, ``σ'(z) = σ(z)(1 - σ(z))``.

    Computed as ``1/(1+e^{-|z|})`` for ``z ≥ 0`` and ``e^{-|z|}/(1+e^{-|z|})`` for
    ``z < 0``, so no exponential overflows and tiny probabilities keep their
    precision. The two branches are blended by a 0/1 mask (``where`` with a
    random mask is 15x slower on NumPy).
    """

    name = "sigmoid"

    def forward(self, xp, Z):
        E = xp.exp(-xp.abs(Z))
        negative = E / (1.0 + E)  # σ(z) for z < 0
        positive = 1.0 / (1.0 + E)  # σ(z) for z ≥ 0
        positive -= negative
        positive *= xp.astype(Z >= 0, Z.dtype)
        return negative + positive

    def backward(self, xp, Z, Y, dY):
        return dY * Y * (1.0 - Y)


@ACTIVATIONS.register("hard_sigmoid")
class HardSigmoid(ActivationFunction):
    """Piecewise-linear sigmoid, as Keras 3 and PyTorch define it:
    ``f(z) = relu6(z + 3) / 6 = clip(z/6 + 1/2, 0, 1)``.

    ``f'(z) = 1/6`` for ``-3 < z < 3``, else ``0``. (Keras 2 used ``clip(0.2 z + 0.5, 0, 1)``.)
    """

    name = "hard_sigmoid"

    def forward(self, xp, Z):
        return xp.clip(Z + 3.0, 0.0, 6.0) / 6.0

    def backward(self, xp, Z, Y, dY):
        inside = xp.astype((Z > -3.0) & (Z < 3.0), dY.dtype)
        return dY * inside * (1.0 / 6.0)


@ACTIVATIONS.register("tanh")
class Tanh(ActivationFunction):
    """Hyperbolic tangent ``tanh(z)``, derivative ``1 - tanh²(z)``."""

    name = "tanh"

    def forward(self, xp, Z):
        return xp.tanh(Z)

    def backward(self, xp, Z, Y, dY):
        return dY * (1.0 - Y * Y)


# -- rectifiers ---------------------------------------------------------------------------------


@ACTIVATIONS.register("relu")
class ReLU(ActivationFunction):
    """Rectified linear unit ``max(z, 0)``; derivative 1 for ``z > 0``, else 0."""

    name = "relu"

    def forward(self, xp, Z):
        return xp.maximum(Z, 0.0)  # a Python scalar operand (Array API 2024.12): no zeros array

    def backward(self, xp, Z, Y, dY):
        return dY * xp.astype(Z > 0, dY.dtype)  # not where(): 15x slower on NumPy


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

# -- instances with the default arguments ------------------------------------------------------

linear = Linear()
step = Step()
sign = Sign()
sigmoid = Sigmoid()
hard_sigmoid = HardSigmoid()
tanh = Tanh()
relu = ReLU()
smooth_relu = SmoothReLU()
leaky_relu = LeakyReLU()
elu = ELU()
selu = SELU()
softplus = Softplus()
silu = swish = SiLU()
