"""Mini-batches and the validation split."""

from __future__ import annotations

import numpy as np
import pytest

from flexnet import data


def test_batches_cover_every_sample_in_order(case):
    x = case.asarray(np.arange(20.0).reshape(10, 2))
    y = case.asarray(np.arange(10.0))
    got = list(data.batches(x, y, batch_size=4))
    assert [xb.shape[0] for xb, _ in got] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([case.to_numpy(yb) for _, yb in got]),
                                  np.arange(10.0))
    assert data.num_batches(10, 4) == 3


def test_batches_reject_bad_sizes_and_lengths():
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        list(data.batches(np.zeros(3), batch_size=0))
    with pytest.raises(ValueError, match="same length"):
        list(data.batches(np.zeros(3), np.zeros(4), batch_size=2))


def test_split_validation_takes_the_end():
    x, y = np.arange(10.0)[:, None], np.arange(10)
    (xt, yt), (xv, yv) = data.split_validation(x, y, 0.3)
    np.testing.assert_array_equal(yt, np.arange(7))
    np.testing.assert_array_equal(yv, [7, 8, 9])
    with pytest.raises(ValueError, match="both must be non-empty"):
        data.split_validation(x[:2], y[:2], 0.1)


def test_batches_gather_in_the_given_order(case):
    x = case.asarray(np.arange(14.0).reshape(7, 2))
    y = case.asarray(np.arange(7.0))
    perm = np.array([3, 0, 6, 1, 5, 2, 4])
    order = case.resolve().from_numpy(perm, "int64")
    got = list(data.batches(x, y, batch_size=3, order=order))
    assert [xb.shape[0] for xb, _ in got] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate([case.to_numpy(yb) for _, yb in got]), perm)
    np.testing.assert_array_equal(case.to_numpy(got[0][0]), np.arange(14.0).reshape(7, 2)[perm[:3]])
    with pytest.raises(ValueError, match="order has 3 indices for 7 samples"):
        list(data.batches(x, batch_size=3, order=order[:3]))
