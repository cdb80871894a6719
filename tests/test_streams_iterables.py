"""torch DataLoaders passed straight to fit, evaluate and predict on every backend (their CPU tensors
checked on the host and copied, or used as they are by a torch model), with and without workers."""

from __future__ import annotations

import numpy as np
import pytest

import flexnet as fx

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader, IterableDataset, TensorDataset  # noqa: E402

N, D, C, B = 40, 3, 3, 8


def _arrays():
    rng = np.random.default_rng(0)
    return rng.normal(size=(N, D)).astype(np.float32), rng.integers(0, C, size=N)


def _model(case):
    fx.utils.set_random_seed(0)
    model = case.model([fx.layers.Dense(4, activation="relu", input_dim=D), fx.layers.Dense(C)])
    model.compile(optimizer=fx.optimizers.Adam(0.05),
                  loss=fx.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


# the DataLoader forks its workers (torch's default on Linux): in a full run JAX is imported by
# then and warns that a fork of a multithreaded process may deadlock, which is torch's choice here
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
@pytest.mark.parametrize("num_workers", [0, 2])
def test_a_data_loader_trains_as_its_batches_given_as_arrays(case, num_workers):
    X, y = _arrays()
    loader = DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(y)), batch_size=B,
                        num_workers=num_workers, persistent_workers=num_workers > 0)
    reference, streamed = _model(case), _model(case)
    expected = reference.fit(X, y, batch_size=B, epochs=2, shuffle=False, verbose=0, validation_data=(X, y))
    got = streamed.fit(loader, epochs=2, verbose=0, validation_data=loader)
    for a, b in zip(reference.get_weights(), streamed.get_weights()):
        case.assert_close(b, a)
    for key in expected.history:
        np.testing.assert_allclose(got.history[key], expected.history[key], rtol=case.rtol)
    case.assert_close(streamed.predict(loader), reference.predict(X))


def test_a_shuffling_data_loader_keeps_its_own_order_and_class_weight_applies():
    X, y = _arrays()
    loader = DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(y)), batch_size=B, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    model = fx.Sequential([fx.layers.Dense(C, activation="softmax", input_dim=D)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(loader, epochs=2, class_weight={0: 0.0, 1: 0.0, 2: 0.0}, verbose=0)
    assert history.history["loss"] == [0.0, 0.0]  # every sample weighs 0


def test_a_data_loader_over_an_iterable_dataset_without_length(capsys):
    X, y = _arrays()

    class Stream(IterableDataset):
        def __iter__(self):
            for i in range(N):
                yield torch.from_numpy(X[i]), int(y[i])

    loader = DataLoader(Stream(), batch_size=B)
    model = fx.Sequential([fx.layers.Dense(C, activation="softmax", input_dim=D)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(loader, epochs=2, verbose=2)  # the number of steps is unknown up front
    assert len(history.history["loss"]) == 2 and "Epoch 2/2" in capsys.readouterr().out
    assert model.predict(loader).shape == (N, C)
