"""model.summary(): Keras 3's table (columns, box layout, widths), parameter counts and sizes,
``line_length``, ``positions``, ``expand_nested`` and ``show_trainable``."""

from __future__ import annotations

import pytest

import flexnet as fx
from flexnet.layers import Dense, Dropout, Flatten
from flexnet.summary import format_shape, format_size


def _summary(model, **kwargs) -> str:
    lines = []
    model.summary(print_fn=lines.append, **kwargs)
    assert len(lines) == 1  # print_fn gets the whole table at once
    return lines[0]


def _rows(text: str) -> list[list[str]]:
    """The cells of each table line between ``│`` borders (rows and their wrapped lines)."""
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in text.splitlines()
            if line.startswith("│")]


def test_summary_matches_keras():
    model = fx.Sequential([
        Flatten(input_shape=[28, 28]),
        Dense(300, activation="relu"),
        Dense(100, activation="relu"),
        Dense(10, activation="softmax"),
    ])
    text = _summary(model, line_length=88)
    lines = text.splitlines()
    assert lines[0] == 'Model: "sequential"'
    assert lines[1].startswith("┏━") and lines[1].endswith("━┓") and "┳" in lines[1]
    assert [c.strip() for c in lines[2].split("┃")[1:-1]] == ["Layer (type)", "Output Shape", "Param #"]
    assert lines[2].rstrip("┃").endswith("Param # ")  # the counts are right-aligned, as Keras
    assert _rows(text) == [["flatten (Flatten)", "(None, 784)", "0"],
                           ["dense (Dense)", "(None, 300)", "235,500"],
                           ["dense_1 (Dense)", "(None, 100)", "30,100"],
                           ["dense_2 (Dense)", "(None, 10)", "1,010"]]
    assert all(len(line) == 88 for line in lines[1:-3])  # the table is line_length wide
    assert lines[-3:] == [" Total params: 266,610 (1.02 MB)", " Trainable params: 266,610 (1.02 MB)",
                          " Non-trainable params: 0 (0.00 B)"]
    assert model.count_params() == 266_610


@pytest.mark.parametrize(("columns", "functional", "width"), [
    ("200", False, 88), ("80", False, 76), ("200", True, 108), ("100", True, 96)])
def test_default_width_is_keras_and_fits_the_terminal(monkeypatch, columns, functional, width):
    """Keras's default is 88 characters (108 with "Connected to"), at most the terminal's width less 4."""
    monkeypatch.setenv("COLUMNS", columns)
    if functional:
        input_ = fx.Input(shape=(4,))
        model = fx.Model(input_, fx.layers.add([Dense(4)(input_), input_]))
    else:
        model = fx.Sequential([Dense(4, input_dim=3), Dense(1)])
    text = _summary(model)
    assert {len(line) for line in text.splitlines()[1:-3]} == {width}
    assert ("Connected to" in text) is functional


def test_frozen_layer_counts_as_non_trainable_and_show_trainable():
    model = fx.Sequential([Dense(3, input_dim=2, trainable=False), Dropout(0.5), Dense(1)])
    text = _summary(model, show_trainable=True, line_length=100)
    assert "Trainable params: 4" in text and "Non-trainable params: 9" in text
    assert len(model.trainable_weights) == 2
    assert [row[-1] for row in _rows(text)] == ["N", "-", "Y"]  # Y, N, or - without weights
    assert "┃ Trainable ┃" in text and all(len(line) == 100 for line in text.splitlines()[1:-3])


def test_expand_nested_lists_inner_layers_under_their_model():
    inner = fx.Sequential([Dense(4, input_dim=3, name="hidden"), Dense(2, name="out")], name="inner")
    model = fx.Sequential([fx.Input(shape=(3,)), inner, Dense(1, name="head")])
    assert [row[0] for row in _rows(_summary(model, line_length=90))] == [
        "inner (Sequential)", "head (Dense)"]
    rows = _rows(_summary(model, line_length=90, expand_nested=True))
    assert [row[0] for row in rows] == ["inner (Sequential)", "└ hidden (Dense)", "└ out (Dense)",
                                        "head (Dense)"]
    assert rows[1][1:] == ["(None, 4)", "16"]


def test_connected_to_and_chains_as_keras():
    input_ = fx.Input(shape=(4,), name="x")
    hidden = Dense(5, name="h")(input_)
    model = fx.Model(input_, fx.layers.concatenate([input_, hidden], name="cat"))
    rows = _rows(_summary(model, line_length=120))
    assert rows == [["x (InputLayer)", "(None, 4)", "0", "-"], ["h (Dense)", "(None, 5)", "25", "x[0][0]"],
                    ["cat (Concatenate)", "(None, 9)", "0", "x[0][0], h[0][0]"]]
    chain = fx.Model(input_, Dense(2)(Dense(3)(input_)))  # a chain: no "Connected to", as Keras
    assert "Connected to" not in _summary(chain, line_length=90)


def test_long_cells_wrap_instead_of_being_cut():
    model = fx.Sequential([fx.layers.BatchNormalization(input_shape=(12345678, 3), name="a_long_layer_name")])
    text = _summary(model, line_length=40)
    assert {len(line) for line in text.splitlines()[1:-3]} == {40}
    cells = _rows(text)
    assert len(cells) > 1  # one row on several lines

    def column(k):
        return "".join(row[k] for row in cells).replace(" ", "")

    assert column(0) == "a_long_layer_name(BatchNormalization)"
    assert column(1) == "(None,12345678,3)" and column(2) == "12"


def test_positions_and_width_errors():
    model = fx.Sequential([Dense(3, input_dim=2)])
    text = _summary(model, line_length=60, positions=[0.5, 0.75, 1.0])
    header = text.splitlines()[2]
    assert header.index("Output Shape") < 33 < header.index("Param #")
    with pytest.raises(ValueError, match=r"positions needs 3 entries \(one per column of \['Layer \(type\)', "
                                         r"'Output Shape', 'Param #'\]\), got 2"):
        model.summary(positions=[0.5, 1.0])
    with pytest.raises(ValueError, match=r"line_length=8 is too short for the summary's columns"):
        model.summary(line_length=8)


def test_summary_of_an_unbuilt_model_says_how_to_build_it():
    model = fx.Sequential([Dense(3), Dense(1)])
    with pytest.raises(ValueError, match=r"give the first layer an input shape"):
        model.summary()


def test_float64_sizes_and_dropout_rows():
    model = fx.Sequential([Dense(4, input_dim=2), Dropout(0.5), Dense(1)], dtype="float64")
    text = _summary(model, line_length=88)
    assert "dropout (Dropout)" in text
    assert " Total params: 17 (136.00 B)" in text


def test_format_helpers():
    assert format_shape((None, 784)) == "(None, 784)"
    assert format_shape((None,)) == "(None,)"
    assert format_size(1_066_440) == "1.02 MB"
    assert format_size(512) == "512.00 B"
