"""Models: layers composed into a network, with Keras's compile/fit/evaluate/predict.

:class:`Model` (``model.py``) holds what every model shares: backend, weights,
the training loop, open gradients. :class:`Sequential` is a stack of layers;
:class:`Functional` (what ``Model(inputs=..., outputs=...)`` builds) is any
graph of layers with several inputs and outputs.
"""

from flexnet.models.functional import Functional
from flexnet.models.model import Model
from flexnet.models.sequential import Sequential

__all__ = ["Functional", "Model", "Sequential", "load_model", "save_model"]


def save_model(model, filepath) -> None:
    """Write a built model to one file, atomically: its config, weights, compile config and
    optimizer state (see :func:`load_model`).

    Raises:
        ValueError: an unbuilt model, or a layer shared between a model and a nested one.
        TypeError: a config value JSON cannot hold (e.g. a learning rate given as a function).
    """
    from flexnet.io import model_files  # io sits above models: reached on call

    model_files.save_model(model, filepath)


def load_model(filepath, custom_objects: dict | None = None, compile: bool = True, *,
               backend=None, device=None, dtype=None):
    """Rebuild a model saved by ``model.save(path)``: architecture, weights, and (with
    ``compile``) its compile settings and optimizer state, so that ``fit`` continues exactly.

    Loading executes no code: the file is read with ``allow_pickle=False`` and every
    class is looked up by name; the whole config is checked before anything is built.

    Args:
        filepath: the file.
        custom_objects: class name -> class for user classes that were not registered
            with :func:`flexnet.saving.register_serializable`.
        compile: compile the model as it was saved (and restore the optimizer's state);
            False returns it uncompiled.
        backend, device: where to build it; default :func:`flexnet.get_backend` (not the
            backend it was saved from).
        dtype: ``"float32"`` or ``"float64"``; default the dtype it was saved in.

    Returns:
        the model, built (and compiled if it was and ``compile``).

    Raises:
        FileNotFoundError: no file at ``filepath``.
        ValueError: an empty, truncated, corrupted or foreign file, one of a newer format,
            a weights-only file, or a config that names unknown classes or is malformed.

    Example::

        model.save("model.flexnet")
        model = fx.models.load_model("model.flexnet")
        model.fit(x, y, epochs=20, initial_epoch=10)   # continues the same run
    """
    from flexnet.io import model_files  # io sits above models: reached on call

    return model_files.load_model(filepath, custom_objects, compile, backend=backend, device=device,
                                  dtype=dtype)
