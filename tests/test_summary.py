"""model.summary(): Keras's table, parameter counts and sizes."""

from __future__ import annotations

import pytest

import flexnet as fx
from flexnet.layers import Dense, Dropout, Flatten
from flexnet.summary import format_shape, format_size


def test_summary_matches_keras():
    model = fx.Sequential([
        Flatten(input_shape=[28, 28]),
        Dense(300, activation="relu"),
        Dense(100, activation="relu"),
        Dense(10, activation="softmax"),
    ])
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    assert "Layer (type)" in text and "Output Shape" in text and "Param #" in text
    rows = {line.split()[0]: line for line in text.splitlines() if "(None," in line}
    assert "(None, 784)" in rows["flatten"] and rows["flatten"].rstrip().endswith(" 0")
    assert rows["dense"].rstrip().endswith("235,500")
    assert rows["dense_1"].rstrip().endswith("30,100")
    assert rows["dense_2"].rstrip().endswith("1,010")
    assert "Total params: 266,610" in text
    assert "Trainable params: 266,610" in text
    assert "Non-trainable params: 0" in text
    assert model.count_params() == 266_610


def test_frozen_layer_counts_as_non_trainable():
    model = fx.Sequential([Dense(3, input_dim=2, trainable=False), Dense(1)])
    lines = []
    model.summary(print_fn=lines.append)
    assert "Trainable params: 4" in lines[0] and "Non-trainable params: 9" in lines[0]
    assert len(model.trainable_weights) == 2


def test_summary_of_an_unbuilt_model_says_how_to_build_it():
    model = fx.Sequential([Dense(3), Dense(1)])
    with pytest.raises(ValueError, match=r"give the first layer an input shape"):
        model.summary()


def test_float64_sizes_and_dropout_rows():
    model = fx.Sequential([Dense(4, input_dim=2), Dropout(0.5), Dense(1)], dtype="float64")
    lines = []
    model.summary(print_fn=lines.append)
    assert "dropout (Dropout)" in lines[0]
    assert "Total params: 17 (136.00 B)" in lines[0]


def test_format_helpers():
    assert format_shape((None, 784)) == "(None, 784)"
    assert format_shape((None,)) == "(None,)"
    assert format_size(1_066_440) == "1.02 MB"
    assert format_size(512) == "512.00 B"
