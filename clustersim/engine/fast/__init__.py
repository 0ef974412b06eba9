"""The fast engine: numba kernels for the foundation model (nodes, clocks, crews, spares, domains)."""
