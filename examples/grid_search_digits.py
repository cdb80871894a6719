"""Grid search: tune a flexnet network with scikit-learn's GridSearchCV on the digits.

A ``Pipeline`` of ``StandardScaler`` and :class:`flexnet.sklearn.FlexnetClassifier` is
tuned over the hidden layers, the dropout rate and the learning rate by 3-fold
cross-validation in two processes (``n_jobs=2``) on scikit-learn's bundled 8x8 digits
(1,797 images, loaded offline); ``random_state`` makes every fit repeatable, so the
search gives the same scores in one process or several. Prints the best settings and
the test accuracy of the refitted best pipeline (about 97%), and plots the mean CV
accuracy of every setting (``grid_search_digits.png``).

    python examples/grid_search_digits.py                        # NumPy on the CPU
    FLEXNET_BACKEND=torch python examples/grid_search_digits.py  # the same on PyTorch
    python examples/grid_search_digits.py --fast --out /tmp/figs # a small grid, few epochs
"""

from __future__ import annotations

import numpy as np
from _common import parse_args, plt, save_figure
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from flexnet.sklearn import FlexnetClassifier

GRID = {
    "net__hidden_layer_sizes": [(32,), (128,), (128, 64)],
    "net__dropout": [0.0, 0.2],
    "net__learning_rate": [1e-3, 1e-2],
}
FAST_GRID = {"net__hidden_layer_sizes": [(16,), (32,)], "net__learning_rate": [3e-3, 3e-2]}


def search(grid: dict, epochs: int, n_train: int | None = None, n_jobs: int = 2):
    """The fitted GridSearchCV and the held-out test split (``n_train`` training images; all
    1,347 by default)."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    X_train, y_train = X_train[:n_train], y_train[:n_train]
    pipeline = Pipeline([("scale", StandardScaler()),
                         ("net", FlexnetClassifier(epochs=epochs, batch_size=32, random_state=0))])
    gs = GridSearchCV(pipeline, grid, cv=3, n_jobs=n_jobs)
    gs.fit(X_train, y_train)
    return gs, X_test, y_test


def plot(gs):
    """Mean cross-validation accuracy of each setting, best first."""
    results = gs.cv_results_
    order = np.argsort(-results["mean_test_score"])
    labels = [", ".join(f"{key.removeprefix('net__')}={value}" for key, value in results["params"][i].items())
              for i in order]
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(order) + 1.2))
    ax.barh(range(len(order)), results["mean_test_score"][order], xerr=results["std_test_score"][order],
            color="tab:blue", alpha=0.8)
    ax.set_yticks(range(len(order)), labels, fontsize=8)
    ax.invert_yaxis()
    low = results["mean_test_score"].min()
    ax.set_xlim(max(0.0, low - 0.05), 1.0)
    ax.set_xlabel("mean 3-fold CV accuracy")
    ax.set_title("FlexnetClassifier in a Pipeline, tuned by GridSearchCV on the digits")
    ax.grid(axis="x", alpha=0.3)
    return fig


def main(fast: bool, out) -> float:
    gs, X_test, y_test = search(FAST_GRID if fast else GRID, epochs=3 if fast else 30,
                                n_train=450 if fast else None)
    print(f"settings tried: {len(gs.cv_results_['params'])}, each by 3-fold cross-validation")
    print(f"best settings: {gs.best_params_}")
    print(f"best mean CV accuracy: {gs.best_score_:.2%}")
    accuracy = gs.score(X_test, y_test)
    print(f"test accuracy of the refitted best pipeline: {accuracy:.2%}")
    save_figure(plot(gs), out, "grid_search_digits")
    return accuracy


if __name__ == "__main__":
    args = parse_args(__doc__)
    main(args.fast, args.out)
