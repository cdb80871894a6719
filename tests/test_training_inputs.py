"""What training and prediction take in: state changes are all or nothing, no input is silently
cut or misread, valid inputs (NumPy scalars and integers, strided arrays, one callback) are
taken, and outputs never share memory with inputs."""

from __future__ import annotations

import numpy as np
import pytest

import flexnet as fx
from flexnet.layers import Activation, Dense, Dropout, Flatten
from flexnet.transfer import writable

RNG = np.random.default_rng(15)
X = RNG.normal(size=(20, 3))
Y = RNG.normal(size=(20, 1))


def _trained(case=None):
    layers = [Dense(4, input_dim=3, activation="relu"), Dense(1)]
    model = fx.Sequential(layers) if case is None else case.model(layers)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    return model


def _snapshot(model):
    state = model.optimizer.get_state()
    return ([w.copy() for w in model.get_weights()], model.optimizer, state["iterations"],
            model.loss, list(model.metrics))


def _unchanged(model, snapshot) -> None:
    weights, optimizer, iterations, loss, metrics = snapshot
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights))
    assert model.optimizer is optimizer and optimizer.iterations == iterations
    assert model.loss is loss and model.metrics == metrics


# -- all or nothing ----------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"loss": "nope"}, "unknown loss 'nope'"),
    ({"loss": "mse", "metrics": ["nope"]}, "unknown metric 'nope'"),
    ({"loss": {"not_an_output": "mse"}}, "not outputs"),
    ({"loss": ["mse", "mse"]}, "2 entries for 1 outputs"),
    ({"loss": "mse", "loss_weights": [-1.0]}, "loss_weights must be finite numbers >= 0"),
    ({"loss": "mse", "metrics": {"nope": ["mae"]}}, "not outputs"),
])
def test_a_compile_that_fails_changes_nothing(kwargs, match):
    model = _trained()
    before = _snapshot(model)
    with pytest.raises(ValueError, match=match):
        model.compile(optimizer=fx.optimizers.SGD(0.1), **kwargs)
    _unchanged(model, before)
    model.fit(X, Y, epochs=1, verbose=0)  # and training goes on with the old settings
    assert model.optimizer is before[1] and model.optimizer.iterations == before[2] + 1  # one batch


@pytest.mark.parametrize(("bad", "error", "match"), [
    (np.array(["a"]), TypeError, "layer 'dense_1': weight 'bias' must hold real numbers.*<U1"),
    (np.ones(1, dtype=complex), TypeError, "weight 'bias' must hold real numbers.*complex128"),
    (np.ones(2), ValueError, r"layer 'dense_1' expects weights of shapes \[\(4, 1\), \(1,\)\]"),
    ([[1.0], [2.0, 3.0]], TypeError, "weight 1 of layer 'dense_1' must be an array"),
])
def test_set_weights_checks_every_entry_before_writing_any(case, bad, error, match):
    model = case.model([Dense(4, input_dim=3), Dense(1)])
    before = model.get_weights()
    new = [w + 1.0 for w in before]
    with pytest.raises(error, match=match):
        model.set_weights(new[:-1] + [bad])
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))
    with pytest.raises(error, match=match):  # one layer: its kernel is not written either
        model.layers[1].set_weights([new[2], bad])
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))
    model.set_weights(new)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), new))


def test_load_weights_with_a_corrupted_last_entry_changes_nothing(tmp_path):
    model = _trained()
    model.save_weights(tmp_path / "w")
    data = bytearray((tmp_path / "w").read_bytes())
    at = data.rindex(b"weight_0003.npy") - 30  # inside the last weight's stored bytes
    data[at] ^= 0xFF
    (tmp_path / "w").write_bytes(bytes(data))
    twin = fx.Sequential([Dense(4, input_dim=3, activation="relu"), Dense(1)])
    before = twin.get_weights()
    with pytest.raises(ValueError, match="truncated or corrupted"):
        twin.load_weights(tmp_path / "w")
    assert all(np.array_equal(a, b) for a, b in zip(twin.get_weights(), before))


# -- no silent misalignment ---------------------------------------------------------------------


@pytest.mark.parametrize(("arg", "value", "match"), [
    ("y", np.ones((30, 1)), "x has 20 but y has 30"),
    ("y", np.ones((10, 1)), "x has 20 but y has 10"),
    ("sample_weight", np.ones(30), "x has 20 but sample_weight has 30"),
])
def test_validation_split_checks_every_length_before_splitting(arg, value, match):
    model = _trained()
    before = _snapshot(model)
    kwargs = {"y": Y, arg: value}
    with pytest.raises(ValueError, match=match):
        model.fit(X, validation_split=0.2, verbose=0, **kwargs)
    _unchanged(model, before)


def test_validation_split_checks_every_input_of_a_functional_model():
    a, b = fx.layers.Input(shape=(3,)), fx.layers.Input(shape=(2,))
    model = fx.models.Model([a, b], Dense(1)(fx.layers.concatenate([a, b])))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"x\[0\] has 20 but x\[1\] has 25"):
        model.fit([X, np.ones((25, 2))], Y, validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match=r"x\['a'\] has 20 but x\['b'\] has 25"):
        fx.data.split_validation({"a": X, "b": np.ones((25, 2))}, Y, 0.2)


def test_validation_split_and_callbacks_of_the_wrong_type_are_flexnets_errors():
    model = _trained()
    with pytest.raises(TypeError, match=r"validation_split must be a number in \[0, 1\), got '0.1' \(str\)"):
        model.fit(X, Y, validation_split="0.1", verbose=0)
    with pytest.raises(TypeError, match="callbacks must be a Callback or a list of them, got str"):
        model.fit(X, Y, callbacks="early", verbose=0)
    with pytest.raises(TypeError, match="callbacks must be Callback instances, got int"):
        model.fit(X, Y, callbacks=[3], verbose=0)


@pytest.mark.parametrize("key", [7, -1, 3])
def test_class_weight_keys_must_be_classes_of_the_output(key):
    model = fx.Sequential([Dense(3, input_dim=3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=rf"class_weight has keys \[{key}\] that are not classes of the "
                                         r"output; its classes are 0..2"):
        model.fit(X, np.arange(20) % 3, class_weight={0: 1.0, key: 2.0}, verbose=0)
    binary = fx.Sequential([Dense(1, input_dim=3, activation="sigmoid")])
    binary.compile(optimizer="sgd", loss="binary_crossentropy")
    binary.fit(X, (Y > 0).astype(float), class_weight={0: 1.0, 1: 3.0}, verbose=0)
    with pytest.raises(ValueError, match=r"keys \[2\].*classes are 0..1"):
        binary.fit(X, (Y > 0).astype(float), class_weight={2: 3.0}, verbose=0)


@pytest.mark.parametrize("targets", [-np.ones((20, 3)), np.full((20, 3), np.inf), np.full((20, 3), 2.0)])
def test_categorical_crossentropy_needs_targets_in_0_1(case, targets):
    model = case.model([Dense(3, input_dim=3, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match=r"categorical_crossentropy needs targets in \[0, 1\]"):
        model.evaluate(X, targets)
    loss = fx.losses.get("categorical_crossentropy")
    with pytest.raises(ValueError, match=r"needs targets in \[0, 1\]"):
        loss(case.asarray(targets[:2]), case.asarray(np.full((2, 3), 1 / 3)))
    with pytest.raises(ValueError, match=r"needs targets in \[0, 1\], got NaN"):
        loss(case.asarray(np.full((2, 3), np.nan)), case.asarray(np.full((2, 3), 1 / 3)))


def test_sparse_labels_out_of_range_are_reported_as_they_are(case):
    model = case.model([Dense(3, input_dim=3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"must be in \[0, 2\].*got labels in \[1e\+20, 1e\+20\]"):
        model.evaluate(X, np.full(20, 1e20))
    with pytest.raises(ValueError, match=r"got labels in \[-5.0, 1.0\]"):
        model.evaluate(X, np.r_[np.full(10, -5.0), np.ones(10)])
    with pytest.raises(ValueError, match=r"got labels in \[0, 9223372036854775807\]"):
        model.evaluate(X, np.r_[np.zeros(19, np.int64), np.iinfo(np.int64).max])


def test_float64_data_beyond_float32_is_reported_as_an_overflow(case):
    model = case.model([Dense(1, input_dim=3)])
    model.compile(optimizer="sgd", loss="mse")
    big = np.full((2, 3), 1e39)
    if case.dtype == "float64":
        assert np.all(np.isfinite(model.predict(big)))
        return
    with pytest.raises(ValueError, match=r"x holds values up to 1e\+39, beyond the range of float32"):
        model.predict(big)
    with pytest.raises(ValueError, match=r"y holds values up to 1e\+39, beyond the range of float32"):
        model.evaluate(X[:2], -big[:, :1])
    with pytest.raises(ValueError, match="contains NaN or infinity"):  # truly not finite
        model.predict(np.full((2, 3), np.inf))


# -- valid inputs taken ------------------------------------------------------------------------


def test_numpy_integers_and_floats_are_taken_for_counts_and_fractions():
    model = _trained()
    history = model.fit(X, Y, batch_size=np.int64(8), epochs=np.int64(2), initial_epoch=np.int32(1),
                        validation_split=np.float64(0.25), verbose=np.int64(0))
    assert list(history.history) == ["loss", "mae", "val_loss", "val_mae"]
    assert len(history.history["loss"]) == 1
    assert model.evaluate(X, Y, batch_size=np.int16(5)) is not None
    assert model.predict(X, batch_size=np.uint8(7)).shape == (20, 1)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got True"):
        model.predict(X, batch_size=True)


def test_numpy_scalars_where_arrays_belong_are_shape_errors_not_foreign_arrays(case):
    model = case.model([Dense(1, input_dim=3)])
    model.compile(optimizer="sgd", loss="mse", loss_weights=[np.float32(0.5)])
    for call, match in [(lambda: model.predict(np.float32(3.0)), "x must have a batch axis"),
                        (lambda: model.evaluate(X, np.float32(3.0)), r"y: targets of shape \(\)"),
                        (lambda: model.fit(X, Y, sample_weight=np.float64(2.0), verbose=0),
                         r"sample_weight must have shape \(20,\)")]:
        with pytest.raises(ValueError, match=match):
            call()
    assert model.evaluate(X[:1], [np.float32(1.0)]) >= 0.0  # a list of NumPy scalars is an array


def test_a_single_callback_is_taken_as_keras_does():
    model = _trained()
    seen = []
    model.fit(X, Y, epochs=2, verbose=0,
              callbacks=fx.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch)))
    assert seen == [0, 1]


@pytest.mark.parametrize("view", ["reversed", "strided", "fortran"])
def test_strided_and_reversed_numpy_arrays_work_on_every_backend(case, view):
    model = case.model([Dense(2, input_dim=3), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    wide = np.concatenate([X, X], axis=1)
    data = {"reversed": X[::-1], "strided": wide[:, ::2], "fortran": np.asfortranarray(X)}[view]
    targets = Y[::-1]
    assert not data.flags.c_contiguous
    case.assert_close(model.predict(data), model.predict(np.ascontiguousarray(data)))
    model.fit(data, targets, epochs=1, verbose=0)
    assert np.isfinite(model.evaluate(data, targets))


def test_numpy_scalars_are_read_as_arrays_by_losses():
    mse = fx.losses.get("mse")
    assert float(mse([np.float32(1.0), np.float32(2.0)], np.array([1.5, 2.5], "float32"))) == 0.25
    assert float(mse(np.float32(3.0), np.float32(1.0))) == 4.0  # a number is one sample, as in Keras
    with pytest.raises(TypeError, match=r"y_pred must hold real numbers, got dtype complex"):
        mse(np.float32(3.0), np.complex64(2.0))


# -- outputs are fresh ------------------------------------------------------------------------


@pytest.mark.parametrize("layers", [
    lambda: [Flatten(input_shape=(3,))],
    lambda: [Activation("linear", input_shape=(3,))],
    lambda: [Dropout(0.5, input_shape=(3,))],
    lambda: [Flatten(input_shape=(3,)), Activation("linear"), Dropout(0.3)],
], ids=["flatten", "linear", "dropout", "all"])
def test_predict_returns_a_new_array_even_for_an_identity_model(case, layers):
    model = case.model(layers())
    data = X.astype(case.dtype)
    before = data.copy()
    for out in (model.predict(data), model(data), model.predict(data, batch_size=7)):
        assert isinstance(out, np.ndarray) and not np.shares_memory(out, data)
        out[...] = 0.0
        np.testing.assert_array_equal(data, before)
    on_device = case.asarray(data)
    out = model.predict(on_device)
    assert out is not on_device
    if writable(out):  # JAX arrays never change
        out[...] = 0.0  # writing the output leaves the input as it was
    np.testing.assert_array_equal(case.to_numpy(on_device), before)
