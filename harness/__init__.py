"""harness: convert a model into optimized variants and measure them on real edge targets."""

__version__ = "0.1.0"
