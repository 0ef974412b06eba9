"""clustersim: a discrete-event simulator of AI clusters under failure."""

__version__ = "0.1.0"
