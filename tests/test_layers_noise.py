"""GaussianNoise: zero-mean noise of the given deviation in training only, drawn on the model's
device from its generator (or the layer's own seeded one); config and file round trips."""

from __future__ import annotations

import json

import array_api_compat
import numpy as np
import pytest

import flexnet as fx
from flexnet.gradcheck import check_layer_gradients
from flexnet.layers import GaussianNoise


def _built(case, layer, features=4):
    model = case.model([layer])
    model.build((None, features))
    return layer


def test_noise_in_training_only_with_the_given_deviation(case):
    layer = _built(case, GaussianNoise(0.5), features=100)
    X = case.asarray(np.full((200, 100), 3.0))
    np.testing.assert_array_equal(case.to_numpy(layer.forward(X)), np.full((200, 100), 3.0))
    Y = layer.forward(X, training=True)
    assert array_api_compat.device(Y) == array_api_compat.device(X)
    noise = case.to_numpy(Y) - 3.0
    assert abs(noise.mean()) < 5 * 0.5 / np.sqrt(noise.size)  # 5 standard errors
    assert abs(noise.std() - 0.5) < 0.02
    assert not np.array_equal(case.to_numpy(layer.forward(X, training=True)), case.to_numpy(Y))  # fresh


def test_backward_is_the_identity(case64):
    layer = _built(case64, GaussianNoise(0.3))
    X = np.random.default_rng(0).standard_normal((5, 4))
    layer.forward(case64.asarray(X), training=True)
    dY = np.random.default_rng(1).standard_normal((5, 4))
    np.testing.assert_array_equal(case64.to_numpy(layer.backward(case64.asarray(dY))), dY)
    assert check_layer_gradients(layer, case64.asarray(X))["input"] < 1e-7


def test_the_noise_follows_the_seed(case):
    def noise(seed=None, global_seed=5):
        fx.utils.set_random_seed(global_seed)
        layer = _built(case, GaussianNoise(1.0, seed=seed))
        return case.to_numpy(layer.forward(case.asarray(np.zeros((3, 4))), training=True))

    np.testing.assert_array_equal(noise(), noise())  # the model's generator, seeded globally
    assert not np.array_equal(noise(global_seed=6), noise())
    np.testing.assert_array_equal(noise(seed=11, global_seed=6), noise(seed=11))  # its own generator
    assert not np.array_equal(noise(seed=12), noise(seed=11))


def test_trains_in_a_model_and_round_trips(case, tmp_path):
    model = case.model([GaussianNoise(0.1, input_shape=(3,)), fx.layers.Dense(1)])
    model.compile(optimizer=fx.optimizers.SGD(0.05), loss="mse")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((32, 3))
    history = model.fit(x, x @ np.array([1.0, -1.0, 0.5]), epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    np.testing.assert_array_equal(model.predict(x), model.predict(x))  # no noise at inference
    model.save(tmp_path / "m")
    loaded = fx.models.load_model(tmp_path / "m", backend=case.backend, device=case.device)
    assert loaded.layers[0].stddev == 0.1
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_config_and_errors():
    layer = GaussianNoise(0.2, seed=3, name="noise")
    config = json.loads(json.dumps(layer.get_config()))
    assert config["stddev"] == 0.2 and config["seed"] == 3
    assert GaussianNoise.from_config(config).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="stddev of a GaussianNoise layer must be a finite number >= 0, "
                                         "got -1"):
        GaussianNoise(-1)
    with pytest.raises(ValueError, match="seed must be a non-negative int or None, got 1.5"):
        GaussianNoise(0.1, seed=1.5)
