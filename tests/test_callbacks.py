"""Callbacks: the progress display, History, user callbacks and stopping."""

from __future__ import annotations

import io
import os
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


class _Terminal(io.StringIO):
    """A stand-in terminal: it says it is one, and ``$COLUMNS`` gives its width."""

    def isatty(self):
        return True


def _screen(text: str) -> list[str]:
    """The lines a terminal shows for ``text``: ``\r`` goes back to the start of the line
    (what follows overwrites it), ``\n`` starts a new line."""
    lines = []
    for raw in text.split("\n"):
        line = ""
        for part in raw.split("\r"):
            line = part + line[len(part):]
        lines.append(line)
    return lines


def _metrics_model():
    model = fx.Sequential([Dense(4, input_dim=3, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["accuracy", "precision", "recall", "auc"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    return model, x, (x[:, 0] > 0).astype(int)


@pytest.mark.parametrize("verbose", [1, "auto"])
def test_progress_bar_shows_every_value_at_80_columns(monkeypatch, verbose):
    """tqdm's postfix is cut at the terminal's edge (``... - accurac``); the values follow the bar
    instead, broken between items into lines of at most 80 characters, as Keras shows them all."""
    pytest.importorskip("tqdm")
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "24")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    model, x, y = _metrics_model()
    history = model.fit(x, y, epochs=2, batch_size=8, validation_split=0.2, verbose=verbose)
    lines = _screen(terminal.getvalue())
    assert max(len(line) for line in lines) <= 80, lines
    shown = "\n".join(lines)
    assert len(history.history) == 10 and "Epoch 2/2: 100%" in shown
    for key, values in history.history.items():
        for value in values:
            assert f"{key}: {value:.4f}" in shown, (key, shown)


def test_progress_bar_in_a_pseudo_terminal_of_80_columns(monkeypatch):
    """The same in a pseudo-terminal, whose width tqdm and flexnet read as in a real one."""
    pytest.importorskip("tqdm")
    pty, fcntl, termios = (pytest.importorskip(name) for name in ("pty", "fcntl", "termios"))
    import struct
    import threading

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    chunks: list[bytes] = []

    def read():
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the other end is closed
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    stream = open(slave, "w", encoding="utf-8")  # noqa: SIM115 - closed below, ending the reader
    try:
        monkeypatch.setattr(sys, "stdout", stream)
        model, x, y = _metrics_model()
        history = model.fit(x, y, epochs=2, batch_size=8, validation_split=0.2, verbose=1)
        stream.flush()
    finally:
        stream.close()
        reader.join(timeout=10)
        os.close(master)
    lines = _screen(b"".join(chunks).decode("utf-8").replace("\r\n", "\n"))
    assert max(len(line) for line in lines) <= 80, lines
    shown = "\n".join(lines)
    for key, values in history.history.items():
        for value in values:
            assert f"{key}: {value:.4f}" in shown, (key, shown)


def test_progress_bar_into_a_file_writes_the_values_on_one_line(capsys):
    pytest.importorskip("tqdm")
    model, x, y = _metrics_model()
    history = model.fit(x, y, epochs=1, batch_size=8, validation_data=(x, y))  # verbose="auto"
    captured = capsys.readouterr()
    values = [line for line in (captured.out + captured.err).splitlines() if "val_auc" in line]
    assert values == ["  " + fx.callbacks.format_logs({k: v[0] for k, v in history.history.items()})]


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
    with pytest.raises(ValueError, match="verbose must be 'auto', 0, 1 or 2, got 3"):
        model.predict(x, verbose=3)


# ----------------------------------------------------------------------
# The Keras callbacks. Unit tests feed hand-made logs to a fake model; the
# others train real small models on every backend.
from flexnet.callbacks import (  # noqa: E402
    CallbackList,
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
    monitor_mode,
)


class FakeModel:
    """What callbacks use of a model: ``stop_training``, an optimizer, weights and saving.

    Its single "weight" is set to the epoch index before each epoch end, so a
    restored or saved weight names the epoch it came from.
    """

    def __init__(self, learning_rate=0.1):
        self.stop_training = False
        self.optimizer = fx.optimizers.SGD(learning_rate)
        self.weight = -1
        self.saved: list[tuple[str, int]] = []

    def get_weights(self):
        return [np.array(self.weight)]

    def set_weights(self, weights):
        self.weight = int(weights[0])

    def save_weights(self, path):
        self.saved.append((path, self.weight))


def _drive(callback, values, key="val_loss", model=None, batches=0):
    """Run ``callback`` through a fake fit whose epoch ``i`` logs ``{key: values[i]}``.

    Returns ``(model, epochs run, logs of each epoch)``.
    """
    model = model or FakeModel()
    cbs = CallbackList([callback], model, {"epochs": len(values), "steps": batches})
    cbs.on_train_begin()
    all_logs = []
    for epoch, value in enumerate(values):
        cbs.on_epoch_begin(epoch)
        for step in range(batches):
            cbs.on_train_batch_begin(step)
            cbs.on_train_batch_end(step)
        model.weight = epoch
        logs = {key: value}
        cbs.on_epoch_end(epoch, logs)
        all_logs.append(logs)
        if model.stop_training:
            break
    cbs.on_train_end()
    return model, len(all_logs), all_logs


def _regression(n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3
    return x, y


@pytest.mark.parametrize(("monitor", "mode", "expected"), [
    ("val_loss", "auto", "min"), ("loss", "auto", "min"), ("mae", "auto", "min"),
    ("accuracy", "auto", "max"), ("val_binary_accuracy", "auto", "max"), ("val_auc", "auto", "max"),
    ("precision", "auto", "max"), ("val_recall", "auto", "max"),
    ("val_accuracy", "min", "min"), ("loss", "max", "max"),
    # Keras 3's metrics with _direction "up" are maximised, the others minimised
    ("acc", "auto", "max"), ("val_acc", "auto", "max"), ("val_categorical_accuracy", "auto", "max"),
    ("top_k_categorical_accuracy", "auto", "max"), ("sparse_top_k_categorical_accuracy", "auto", "max"),
    ("f1_score", "auto", "max"), ("val_fbeta_score", "auto", "max"), ("r2_score", "auto", "max"),
    ("auc_1", "auto", "max"), ("precision_at_recall", "auto", "max"), ("mean_iou", "auto", "max"),
    ("cosine_similarity", "auto", "max"), ("dense_1_accuracy", "auto", "max"),
    ("val_mse", "auto", "min"), ("root_mean_squared_error", "auto", "min"), ("dense_1_loss", "auto", "min"),
    ("binary_crossentropy", "auto", "min"), ("categorical_hinge", "auto", "min"),
    ("false_positives", "auto", "min"), ("layer2_mse", "auto", "min"), ("val_accuracy_loss", "auto", "min"),
])
def test_monitor_mode_auto_rule(monitor, mode, expected):
    assert monitor_mode(monitor, mode) == expected
    assert EarlyStopping(monitor, mode=mode).direction == expected
    assert ReduceLROnPlateau(monitor, mode=mode).direction == expected
    assert ModelCheckpoint("w", monitor=monitor, mode=mode).direction == expected


@pytest.mark.parametrize(("make", "match"), [
    (lambda: EarlyStopping(mode="best"), "mode must be 'auto', 'min' or 'max', got 'best'"),
    (lambda: EarlyStopping(monitor=3), "monitor must be a non-empty str"),
    (lambda: EarlyStopping(patience=-1), "patience must be an int >= 0, got -1"),
    (lambda: EarlyStopping(patience=1.5), "patience must be an int >= 0, got 1.5"),
    (lambda: EarlyStopping(min_delta=-0.1), "min_delta must be >= 0.0, got -0.1"),
    (lambda: EarlyStopping(baseline="low"), "baseline must be a number, got 'low'"),
    (lambda: EarlyStopping(verbose=5), "verbose must be 'auto', 0, 1 or 2, got 5"),
    (lambda: ReduceLROnPlateau(factor=1.0), r"factor must be between 0 and 1 \(exclusive\), got 1.0"),
    (lambda: ReduceLROnPlateau(factor=0), "factor must be between 0 and 1"),
    (lambda: ReduceLROnPlateau(cooldown=-2), "cooldown must be an int >= 0"),
    (lambda: ReduceLROnPlateau(min_lr=-1), "min_lr must be >= 0.0"),
    (lambda: ModelCheckpoint("w", save_freq=0), "save_freq must be 'epoch' or an int >= 1, got 0"),
    (lambda: ModelCheckpoint("w", save_freq="batch"), "save_freq must be 'epoch' or an int"),
    (lambda: ModelCheckpoint("w", save_freq=5, save_best_only=True), "save_best_only needs save_freq="),
    (lambda: ModelCheckpoint(None), "filepath must be a str or os.PathLike, got NoneType"),
    (lambda: CSVLogger("log.csv", separator=", "), "separator must be a one-character str"),
    (lambda: LearningRateScheduler(0.1), "schedule must be callable"),
    (lambda: LearningRateScheduler(lambda: 0.1), "schedule must take the epoch"),
    (lambda: LambdaCallback(on_epoch_end="print"), "on_epoch_end must be callable or None, got str"),
])
def test_bad_arguments_are_named(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


@pytest.mark.parametrize("callback", [
    EarlyStopping("val_accuracy", min_delta=0.01, patience=3, verbose=1, mode="max", baseline=0.5,
                  restore_best_weights=True, start_from_epoch=2),
    ModelCheckpoint("ckpt/{epoch:02d}.weights", monitor="loss", verbose=1, save_best_only=True,
                    save_weights_only=True, mode="min", initial_value_threshold=2.0),
    ReduceLROnPlateau("loss", factor=0.5, patience=2, verbose=1, mode="min", min_delta=0.0,
                      cooldown=1, min_lr=1e-4),
    CSVLogger("log.csv", separator=";", append=True),
    TerminateOnNaN(),
], ids=lambda cb: type(cb).__name__)
def test_config_round_trip(callback):
    config = callback.get_config()
    assert type(callback)(**config).get_config() == config


# -- EarlyStopping ------------------------------------------------------
def test_early_stopping_waits_patience_epochs_without_improvement():
    stop = EarlyStopping(patience=2)
    _, ran, _ = _drive(stop, [1.0, 0.9, 0.95, 0.96, 0.97, 0.98])
    assert ran == 4 and stop.stopped_epoch == 3
    assert stop.best == 0.9 and stop.best_epoch == 1


def test_early_stopping_patience_zero_stops_at_the_first_non_improvement_but_never_at_epoch_0():
    stop = EarlyStopping(patience=0)
    _, ran, _ = _drive(stop, [1.0, 0.5, 0.6, 0.4])
    assert ran == 3 and stop.stopped_epoch == 2


def test_early_stopping_min_delta_ignores_small_improvements():
    values = [1.0, 0.95, 0.91, 0.88, 0.86]
    stop = EarlyStopping(min_delta=0.1, patience=1)
    _, ran, _ = _drive(stop, values)
    assert ran == 2 and stop.stopped_epoch == 1
    _, ran, _ = _drive(EarlyStopping(min_delta=0.01, patience=1), values)
    assert ran == 5  # every step improves by more than 0.01


def test_early_stopping_mode_decides_the_direction():
    values = [0.5, 0.6, 0.7, 0.65, 0.64]
    stop = EarlyStopping("val_accuracy", patience=0)  # auto: accuracy goes up
    _, ran, _ = _drive(stop, values, key="val_accuracy")
    assert ran == 4 and stop.best == 0.7
    stop = EarlyStopping("val_accuracy", patience=0, mode="min")
    _, ran, _ = _drive(stop, values, key="val_accuracy")
    assert ran == 2 and stop.best == 0.5


def test_early_stopping_baseline_must_be_beaten():
    flat = [1.0, 1.0, 1.0, 1.0, 1.0]
    _, ran, _ = _drive(EarlyStopping(patience=2), flat)
    assert ran == 3
    _, ran, _ = _drive(EarlyStopping(patience=2, baseline=0.5), flat)
    assert ran == 2  # epoch 0 counts as waiting: it did not beat the baseline
    _, ran, _ = _drive(EarlyStopping(patience=2, baseline=0.5), [0.4] * 5)
    assert ran == 3  # beaten at once: the same as without a baseline


def test_early_stopping_restores_the_best_weights_when_it_stops_and_when_it_does_not():
    stop = EarlyStopping(patience=2, restore_best_weights=True)
    model, ran, _ = _drive(stop, [1.0, 0.5, 0.7, 0.8, 0.9])
    assert ran == 4 and stop.best_epoch == 1 and model.weight == 1
    model, ran, _ = _drive(EarlyStopping(patience=5, restore_best_weights=True), [1.0, 0.5, 0.7])
    assert ran == 3 and model.weight == 1
    model, _, _ = _drive(EarlyStopping(patience=2), [1.0, 0.5, 0.7, 0.8, 0.9])
    assert model.weight == 3  # not asked to restore


def test_early_stopping_start_from_epoch_skips_the_warm_up():
    stop = EarlyStopping(patience=0, start_from_epoch=2)
    _, ran, _ = _drive(stop, [1.0, 2.0, 3.0, 4.0, 5.0])
    assert ran == 4 and stop.stopped_epoch == 3 and stop.best == 3.0


def test_early_stopping_is_reset_by_each_fit():
    stop = EarlyStopping(patience=1)
    _drive(stop, [0.1, 0.2, 0.3])
    _, ran, _ = _drive(stop, [1.0, 0.9, 0.8])
    assert ran == 3 and stop.stopped_epoch == 0 and stop.best == 0.8


def test_a_metric_direction_decides_auto_mode():
    class Closeness(fx.metrics.Metric):  # better when higher, which its name does not say
        name, direction = "closeness", "up"

        def values(self, xp, y, P):
            return -xp.abs(y - P)[:, 0]

    class FakeCompiled(FakeModel):
        metrics = [Closeness()]

    stop = EarlyStopping("val_closeness", patience=0)
    assert stop.direction == "min"  # no model yet: by the name
    _, ran, _ = _drive(stop, [0.1, 0.2, 0.3, 0.2], key="val_closeness", model=FakeCompiled())
    assert stop.direction == "max" and ran == 4 and stop.best == 0.3


@pytest.mark.parametrize(("callback", "skipped"), [
    (EarlyStopping(), "early stopping skips this epoch"),
    (ReduceLROnPlateau(patience=0), "the learning rate is kept at this epoch"),
    (ModelCheckpoint("w", save_best_only=True, save_weights_only=True),
     "the model is saved anyway, as Keras does"),
], ids=lambda cb: type(cb).__name__)
def test_a_monitored_key_missing_from_the_logs_warns_and_skips_as_keras(callback, skipped):
    with pytest.warns(UserWarning, match=r"monitors 'val_loss', which is not in the epoch logs \(val_ keys "
                                         rf"need validation_data.*available keys: \[.*'loss'\]; {skipped}"):
        model, ran, logs = _drive(callback, [1.0, 2.0, 3.0], key="loss")
    assert ran == 3 and not model.stop_training and model.optimizer.learning_rate == 0.1
    assert model.saved == ([("w", 0), ("w", 1), ("w", 2)] if isinstance(callback, ModelCheckpoint) else [])


def test_early_stopping_on_a_real_model_restores_the_best_epoch(case, capsys):
    x, y = _regression()
    model = case.model([Dense(1, input_dim=3)])
    model.compile(optimizer=fx.optimizers.SGD(0.05), loss="mse")
    weights = []
    record = LambdaCallback(on_epoch_end=lambda epoch, logs: weights.append(model.get_weights()))
    stop = EarlyStopping("val_loss", min_delta=1e9, patience=1, verbose=1, restore_best_weights=True)
    history = model.fit(x, y, validation_data=(x, y), epochs=10, batch_size=4, verbose=0,
                        callbacks=[record, stop])
    assert history.epoch == [0, 1] and stop.stopped_epoch == 1
    assert not np.allclose(weights[0][0], weights[1][0])  # training moved the weights
    for restored, best in zip(model.get_weights(), weights[0]):
        np.testing.assert_array_equal(restored, best)
    assert capsys.readouterr().out.splitlines() == [
        "Epoch 2: early stopping", "Restoring model weights from the end of the best epoch: 1.",
    ]


def test_early_stopping_without_validation_data_warns_and_trains_on():
    """Course snippets pass EarlyStopping() (monitor="val_loss") to fit without validation data:
    Keras warns and trains every epoch."""
    x, y = _xor()
    model = fx.Sequential([Dense(1, input_dim=2, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", metrics=["accuracy"])
    with pytest.warns(UserWarning, match=r"EarlyStopping monitors 'val_accuracy', .*available keys: "
                                         r"\['accuracy', 'loss'\]") as caught:
        history = model.fit(x, y, epochs=3, verbose=0, callbacks=[EarlyStopping("val_accuracy")])
    assert history.epoch == [0, 1, 2]
    assert len(caught) == 3  # one per epoch (Python's default filter then shows it once)


# -- ModelCheckpoint ----------------------------------------------------
def test_checkpoint_best_only_writes_on_improvement_only(capsys):
    checkpoint = ModelCheckpoint("best.weights", save_best_only=True, save_weights_only=True, verbose=1)
    model, _, _ = _drive(checkpoint, [1.0, 0.5, 0.7, 0.4, 0.4])
    assert model.saved == [("best.weights", 0), ("best.weights", 1), ("best.weights", 3)]
    assert checkpoint.best == 0.4
    assert capsys.readouterr().out.splitlines() == [
        "Epoch 1: val_loss improved from None to 1.00000, saving model to best.weights",
        "Epoch 2: val_loss improved from 1.00000 to 0.50000, saving model to best.weights",
        "Epoch 3: val_loss did not improve from 0.50000",
        "Epoch 4: val_loss improved from 0.50000 to 0.40000, saving model to best.weights",
        "Epoch 5: val_loss did not improve from 0.40000",
    ]


def test_checkpoint_initial_value_threshold_and_max_mode():
    checkpoint = ModelCheckpoint("w", monitor="val_auc", save_best_only=True, save_weights_only=True,
                                 initial_value_threshold=0.6)
    model, _, _ = _drive(checkpoint, [0.5, 0.7, 0.65, 0.8], key="val_auc")
    assert [epoch for _, epoch in model.saved] == [1, 3]


def test_checkpoint_formats_the_path_from_epoch_and_logs(tmp_path):
    checkpoint = ModelCheckpoint(tmp_path / "run" / "{epoch:02d}-{val_loss:.2f}.weights",
                                 save_weights_only=True)
    model, _, _ = _drive(checkpoint, [1.0, 0.456])
    run = tmp_path / "run"
    assert model.saved == [(str(run / "01-1.00.weights"), 0), (str(run / "02-0.46.weights"), 1)]
    assert run.is_dir()  # the missing folder was made
    with pytest.raises(ValueError, match=r"names \{val_acc\}, which is not available here; it can use "
                                         r"\['epoch', 'val_loss'\]"):
        _drive(ModelCheckpoint("{val_acc}.w", save_weights_only=True), [1.0])


def test_checkpoint_every_n_batches():
    checkpoint = ModelCheckpoint("{epoch}-{batch}", save_weights_only=True, save_freq=2)
    model, _, _ = _drive(checkpoint, [1.0, 1.0], batches=3)
    assert [path for path, _ in model.saved] == ["1-2", "2-1", "2-3"]


def test_checkpoint_needs_the_saving_method():
    class NoSave:
        stop_training = False

    with pytest.raises(ValueError, match=r"calls model.save\(\), which NoSave does not have"):
        _drive(ModelCheckpoint("m"), [1.0], model=NoSave())


def test_checkpoint_file_holds_the_best_weights(case, tmp_path):
    x, y = _regression()
    model = case.model([Dense(1, input_dim=3)])
    model.compile(optimizer=fx.optimizers.SGD(0.05), loss="mse")
    weights = []
    record = LambdaCallback(on_epoch_end=lambda epoch, logs: weights.append(model.get_weights()))
    # Full-batch descent on a convex loss: the loss falls every epoch, so in "max"
    # mode only the first epoch is an improvement.
    path = tmp_path / "ckpt" / "best.weights"
    best = ModelCheckpoint(path, monitor="loss", mode="max", save_best_only=True, save_weights_only=True)
    every = ModelCheckpoint(str(tmp_path / "{epoch:02d}-{loss:.3f}.weights"), save_weights_only=True)
    history = model.fit(x, y, epochs=4, batch_size=8, shuffle=False, verbose=0,
                        callbacks=[record, best, every])
    losses = history.history["loss"]
    assert all(a > b for a, b in zip(losses, losses[1:]))
    assert sorted(p.name for p in tmp_path.glob("*.weights")) == [
        f"{epoch + 1:02d}-{loss:.3f}.weights" for epoch, loss in enumerate(losses)
    ]
    assert best.best == losses[0]
    model.load_weights(path)
    for loaded, first in zip(model.get_weights(), weights[0]):
        case.assert_close(loaded, first)
    model.load_weights(tmp_path / f"04-{losses[3]:.3f}.weights")
    for loaded, last in zip(model.get_weights(), weights[3]):
        case.assert_close(loaded, last)


# -- LearningRateScheduler ----------------------------------------------
def test_scheduler_sets_the_rate_used_during_each_epoch(case):
    x, y = _regression()
    model = case.model([Dense(1, input_dim=3)])
    model.compile(optimizer=fx.optimizers.SGD(0.1), loss="mse")
    used = []
    spy = LambdaCallback(on_train_batch_begin=lambda batch, logs: used.append(model.optimizer.learning_rate))
    halve = LearningRateScheduler(lambda epoch, lr: lr if epoch == 0 else lr / 2)
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0, callbacks=[halve, spy])
    assert used == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    assert history.history["learning_rate"] == [0.1, 0.05, 0.025]
    assert model.optimizer.learning_rate == 0.025


def test_scheduler_accepts_a_one_argument_schedule(capsys):
    schedule = LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1), verbose=1)
    model, _, logs = _drive(schedule, [1.0, 1.0], model=FakeModel(learning_rate=0.5))
    assert [entry["learning_rate"] for entry in logs] == [0.1, 0.05]
    assert model.optimizer.learning_rate == 0.05
    assert capsys.readouterr().out.splitlines() == [
        "Epoch 1: LearningRateScheduler setting learning rate to 0.1.",
        "Epoch 2: LearningRateScheduler setting learning rate to 0.05.",
    ]


def test_scheduler_passes_epoch_and_current_rate():
    calls = []

    def schedule(epoch, lr):
        calls.append((epoch, lr))
        return lr * 0.5

    _drive(LearningRateScheduler(schedule), [1.0, 1.0, 1.0])
    assert calls == [(0, 0.1), (1, 0.05), (2, 0.025)]


@pytest.mark.parametrize(("schedule", "error", "match"), [
    (lambda epoch, lr: "fast", TypeError, "schedule must return a number, got str at epoch 0"),
    (lambda epoch, lr: -0.1, ValueError, "schedule returned -0.1 at epoch 0; a learning rate is"),
    (lambda epoch, lr: float("nan"), ValueError, "schedule returned nan"),
])
def test_scheduler_checks_what_the_schedule_returns(schedule, error, match):
    with pytest.raises(error, match=match):
        _drive(LearningRateScheduler(schedule), [1.0])


@pytest.mark.parametrize("callback", [
    LearningRateScheduler(lambda epoch, lr: lr), ReduceLROnPlateau(),
], ids=lambda cb: type(cb).__name__)
def test_rate_callbacks_refuse_an_optimizer_with_a_schedule(callback):
    x, y = _xor()
    model = fx.Sequential([Dense(1, input_dim=2)])
    model.compile(optimizer=fx.optimizers.SGD(lambda step: 0.1 / (step + 1)), loss="mse")
    with pytest.raises(ValueError, match=f"{type(callback).__name__} sets the optimizer's learning "
                                         "rate, but this SGD was compiled with a schedule"):
        model.fit(x, y, validation_data=(x, y), verbose=0, callbacks=[callback])


# -- ReduceLROnPlateau --------------------------------------------------
def test_reduce_lr_with_cooldown_and_min_lr(capsys):
    reduce = ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2, min_lr=0.03, verbose=1)
    model, _, logs = _drive(reduce, [1.0] * 7)
    # Reductions at epochs 1 and 3 (the epoch of a reduction counts as the first
    # cooldown epoch, as in Keras); 0.025 is clipped to min_lr, then nothing moves.
    assert [entry["learning_rate"] for entry in logs] == pytest.approx(
        [0.1, 0.1, 0.05, 0.05, 0.03, 0.03, 0.03])
    assert model.optimizer.learning_rate == pytest.approx(0.03)
    assert capsys.readouterr().out.splitlines() == [
        "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.05.",
        "Epoch 4: ReduceLROnPlateau reducing learning rate to 0.03.",
    ]


def test_reduce_lr_waits_for_patience_and_resets_on_improvement():
    reduce = ReduceLROnPlateau(factor=0.5, patience=2)
    model, _, _ = _drive(reduce, [1.0, 1.0, 0.5, 0.5, 0.4, 0.4])
    assert model.optimizer.learning_rate == 0.1  # never two epochs in a row without improvement
    model, _, logs = _drive(ReduceLROnPlateau(factor=0.5, patience=2), [1.0, 1.0, 1.0, 1.0])
    assert [entry["learning_rate"] for entry in logs] == [0.1, 0.1, 0.1, 0.05]


def test_reduce_lr_min_delta_and_max_mode():
    model, _, _ = _drive(ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.1),
                         [1.0, 0.95, 0.91])
    assert model.optimizer.learning_rate == 0.025  # improvements of 0.05 do not count
    model, _, _ = _drive(ReduceLROnPlateau("val_accuracy", factor=0.5, patience=1),
                         [0.5, 0.6, 0.7], key="val_accuracy")
    assert model.optimizer.learning_rate == 0.1


def test_reduce_lr_on_a_real_model(case):
    x, y = _regression()
    model = case.model([Dense(1, input_dim=3)])
    model.compile(optimizer=fx.optimizers.SGD(0.08), loss="mse")
    reduce = ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=1e9)
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0, callbacks=[reduce])
    # epoch 0 sets the first best; epochs 1 and 2 do not improve by 1e9 and reduce
    assert history.history["learning_rate"] == [0.08, 0.08, 0.04]
    assert model.optimizer.learning_rate == 0.02


# -- TerminateOnNaN -----------------------------------------------------
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_terminate_on_nan_stops_on_a_non_finite_loss(bad, capsys):
    _, ran, _ = _drive(TerminateOnNaN(), [1.0, bad, 1.0], key="loss")
    assert ran == 2
    assert capsys.readouterr().out == f"Epoch 2: invalid loss {bad}, terminating training\n"
    _, ran, _ = _drive(TerminateOnNaN(), [1.0, 2.0, 3.0], key="loss")
    assert ran == 3


def test_terminate_on_nan_in_a_real_fit(case, capsys):
    x, y = _regression()
    model = case.model([Dense(1, input_dim=3)])
    model.compile(optimizer="sgd", loss="mse")

    def poison(epoch, logs):
        if epoch == 1:
            model.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])

    history = model.fit(x, y, epochs=10, verbose=0,
                        callbacks=[LambdaCallback(on_epoch_end=poison), TerminateOnNaN()])
    assert len(history.epoch) == 3 and np.isnan(history.history["loss"][-1])
    assert "Epoch 3: invalid loss nan, terminating training" in capsys.readouterr().out


# -- CSVLogger ----------------------------------------------------------
def _read_csv(path, separator=","):
    return [line.split(separator) for line in path.read_text().splitlines()]


def test_csv_logger_writes_one_row_per_epoch(case, tmp_path):
    x, y = _xor()
    model = case.model([Dense(1, input_dim=2, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    path = tmp_path / "log.csv"
    rows_seen = []
    peek = LambdaCallback(on_epoch_end=lambda epoch, logs: rows_seen.append(len(_read_csv(path))))
    schedule = LearningRateScheduler(lambda epoch, lr: lr)
    history = model.fit(x, y, validation_data=(x, y), epochs=3, verbose=0,
                        callbacks=[schedule, CSVLogger(path), peek])
    assert rows_seen == [2, 3, 4]  # flushed after every epoch
    rows = _read_csv(path)
    keys = ["accuracy", "learning_rate", "loss", "val_accuracy", "val_loss"]
    assert rows[0] == ["epoch", *keys]
    assert [row[0] for row in rows[1:]] == ["0", "1", "2"]
    for column, key in enumerate(keys, start=1):
        assert [float(row[column]) for row in rows[1:]] == history.history[key]


def test_csv_logger_separator_append_and_missing_keys(tmp_path):
    path = tmp_path / "log.tsv"
    logger = CSVLogger(str(path), separator="\t")
    _drive(logger, [1.0, 0.5], key="loss")
    assert logger._file is None  # closed at train end
    assert _read_csv(path, "\t") == [["epoch", "loss"], ["0", "1.0"], ["1", "0.5"]]
    _drive(CSVLogger(path, separator="\t", append=True), [0.25], key="loss")
    assert _read_csv(path, "\t")[-2:] == [["1", "0.5"], ["0", "0.25"]]  # no second header
    _drive(CSVLogger(path, separator="\t"), [0.125], key="loss")
    assert _read_csv(path, "\t") == [["epoch", "loss"], ["0", "0.125"]]  # overwritten

    logger = CSVLogger(tmp_path / "new.csv", append=True)
    model = FakeModel()
    cbs = CallbackList([logger], model, {})
    cbs.on_train_begin()
    cbs.on_epoch_end(0, {"loss": 1.0, "val_loss": 2.0})
    cbs.on_epoch_end(1, {"loss": 0.5, "extra": 3.0})
    cbs.on_train_end()
    assert _read_csv(tmp_path / "new.csv") == [
        ["epoch", "loss", "val_loss"], ["0", "1.0", "2.0"], ["1", "0.5", "NA"],
    ]


# -- LambdaCallback -----------------------------------------------------
def test_lambda_callback_hooks_run_in_order():
    events = []
    hooks = LambdaCallback(
        on_train_begin=lambda logs: events.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: events.append(f"epoch_begin {epoch}"),
        on_train_batch_begin=lambda batch, logs: events.append(f"batch_begin {batch}"),
        on_train_batch_end=lambda batch, logs: events.append(f"batch_end {batch}"),
        on_epoch_end=lambda epoch, logs: events.append(f"epoch_end {epoch} {sorted(logs)}"),
        on_train_end=lambda logs: events.append("train_end"),
    )
    x, y = _xor()
    model = fx.Sequential([Dense(1, input_dim=2)])
    model.compile(loss="mse")
    model.fit(x, y, epochs=2, batch_size=2, verbose=0, callbacks=[hooks])
    epoch = ["batch_begin 0", "batch_end 0", "batch_begin 1", "batch_end 1"]
    assert events == [
        "train_begin",
        "epoch_begin 0", *epoch, "epoch_end 0 ['loss']",
        "epoch_begin 1", *epoch, "epoch_end 1 ['loss']",
        "train_end",
    ]


def test_lambda_callback_without_batch_hooks_is_skipped_at_every_batch():
    only_epochs = LambdaCallback(on_epoch_end=lambda epoch, logs: None)
    both = LambdaCallback(on_train_batch_end=lambda batch, logs: None)
    cbs = CallbackList([only_epochs, both], FakeModel(), {})
    assert cbs._batch_begin == [] and cbs._batch_end == [both]


# -- History.plot ---------------------------------------------------------
def test_history_plot_draws_one_axis_per_quantity_with_its_val_twin():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = _xor()
    model = fx.Sequential([Dense(1, input_dim=2, activation="sigmoid")])
    model.compile(optimizer=fx.optimizers.SGD(fx.schedules.ExponentialDecay(0.1, 1, 0.9)),
                  loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, verbose=0, validation_data=(x, y))
    fig, axes = history.plot(title="xor")
    try:
        assert [ax.get_title() for ax in axes] == ["loss", "accuracy", "learning_rate"]
        loss_ax = axes[0]
        assert [line.get_label() for line in loss_ax.get_lines()] == ["loss", "val_loss"]
        assert list(loss_ax.get_lines()[0].get_xdata()) == [1, 2, 3]  # epochs counted from 1
        assert list(loss_ax.get_lines()[1].get_ydata()) == history.history["val_loss"]
        assert loss_ax.get_lines()[1].get_linestyle() == "--"
        assert [line.get_label() for line in axes[2].get_lines()] == ["learning_rate"]
        assert fig.get_suptitle() == "xor"
        assert len(fig.axes) == 3  # no empty axes left over
    finally:
        plt.close(fig)

    fig, ax = plt.subplots()
    try:
        same_fig, axes = history.plot("accuracy", axes=ax)
        assert same_fig is fig and axes == [ax]
        assert [line.get_label() for line in ax.get_lines()] == ["accuracy", "val_accuracy"]
        with pytest.raises(ValueError, match="no \\['mae'\\] in the history"):
            history.plot(["loss", "mae"])
        with pytest.raises(ValueError, match="got 1 axes for 2 quantities"):
            history.plot(["loss", "accuracy"], axes=[ax])
    finally:
        plt.close(fig)


def test_history_plot_needs_epochs_and_matplotlib(monkeypatch):
    with pytest.raises(ValueError, match="the history is empty"):
        fx.callbacks.History().plot()
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)  # import fails as if not installed
    history = fx.callbacks.History()
    history.on_epoch_end(0, {"loss": 1.0})
    with pytest.raises(ImportError, match="History.plot\\(\\) needs matplotlib"):
        history.plot()
