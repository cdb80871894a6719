"""The record of training: :class:`History` keeps every epoch's logs (``fit`` returns it)
and plots them.
"""

from __future__ import annotations

from flexnet.callbacks.base import CALLBACKS, Callback

__all__ = ["History"]


@CALLBACKS.register()
class History(Callback):
    """Records every epoch's logs; ``fit`` returns it.

    Attributes:
        history: ``{"loss": [...], "accuracy": [...], "val_loss": [...], ...}``,
            one float per epoch.
        epoch: the epoch indices recorded.
    """

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def plot(self, keys=None, *, axes=None, figsize=None, title: str | None = None):
        """Plot the curves of training: one axis per quantity, with its ``val_`` twin.

        Each quantity (``loss``, each metric, any other logged value such as
        ``learning_rate``) gets one axis, in the order it was first logged; the
        training value is a solid line and its ``val_`` twin, when there is one, a
        dashed line on the same axis. The x axis counts epochs from 1. Needs
        matplotlib (``pip install matplotlib``, or flexnet's ``examples`` extra),
        which is imported only here.

        Args:
            keys: the quantities to plot, named without ``val_``, e.g.
                ``["loss", "accuracy"]``; default all of them.
            axes: matplotlib axes to draw on, one per quantity (a single ``Axes``
                for one quantity); default a new figure with up to three axes a row.
            figsize: ``(width, height)`` in inches of the new figure; default 4.5 by
                3.5 per axis.
            title: the figure's title.

        Returns:
            ``(fig, axes)``: the matplotlib figure and the list of axes, one per quantity.

        Raises:
            ImportError: matplotlib is not installed.
            ValueError: nothing was recorded, an unknown key, or too few ``axes``.

        Example::

            history = model.fit(x, y, validation_split=0.2, epochs=30, verbose=0)
            fig, axes = history.plot()            # loss and val_loss, accuracy and val_accuracy
            fig.savefig("curves.png")
        """
        try:
            import matplotlib.pyplot as plt
            from matplotlib.ticker import MaxNLocator
        except ImportError as exc:
            raise ImportError(
                "History.plot() needs matplotlib, which is not installed: pip install matplotlib "
                f"(or pip install flexnet[examples]); {exc}"
            ) from None
        if not self.history:
            raise ValueError("nothing to plot: the history is empty (fit has not run an epoch)")
        quantities = []
        for key in self.history:
            base = key[4:] if key.startswith("val_") else key
            if key.startswith("val_") and base not in self.history:
                base = key  # a val_ value without a training twin is its own quantity
            if base not in quantities:
                quantities.append(base)
        if keys is not None:
            keys = [keys] if isinstance(keys, str) else list(keys)
            unknown = [k for k in keys if k not in quantities]
            if unknown:
                raise ValueError(f"no {unknown} in the history; it holds {quantities}")
            quantities = keys
        if axes is None:
            ncols = min(len(quantities), 3)
            nrows = -(-len(quantities) // ncols)
            fig, grid = plt.subplots(nrows, ncols, squeeze=False, layout="constrained",
                                     figsize=figsize or (4.5 * ncols, 3.5 * nrows))
            grid = list(grid.flat)
            for extra in grid[len(quantities):]:
                extra.remove()
            axes = grid[: len(quantities)]
        else:
            axes = [axes] if hasattr(axes, "plot") else list(axes)
            if len(axes) < len(quantities):
                raise ValueError(f"got {len(axes)} axes for {len(quantities)} quantities {quantities}")
            axes = axes[: len(quantities)]
            fig = axes[0].figure
        for ax, quantity in zip(axes, quantities):
            twin = "val_" + quantity
            for key, style in ((quantity, "-"), (twin, "--")):
                values = self.history.get(key)
                if values is None:
                    continue
                epochs = ([e + 1 for e in self.epoch] if len(values) == len(self.epoch)
                          else list(range(1, len(values) + 1)))
                ax.plot(epochs, values, style, marker="o" if len(values) <= 30 else None,
                        markersize=3, label=key)
            ax.set_title(quantity)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(True, alpha=0.3)
            ax.legend()
        if title is not None:
            fig.suptitle(title)
        return fig, axes
