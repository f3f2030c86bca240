"""DynamoDB faults at every adapter (WSGI, Flask, Starlette, FastAPI), injected for real by the
fault proxy (tests/faults/proxy.py) between the store and the engine: the answer is 503 with
Retry-After, the user's cookie is kept, nothing written before is lost, and service resumes by
itself when the engine is back.

Timeouts (0.25 s) and attempts (2) are cut here to keep the suite quick (with the defaults a
stall costs 3 timeouts and 2 backoffs per request); tests/faults/test_store_faults.py runs the
same faults with the defaults, and
``bench/faults.py`` measures the time to 503 with them."""

from __future__ import annotations

import time

import pytest
from test_hostile_input import ADAPTERS, build, stored

from faults.proxy import FaultProxy, failing_fast_through

HANG = 30.0  # far above what the defaults allow; only proves that nothing hangs


def inject(proxy: FaultProxy, fault: str) -> None:
    if fault == "refuse":
        proxy.refuse()
    elif fault == "stall-write":
        proxy.rule("stall", "UpdateItem")
    else:
        proxy.rule(fault)


def heal(proxy: FaultProxy) -> None:
    proxy.heal()
    proxy.restore()


@pytest.mark.engines("dynalite", reason="the faults are the proxy's; one engine is enough")
@pytest.mark.parametrize("fault", ["refuse", "stall", "cut", "throttle", "stall-write"])
@pytest.mark.parametrize("name", ADAPTERS)
def test_an_outage_answers_503_keeps_the_cookie_and_resumes(name, fault, engine, config, clock):
    with FaultProxy(engine.endpoint) as proxy:
        through = failing_fast_through(config, proxy)
        with build(name, through, clock) as web:
            sid = stored(web, "a=1")
            cookie = f"session={sid}"
            inject(proxy, fault)
            # A load fault fails the first request that uses the session; stall-write lets the
            # load through and stalls the save.
            for path in ["/set?a=2"] if fault == "stall-write" else ["/get", "/set?a=2"]:
                started = time.monotonic()
                reply = web.get(path, cookie)
                assert time.monotonic() - started < HANG
                assert (reply.status, reply.retry_after) == (503, "5"), path
                assert reply.set_cookies == []  # the user keeps their cookie
            heal(proxy)
            # Back by itself (same app, store and client); nothing written before was lost.
            # A cut loses the answer after the engine applied the call: where /set's only call
            # is its blind write (WSGI, Flask), that write landed, although the request answered
            # 503 (its outcome unknown), as any write whose answer is lost.
            landed = fault == "cut" and name in ("wsgi", "flask")
            assert web.get("/get", cookie).body == {"a": "2" if landed else "1"}
            assert web.get("/set?b=2", cookie).status == 200
            assert web.get("/get", cookie).body == {"a": "2" if landed else "1", "b": "2"}
