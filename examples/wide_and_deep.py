"""Functional API: a wide & deep regression network on scikit-learn's diabetes data.

The wide & deep network (Cheng et al., "Wide & Deep Learning for Recommender
Systems", 2016) joins a deep path, Dense 30 relu - Dense 30 relu, and a wide path
that takes the inputs straight to the output, with ``concatenate``:

    input ─┬─ Dense 30 ─ Dense 30 ─┐
           └───────────────────────┴─ concatenate ─ Dense 1

It is built with ``fx.layers.Input`` and ``fx.models.Model(inputs, outputs)`` and
trained with MSE, Adam and early stopping on the 442 patients of scikit-learn's
diabetes data (10 features, the target a measure of disease progression a year
later; loaded offline). Features and target are standardized with the training
set's statistics. Prints the test RMSE, MAE and R² of the wide & deep network
next to a deep-only network of the same layers and a least-squares linear fit
(this small data set is nearly linear: the networks land close to the linear
fit, R² about 0.5 to 0.6 depending on the seed), and writes the training curves
(``wide_deep_curves.png``) and predicted against true values on the test set
(``wide_deep_predictions.png``).

    python examples/wide_and_deep.py                        # NumPy on the CPU
    FLEXNET_BACKEND=cupy python examples/wide_and_deep.py   # the same on a GPU
    python examples/wide_and_deep.py --fast --out /tmp/figs # a few epochs
"""

from __future__ import annotations

import numpy as np
from _common import parse_args, plt, save_figure
from sklearn.datasets import load_diabetes

import flexnet as fx


def load_data(seed: int = 42):
    """Standardized train/test features, standardized training targets, the target scaler."""
    X, y = load_diabetes(return_X_y=True, scaled=False)
    X_train, X_test, y_train, y_test = fx.data.train_test_split(X, y, test_size=0.2, seed=seed)
    x_scaler = fx.data.StandardScaler().fit(X_train)
    y_scaler = fx.data.StandardScaler().fit(y_train.reshape(-1, 1))
    return (x_scaler.transform(X_train), x_scaler.transform(X_test),
            y_scaler.transform(y_train.reshape(-1, 1)), y_test, y_scaler)


def build_wide_and_deep(n_features: int) -> fx.models.Model:
    input_ = fx.layers.Input(shape=(n_features,), name="features")
    hidden1 = fx.layers.Dense(30, activation="relu", name="deep_1")(input_)
    hidden2 = fx.layers.Dense(30, activation="relu", name="deep_2")(hidden1)
    concat = fx.layers.concatenate([input_, hidden2], name="wide_and_deep")
    output = fx.layers.Dense(1, name="progression")(concat)
    return fx.models.Model(inputs=[input_], outputs=[output], name="wide_and_deep")


def build_deep(n_features: int) -> fx.Sequential:
    return fx.Sequential([
        fx.layers.Dense(30, activation="relu", input_dim=n_features),
        fx.layers.Dense(30, activation="relu"),
        fx.layers.Dense(1),
    ], name="deep_only")


def train(model, X, y, epochs: int, verbose: int):
    model.compile(optimizer=fx.optimizers.Adam(1e-3), loss="mse", metrics=["mae"])
    stop = fx.callbacks.EarlyStopping(monitor="val_loss", patience=30, restore_best_weights=True)
    history = model.fit(X, y, batch_size=32, epochs=epochs, validation_split=0.2, verbose=verbose,
                        callbacks=[stop])
    return history, stop


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """RMSE, MAE and R² in the target's units."""
    error = y_pred - y_true
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "mae": float(np.mean(np.abs(error))),
        "r2": float(1.0 - np.sum(error**2) / np.sum((y_true - y_true.mean()) ** 2)),
    }


def linear_fit(X_train, y_train, X_test) -> np.ndarray:
    """Ordinary least squares with an intercept: the baseline a network should beat or match."""
    A = np.hstack([X_train, np.ones((X_train.shape[0], 1))])
    coef, *_ = np.linalg.lstsq(A, y_train, rcond=None)
    return np.hstack([X_test, np.ones((X_test.shape[0], 1))]) @ coef


def plot_predictions(y_test, predictions: dict, results: dict):
    fig, axes = plt.subplots(1, len(predictions), figsize=(4.2 * len(predictions), 4.2), sharey=True,
                             layout="constrained")
    low, high = float(y_test.min()), float(y_test.max())
    for ax, (name, y_pred) in zip(axes, predictions.items()):
        ax.scatter(y_test, y_pred, s=14, alpha=0.7)
        ax.plot([low, high], [low, high], color="gray", linestyle="--", label="perfect")
        r = results[name]
        ax.set_title(f"{name}\nRMSE {r['rmse']:.1f}, R² {r['r2']:.2f}")
        ax.set_xlabel("true progression")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("predicted progression")
    axes[0].legend(loc="upper left")
    fig.suptitle("Diabetes test set: predicted against true disease progression")
    return fig


def main(argv=None) -> dict:
    args = parse_args(__doc__, argv)
    epochs = 5 if args.fast else 500
    verbose = 0
    fx.utils.set_random_seed(42)
    X_train, X_test, y_train, y_test, y_scaler = load_data()
    print(f"train: {X_train.shape[0]} patients, test: {X_test.shape[0]}, features: {X_train.shape[1]}")

    model = build_wide_and_deep(X_train.shape[1])
    print(f"backend: {model.backend.name} ({model.backend.device}), dtype: {model.dtype}")
    model.summary()
    history, stop = train(model, X_train, y_train, epochs, verbose)
    deep = build_deep(X_train.shape[1])
    _, deep_stop = train(deep, X_train, y_train, epochs, verbose)

    def unscale(z):  # standardized predictions (n, 1) -> the target's units (n,)
        return y_scaler.inverse_transform(z)[:, 0]

    predictions = {
        "wide & deep": unscale(model.predict(X_test)),
        "deep only": unscale(deep.predict(X_test)),
        "linear least squares": unscale(linear_fit(X_train, y_train, X_test)),
    }
    results = {name: scores(y_test, p) for name, p in predictions.items()}
    for name, s in ((model.name, stop), (deep.name, deep_stop)):
        ran = s.stopped_epoch + 1 if s.stopped_epoch else epochs
        print(f"{name}: ran {ran} epochs, best val_loss {s.best:.4f} at epoch {s.best_epoch + 1} "
              "(weights restored)")
    print(f"test set, in the target's units (std of the test targets: {y_test.std():.1f})")
    print(f"{'model':<22}{'RMSE':>8}{'MAE':>8}{'R²':>8}")
    for name, r in results.items():
        print(f"{name:<22}{r['rmse']:>8.1f}{r['mae']:>8.1f}{r['r2']:>8.3f}")

    fig, axes = history.plot(title="Wide & deep on diabetes: MSE and MAE (standardized target)")
    for ax in axes:
        ax.axvline(stop.best_epoch + 1, color="gray", linestyle=":", label="best epoch (restored)")
        ax.legend()
    save_figure(fig, args.out, "wide_deep_curves")
    save_figure(plot_predictions(y_test, predictions, results), args.out, "wide_deep_predictions")
    return results


if __name__ == "__main__":
    main()
