"""Bordergate: a self-hosted AI gateway that knows who made each model and where it runs."""

__version__ = "0.1.0"
