"""The ClusterSimError family: every error a user can cause, each rendered as one line.

The command line turns any ClusterSimError into its message on stderr and exit status 2;
anything else is a bug in clustersim and keeps its traceback.
"""
from __future__ import annotations


class ClusterSimError(Exception):
    """Base of every user-facing error; ``str(err)`` is the one-line message."""


class ScenarioError(ClusterSimError):
    """One or more problems in a scenario file or its overrides.

    Holds every problem found (one line each) so the user can fix them all at once.
    """

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(f"{source}: {p}" for p in self.problems))


class ResultsError(ClusterSimError):
    """A results file that cannot be read or written as expected."""


class UnitError(ValueError):
    """A quantity string with a missing or unknown unit; becomes part of a ScenarioError."""
