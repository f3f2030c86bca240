"""Hostile input at the Django engine, through Django's own SessionMiddleware: malformed, huge,
non-ASCII and duplicated cookies, ids never issued, random cookies and contents (hypothesis),
and DynamoDB outages injected by the fault proxy. The counterpart of
tests/integrations/test_hostile_input.py and test_adapter_faults.py for the other adapters."""

from __future__ import annotations

import dataclasses
import json
import socket

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.http import HttpRequest, JsonResponse
from django.test import Client, override_settings
from django.urls import path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamodb_sessions import BackendUnavailableError, SessionStore
from dynamodb_sessions.ids import is_well_formed, new_session_id
from dynamodb_sessions.integrations.django import set_store
from faults.proxy import FaultProxy, failing_fast_through
from strategies import json_values

ONE_ENGINE = "adapter behaviour does not depend on the engine; one keeps the suite quick"
HEADER_CHARS = st.characters(codec="latin-1", exclude_categories=("Cc",), exclude_characters="\x7f")
# Keys Django itself reads from the session (an expiry, the logged-in user): a view storing
# arbitrary values under them breaks Django's middleware with any session engine. Hypothesis
# draws string constants from the code under test, so it does find them.
DJANGOS_OWN_KEYS = frozenset(
    {"_session_expiry", SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY}
)


def put(request: HttpRequest) -> JsonResponse:
    request.session.update(json.loads(request.body))
    return JsonResponse({"ok": True})


def get(request: HttpRequest) -> JsonResponse:
    return JsonResponse(dict(request.session.items()))


def rotate(request: HttpRequest) -> JsonResponse:
    request.session.cycle_key()  # what django.contrib.auth.login does on privilege change
    return JsonResponse({"ok": True})


urlpatterns = [path("put", put), path("get", get), path("rotate", rotate)]
pytestmark = pytest.mark.usefixtures("store")


@pytest.fixture(autouse=True)
def urls():
    with override_settings(ROOT_URLCONF=__name__):
        yield


@pytest.fixture
def calls(store, call_log):
    return call_log().attach(store)


def request(path: str, cookie: str | None = None, data: dict | None = None):
    """One request from a browser with nothing but ``cookie`` (the raw Cookie header)."""
    extra = {} if cookie is None else {"HTTP_COOKIE": cookie}
    if data is None:
        return Client().get(path, **extra)
    return Client().post(path, json.dumps(data), content_type="application/json", **extra)


def issued(response) -> str | None:
    morsel = response.cookies.get("sessionid")
    return morsel.value if morsel is not None and morsel.value else None


MALFORMED = [
    "sessionid=",
    "sessionid=garbage",
    "sessionid=" + "a" * 42,
    "sessionid=" + "a" * 44,
    "sessionid=" + "é" * 43,
    "sessionid=" + "A" * (1024 * 1024),
    "sessionid",
    ";;; ;=;=",
]


@pytest.mark.engines("dynalite", reason=ONE_ENGINE)
def test_a_malformed_cookie_is_a_new_session_without_a_call(calls):
    for cookie in MALFORMED:
        calls.clear()
        response = request("/get", cookie)
        assert (response.status_code, response.json(), calls) == (200, {}, []), cookie[:40]
        response = request("/put", cookie, {"a": 1})
        assert response.status_code == 200 and is_well_formed(issued(response)), cookie[:40]
        assert calls == ["PutItem"], cookie[:40]


@pytest.mark.engines("dynalite", reason=ONE_ENGINE)
def test_an_id_never_issued_is_not_adopted(store):
    planted = new_session_id()
    response = request("/put", f"sessionid={planted}", {"user": "victim"})
    assert issued(response) not in (None, planted)
    assert not store.exists(planted)


@pytest.mark.engines("dynalite", reason=ONE_ENGINE)
def test_duplicated_cookies_never_fail_and_never_mix_sessions():
    mine = issued(request("/put", None, {"who": "me"}))
    other = issued(request("/put", None, {"who": "other"}))
    for header in (f"sessionid={mine}; sessionid={other}", f"sessionid=x; sessionid={mine}"):
        response = request("/get", header)
        assert response.status_code == 200
        assert response.json() in ({"who": "me"}, {"who": "other"}, {})


@pytest.mark.engines("dynalite", reason=ONE_ENGINE)
def test_cycle_key_retires_the_old_id(store):
    before = issued(request("/put", None, {"cart": 3}))
    after = issued(request("/rotate", f"sessionid={before}"))
    assert after not in (None, before)
    assert request("/get", f"sessionid={after}").json() == {"cart": 3}
    assert request("/get", f"sessionid={before}").json() == {}
    assert not store.exists(before)


@pytest.mark.engines("dynalite", reason=ONE_ENGINE)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    header=st.text(HEADER_CHARS, max_size=200)
    | st.builds("sessionid={}".format, st.text(HEADER_CHARS, max_size=60)),
    data=st.dictionaries(
        st.text(max_size=20).filter(lambda key: key not in DJANGOS_OWN_KEYS),
        json_values,
        min_size=1,
        max_size=6,
    ),
)
def test_random_cookies_and_contents_never_fail(header, data):
    response = request("/get", header)
    assert response.status_code == 200 and response.json() == {}
    response = request("/put", header, data)
    sid = issued(response)
    assert response.status_code == 200 and is_well_formed(sid) and sid not in header
    assert request("/get", f"sessionid={sid}").json() == data


OUR_MIDDLEWARE = [
    "dynamodb_sessions.integrations.django.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]


@pytest.mark.engines("dynalite", reason="the faults are the proxy's; one engine is enough")
@pytest.mark.parametrize("fault", ["refuse", "stall", "stall-write"])
@override_settings(MIDDLEWARE=OUR_MIDDLEWARE)
def test_an_outage_answers_503_keeps_the_cookie_and_resumes(fault, engine, config, clock):
    with FaultProxy(engine.endpoint) as proxy:
        through = failing_fast_through(config, proxy)
        with SessionStore(through, clock=clock) as faulty:
            set_store(faulty)
            sid = issued(request("/put", None, {"a": 1}))
            cookie = f"sessionid={sid}"
            if fault == "refuse":
                proxy.refuse()
            else:
                proxy.rule("stall", "UpdateItem" if fault == "stall-write" else None)
            response = request("/put" if fault == "stall-write" else "/get", cookie, {"a": 2})
            assert response.status_code == 503 and response["Retry-After"] == "5"
            assert "sessionid" not in response.cookies
            proxy.heal()
            proxy.restore()
            assert request("/get", cookie).json() == {"a": 1}
            assert request("/put", cookie, {"b": 2}).status_code == 200
            assert request("/get", cookie).json() == {"a": 1, "b": 2}


@pytest.mark.engines("dynalite", reason="one engine is enough to show Django's own behaviour")
def test_with_djangos_own_middleware_an_outage_is_an_error_not_an_empty_session(config, clock):
    # Django's SessionMiddleware lets the error through (a 500): never a new empty session.
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        down = config.replace(
            connection=dataclasses.replace(
                config.connection,
                endpoint_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
                max_attempts=1,
            )
        )
    with SessionStore(down, clock=clock) as faulty:
        set_store(faulty)
        with pytest.raises(BackendUnavailableError):
            request("/get", f"sessionid={new_session_id()}")
