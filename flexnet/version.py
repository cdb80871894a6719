"""flexnet's version string, in a module of its own.

``flexnet/__init__.py`` and the model files both read it; it imports nothing.
"""

__version__ = "0.1.0"
