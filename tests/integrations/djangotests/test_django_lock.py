"""Lock mode at Django (issue 16, item 4), through this library's middleware, with the tests the
other adapters have (tests/integrations/test_failed_requests.py, test_wsgi.py, test_starlette.py,
tests/concurrency): requests racing on one key serialise and lose no update; the lock is given
back at the end of every request, also one that saves nothing, raises, answers 500 or fails to
save; a request that cannot get the lock answers 503 and keeps the cookie; async views too.
Django's own SessionMiddleware cannot run lock mode (it tells a backend nothing when a request
saves nothing): the setting is refused without ours."""

from __future__ import annotations

import threading

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import AsyncClient, Client, override_settings
from django.urls import path
from test_django_hostile import OUR_MIDDLEWARE

from dynamodb_sessions import SessionStore
from dynamodb_sessions.config import LockSettings
from dynamodb_sessions.integrations.django import set_store, setting_options


class PaymentFailed(Exception):
    """What the failing view raises after changing the session."""


def put(request: HttpRequest) -> HttpResponse:
    request.session["a"] = "1"
    return HttpResponse("ok")


def get(request: HttpRequest) -> JsonResponse:
    return JsonResponse(dict(request.session.items()))


def inc(request: HttpRequest) -> HttpResponse:
    request.session["n"] = request.session.get("n", 0) + 1
    return HttpResponse("ok")


def debit(request: HttpRequest) -> HttpResponse:
    request.session["balance"] = "debited"
    raise PaymentFailed("the payment failed after the session was changed")


def debit_500(request: HttpRequest) -> HttpResponse:
    request.session["balance"] = "debited"
    return HttpResponse("payment failed", status=500)


def too_big(request: HttpRequest) -> HttpResponse:
    request.session["big"] = "x" * 500_000  # over DynamoDB's 400 KB item limit
    return HttpResponse("ok")


async def aget(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"a": await request.session.aget("a")})


urlpatterns = [
    path("put", put),
    path("get", get),
    path("inc", inc),
    path("debit", debit),
    path("debit-500", debit_500),
    path("too-big", too_big),
    path("aget", aget),
]
pytestmark = pytest.mark.engines("dynalite", reason="lock mode relies on atomic conditional writes")

# A lease far longer than the wait: had a request kept the lock, the next one would not wait
# for it and would answer 503.
HELD_TOO_LONG = LockSettings(lease=60, wait=0.0)


@pytest.fixture(autouse=True)
def urls():
    with override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=OUR_MIDDLEWARE):
        yield


@pytest.fixture
def locking(config, clock):
    """Make the engine's store a lock-mode one of ``settings``; returns it."""
    stores: list[SessionStore] = []

    def use(settings: LockSettings = HELD_TOO_LONG) -> SessionStore:
        stores.append(SessionStore(config.replace(lock=settings), clock=clock))
        set_store(stores[-1])
        return stores[-1]

    yield use
    set_store(None)
    for store in stores:
        store.close()


def request(path: str, cookie: str | None = None):
    extra = {} if cookie is None else {"HTTP_COOKIE": cookie}
    return Client(raise_request_exception=False).get(path, **extra)


def opened() -> str:
    response = request("/put")
    assert response.status_code == 200
    return f"sessionid={response.cookies['sessionid'].value}"


def test_racing_requests_on_one_key_serialise_and_lose_nothing(locking):
    locking(LockSettings(lease=10, wait=30.0, poll=0.01))
    cookie = opened()
    threads, each = 4, 10
    statuses: list[int] = []
    start = threading.Barrier(threads, timeout=60)

    def client() -> None:
        start.wait()
        for _ in range(each):
            statuses.append(request("/inc", cookie).status_code)

    running = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=120)  # a safety bound for a run of a few seconds
    assert not any(thread.is_alive() for thread in running)
    assert statuses == [200] * threads * each
    assert request("/get", cookie).json() == {"a": "1", "n": threads * each}


def test_a_request_that_saves_nothing_gives_the_lock_back(locking):
    locking()
    cookie = opened()
    for _ in range(3):  # each read would leave the lock held for 60 s without the release
        response = request("/get", cookie)
        assert (response.status_code, response.json()) == (200, {"a": "1"})


@pytest.mark.parametrize("path", ["/debit", "/debit-500"])
def test_a_failed_request_gives_the_lock_back_and_saves_nothing(locking, path):
    locking()
    cookie = opened()
    response = request(path, cookie)
    assert response.status_code == 500 and "sessionid" not in response.cookies
    response = request("/get", cookie)
    assert (response.status_code, response.json()) == (200, {"a": "1"})


def test_a_failing_view_raising_through_the_test_client_gives_the_lock_back(locking):
    locking()
    cookie = opened()
    with pytest.raises(PaymentFailed):
        Client().get("/debit", HTTP_COOKIE=cookie)
    assert request("/get", cookie).json() == {"a": "1"}


def test_a_session_too_large_to_store_gives_the_lock_back(locking, config, clock):
    store = SessionStore(config.replace(lock=HELD_TOO_LONG, compress_threshold=10**7), clock=clock)
    set_store(store)
    cookie = opened()
    assert request("/too-big", cookie).status_code == 500  # the save failed after the view
    response = request("/get", cookie)
    assert (response.status_code, response.json()) == (200, {"a": "1"})
    store.close()


def test_a_request_that_cannot_get_the_lock_answers_503_and_keeps_the_cookie(locking):
    store = locking(LockSettings(lease=60, wait=0.1, poll=0.05))
    cookie = opened()
    held = store.load(cookie.partition("=")[2])  # another request holds it
    response = request("/get", cookie)
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "sessionid" not in response.cookies  # the user keeps their cookie
    store.release(held)
    assert request("/get", cookie).json() == {"a": "1"}


def test_async_views_take_and_give_back_the_lock(locking, async_mode):
    locking()
    cookie = opened()
    client = AsyncClient()
    client.cookies["sessionid"] = cookie.partition("=")[2]

    async def twice() -> list[tuple[int, dict]]:
        replies = [await client.get("/aget"), await client.get("/aget")]
        return [(reply.status_code, reply.json()) for reply in replies]

    assert async_to_sync(twice)() == [(200, {"a": "1"})] * 2
    assert request("/get", cookie).json() == {"a": "1"}


def test_lock_mode_is_a_setting_with_our_middleware_only():
    with override_settings(DYNAMODB_SESSIONS={"lock": {"lease": 30, "wait": 2.0}}):
        assert setting_options()["lock"] == LockSettings(lease=30, wait=2.0)
    with override_settings(DYNAMODB_SESSIONS={"lock": True}):
        assert setting_options()["lock"] == LockSettings()
    django_own = ["django.contrib.sessions.middleware.SessionMiddleware"]
    with (
        override_settings(DYNAMODB_SESSIONS={"lock": True}, MIDDLEWARE=django_own),
        pytest.raises(ImproperlyConfigured, match="lock mode needs"),
    ):
        setting_options()
