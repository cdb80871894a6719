"""Saving and loading: whole-model files, weight files, and the user classes configs name.

A flexnet file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays) read with
``allow_pickle=False``, so loading executes no code. Its entry ``flexnet.json``
holds the metadata (format name, format version, what the file holds, the
weight names and shapes, and for whole models the JSON config); the other
entries are plain numeric arrays. Files are written beside the target and
renamed over it, so a crash mid-save leaves the previous file intact.

A whole model (``model.save(path)``, :func:`load_model`) stores the model's config,
the compile config, the weights and the optimizer's state. Configs name classes;
loading looks the names up (flexnet's classes, those registered with
:func:`register_serializable`, and the ``custom_objects`` given to :func:`load_model`)
and checks the whole config before it builds anything. Nothing is imported or
executed by name.

This module gathers the public names; the code lives in :mod:`flexnet.io` (files),
:mod:`flexnet.models.config` (model configs) and :mod:`flexnet.registry` (names).
"""

from flexnet.io.archive import FORMAT, FORMAT_VERSION, read_archive, write_archive
from flexnet.io.model_files import load_model, load_weights, save_model, save_weights
from flexnet.models.config import deserialize_layer, serialize_layer
from flexnet.registry import (
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
    register_serializable,
    unregister_serializable,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "deserialize_layer",
    "get_registered_name",
    "get_registered_object",
    "load_model",
    "load_weights",
    "read_archive",
    "register_keras_serializable",
    "register_serializable",
    "save_model",
    "save_weights",
    "serialize_layer",
    "unregister_serializable",
    "write_archive",
]
