"""riskline: ML-backed risk decisions for fintech."""

from importlib.metadata import version

__version__ = version("riskline")

__all__ = ["__version__"]
