"""The report's figures, one module per family; each function takes plain results and returns PNG bytes (or
None when the run has nothing of that family to draw)."""
