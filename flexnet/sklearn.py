"""scikit-learn estimators: :class:`FlexnetClassifier` and :class:`FlexnetRegressor`.

Each builds a flexnet model when it is fitted, from a function ``model(X, y, **model_kwargs)``
or from a layer specification (``hidden_layer_sizes``, ``activation``, ``dropout``), and
trains it with ``fit``; so they work in ``Pipeline``, ``GridSearchCV``, ``cross_val_score``
and ``clone`` like any scikit-learn estimator. ``random_state`` seeds the model's weights,
dropout masks and shuffles, so two fits with the same ``random_state`` give the same model.
A fitted estimator pickles (and ``joblib.dump``s) with its model inside as flexnet's own
archive bytes. Needs scikit-learn 1.6 or later (``pip install flexnet[sklearn]``).

Example::

    from sklearn.model_selection import GridSearchCV
    from flexnet.sklearn import FlexnetClassifier

    search = GridSearchCV(FlexnetClassifier(epochs=30, random_state=0),
                          {"hidden_layer_sizes": [(32,), (64, 32)], "learning_rate": [1e-3, 1e-2]})
    search.fit(X, y)
"""

from __future__ import annotations

import copy
import numbers
from abc import ABCMeta, abstractmethod

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils import check_random_state, compute_class_weight
    from sklearn.utils.multiclass import type_of_target
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError(f"flexnet.sklearn needs scikit-learn 1.6 or later ({exc}): "
                      "pip install flexnet[sklearn]") from None

from flexnet import layers, optimizers, utils
from flexnet.io import model_files
from flexnet.models import Model, Sequential

__all__ = ["FlexnetClassifier", "FlexnetRegressor"]

_ARCHIVE = "flexnet archive"  # marks the model's bytes in a pickled estimator


class _FlexnetEstimator(BaseEstimator, metaclass=ABCMeta):
    """What the classifier and the regressor share; see :class:`FlexnetClassifier` for the
    parameters."""

    def __init__(self, model=None, *, model_kwargs=None, hidden_layer_sizes=(64,), activation="relu",
                 dropout=0.0, optimizer="adam", learning_rate=0.001, loss=None, metrics=None, epochs=20,
                 batch_size=32, validation_split=0.0, shuffle=True, callbacks=None, class_weight=None,
                 verbose=0, random_state=None, warm_start=False, backend=None, device=None, dtype=None):
        self.model = model
        self.model_kwargs = model_kwargs
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.loss = loss
        self.metrics = metrics
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.shuffle = shuffle
        self.callbacks = callbacks
        self.class_weight = class_weight
        self.verbose = verbose
        self.random_state = random_state
        self.warm_start = warm_start
        self.backend = backend
        self.device = device
        self.dtype = dtype

    # -- what the classifier and the regressor do differently -------------------------
    @abstractmethod
    def _check_targets(self, y, reset: bool):
        """Validated targets (class indices, or values) for a fit call."""

    @abstractmethod
    def _training_targets(self, y, model):
        """What ``model.fit`` receives for the validated targets ``y``."""

    @abstractmethod
    def _output(self) -> tuple[int, str, str]:
        """``(units, activation, loss)`` of the output layer the specification builds."""

    def _builder_targets(self, y):
        """The ``y`` that a model function receives (the classifier's is one-hot)."""
        return y

    def _fit_class_weight(self, y):
        """flexnet's ``class_weight`` (by class index) for the targets ``y``."""
        return None

    # -- building -----------------------------------------------------------------------
    def _seed(self) -> int | None:
        if self.random_state is None:
            return None
        if isinstance(self.random_state, numbers.Integral):
            return int(self.random_state) % 2**63
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    def _build(self, X, y) -> Model:
        """The model for data ``X``, ``y``: the user's function's, or the specification's, bound
        to the estimator's backend and seeded by ``random_state``."""
        with utils.seeded(self._seed()):
            if self.model is None:
                model = self._specified(X.shape[1], self.dtype or X.dtype.name)
            elif isinstance(self.model, Model) or not callable(self.model):
                raise TypeError("model must be a function model(X, y, **model_kwargs) that returns a flexnet "
                                f"model (or None for hidden_layer_sizes), got {type(self.model).__name__}")
            else:
                model = self.model(X=X, y=self._builder_targets(y), **(self.model_kwargs or {}))
                if not isinstance(model, Model):
                    raise TypeError(f"the model function returned {type(model).__name__}, not a flexnet "
                                    "model")
                model._bind()
            if not model.built:
                model._lazy_build(X)
        if len(model.input_names) != 1 or len(model.output_names) != 1:
            raise ValueError(f"the model has {len(model.input_names)} inputs and {len(model.output_names)} "
                             "outputs; a scikit-learn estimator takes one of each")
        if self.model is not None and (self.backend is not None or self.device is not None):
            model.to(self.backend, self.device)
        if self.dtype is not None and model.dtype != self.dtype:
            raise ValueError(f"the model function built a {model.dtype} model but dtype={self.dtype!r}; "
                             "build it in that dtype (or leave dtype=None)")
        if not model.compiled:
            model.compile(optimizer=self._optimizer(), loss=self.loss or self._output()[2],
                          metrics=self.metrics)
        return model

    def _optimizer(self):
        optimizer = optimizers.get(self.optimizer)
        return type(optimizer)(**{**optimizer.get_config(), "learning_rate": self.learning_rate})

    def _specified(self, n_features: int, dtype: str) -> Sequential:
        sizes = self.hidden_layer_sizes
        sizes = (sizes,) if isinstance(sizes, numbers.Integral) else tuple(sizes)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        stack = [layers.Input(shape=(n_features,))]
        for units in sizes:
            stack.append(layers.Dense(units, activation=self.activation))
            if self.dropout:
                stack.append(layers.Dropout(self.dropout))
        units, activation, _ = self._output()
        stack.append(layers.Dense(units, activation=activation))
        return Sequential(stack, backend=self.backend, device=self.device, dtype=dtype)

    # -- fitting ------------------------------------------------------------------------
    def _fit(self, X, y, sample_weight, fit_params: dict, partial: bool):
        fitted = hasattr(self, "model_")
        reset = not fitted or not (partial or self.warm_start)
        X, y = validate_data(self, X, y, reset=reset, dtype=[np.float64, np.float32],
                             multi_output=not isinstance(self, ClassifierMixin), y_numeric=False)
        y = self._check_targets(y, reset)
        if sample_weight is not None and not np.any(np.asarray(sample_weight)):
            raise ValueError("Sample weights must contain at least one non-zero number.")
        if reset:
            self.model_ = self._build(X, y)
            self.history_ = {}
        if fit_params.get("validation_data") is not None:
            fit_params = {**fit_params, "validation_data": self._validation(fit_params["validation_data"])}
        kwargs = {"epochs": 1 if partial else self.epochs, "batch_size": self.batch_size,
                  "validation_split": self.validation_split, "shuffle": self.shuffle, "verbose": self.verbose,
                  "callbacks": copy.deepcopy(self.callbacks), "class_weight": self._fit_class_weight(y),
                  "sample_weight": sample_weight, **fit_params}
        history = self.model_.fit(X, self._training_targets(y, self.model_), **kwargs)
        for key, values in history.history.items():
            self.history_.setdefault(key, []).extend(values)
        return self

    def _validation(self, data):
        """``validation_data=(X, y[, sample_weight])`` checked and encoded as the training data is."""
        if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
            raise ValueError("validation_data must be (X_val, y_val) or (X_val, y_val, sample_weight_val)")
        X, y = validate_data(self, data[0], data[1], reset=False, dtype=[np.float64, np.float32],
                             multi_output=not isinstance(self, ClassifierMixin), y_numeric=False)
        return (X, self._training_targets(self._check_targets(y, reset=False), self.model_), *data[2:])

    def fit(self, X, y, sample_weight=None, **fit_params):
        """Build the model (unless ``warm_start`` and already fitted) and train it.

        Args:
            X: samples, ``(n_samples, n_features)``.
            y: targets (see the class).
            sample_weight: ``(n_samples,)`` weights, one per sample.
            **fit_params: further arguments of flexnet's ``fit`` (``validation_data``,
                ``initial_epoch``, ...); they override the estimator's.

        Returns:
            the estimator.
        """
        return self._fit(X, y, sample_weight, fit_params, partial=False)

    def _predict_raw(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        P = self.model_.predict(X, batch_size=min(max(len(X), 1), 8192))
        return np.asarray(P, dtype=np.float64)  # scikit-learn answers in float64

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags

    # -- pickling: the model travels as flexnet's archive bytes -------------------------
    def __getstate__(self):
        state = super().__getstate__()
        if "model_" in state:
            state = {**state, "model_": (_ARCHIVE, model_files.model_to_bytes(state["model_"]))}
        return state

    def __setstate__(self, state):
        model = state.get("model_")
        if isinstance(model, tuple) and len(model) == 2 and model[0] == _ARCHIVE:
            state = {**state, "model_": model_files.model_from_bytes(model[1], backend=state.get("backend"),
                                                                     device=state.get("device"))}
        super().__setstate__(state)


class FlexnetClassifier(ClassifierMixin, _FlexnetEstimator):
    """A flexnet network as a scikit-learn classifier (binary or multiclass; any labels).

    The model is built at ``fit``: by ``model(X=X, y=Y, **model_kwargs)`` when ``model`` is a
    function (``Y`` is the one-hot ``(n_samples, n_classes)`` encoding of the labels; an
    uncompiled model is compiled with ``optimizer``, ``learning_rate`` and ``loss``), else a
    ``Sequential`` of ``Dense(units, activation)`` (and ``Dropout(dropout)``) per entry of
    ``hidden_layer_sizes`` with a sigmoid unit (two classes, binary cross-entropy) or a
    softmax layer (more, sparse categorical cross-entropy). The output layer must give
    probabilities: ``predict_proba`` reads them (one sigmoid unit gives ``[1 - p, p]``).
    ``fit(X, y, sample_weight=None, **fit_params)`` builds and trains it; ``fit_params``
    go to flexnet's ``fit`` (``validation_data``, ``initial_epoch``, ...).

    Args:
        model: a function ``model(X, y, **model_kwargs)`` returning a flexnet model, or None.
        model_kwargs: keyword arguments of ``model`` (tune them with ``GridSearchCV`` as a
            dict each).
        hidden_layer_sizes: units of each hidden layer of the specification.
        activation: their activation (a flexnet name).
        dropout: the rate of a ``Dropout`` after each hidden layer (0: none).
        optimizer: a flexnet optimizer name (``"adam"``, ``"sgd"``, ...).
        learning_rate: its learning rate.
        loss: a flexnet loss; default as above.
        metrics: flexnet metrics, shown in ``history_``.
        epochs, batch_size, validation_split, shuffle, callbacks, verbose: as for flexnet's
            ``fit`` (``callbacks`` are copied at each fit, so the parameter stays as given).
        class_weight: ``{label: weight}`` (labels as in ``y``), ``"balanced"``, or None.
        random_state: an int (the same model at every fit), a ``RandomState``, or None.
        warm_start: a second ``fit`` continues training the same model.
        backend, device, dtype: where the model lives (``"cupy"`` for a GPU, ...) and its
            float dtype; by default the dtype of ``X`` (float64, or float32 for float32 data),
            as scikit-learn's own networks compute.

    Attributes:
        model_: the fitted flexnet model.
        classes_: the labels, sorted.
        history_: ``{"loss": [...], ...}``, one entry per epoch of every fit.
        n_features_in_, feature_names_in_: as for every scikit-learn estimator.
    """

    def _check_targets(self, y, reset: bool):
        y = column_or_1d(y, warn=True)
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"Unknown label type: {kind!r}; FlexnetClassifier takes binary or multiclass "
                             "labels (for values, use FlexnetRegressor)")
        if reset and not getattr(self, "_partial_classes", False):
            self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"FlexnetClassifier needs at least two classes to learn, got one class: "
                             f"{self.classes_[0]!r}")
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"y has labels {unknown.tolist()} that are not in classes_ "
                             f"{self.classes_.tolist()}")
        return np.searchsorted(self.classes_, y)

    def _output(self):
        if len(self.classes_) == 2:
            return 1, "sigmoid", "binary_crossentropy"
        return len(self.classes_), "softmax", "sparse_categorical_crossentropy"

    def _builder_targets(self, y):
        return np.eye(len(self.classes_), dtype=np.float64)[y]

    def _training_targets(self, y, model):
        units = model.output_shapes[0][-1]
        if units == 1 and len(self.classes_) == 2:
            return y.astype(np.float64).reshape(-1, 1)
        if units != len(self.classes_):
            raise ValueError(f"the model's output has {units} units but there are {len(self.classes_)} "
                             "classes; give it one unit per class (or one sigmoid unit for two)")
        loss = model.loss[0] if isinstance(model.loss, (list, tuple)) else model.loss
        return y if loss.sparse_targets else self._builder_targets(y)

    def _fit_class_weight(self, y):
        weights = self.class_weight
        if weights is None:
            return None
        if isinstance(weights, str):  # "balanced": n / (n_classes · count), from this fit's labels
            balanced = compute_class_weight(weights, classes=np.unique(y), y=y)
            return {int(i): float(w) for i, w in zip(np.unique(y), balanced)}
        index = {label: i for i, label in enumerate(self.classes_.tolist())}
        missing = [label for label in weights if label not in index]
        if missing:
            raise ValueError(f"class_weight names labels {missing} that are not in classes_ "
                             f"{self.classes_.tolist()}")
        return {index[label]: float(w) for label, w in weights.items()}

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch on ``X``, ``y``; the first call builds the model and must name every class.

        Args:
            X, y, sample_weight: as for :meth:`fit`.
            classes: all the labels, on the first call (later calls may omit them).

        Returns:
            the estimator.
        """
        if not hasattr(self, "model_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self.classes_ = np.unique(classes)
            self._partial_classes = True
        try:
            return self._fit(X, y, sample_weight, {}, partial=True)
        finally:
            self.__dict__.pop("_partial_classes", None)

    def predict_proba(self, X):
        """Class probabilities, ``(n_samples, n_classes)`` in the order of ``classes_``."""
        P = self._predict_raw(X)
        if P.shape[-1] == 1:
            P = np.concatenate([1.0 - P, P], axis=1)
        return P

    def predict(self, X):
        """The most probable label of each sample."""
        P = self.predict_proba(X)
        return self.classes_[np.argmax(P, axis=1)]


class FlexnetRegressor(RegressorMixin, _FlexnetEstimator):
    """A flexnet network as a scikit-learn regressor (one target or several).

    Built as :class:`FlexnetClassifier` is, with ``y`` as given to the model function and a
    linear output layer of one unit per target with the mean squared error. The parameters
    are the classifier's; ``class_weight`` must stay None (it weighs classes).
    """

    def _check_targets(self, y, reset: bool):
        if self.class_weight is not None:
            raise ValueError("class_weight weighs classes; a regressor has none (use sample_weight)")
        y = np.asarray(y, dtype=np.float64)
        if reset:
            self._y_shape = y.shape[1:]
        elif y.shape[1:] != self._y_shape:
            raise ValueError(f"y has {y.shape[1:] or 'one'} targets per sample; the model was fitted on "
                             f"{self._y_shape or 'one'}")
        return y

    def _output(self):
        return (1 if not self._y_shape else int(np.prod(self._y_shape))), "linear", "mse"

    def _training_targets(self, y, model):
        return y.reshape(len(y), -1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def predict(self, X):
        """The predicted values, shaped as ``y`` was at ``fit``."""
        P = self._predict_raw(X)
        return P.reshape((len(P), *self._y_shape))
