"""The pytest plugin (dynamodb_sessions.testing), run as a user's suite runs it: pytester runs a
small test file with ``-p dynamodb_sessions.testing`` against each engine, and a Django project
in a process of its own (Django is configured once per process)."""

import os

import pytest

import dynamodb_sessions

pytest_plugins = ["pytester"]

APP_TESTS = """
import asyncio

import pytest
from flask import Flask, session
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from dynamodb_sessions import SessionStore
from dynamodb_sessions.integrations.flask import DynamoDBSessions
from dynamodb_sessions.integrations.starlette import SessionMiddleware
from dynamodb_sessions.testing import set_session_cookie


def test_the_engine_is_the_chosen_one(dynamodb_sessions_engine, pytestconfig):
    assert dynamodb_sessions_engine.name == pytestconfig.getoption("--dynamodb-sessions-engine")
    assert dynamodb_sessions_engine.endpoint.startswith("http://127.0.0.1:")


@pytest.mark.parametrize("turn", [1, 2])
def test_each_test_has_a_fresh_table(dynamodb_sessions_store, turn):
    assert dynamodb_sessions_store.stats(segments=1).sessions == 0
    session = dynamodb_sessions_store.load(None)
    session["turn"] = turn
    cookie = dynamodb_sessions_store.finish(session)
    assert dynamodb_sessions_store.load(cookie.value)["turn"] == turn


def test_the_async_store_is_on_the_same_table(dynamodb_sessions_async_store, dynamodb_session):
    sid = dynamodb_session({"cart": ["book"]}, user_id="ada")

    async def read():
        return await dynamodb_sessions_async_store.load(sid)

    session = asyncio.run(read())
    assert (session["cart"], session.user_id) == (["book"], "ada")


def test_the_environment_names_the_table(dynamodb_sessions_env, dynamodb_sessions_config):
    assert SessionStore.from_env().config.table == dynamodb_sessions_config.table
    assert dynamodb_sessions_env["AWS_DYNAMODB_SESSION_TABLE"] == dynamodb_sessions_config.table


def flask_app():
    app = Flask(__name__)
    app.config["SESSION_COOKIE_NAME"] = "sid"
    DynamoDBSessions(app)  # from the environment

    @app.get("/")
    def index():
        return f"hello {session.get('name', 'stranger')} ({session.user_id})"

    return app


def test_a_flask_test_starts_logged_in(dynamodb_sessions_env, dynamodb_session):
    client = flask_app().test_client()
    dynamodb_session({"name": "ada"}, user_id="ada", client=client)
    assert client.get("/").text == "hello ada (ada)"


def test_a_flask_cookie_set_by_hand(dynamodb_sessions_env, dynamodb_session):
    app = flask_app()
    client = app.test_client()
    set_session_cookie(client, dynamodb_session({"name": "bob"}))
    assert client.get("/").text == "hello bob (None)"


def starlette_app(store, **cookie):
    async def index(request):
        return PlainTextResponse(f"hello {request.session.get('name', 'stranger')}")

    app = Starlette(routes=[Route("/", index)])
    app.add_middleware(SessionMiddleware, store=store, max_age=store.config.timeout, **cookie)
    return app


@pytest.mark.parametrize("cookie", [{}, {"session_cookie": "sid"}])
def test_a_starlette_test_starts_with_a_filled_session(
    dynamodb_sessions_async_store, dynamodb_session, cookie
):
    with TestClient(starlette_app(dynamodb_sessions_async_store, **cookie)) as client:
        dynamodb_session({"name": "ada"}, client=client)
        assert client.get("/").text == "hello ada"


def test_anything_else_is_refused(dynamodb_session):
    with pytest.raises(TypeError, match="not a test client"):
        dynamodb_session({"n": 1}, client=object())
"""


@pytest.fixture
def suite(pytester):
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(test_app=APP_TESTS)
    return pytester


@pytest.mark.parametrize("engine_name", ["embedded", "dynalite"])
def test_the_fixtures_on_each_engine(suite, engine_name):
    result = suite.runpytest(
        "-p",
        "dynamodb_sessions.testing",
        "--dynamodb-sessions-engine",
        engine_name,
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=10)


def test_auto_takes_dynalite_when_it_is_found_and_the_ini_can_choose(pytester, monkeypatch):
    pytester.makepyfile(
        test_which="from dynamodb_sessions.testing import chosen_engine\n"
        "def test_which(pytestconfig):\n"
        "    print('engine:', chosen_engine(pytestconfig))\n"
        "def test_start(dynamodb_sessions_engine):\n"
        "    pass\n"
    )
    assert os.environ.get("DYNALITE_CLI")  # the suite's dynalite (tests/conftest.py)
    found = pytester.runpytest("-p", "dynamodb_sessions.testing", "-s", "-k", "which")
    found.stdout.fnmatch_lines(["*engine: dynalite*"])
    monkeypatch.setenv("DYNALITE_CLI", str(pytester.path / "no-such-cli.js"))
    missing = pytester.runpytest("-p", "dynamodb_sessions.testing", "-s", "-k", "which")
    missing.stdout.fnmatch_lines(["*engine: embedded*"])
    pytester.makeini("[pytest]\ndynamodb_sessions_engine = dynalite\n")
    refused = pytester.runpytest("-p", "dynamodb_sessions.testing", "-k", "start")
    refused.stdout.fnmatch_lines(["*dynalite was asked for but not found*"])
    assert refused.ret != 0


DJANGO_TESTS = """
import django
from django.conf import settings

settings.configure(
    SECRET_KEY="only-for-tests",
    ALLOWED_HOSTS=["testserver"],
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
    MIDDLEWARE=[
        "dynamodb_sessions.integrations.django.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ],
    SESSION_ENGINE="dynamodb_sessions.integrations.django",
    DYNAMODB_SESSIONS={"key_prefix": "shop:"},
    ROOT_URLCONF="test_django",
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    USE_TZ=True,
)
django.setup()

import pytest
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import Client
from django.test.utils import setup_databases
from django.urls import path


def whoami(request):
    return HttpResponse(f"{request.user.username or 'anonymous'} {request.session.get('cart')}")


urlpatterns = [path("", whoami)]


@pytest.fixture(scope="module")
def ada():
    setup_databases(verbosity=0, interactive=False)
    return User.objects.create_user("ada")


def test_force_login(dynamodb_sessions_django, ada):
    client = Client()
    client.force_login(ada)
    assert client.get("/").content == b"ada None"
    assert dynamodb_sessions_django.list_user_sessions(str(ada.pk))  # stored, with its user
    assert dynamodb_sessions_django.config.key_prefix == "shop:"  # the settings' options


def test_client_session_and_a_filled_session(dynamodb_sessions_django, dynamodb_session):
    client = Client()
    session = client.session
    session["cart"] = "book"
    session.save()
    assert client.get("/").content == b"anonymous book"
    other = Client()
    dynamodb_session({"cart": "pen"}, client=other, store=dynamodb_sessions_django)
    assert other.get("/").content == b"anonymous pen"
"""


def test_the_django_helpers(pytester):
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(test_django=DJANGO_TESTS)
    result = pytester.runpytest_subprocess(
        "-p",
        "dynamodb_sessions.testing",
        "--dynamodb-sessions-engine",
        "embedded",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=2)


def test_every_public_name_is_importable_from_the_package():
    exported = set(dynamodb_sessions._EXPORTS) | {"__version__"}
    assert exported == set(dynamodb_sessions.__all__)
    assert all(getattr(dynamodb_sessions, name) is not None for name in dynamodb_sessions.__all__)
