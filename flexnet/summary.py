"""``model.summary()``: Keras 3's table of layers, output shapes and parameter counts."""

from __future__ import annotations

import math
import shutil
import textwrap

__all__ = ["print_summary", "summarize"]

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
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    return format_shape(shape)


def _connected_to(model, layer) -> str:
    """Keras's ``name[node][0]`` for every tensor the layer's calls in ``model`` read."""
    links = []
    for step in model.graph.steps:
        if step.op is layer:
            links += [f"{t.node.operation.name}[{t.node.index}][0]" for t in step.node.inputs]
    return ", ".join(links) or "-"


def _sequential_like(model) -> bool:
    """Keras shows no "Connected to" column for a chain: each layer called once, on the output
    of the one before (a Sequential, or a functional model of that shape)."""
    graph = model.graph
    if graph.is_chain:
        return True
    slot = graph.input_slots[0] if len(graph.input_slots) == 1 else None
    for step in graph.steps:
        if step.shared or step.ins != [slot]:
            return False
        slot = step.out
    return graph.output_slots == [slot]


def _rows(model, functional: bool, expand_nested: bool, show_trainable: bool, level: int = 0) -> list:
    rows = []
    for layer in model.layers:
        prefix = "   " * level + "└ " if level else ""
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        row = [f"{prefix}{layer.name} ({type(layer).__name__})", _output_shape(layer), params]
        if functional:
            row.append(_connected_to(model, layer) if level == 0 else "")
        if show_trainable:
            row.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        rows.append(row)
        if expand_nested and hasattr(layer, "layers"):
            rows += _rows(layer, functional, expand_nested, show_trainable, level + 1)
    return rows


def _cell_lines(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width``, broken at spaces; a nested layer's lines keep
    its indent."""
    indent = " " * (len(text) - len(text.lstrip(" └")))
    indent = indent if len(indent) < width // 2 else ""
    return textwrap.wrap(text, width, subsequent_indent=indent, break_on_hyphens=False) or [""]


def summarize(model, line_length: int | None = None, positions=None, expand_nested: bool = False,
              show_trainable: bool = False) -> str:
    """The summary of a built model as a string (see :func:`print_summary`)."""
    functional = not _sequential_like(model)
    if functional:
        header, align = ["Layer (type)", "Output Shape", "Param #", "Connected to"], "<<><"
        default, default_positions = 108, [0.3, 0.56, 0.74, 1.0]
    else:
        header, align = ["Layer (type)", "Output Shape", "Param #"], "<<>"
        default, default_positions = 88, [0.45, 0.80, 1.0]
    positions = list(positions or default_positions)
    if show_trainable:
        default += 12
        positions = [p * 0.9 for p in positions] + [1.0]
        header, align = header + ["Trainable"], align + "^"
    if len(positions) != len(header):
        raise ValueError(f"positions needs {len(header)} entries (one per column of {header}), got "
                         f"{len(positions)}")
    width = line_length or min(default, shutil.get_terminal_size().columns - 4)
    if positions[-1] <= 1:  # relative positions, as Keras's defaults
        positions = [int(p * width) for p in positions]
    edges = [0, *positions]
    columns = [b - a for a, b in zip(edges, edges[1:])]
    if min(columns) < 4:
        raise ValueError(f"line_length={width} is too short for the summary's columns {columns}; give "
                         "a longer line_length")
    # Each column's share of the line, less its borders and one space of padding on each side.
    inner = [max(1, math.floor(c * (width - len(columns) - 1) / sum(columns)) - 2) for c in columns]
    inner[-1] = max(1, width - len(columns) - 1 - sum(w + 2 for w in inner[:-1]) - 2)
    rows = _rows(model, functional, expand_nested, show_trainable)
    for i, title in enumerate(header):  # a header word is never cut: room comes from the column
        short = max(map(len, title.split())) - inner[i]  # with the most to spare
        slack = [inner[j] - max(len(r[j]) for r in [header, *rows]) if j != i else -1
                 for j in range(len(inner))]
        donor = max(range(len(inner)), key=slack.__getitem__)
        if short > 0 and slack[donor] >= short:
            inner[i] += short
            inner[donor] -= short

    def rule(left: str, fill: str, cross: str, right: str) -> str:
        return left + cross.join(fill * (w + 2) for w in inner) + right

    def row(cells, bar: str) -> list[str]:
        wrapped = [_cell_lines(c, w) for c, w in zip(cells, inner)]
        height = max(len(lines) for lines in wrapped)
        out = []
        for i in range(height):
            parts = [f"{(lines[i] if i < len(lines) else ''):{a}{w}}"
                     for lines, a, w in zip(wrapped, align, inner)]
            out.append(bar + bar.join(f" {p} " for p in parts) + bar)
        return out

    out = [f'Model: "{model.name}"', rule("┏", "━", "┳", "┓"), *row(header, "┃"),
           rule("┡", "━", "╇", "┩")]
    for i, cells in enumerate(rows):
        out += row(cells, "│")
        if i < len(rows) - 1:
            out.append(rule("├", "─", "┼", "┤"))
    out.append(rule("└", "─", "┴", "┘"))
    itemsize = _ITEMSIZE.get(model.dtype, 4)
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    non_trainable = sum(math.prod(w.shape) for w in model.non_trainable_weights)
    for label, count in (("Total", trainable + non_trainable), ("Trainable", trainable),
                         ("Non-trainable", non_trainable)):
        out.append(f" {label} params: {count:,} ({format_size(count * itemsize)})")
    return "\n".join(out)


def print_summary(model, line_length: int | None = None, positions=None, print_fn=None,
                  expand_nested: bool = False, show_trainable: bool = False) -> None:
    """Print Keras 3's summary table of a built model: one row per layer with its name and
    class, output shape and parameter count (and, for models that are not a chain, the
    tensors each layer reads: ``Connected to``), then the total, trainable and
    non-trainable parameter counts with their size in memory.

    Args:
        line_length: the width of the table; default 88 (108 with ``Connected to``, 12
            more with ``show_trainable``), at most the terminal's width less 4, as Keras.
        positions: where each column ends, as fractions of the line (Keras's defaults
            ``[0.45, 0.80, 1.0]``, or ``[0.3, 0.56, 0.74, 1.0]`` with ``Connected to``) or
            as character counts.
        print_fn: called with the whole table as one string (default :func:`print`).
        expand_nested: list the layers of nested models under them, marked ``└``.
        show_trainable: add a ``Trainable`` column: ``Y``, ``N``, or ``-`` for layers
            without weights.

    Cell texts longer than their column wrap onto more lines, as Keras's table does.
    """
    text = summarize(model, line_length, positions, expand_nested, show_trainable)
    (print_fn or print)(text)
