"""Callbacks: the progress display, History, user callbacks and stopping."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import flexnet as fx
from flexnet.layers import Dense


def _xor():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = np.array([[0], [1], [1], [0]], dtype=np.float64)
    return x, y


def test_verbose_progress_and_silence(capsys):
    x, y = _xor()
    model = fx.Sequential([Dense(1, input_dim=2, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""
    model.fit(x, y, epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "loss:" in out and "accuracy:" in out
    pytest.importorskip("tqdm")
    model.fit(x, y, epochs=2, verbose=1)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Epoch 2/2" in text and "loss:" in text


def test_callbacks_see_epoch_logs_and_can_stop():
    seen = []

    class StopAfterTwo(fx.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(("batch", batch))

        def on_epoch_end(self, epoch, logs=None):
            seen.append(("epoch", epoch, sorted(logs)))
            if epoch == 1:
                self.model.stop_training = True

    x, y = _xor()
    model = fx.Sequential([Dense(1, input_dim=2, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=2, epochs=10, verbose=0, callbacks=[StopAfterTwo()])
    assert len(history.history["loss"]) == 2
    assert seen[:3] == [("batch", 0), ("batch", 1), ("epoch", 0, ["accuracy", "loss"])]


def test_verbose_1_without_tqdm_prints_one_line_per_epoch(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import fails as if not installed
    x, y = _xor()
    model = fx.Sequential([Dense(1, input_dim=2, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    model.fit(x, y, epochs=3, verbose=1)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Epoch")]
    assert len(lines) == 3 and lines[-1].startswith("Epoch 3/3 - loss: ")


def test_callbacks_must_be_callback_objects():
    x, y = _xor()
    model = fx.Sequential([Dense(1, input_dim=2)])
    model.compile(loss="mse")
    with pytest.raises(TypeError, match="callbacks must be Callback instances, got function"):
        model.fit(x, y, verbose=0, callbacks=[lambda: None])


def test_history_is_returned_and_kept_on_the_model():
    x, y = _xor()
    model = fx.Sequential([Dense(1, input_dim=2)])
    model.compile(loss="mse")
    history = model.fit(x, y, epochs=4, verbose=0)
    assert model.history is history
    assert history.epoch == [0, 1, 2, 3] and len(history.history["loss"]) == 4
    history = model.fit(x, y, epochs=6, initial_epoch=4, verbose=0)
    assert history.epoch == [4, 5]


def test_evaluate_and_predict_progress(capsys):
    x, y = _xor()
    model = fx.Sequential([Dense(1, input_dim=2, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", metrics=["accuracy"])
    model.evaluate(x, y)
    model.predict(x)
    assert capsys.readouterr().out == ""
    model.evaluate(x, y, verbose=2)
    assert capsys.readouterr().out.startswith("loss: ")
    pytest.importorskip("tqdm")
    model.predict(x, batch_size=1, verbose=1)
    captured = capsys.readouterr()
    assert "predict" in captured.out + captured.err and "4/4" in captured.out + captured.err
    with pytest.raises(ValueError, match="verbose must be 0, 1 or 2, got 3"):
        model.predict(x, verbose=3)
