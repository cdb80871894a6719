"""Files: the flexnet archive (``archive.py``: atomic write, checked read), model and weight
files (``model_files.py``), Keras 3 ``.keras`` files (``keras_files.py``, configs translated in
``keras_config.py``) and ONNX export (``onnx_export.py``); :mod:`flexnet.saving` and
:mod:`flexnet.export` are their public faces.
"""
