"""The fused NumPy step against the generic step, the reference; and what it allocates."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import flexnet as fx
from flexnet import layers as L
from flexnet.training.numpy_step import NumpyStep, fused_plan

RNG = np.random.default_rng(0)
X = RNG.normal(size=(203, 6))
LABELS = (X[:, 0] + X[:, 1] > 0).astype(int)
ONE_HOT = np.eye(3)[X[:, :3].argmax(1)]
REGRESSION = X[:, :2] * 0.5


def _model(dtype, activation="relu", output="softmax", units=2, dropout=0.0, **dense):
    fx.utils.set_random_seed(3)
    layers = [L.Dense(8, input_dim=6, activation=activation, **dense)]
    if dropout:
        layers.append(L.Dropout(dropout))
    layers += [L.Dense(7, activation=activation), L.Dense(units, activation=output)]
    return fx.Sequential(layers, dtype=dtype)


CASES = {
    "relu_adam_sparse": ({}, "adam", "sparse_categorical_crossentropy", LABELS),
    "tanh_sgd": ({"activation": "tanh"}, "sgd", "sparse_categorical_crossentropy", LABELS),
    "sigmoid_dropout_nesterov": ({"activation": "sigmoid", "dropout": 0.3},
                                 lambda: fx.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                                 "sparse_categorical_crossentropy", LABELS),
    "rmsprop_categorical": ({"units": 3}, "rmsprop", "categorical_crossentropy", ONE_HOT),
    "adagrad_binary": ({"output": "sigmoid", "units": 3}, "adagrad", "binary_crossentropy", ONE_HOT),
    "nadam_mse": ({"output": "linear"}, "nadam", "mse", REGRESSION),  # a rule without a kernel
    "adamw_clipnorm": ({}, lambda: fx.optimizers.AdamW(0.01, clipnorm=0.1),
                       "sparse_categorical_crossentropy", LABELS),
}


def _train(case, dtype, jit):
    build, optimizer, loss, y = CASES[case]
    model = _model(dtype, **build)
    optimizer = optimizer() if callable(optimizer) else optimizer
    metric = "mae" if loss == "mse" else "accuracy"
    model.compile(optimizer=optimizer, loss=loss, metrics=[metric], jit_compile=jit)
    history = model.fit(X, y, batch_size=16, epochs=3, verbose=0)
    return model, history.history


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", list(CASES))
def test_fused_step_equals_the_generic_step(case, dtype):
    fused, h1 = _train(case, dtype, "auto")
    generic, h2 = _train(case, dtype, False)
    assert isinstance(fused._trainer.setup()[2], NumpyStep)
    assert not isinstance(generic._trainer.setup()[2], NumpyStep)
    rtol = 1e-12 if dtype == "float64" else 1e-5
    for key in h1:
        np.testing.assert_allclose(h1[key], h2[key], rtol=rtol, err_msg=key)
    for a, b in zip(fused.get_weights(), generic.get_weights()):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)


def test_models_the_fused_step_does_not_cover_run_the_generic_step():
    def step_of(model, **compile_kwargs):
        model.compile(optimizer="adam", loss=compile_kwargs.pop("loss", "sparse_categorical_crossentropy"),
                      **compile_kwargs)
        return model._trainer.setup()[2]

    assert isinstance(step_of(_model("float64")), NumpyStep)
    assert not isinstance(step_of(_model("float64", kernel_regularizer="l2")), NumpyStep)
    assert not isinstance(step_of(_model("float64", output="tanh")), NumpyStep)
    assert not isinstance(step_of(_model("float64"), jit_compile=False), NumpyStep)
    assert not isinstance(step_of(_model("float64"), loss=fx.losses.SparseCategoricalCrossentropy(
        from_logits=True)), NumpyStep)
    model = _model("float64")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    loss = model._trainer.setup()[0]
    assert fused_plan(model, loss) is not None
    bn = fx.Sequential([L.Dense(4, input_dim=6), L.BatchNormalization(), L.Dense(2, activation="softmax")])
    bn.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert fused_plan(bn, bn._trainer.setup()[0]) is None


def test_sample_weights_take_the_generic_step_and_agree():
    weights = np.random.default_rng(1).uniform(0.5, 2.0, size=len(LABELS))
    results = []
    for jit in ("auto", False):
        model = _model("float64")
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=jit)
        model.fit(X, LABELS, sample_weight=weights, batch_size=16, epochs=2, verbose=0)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def _steady_state_peak(jit) -> int:
    """Bytes NumPy allocates, at the peak, during 20 steps of the reference network."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((128, 784), dtype=np.float32), rng.integers(0, 10, 128)
    fx.utils.set_random_seed(0)
    model = fx.Sequential([L.Dense(300, input_dim=784, activation="relu"), L.Dense(100, activation="relu"),
                           L.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=jit)
    model.fit(x, y, batch_size=128, epochs=1, verbose=0)  # buffers and state made
    trainer = model._trainer
    step = trainer.setup()[2]
    batch = trainer.adapter.arrays(x, y, trainer._heads)
    step(batch.Xs, batch.Ys, batch.W)
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(20):
            step(batch.Xs, batch.Ys, batch.W)
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def test_the_fused_step_allocates_nothing_that_grows_with_the_network():
    """784-300-100-10 at batch 128: the generic step allocates megabytes per step (every
    activation, gradient and optimizer temporary); the fused step only a few vectors of
    one number per sample (the metric's and the labels' gathers)."""
    fused, generic = _steady_state_peak("auto"), _steady_state_peak(False)
    assert generic > 1_000_000
    assert fused < 64 * 1024, fused
