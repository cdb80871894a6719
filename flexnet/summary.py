"""``model.summary()``: Keras's table of layers, output shapes and parameter counts."""

from __future__ import annotations

import math

__all__ = ["summarize"]

_ITEMSIZE = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}


def format_shape(shape) -> str:
    """``(None, 784)``: the batch axis printed as None, as Keras does."""
    dims = ["None" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def format_size(nbytes: float) -> str:
    """Bytes in Keras's units: ``1.02 MB``."""
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


def _output_shape(layer) -> str:
    shape = layer.output_shape
    if isinstance(shape, list):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    return format_shape(shape)


def _connected_to(model, layer) -> list[str]:
    """Keras's ``name[node][0]`` for every tensor the layer's calls in ``model`` read."""
    out = []
    for step in model.graph.steps:
        if step.op is layer:
            out += [f"{t.node.operation.name}[{t.node.index}][0]" for t in step.node.inputs]
    return out or ["-"]


def summarize(model) -> str:
    """The summary table of a built model as a string.

    Columns: ``Layer (type)``, ``Output Shape``, ``Param #`` and, for functional
    models, ``Connected to``; then the total, trainable and non-trainable parameter
    counts with their size in memory.
    """
    functional = not model.graph.is_chain
    rows, extra = [], []
    for layer in model.layers:
        row = (f"{layer.name} ({type(layer).__name__})", _output_shape(layer),
               f"{layer.count_params():,}")
        if functional:
            links = _connected_to(model, layer)
            rows.append((*row, links[0]))
            extra.append(links[1:])
        else:
            rows.append(row)
            extra.append([])
    header = ("Layer (type)", "Output Shape", "Param #") + (("Connected to",) if functional else ())
    columns = len(header)
    widths = [max(len(r[i]) for r in [header, *rows]) + 3 for i in range(columns)]
    widths[0], widths[1] = max(widths[0], 29), max(widths[1], 26)
    total_width = sum(widths) + 1

    def line(cells) -> str:
        return " " + "".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    itemsize = _ITEMSIZE.get(model.dtype, 4)
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    non_trainable = sum(math.prod(w.shape) for w in model.non_trainable_weights)
    total = trainable + non_trainable

    out = [f'Model: "{model.name}"', "_" * total_width, line(header), "=" * total_width]
    for i, row in enumerate(rows):
        out.append(line(row))
        out += [line(("", "", "", link)) for link in extra[i]]
        out.append("" if i < len(rows) - 1 else "=" * total_width)
    if not rows:
        out.append("=" * total_width)
    for label, count in (("Total", total), ("Trainable", trainable),
                         ("Non-trainable", non_trainable)):
        out.append(f"{label} params: {count:,} ({format_size(count * itemsize)})")
    out.append("_" * total_width)
    return "\n".join(out)
