"""What every example shares: its command line, headless matplotlib, saving figures.

The convention each public ``examples/*.py`` script follows (``tests/test_examples.py``
runs every one of them this way, so keep it stable):

* ``python examples/NAME.py`` runs the full version (under a minute on 2 CPU cores)
  on the backend named by ``FLEXNET_BACKEND`` (NumPy by default) and prints its results;
* ``--fast`` runs a tiny version of the same code (a few seconds), for the tests;
* ``--out DIR`` is where its figures go, as PNG files (default ``examples/figures/``);
* it exits with status 0 and writes at least one PNG.

Use::

    from _common import parse_args, plt, save_figure

    args = parse_args(__doc__)        # args.fast, args.out (a pathlib.Path)
    fig, ax = plt.subplots()
    ...
    save_figure(fig, args.out, "my_example")   # -> DIR/my_example.png
"""

from __future__ import annotations

import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")  # headless: no display needed, figures only go to files

import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

__all__ = ["FIGURES", "parse_args", "plt", "save_figure"]

#: Where figures go unless ``--out`` says otherwise.
FIGURES = pathlib.Path(__file__).resolve().parent / "figures"


def parse_args(doc: str, argv=None, parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    """Parse ``--fast`` and ``--out DIR`` (plus any options already on ``parser``).

    Args:
        doc: the example's module docstring; its first line is the ``--help`` text.
        argv: arguments to parse (default ``sys.argv[1:]``).
        parser: a parser with the example's own options, if it has any.
    """
    parser = parser or argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="a tiny run in seconds (for the tests)")
    parser.add_argument("--out", type=pathlib.Path, default=FIGURES,
                        help=f"folder for the PNG figures (default {FIGURES})")
    return parser.parse_args(argv)


def save_figure(fig, out: pathlib.Path, name: str) -> pathlib.Path:
    """Write ``fig`` to ``out/name.png`` (creating ``out``), close it, print the path."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"figure: {path}")
    return path
