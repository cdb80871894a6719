"""Exporting models to other runtimes: :func:`to_onnx` writes an ONNX file that onnxruntime,
TensorRT, OpenVINO or a browser runtime runs without flexnet.

``model.export(path, format="onnx")`` does the same (Keras's spelling). The code lives in
:mod:`flexnet.io.onnx_export`; the ``onnx`` package is needed (``pip install flexnet[onnx]``).
"""

from flexnet.io.onnx_export import DEFAULT_OPSET, to_onnx

__all__ = ["DEFAULT_OPSET", "to_onnx"]
