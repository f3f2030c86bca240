"""The steps a sans-IO flow yields to its driver, and what the driver sends back.

Kept apart from ``flows.py`` so that every flow module (sessions, locks, GC, tables) can use
them without importing the others.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """Call ``operation`` (a botocore client method name) with ``params``.

    ``handles`` names the AWS error codes the flow deals with itself; the driver sends those
    back as :class:`Failed` and raises any other error.
    """

    operation: str
    params: dict[str, Any]
    handles: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds``; the driver replies with the time afterwards (epoch seconds)."""

    seconds: float


@dataclass(frozen=True)
class Now:
    """Read the clock: the driver replies with the time now (epoch seconds, a float).

    For flows that measure real time between calls (the lock's lease and its wait), which the
    whole seconds a flow is started with cannot tell.
    """


@dataclass(frozen=True)
class Failed:
    """DynamoDB answered a :class:`Call` with an error code the call handles."""

    code: str


Step = Call | Sleep | Now
Reply = Any  # a response dict, a Failed, or (after a Sleep or a Now) the current time
Flow = Generator[Step, Reply, T]
