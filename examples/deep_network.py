"""Deep L-layer network: layer sizes [n, 20, 7, 5, 1], and why initialization matters.

The course's deep network: ``L - 1`` ReLU layers then one sigmoid unit, trained
by batch gradient descent (the whole training set each iteration, learning rate
0.0075, 2500 iterations) on the binary cross-entropy cost. The data are
scikit-learn's bundled breast-cancer set (n = 30 features), standardized.

The same network is trained three times from three initializations of the
kernels (biases start at zero):

* ``× 0.01``: ``W = randn(n_in, n_out) × 0.01`` (``RandomNormal(stddev=0.01)``);
  the signal shrinks by about 100× per layer, the gradients vanish and the cost
  stays near ``log 2 = 0.693``;
* He: ``randn × sqrt(2 / n_in)`` (``"he_normal"``), made for ReLU;
* Xavier: ``randn × sqrt(2 / (n_in + n_out))`` (``"glorot_normal"``).

Prints the cost every 100 iterations with the three runs side by side and the
train/test accuracies; plots the costs (``deep_network.png``).
"""

from __future__ import annotations

from _common import parse_args, plt, save_figure
from matplotlib.ticker import FormatStrFormatter
from sklearn.datasets import load_breast_cancer

import flexnet as fx

LAYER_DIMS = [30, 20, 7, 5, 1]  # [n, 20, 7, 5, 1]: n inputs, three ReLU layers, one sigmoid unit
LEARNING_RATE = 0.0075
INITIALIZATIONS = {
    "× 0.01": fx.initializers.RandomNormal(stddev=0.01),
    "He": "he_normal",
    "Xavier": "glorot_normal",
}


def load_data():
    """Breast cancer, 75/25 train/test split, standardized with the training statistics."""
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = fx.data.train_test_split(X, y, test_size=0.25, seed=0)
    scaler = fx.data.StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def build_model(layer_dims, kernel_initializer) -> fx.Sequential:
    """``Dense(relu)`` for each hidden size in ``layer_dims[1:-1]``, then ``Dense(1, sigmoid)``."""
    model = fx.Sequential()
    for i, units in enumerate(layer_dims[1:]):
        last = i == len(layer_dims) - 2
        model.add(fx.layers.Dense(
            units, activation="sigmoid" if last else "relu", kernel_initializer=kernel_initializer,
            **({"input_dim": layer_dims[0]} if i == 0 else {}),
        ))
    model.compile(optimizer=fx.optimizers.SGD(LEARNING_RATE), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def plot(costs: dict, accuracies: dict):
    fig, (ax_cost, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    for name, cost in costs.items():
        ax_cost.plot(range(len(cost)), cost, label=f"{name} initialization", linewidth=2)
    ax_cost.axhline(0.6931, color="gray", linestyle=":", label="log 2 (a coin flip)")
    ax_cost.set_xlabel("iteration")
    ax_cost.set_ylabel("cost (binary cross-entropy)")
    ax_cost.set_yscale("log")
    ax_cost.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax_cost.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    ax_cost.tick_params(axis="y", which="minor", labelsize=8)
    ax_cost.set_title(f"Cost, layers {LAYER_DIMS}, learning rate {LEARNING_RATE}")
    ax_cost.grid(alpha=0.3, which="both")
    ax_cost.legend()

    names = list(accuracies)
    width = 0.38
    for k, split in enumerate(("train", "test")):
        values = [accuracies[name][split] for name in names]
        bars = ax_acc.bar([i + (k - 0.5) * width for i in range(len(names))], values, width, label=split)
        ax_acc.bar_label(bars, [f"{v:.1%}" for v in values], fontsize=8)
    ax_acc.set_xticks(range(len(names)), names)
    ax_acc.set_ylim(0, 1.25)
    ax_acc.set_yticks([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_xlabel("initialization")
    ax_acc.set_title("Accuracy after training")
    ax_acc.legend(loc="upper left", ncol=2)
    fig.suptitle("Deep L-layer network on breast cancer: initialization ×0.01 vs He vs Xavier")
    fig.tight_layout()
    return fig


def main(iterations: int, out) -> None:
    fx.utils.set_random_seed(1)
    X_train, X_test, y_train, y_test = load_data()
    costs, accuracies = {}, {}
    for name, init in INITIALIZATIONS.items():
        model = build_model(LAYER_DIMS, init)
        stds = ", ".join(f"{W.std():.3f}" for W in model.get_weights()[::2])
        print(f"{name:>7} initialization: kernel standard deviations per layer {stds}")
        # batch gradient descent: one batch holding the whole training set = one iteration per epoch
        history = model.fit(X_train, y_train, batch_size=len(X_train), epochs=iterations, verbose=0)
        costs[name] = history.history["loss"]
        accuracies[name] = {
            "train": model.evaluate(X_train, y_train)[1],
            "test": model.evaluate(X_test, y_test)[1],
        }
    print(f"\nbackend: {model.backend.name}; layers {LAYER_DIMS}; batch gradient descent, "
          f"learning rate {LEARNING_RATE}\n")
    print("cost after iteration | " + " | ".join(f"{name:>8}" for name in costs))
    for i in [*range(0, iterations, 100), iterations - 1]:
        print(f"{i:20d} | " + " | ".join(f"{cost[i]:8.4f}" for cost in costs.values()))
    print()
    for name, acc in accuracies.items():
        print(f"{name:>7} initialization: train accuracy {acc['train']:.2%}  test accuracy {acc['test']:.2%}")
    save_figure(plot(costs, accuracies), out, "deep_network")


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(iterations=200 if args.fast else 2500, out=args.out)
