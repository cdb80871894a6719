"""Data read a batch at a time, on every backend: a stream trains exactly as the same batches given
as arrays do; every check of the array path holds per batch and names the batch; generators that
run dry are errors, never short epochs; steps_per_epoch and validation_steps; prefetch runs ahead
and stops cleanly."""

from __future__ import annotations

import multiprocessing
import re
import threading

import numpy as np
import pytest

import flexnet as fx

N, D, C, B = 60, 3, 3, 16


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D))
    return X, rng.integers(0, C, size=N), rng.uniform(0.5, 2.0, size=N)


def _model(case=None, jit_compile="auto"):
    """A small classifier, the same weights at every call; on NumPy float32 without ``case``."""
    fx.utils.set_random_seed(0)
    layers = [fx.layers.Dense(5, activation="tanh", input_dim=D), fx.layers.Dense(C)]
    model = fx.Sequential(layers) if case is None else case.model(layers)
    model.compile(optimizer=fx.optimizers.Adam(0.05),
                  loss=fx.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=jit_compile)
    return model


def _batches(X, y, w=None):
    """The batches fit(X, y, batch_size=B, shuffle=False) takes, as a list of tuples."""
    return [(X[i:i + B], y[i:i + B]) if w is None else (X[i:i + B], y[i:i + B], w[i:i + B])
            for i in range(0, len(X), B)]


def _assert_same_training(case, a, b, ha, hb):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        case.assert_close(wb, wa)
    assert ha.history.keys() == hb.history.keys()
    for key in ha.history:
        np.testing.assert_allclose(hb.history[key], ha.history[key], rtol=case.rtol)


def _no_reader_threads() -> bool:
    names = [t.name for t in threading.enumerate()]
    return not [name for name in names if name.startswith(("flexnet-prefetch", "flexnet-dataset"))]


# -- a stream trains as arrays do -------------------------------------------------------------


def test_a_generator_trains_evaluates_and_predicts_as_the_same_batches_as_arrays(case):
    X, y, w = _data()
    reference, streamed = _model(case), _model(case)
    h_arrays = reference.fit(X, y, batch_size=B, epochs=3, shuffle=False, sample_weight=w,
                             class_weight={0: 2.0}, validation_data=(X[:20], y[:20]), verbose=0)

    def endless():
        while True:
            yield from _batches(X, y, w)

    h_stream = streamed.fit(endless(), epochs=3, steps_per_epoch=len(_batches(X, y)), class_weight={0: 2.0},
                            validation_data=iter([(X[:20], y[:20])] * 3), validation_steps=1, verbose=0)
    _assert_same_training(case, reference, streamed, h_arrays, h_stream)
    expected = reference.evaluate(X, y, batch_size=B, return_dict=True)
    got = streamed.evaluate(iter(_batches(X, y)), return_dict=True)
    np.testing.assert_allclose(list(got.values()), list(expected.values()), rtol=case.rtol)
    P = streamed.predict(iter([(xb,) for xb, _ in _batches(X, y)]))
    assert isinstance(P, np.ndarray) and P.shape == (N, C)
    case.assert_close(P, reference.predict(X, batch_size=B))
    assert _no_reader_threads()


def test_batches_already_on_the_backend_are_checked_there_and_used_as_they_are(case):
    X, y, _ = _data()
    model = _model(case)
    labels = case.resolve().index_dtype
    on_device = [(case.asarray(xb), case.asarray(yb, labels)) for xb, yb in _batches(X, y)]
    model.fit(iter(on_device), verbose=0)
    P = model.predict(iter([(xb,) for xb, _ in on_device]))
    assert case.resolve().owns(P)  # the model's arrays in, the model's arrays out
    bad = [(xb * np.nan if i == 2 else xb, yb) for i, (xb, yb) in enumerate(on_device)]
    with pytest.raises(ValueError, match=r"batch 2 of x \(an iterator\): x contains NaN or infinity"):
        model.fit(iter(bad), verbose=0)


def test_an_unbuilt_sequential_builds_from_the_first_batch(case):
    X, y, _ = _data()
    model = case.model([fx.layers.Dense(4, activation="relu"), fx.layers.Dense(C, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(iter(_batches(X, y)), verbose=0)
    assert model.built and model.input_shape == (None, D)


def test_several_inputs_and_outputs_as_dicts():
    X, y, _ = _data()
    a, b = fx.Input((2,), name="a"), fx.Input((1,), name="b")
    hidden = fx.layers.Concatenate()([a, b])
    model = fx.Model([a, b], [fx.layers.Dense(C, name="cls")(hidden), fx.layers.Dense(1, name="reg")(hidden)])
    model.compile(optimizer="adam", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"})

    def batches():
        for xb, yb in _batches(X, y):
            yield {"a": xb[:, :2], "b": xb[:, 2:]}, {"cls": yb, "reg": xb[:, :1]}

    history = model.fit(batches(), verbose=0)
    assert set(history.history) == {"loss", "cls_loss", "reg_loss"}


# -- per-batch checks name the batch -------------------------------------------------------------


def _bad(i_bad, change):
    X, y, w = _data()
    return [change(b) if i == i_bad else b for i, b in enumerate(_batches(X, y, w))]


GEN = "of x (a generator): "


@pytest.mark.parametrize("i_bad, change, error, match", [
    (2, lambda b: (b[0] * np.nan, *b[1:]), ValueError, f"batch 2 {GEN}x contains NaN or infinity"),
    (1, lambda b: (b[0][:, :2], *b[1:]), ValueError,
     f"batch 1 {GEN}model 'sequential' expects x of shape (n, 3), got shape (16, 2)"),
    (3, lambda b: (b[0], b[1] + C, b[2]), ValueError, f"batch 3 {GEN}y: class labels must be in [0, 2]"),
    (0, lambda b: (b[0], b[1][:-1], b[2]), ValueError, f"batch 0 {GEN}x has 16 samples but y has 15"),
    (1, lambda b: (b[0], b[1], -b[2]), ValueError, f"batch 1 {GEN}sample_weight must be finite and non-"),
    (2, lambda b: (b[0].astype(str), *b[1:]), TypeError, f"batch 2 {GEN}x must hold numbers"),
    (1, lambda b: b[:2], ValueError,
     f"batch 1 {GEN}it has 2 parts (x, y) but the first batch had 3 (x, y, sample_weight)"),
    (1, lambda b: b[0], ValueError, f"batch 1 {GEN}it has 1 parts (x,) but the first batch had 3"),
    (2, lambda b: (*b, b[0], b[1]), ValueError,
     f"batch 2 {GEN}a batch must be x, (x,), (x, y) or (x, y, sample_weight), got a tuple of 5 parts"),
])
def test_each_check_of_the_array_path_holds_per_batch_and_names_the_batch(case, i_bad, change, error, match):
    model = _model(case)
    batches = _bad(i_bad, change)
    weights = model.get_weights()
    with pytest.raises(error, match=re.escape(match)):
        model.fit((b for b in batches), verbose=0)
    assert _no_reader_threads()
    if i_bad == 0:  # checked before training starts
        for before, after in zip(weights, model.get_weights()):
            np.testing.assert_array_equal(after, before)


def test_fit_and_evaluate_need_targets():
    X, y, _ = _data()
    model = _model()
    with pytest.raises(ValueError, match=r"batch 0 of x \(an iterator\): it has no targets: fit and evaluate "
                                         r"need batches \(x, y\)"):
        model.fit(iter([(X,)]), verbose=0)
    with pytest.raises(ValueError, match="batch 0 of x .*: it has no targets"):
        model.evaluate(iter([X]))
    assert model.predict(iter([(X, y)])).shape == (N, C)  # predict ignores the targets


# -- generators that run dry, steps ---------------------------------------------------------------


def test_a_generator_that_runs_dry_mid_epoch_is_an_error_and_the_epoch_is_not_counted():
    X, y, _ = _data()
    model = _model()
    ended = []
    callback = fx.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ended.append(epoch))
    with pytest.raises(ValueError, match=r"x \(a generator\) stopped after 8 batches, at batch 3 of an epoch "
                                         r"of steps_per_epoch=5: the epoch would be cut short"):
        model.fit((b for b in _batches(X, y) * 2), steps_per_epoch=5, epochs=3, callbacks=[callback],
                  verbose=0)
    assert ended == [0]  # the first epoch only: the second never ended
    assert _no_reader_threads()


def test_a_generator_serves_one_epoch_without_steps_per_epoch():
    X, y, _ = _data()
    model = _model()
    with pytest.raises(ValueError, match=r"x \(a generator\) can be read once, but 2 epochs need it 2 times: "
                                         "pass steps_per_epoch"):
        model.fit((b for b in _batches(X, y)), epochs=2, verbose=0)
    with pytest.raises(ValueError, match=r"validation_data \(a generator\) can be read once, but 3 epochs "
                                         "need it 3 times: pass validation_steps"):
        model.fit(X, y, epochs=3, validation_data=(b for b in _batches(X, y)), verbose=0)
    history = model.fit((b for b in _batches(X, y)), epochs=3, initial_epoch=2, verbose=0)  # one epoch
    assert len(history.history["loss"]) == 1


def test_a_used_up_generator_yields_no_batches():
    X, y, _ = _data()
    model = _model()
    batches = (b for b in _batches(X, y))
    model.evaluate(batches)
    with pytest.raises(ValueError, match=r"x \(a generator\) yielded no batches. A generator can be read "
                                         "once, and this one was used up"):
        model.evaluate(batches)


def test_steps_per_epoch_reads_on_and_a_reiterable_starts_new_passes():
    X, y, _ = _data()
    seen = []

    class Passes:
        """Re-iterable: a new pass over 4 batches at each iter(), recording the batch numbers."""

        def __iter__(self):
            for i, batch in enumerate(_batches(X, y)):
                seen.append(i)
                yield batch

    model = _model()
    model.fit(Passes(), steps_per_epoch=3, epochs=3, verbose=0)
    assert seen == [0, 1, 2, 3, 0, 1, 2, 3, 0]
    seen.clear()
    history = model.fit(Passes(), epochs=2, verbose=0)  # a whole pass per epoch
    assert seen == [0, 1, 2, 3] * 2 and len(history.history["loss"]) == 2


def test_a_reiterable_shorter_than_its_len_is_an_error():
    X, y, _ = _data()

    class Short:
        def __len__(self):
            return 5

        def __iter__(self):
            return iter(_batches(X, y))  # 4 batches

    with pytest.raises(ValueError, match=r"x \(a Short object\) yielded 4 batches but its len\(\) is 5: the "
                                         "epoch would be cut short"):
        _model().fit(Short(), verbose=0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(y=np.zeros(N)), r"x \(a generator\) makes its own batches, with their targets and weights: y "
                          "must be None"),
    (dict(sample_weight=np.ones(N)), "sample_weight must be None"),
    (dict(batch_size=8), "batch_size must be None"),
    (dict(validation_split=0.2), r"validation_split cuts arrays, and x is a generator: give validation_data"),
    (dict(steps_per_epoch=0), "steps_per_epoch must be a positive int or None, got 0"),
])
def test_arguments_that_do_not_apply_to_a_stream_are_refused(kwargs, match):
    X, y, _ = _data()
    with pytest.raises(ValueError, match=match):
        _model().fit((b for b in _batches(X, y)), verbose=0, **kwargs)


def test_step_counts_with_arrays_are_refused():
    X, y, _ = _data()
    model = _model()
    with pytest.raises(ValueError, match="steps_per_epoch counts the batches of data read a batch at a time"):
        model.fit(X, y, steps_per_epoch=3, verbose=0)
    with pytest.raises(ValueError, match="validation_steps counts"):
        model.fit(X, y, validation_data=(X, y), validation_steps=3, verbose=0)
    with pytest.raises(ValueError, match="steps counts"):
        model.evaluate(X, y, steps=2)
    with pytest.raises(ValueError, match="steps counts"):
        model.predict(X, steps=2)


def test_an_error_raised_by_the_generator_keeps_its_type_and_names_the_batch():
    def failing():
        X, y, _ = _data()
        yield X[:B], y[:B]
        raise KeyError("no such file")

    with pytest.raises(KeyError, match="no such file") as info:
        _model().fit(failing(), verbose=0)
    assert "making its batch 1 of the pass" in "".join(getattr(info.value, "__notes__", [])) or not hasattr(
        info.value, "add_note")
    assert _no_reader_threads()


# -- prefetch ---------------------------------------------------------------------------------


def test_the_next_batch_is_read_while_the_step_runs():
    """Step 0 waits until the generator has made batch 1: only a reader in another thread can."""
    X, y, _ = _data()
    made = threading.Event()

    def batches():
        for i, batch in enumerate(_batches(X, y)):
            if i == 1:
                made.set()
            yield batch

    waited = []
    callback = fx.callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs: waited.append(made.wait(10)) if batch == 0 else None)
    _model().fit(batches(), callbacks=[callback], verbose=0)
    assert waited == [True]


@pytest.mark.parametrize("where", ["step", "callback"])
def test_a_failure_or_ctrl_c_during_training_stops_the_reading(where):
    X, y, _ = _data()

    def endless():
        while True:
            yield from _batches(X, y)

    def interrupt(batch, logs):
        if batch == 2:
            raise KeyboardInterrupt

    model = _model()
    children = set(multiprocessing.active_children())  # others' (joblib's) may live on
    if where == "step":
        with pytest.raises(ValueError, match="batch 0 of x"):
            model.fit((b if i < 50 else (b[0] * np.nan, b[1]) for i, b in enumerate(endless())),
                      steps_per_epoch=5, epochs=20, verbose=0)
    else:
        with pytest.raises(KeyboardInterrupt):
            model.fit(endless(), steps_per_epoch=5, epochs=2, verbose=0,
                      callbacks=[fx.callbacks.LambdaCallback(on_train_batch_end=interrupt)])
    assert _no_reader_threads()
    assert set(multiprocessing.active_children()) <= children
