"""Standardization: :class:`StandardScaler` learns per-feature statistics and applies them on
any backend, to the data's device and dtype."""

from __future__ import annotations

import array_api_compat
import numpy as np

from flexnet.backend import Backend, dtype_name
from flexnet.transfer import namespace_of

__all__ = ["StandardScaler", "Standardizer"]


class StandardScaler:
    """Standardize features: ``(X - mean) / scale``, statistics learned by :meth:`fit`.

    ``mean_`` is the per-feature mean and ``scale_`` the per-feature standard
    deviation ``sqrt(mean((X - mean)²))`` (population, as scikit-learn) of the data
    given to :meth:`fit`. A feature whose standard deviation is zero, up to rounding
    (``σ <= 10 ε |μ|`` with ``ε`` the machine epsilon of the data's dtype), gets
    ``scale_ = 1``, so constant features become 0 instead of NaN or noise.

    Fit on the training data only, then transform training, validation and test data
    with the same statistics. Any backend's arrays work (the statistics are computed in
    the data's namespace and on its device, then kept on the host as float64, and
    copied to the device and dtype of each array transformed; the copies are cached).
    Inputs are never modified. NaN in the data propagates.

    Args:
        with_mean: subtract the mean (else ``mean_`` is 0).
        with_std: divide by the standard deviation (else ``scale_`` is 1).

    Attributes:
        mean_, scale_, var_: per-feature statistics as float64 NumPy arrays, shape ``(d,)``.
        n_features_in_: ``d``.
        n_samples_seen_: the number of samples fitted.

    Example:
        >>> import numpy as np
        >>> scaler = StandardScaler()
        >>> scaler.fit_transform(np.array([[1.0, 5.0], [3.0, 5.0]]))
        array([[-1.,  0.],
               [ 1.,  0.]])
        >>> scaler.get_config()["mean"]
        [2.0, 5.0]
    """

    def __init__(self, with_mean: bool = True, with_std: bool = True):
        self.with_mean = bool(with_mean)
        self.with_std = bool(with_std)
        self.mean_ = self.scale_ = self.var_ = None
        self.n_features_in_ = None
        self.n_samples_seen_ = None
        self._cache: dict = {}

    # -- helpers --------------------------------------------------------------
    @staticmethod
    def _float_input(X, what: str):
        """``(xp, X as a float array (n, d))`` without copying float inputs."""
        xp, X = namespace_of(X, "X")
        if X.ndim != 2:
            raise ValueError(f"{what} must be 2-D (n_samples, n_features), got shape {tuple(X.shape)}")
        if not xp.isdtype(X.dtype, "real floating"):
            if not xp.isdtype(X.dtype, ("integral", "bool")):
                raise TypeError(f"{what} must hold real numbers, got dtype {X.dtype}")
            device = array_api_compat.device(X)
            try:
                float_dtype = xp.__array_namespace_info__().default_dtypes(device=device)["real floating"]
            except (AttributeError, TypeError, KeyError):
                float_dtype = xp.float64
            X = xp.astype(X, float_dtype)
        return xp, X

    def _require_fitted(self, what: str) -> None:
        if self.mean_ is None:
            raise RuntimeError(f"StandardScaler is not fitted yet; call fit(X_train) before {what}")

    def _stats(self, xp, X):
        """``(mean, scale)`` on ``X``'s device in ``X``'s dtype, shape ``(d,)``."""
        device = array_api_compat.device(X)
        key = (id(xp), str(device), dtype_name(X.dtype))
        if key not in self._cache:
            np_dtype = np.dtype(dtype_name(X.dtype))
            self._cache[key] = tuple(
                xp.asarray(s.astype(np_dtype), device=device) for s in (self.mean_, self.scale_)
            )
        return self._cache[key]

    def _checked(self, X, what: str):
        self._require_fitted(what)
        xp, X = self._float_input(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but StandardScaler was fitted with "
                f"{self.n_features_in_} features"
            )
        return xp, X

    # -- API --------------------------------------------------------------------
    def fit(self, X, y=None) -> StandardScaler:
        """Learn the per-feature mean and standard deviation of ``X``, shape ``(n, d)``.

        ``y`` is ignored (scikit-learn's signature). Reads the statistics back to the
        host once. Returns the scaler.
        """
        xp, X = self._float_input(X, "X")
        n, d = X.shape
        if n == 0:
            raise ValueError("fit() needs at least one sample, got X of shape (0, ...)")
        mu = xp.mean(X, axis=0)
        mu = mu + xp.mean(X - mu, axis=0)  # corrected two-pass mean: exact for constant features
        D = X - mu
        var = xp.mean(D * D, axis=0)
        host = Backend.resolve(xp, array_api_compat.device(X)).to_numpy(xp.stack([mu, var]))
        stats = np.asarray(host, dtype=np.float64)
        mean, var = stats[0], stats[1]
        std = np.sqrt(var)
        eps = float(xp.finfo(X.dtype).eps)
        constant = std <= 10.0 * eps * np.abs(mean)
        self.n_features_in_, self.n_samples_seen_ = int(d), int(n)
        self.var_ = var if self.with_std else None
        self.mean_ = mean if self.with_mean else np.zeros(d)
        self.scale_ = np.where(constant, 1.0, std) if self.with_std else np.ones(d)
        self._cache = {}
        return self

    def transform(self, X):
        """``(X - mean_) / scale_``: a new array in ``X``'s namespace, device and float dtype."""
        xp, X = self._checked(X, "transform()")
        mean, scale = self._stats(xp, X)
        return (X - mean) / scale

    def fit_transform(self, X, y=None):
        """:meth:`fit` then :meth:`transform` on the same data."""
        return self.fit(X).transform(X)

    def inverse_transform(self, X):
        """``X * scale_ + mean_``: back to the original units."""
        xp, X = self._checked(X, "inverse_transform()")
        mean, scale = self._stats(xp, X)
        return X * scale + mean

    def get_config(self) -> dict:
        """The options and the fitted statistics as plain Python lists (JSON-ready);
        :meth:`from_config` rebuilds the fitted scaler."""
        def listed(a):
            return None if a is None else [float(v) for v in a]

        return {
            "with_mean": self.with_mean,
            "with_std": self.with_std,
            "mean": listed(self.mean_),
            "scale": listed(self.scale_),
            "var": listed(self.var_),
            "n_samples_seen": self.n_samples_seen_,
        }

    @classmethod
    def from_config(cls, config: dict) -> StandardScaler:
        """A scaler from :meth:`get_config`'s dict (fitted if the dict holds statistics)."""
        scaler = cls(with_mean=config.get("with_mean", True), with_std=config.get("with_std", True))
        if config.get("mean") is not None:
            mean = np.asarray(config["mean"], dtype=np.float64)
            scale = np.asarray(config["scale"], dtype=np.float64)
            if mean.ndim != 1 or mean.shape != scale.shape:
                raise ValueError(
                    f"mean and scale must be lists of the same length, got {mean.shape} and {scale.shape}"
                )
            scaler.mean_, scaler.scale_ = mean, scale
            var = config.get("var")
            scaler.var_ = None if var is None else np.asarray(var, dtype=np.float64)
            scaler.n_features_in_ = int(mean.shape[0])
            scaler.n_samples_seen_ = config.get("n_samples_seen")
        return scaler

    def __repr__(self) -> str:
        return f"StandardScaler(with_mean={self.with_mean}, with_std={self.with_std})"


#: Alias of :class:`StandardScaler`.
Standardizer = StandardScaler

