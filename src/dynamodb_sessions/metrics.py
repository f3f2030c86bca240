"""Metrics: what the stores did, told to a hook; OpenTelemetry when it is installed.

A store tells its :class:`Metrics` hook about each event below. The events are decided where
the knowledge is: the core's flows decide conflicts and lock waits (they yield them as steps,
``_core/steps.py``), GC's report counts its deletes, the drivers see each call's outcome, and the
adapters their 503 answers. Both drivers hand events to the hook in one shared place, so the
sync and the async store report alike::

    call(operation, outcome, ...)   every DynamoDB call: "GetItem", "ok" or the error code
                                    (ConditionalCheckFailedException is a normal outcome of a
                                    conditional write), its retries, seconds, capacity
    conflict(retried)               a save's conditional write found the item changed or gone
    lock_wait(seconds, outcome)     lock mode: one acquire ("acquired", "timeout", "absent")
    gc(deleted, kept)               one garbage collection, when it ends
    unavailable(adapter, error)     an adapter answered 503 (the exception's class name)

:class:`Metrics` itself does nothing (the default without OpenTelemetry): subclass it and
override what you need. :class:`OpenTelemetryMetrics` records them as OpenTelemetry
instruments (the ``otel`` extra, ``opentelemetry-api``); it is the default when
``opentelemetry`` can be imported, on the global meter provider, so an application that sets
one up (the SDK and an exporter) gets the store's metrics without a line of code, and one that
does not pays for the API's no-op instruments only (and asks DynamoDB for no capacity figures).
"""

from __future__ import annotations

from typing import Any

from . import logs

__all__ = ["Metrics", "OpenTelemetryMetrics", "default_metrics", "report_unavailable"]

METER_NAME = "dynamodb_sessions"


class Metrics:
    """The metrics hook a store calls; every method does nothing here.

    ``capacity``: whether the store asks DynamoDB for the capacity each data call consumed
    (``ReturnConsumedCapacity=TOTAL``: a few bytes more on each request and answer). Off here,
    so a store without metrics sends exactly the requests of ``_core/requests.py``.
    Methods are called on the request's own thread or event loop: keep them quick, and never
    raise (an exception from a hook would fail the request).
    """

    capacity: bool = False

    def call(
        self,
        operation: str,
        outcome: str,
        *,
        retries: int,
        seconds: float,
        capacity: float | None,
    ) -> None:
        """One DynamoDB call: ``operation`` is DynamoDB's name (``GetItem``); ``outcome`` is
        ``"ok"`` or the AWS error code (or botocore's exception name: ``ReadTimeoutError``);
        ``retries`` the attempts the retries added, on either transport (0 when unknown);
        ``seconds`` the whole call, retries included; ``capacity`` the units consumed, if
        DynamoDB said."""

    def conflict(self, *, retried: bool) -> None:
        """A save's conditional write failed (another request changed the item, or it expired
        or went): ``retried`` if the save reads the item again (to merge and try again, or to
        find it gone), false when ``max_conflict_retries`` ran out (a 503)."""

    def lock_wait(self, seconds: float, *, outcome: str) -> None:
        """Lock mode: one acquire took ``seconds`` of waiting for another request (0 when the
        lock was free) and ended ``"acquired"``, ``"timeout"`` (a 503) or ``"absent"`` (no
        live session to lock)."""

    def gc(self, *, deleted: int, kept: int) -> None:
        """One garbage collection ended: expired items ``deleted``, and ``kept`` because a
        request refreshed them after the scan."""

    def unavailable(self, adapter: str, *, error: str) -> None:
        """An adapter (``"WSGI"``, ``"Flask"``, ``"ASGI"``, ``"Django"``) answered 503;
        ``error`` is the exception's class name (``BackendUnavailableError``,
        ``SessionLockError``, ...)."""


class OpenTelemetryMetrics(Metrics):
    """The events as OpenTelemetry instruments of the meter ``dynamodb_sessions``:

    ==================================  ===========  =========================================
    ``dynamodb_sessions.calls``         counter      attributes ``operation``, ``outcome``
    ``dynamodb_sessions.call.duration`` histogram s  ``operation``, ``outcome``
    ``dynamodb_sessions.call.retries``  counter      ``operation``: attempts the retries added
    ``dynamodb_sessions.capacity``      counter      ``operation``: capacity units consumed
    ``dynamodb_sessions.conflicts``     counter      ``retried`` (true / false)
    ``dynamodb_sessions.lock.wait``     histogram s  ``outcome``
    ``dynamodb_sessions.gc.deleted``    counter      expired items deleted
    ``dynamodb_sessions.gc.kept``       counter      refreshed between scan and delete
    ``dynamodb_sessions.unavailable``   counter      ``adapter``, ``error``: 503 answers
    ==================================  ===========  =========================================

    ``meter_provider``: where the instruments live (default: OpenTelemetry's global provider).

    :attr:`capacity` is true only while a provider that records is in place (the SDK's, or
    another real one), not OpenTelemetry's default no-op or proxy provider: an application
    that installed ``opentelemetry-api`` without configuring metrics sends the exact requests
    of ``_core/requests.py``, and one that sets its provider up after making the store gets
    the capacity from then on.
    """

    def __init__(self, meter_provider: Any = None) -> None:
        from opentelemetry import metrics  # the otel extra

        from . import __version__

        self._get_provider = metrics.get_meter_provider
        # A provider given is what it is; the global one may be set later, and only once: so
        # once recording, always recording.
        self._global = meter_provider is None
        self._recording = not self._global and _records(meter_provider)
        meter = metrics.get_meter(METER_NAME, __version__, meter_provider=meter_provider)

        def counter(name: str, unit: str, description: str) -> Any:
            return meter.create_counter(f"{METER_NAME}.{name}", unit, description)

        def histogram(name: str, description: str) -> Any:
            return meter.create_histogram(f"{METER_NAME}.{name}", "s", description)

        self._calls = counter("calls", "{call}", "DynamoDB calls")
        self._duration = histogram("call.duration", "DynamoDB calls, retries included")
        self._retries = counter("call.retries", "{attempt}", "attempts the retries added")
        self._capacity = counter("capacity", "{capacity_unit}", "capacity units consumed")
        self._conflicts = counter("conflicts", "{write}", "conditional saves that lost")
        self._lock_wait = histogram("lock.wait", "time waited for a session's lock")
        self._gc_deleted = counter("gc.deleted", "{item}", "expired items deleted")
        self._gc_kept = counter("gc.kept", "{item}", "items refreshed before their delete")
        self._unavailable = counter("unavailable", "{response}", "503 answers")

    @property
    def capacity(self) -> bool:  # type: ignore[override]
        """Whether a recording meter provider is in place (see the class's description)."""
        if not self._recording and self._global:
            self._recording = _records(self._get_provider())
        return self._recording

    def call(
        self,
        operation: str,
        outcome: str,
        *,
        retries: int,
        seconds: float,
        capacity: float | None,
    ) -> None:
        """Count the call, its duration, retries and capacity."""
        attributes = {"operation": operation, "outcome": outcome}
        self._calls.add(1, attributes)
        self._duration.record(seconds, attributes)
        if retries:
            self._retries.add(retries, {"operation": operation})
        if capacity:
            self._capacity.add(capacity, {"operation": operation})

    def conflict(self, *, retried: bool) -> None:
        """Count the conflict."""
        self._conflicts.add(1, {"retried": retried})

    def lock_wait(self, seconds: float, *, outcome: str) -> None:
        """Record the wait."""
        self._lock_wait.record(seconds, {"outcome": outcome})

    def gc(self, *, deleted: int, kept: int) -> None:
        """Count the page's deletes."""
        if deleted:
            self._gc_deleted.add(deleted)
        if kept:
            self._gc_kept.add(kept)

    def unavailable(self, adapter: str, *, error: str) -> None:
        """Count the 503."""
        self._unavailable.add(1, {"adapter": adapter, "error": error})


def _records(provider: Any) -> bool:
    """Whether ``provider`` records what is measured: not OpenTelemetry's no-op provider, nor
    the proxy that ``get_meter_provider()`` returns while none is set (a private class of the
    API, named here rather than imported from its private module)."""
    from opentelemetry.metrics import NoOpMeterProvider

    return not (
        isinstance(provider, NoOpMeterProvider) or type(provider).__name__ == "_ProxyMeterProvider"
    )


def default_metrics() -> Metrics:
    """OpenTelemetry on the global meter provider if ``opentelemetry`` is installed, else the
    no-op :class:`Metrics`."""
    try:
        return OpenTelemetryMetrics()
    except ImportError:
        return Metrics()


def report_unavailable(metrics: Metrics, exc: Exception, adapter: str) -> None:
    """An adapter answered 503 because of ``exc``: log it once (WARNING), and count it."""
    logs.unavailable(exc, adapter)
    metrics.unavailable(adapter, error=type(exc).__name__)
