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
class Conflict:
    """Tell the metrics hook: a save's conditional write failed; ``retried`` if it goes on.

    Events such as this one are decided by the flow and only passed on by the driver (to
    :meth:`Metrics.conflict <dynamodb_sessions.metrics.Metrics.conflict>`), which replies
    ``None``.
    """

    retried: bool


@dataclass(frozen=True)
class LockWait:
    """Tell the metrics hook: one lock acquire waited ``seconds`` and ended ``outcome``
    (``"acquired"``, ``"timeout"``, ``"absent"``); the driver replies ``None``."""

    seconds: float
    outcome: str


@dataclass(frozen=True)
class Failed:
    """DynamoDB answered a :class:`Call` with an error code the call handles."""

    code: str


Event = Conflict | LockWait
Step = Call | Sleep | Now | Event
Reply = Any  # a response dict, a Failed, the current time (after a Sleep or a Now), or None
Flow = Generator[Step, Reply, T]
