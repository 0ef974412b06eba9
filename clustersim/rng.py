"""Random streams: one SeedSequence per (scenario seed, replication), named children per purpose.

A stream's seed depends only on the scenario seed, the replication index and the stream's
name (``node/17``, ``domain/rack/3``, ``chaos/pull-rack``), so adding a component or a
workload never shifts anyone else's draws, and replication k is the same whether 1 or 100
replications run, in whatever order or process.
"""
from __future__ import annotations

import hashlib

import numpy as np


def _name_words(name: str) -> list[int]:
    """A stable 128-bit hash of a stream name as four uint32 words (Python's hash() is salted)."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=16).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


class Streams:
    """Named, independent random generators for one replication."""

    def __init__(self, seed: int, replication: int):
        self.seed = seed
        self.replication = replication

    def seed_sequence(self, name: str) -> np.random.SeedSequence:
        return np.random.SeedSequence([self.seed, self.replication, *_name_words(name)])

    def generator(self, name: str) -> np.random.Generator:
        """A fresh generator for stream ``name``; the same name always gives the same draws."""
        return np.random.Generator(np.random.PCG64(self.seed_sequence(name)))
