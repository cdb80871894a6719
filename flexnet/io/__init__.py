"""Files: the flexnet archive (``archive.py``: atomic write, checked read) and model and
weight files (``model_files.py``); :mod:`flexnet.saving` is their public face.
"""
