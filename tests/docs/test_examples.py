"""Every code sample in docs/ runs, against a real local engine (moto's server on 127.0.0.1).

- ```python blocks run one by one, each in a fresh namespace, with the environment a deployment
  would have (``AWS_DYNAMODB_SESSION_TABLE`` naming a fresh table made with ``create-table``,
  the endpoint, region and keys). Blocks whose first line is ``# settings.py`` / ``# views.py``
  are a Django project: they run together in a subprocess (Django is configured once per
  process), with the guide's ``python manage.py`` commands and a request to each view.
- Blocks whose first line is ``# test_<name>.py`` are an app's tests using the pytest plugin:
  they run together, in that Django project, with pytest in a subprocess, and must all pass.
- Commands of ours in ```sh blocks (``dynamodb-sessions ...``) run through ``cli.main`` and must
  exit 0; ``demo`` and ``local`` (they serve until stopped) are left to ``tests/e2e`` and
  ``tests/cli/test_local.py``. An ``iam-policy``
  command's output must equal the ```json block that follows it. Other shell lines (``pip``,
  benchmarks) are not ours to run here.
- The configuration reference lists every option of every configuration class with its
  default, every environment name of ``config.py``, and every adapter parameter.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import json
import re
import shlex
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import ENGINE_TIMEOUTS

from dynamodb_sessions import (
    Attributes,
    Connection,
    CookieSettings,
    LockSettings,
    SessionStore,
    StoreConfig,
    cli,
)
from dynamodb_sessions import config as config_module
from dynamodb_sessions.integrations import starlette as starlette_adapter
from dynamodb_sessions.integrations import wsgi as wsgi_adapter

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
GUIDE = ROOT / "docs" / "guide.md"
DJANGO_FILES = ("# settings.py", "# views.py")
PYTEST_FILE = re.compile(r"# (test_\w+\.py)\n")


@dataclass(frozen=True)
class Block:
    """A fenced code block of a document."""

    path: Path
    line: int
    lang: str
    code: str

    @property
    def name(self) -> str:
        return f"{self.path.name}:{self.line}"


def blocks(path: Path) -> list[Block]:
    found = []
    pattern = re.compile(r"^```(\w*)\n(.*?)^```$", re.DOTALL | re.MULTILINE)
    text = path.read_text()
    for match in pattern.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        found.append(Block(path, line, match.group(1), match.group(2)))
    return found


ALL = [block for path in DOCS for block in blocks(path)]
PYTHON = [
    b
    for b in ALL
    if b.lang == "python" and not b.code.startswith(DJANGO_FILES) and not PYTEST_FILE.match(b.code)
]
PYTESTS = [b for b in ALL if b.lang == "python" and PYTEST_FILE.match(b.code)]
DJANGO = [b for b in ALL if b.lang == "python" and b.code.startswith(DJANGO_FILES)]


def commands(block: Block, program: str) -> list[str]:
    """The lines of a shell block that run ``program``, without trailing comments."""
    lines = []
    for raw in block.code.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line.startswith(program + " "):
            lines.append(line)
    return lines


@pytest.fixture
def deployment(moto_engine, monkeypatch, tmp_path):
    """The environment of a deployment: a fresh table (made as the guide says), its endpoint."""
    table = f"docs-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("AWS_DYNAMODB_SESSION_TABLE", table)
    monkeypatch.setenv("AWS_DYNAMODB_ENDPOINT", moto_engine.endpoint)
    monkeypatch.setenv("AWS_REGION_NAME", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_SECRET_KEY", "local")
    monkeypatch.chdir(tmp_path)
    # The samples configure themselves from the environment, with the library's 1 s timeouts;
    # against a local engine on a loaded machine they get the fixtures' patient ones instead
    # (see ENGINE_TIMEOUTS), which change nothing a sample shows.
    from_env = StoreConfig.from_env.__func__  # type: ignore[attr-defined]

    def patient_from_env(cls, environ=None, **overrides):
        return from_env(cls, environ, **{**ENGINE_TIMEOUTS, **overrides})

    monkeypatch.setattr(StoreConfig, "from_env", classmethod(patient_from_env))
    with SessionStore(StoreConfig.from_env()) as store:
        assert store.create_table(wait_seconds=30).ok
    return table


def test_the_docs_have_samples():
    assert GUIDE in DOCS
    assert len(PYTHON) >= 10 and len(DJANGO) == 2


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: b.name)
def test_python_sample_runs(block, deployment, capsys):
    code = compile(block.code, block.name, "exec")
    exec(code, {"__name__": "docs_sample"})


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_our_commands_run(path, deployment, capsys):
    doc = blocks(path)
    for index, block in enumerate(doc):
        if block.lang not in ("sh", "console", "bash"):
            continue
        for line in commands(block, "dynamodb-sessions"):
            argv = shlex.split(line)[1:]
            if argv[0] in ("demo", "local"):  # they serve until stopped: tests/e2e, tests/cli
                continue
            out = io.StringIO()
            try:
                code = cli.main(argv, out=out)
            except SystemExit as exc:  # argparse: an option the docs name does not exist
                pytest.fail(f"{block.name}: {line!r} is not a valid command ({exc})")
            assert code == 0, f"{block.name}: {line!r} exited {code}: {capsys.readouterr().err}"
            if argv[0] == "iam-policy":
                shown = doc[index + 1]
                assert shown.lang == "json", f"{block.name}: no json block after {line!r}"
                assert json.loads(out.getvalue()) == json.loads(shown.code), line


DJANGO_PROJECT = """
import os, sys
sys.path.insert(0, os.getcwd())
os.environ["DJANGO_SETTINGS_MODULE"] = "docs_settings"
import django
django.setup()
from django.core.management import call_command
from django.test import Client
for argv in {commands!r}:
    call_command(*argv)
client = Client()
client.get("/", secure=True)
assert client.get("/", secure=True).content == b"visits: 2"
assert client.get("/logout", secure=True).content == b"logged out"
assert client.get("/", secure=True).content == b"visits: 1"
assert client.get("/logout-everywhere", secure=True).content == b"0 session(s) ended"
print("django sample ok")
"""

DJANGO_TEST_SETTINGS = """
# Added by the test: what a runnable project needs besides the guide's lines.
SECRET_KEY = "only-for-the-docs-test"
ALLOWED_HOSTS = ["testserver"]
ROOT_URLCONF = "docs_urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
"""

DJANGO_URLS = """
from django.urls import path
import views
urlpatterns = [
    path("", views.visits),
    path("logout", views.log_out),
    path("logout-everywhere", views.logout_everywhere),
]
"""


def write_django_project(path):
    """The guide's settings.py and views.py, with what a runnable project needs besides."""
    settings, views = (next(b for b in DJANGO if b.code.startswith(f)) for f in DJANGO_FILES)
    (path / "docs_settings.py").write_text(settings.code + DJANGO_TEST_SETTINGS)
    (path / "views.py").write_text(views.code)
    (path / "docs_urls.py").write_text(DJANGO_URLS)


def test_django_sample_runs(deployment, tmp_path):
    write_django_project(tmp_path)
    manage = [
        shlex.split(line)[2:]
        for block in blocks(GUIDE)
        if block.lang == "sh"
        for line in commands(block, "python manage.py")
    ]
    assert [argv[0] for argv in manage] == [
        "createsessiontable",
        "checksessiontable",
        "clearsessions",
    ]
    script = tmp_path / "run_django.py"
    script.write_text(DJANGO_PROJECT.format(commands=manage))
    assert "django sample ok" in python_in(tmp_path, "-W", "error", str(script))


def python_in(path, *argv):
    """Run Python with ``argv`` in ``path`` (a process of its own); its output, if it exits 0."""
    result = subprocess.run(
        [sys.executable, *argv], cwd=path, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


PYTEST_CONFTEST = """
# Added by the test: what pytest-django does for a project (its settings, a test database).
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
os.environ["DJANGO_SETTINGS_MODULE"] = "docs_settings"
import django

django.setup()
import pytest


@pytest.fixture(scope="session", autouse=True)
def django_test_database():
    from django.test import utils

    utils.setup_test_environment()
    databases = utils.setup_databases(verbosity=0, interactive=False)
    yield
    utils.teardown_databases(databases, verbosity=0)
    utils.teardown_test_environment()
"""


def test_pytest_samples_pass_with_the_plugin(deployment, tmp_path):
    assert {PYTEST_FILE.match(b.code).group(1) for b in PYTESTS} == {
        "test_flask_app.py",
        "test_fastapi_app.py",
        "test_django_views.py",
    }
    write_django_project(tmp_path)
    (tmp_path / "conftest.py").write_text(PYTEST_CONFTEST)
    for block in PYTESTS:
        (tmp_path / PYTEST_FILE.match(block.code).group(1)).write_text(block.code)
    tests = sum(block.code.count("\ndef test_") for block in PYTESTS)
    plugin = ["-p", "dynamodb_sessions.testing", "--dynamodb-sessions-engine", "embedded"]
    out = python_in(tmp_path, "-m", "pytest", *plugin, "-W", "error", "-p", "no:cacheprovider")
    assert f"{tests} passed" in out, out


# -- the configuration reference ---------------------------------------------------------------


def section(heading: str) -> str:
    """The guide's text under ``heading`` (a line starting with it) up to the next heading."""
    text = GUIDE.read_text()
    start = re.search(rf"^#+ {re.escape(heading)}.*$", text, re.MULTILINE)
    assert start, f"no section {heading!r} in the guide"
    end = re.compile(r"^#+ ", re.MULTILINE).search(text, start.end())
    return text[start.end() : end.start() if end else len(text)]


def rows(text: str) -> dict[str, list[str]]:
    """Table rows keyed by their first cell's backquoted name."""
    found = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and (name := re.fullmatch(r"`([^`]+)`", cells[0])):
            found[name.group(1)] = cells[1:]
    return found


def default_text(field: dataclasses.Field[object]) -> str:
    if field.default is not dataclasses.MISSING:
        return f"`{field.default!r}`"
    if field.default_factory is not dataclasses.MISSING:
        return f"`{field.default_factory.__name__}()`"  # type: ignore[union-attr]
    return "(required)"


@pytest.mark.parametrize(
    "cls",
    [StoreConfig, Connection, Attributes, LockSettings, CookieSettings],
    ids=lambda cls: cls.__name__,
)
def test_the_reference_lists_every_option_with_its_default(cls):
    documented = rows(section(f"`{cls.__name__}`"))
    fields = dataclasses.fields(cls)
    assert list(documented) == [f.name for f in fields]
    for field in fields:
        assert documented[field.name][0].startswith(default_text(field)), field.name


def test_the_reference_lists_every_environment_name():
    documented = rows(section("The environment"))
    names = config_module
    assert set(documented) == {
        names.TABLE_ENV,
        names.REGION_ENVS[0],
        names.ENDPOINT_ENVS[0],
        names.ACCESS_KEY_ENV,
        names.SECRET_KEY_ENV,
        names.LIFETIME_ENV,
        names.GC_MARGIN_ENV,
        names.KEYS_ENV,
        names.TRANSPORT_ENV,
    }
    for fallback in names.REGION_ENVS[1:]:
        assert f"`{fallback}`" in documented[names.REGION_ENVS[0]][0]
    for fallback in names.ENDPOINT_ENVS[1:]:
        assert f"`{fallback}`" in documented[names.ENDPOINT_ENVS[0]][0]


def test_the_reference_lists_every_adapter_parameter():
    table = section("Adapter options")
    adapters = {}
    current = ""
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 4 or not cells[1].startswith("`"):
            continue
        current = cells[0] or current
        adapters.setdefault(current, {})[cells[1].strip("`")] = cells[2]
    for name, middleware in [
        ("WSGI `SessionMiddleware`", wsgi_adapter.SessionMiddleware),
        ("Starlette `SessionMiddleware`", starlette_adapter.SessionMiddleware),
    ]:
        parameters = dict(inspect.signature(middleware).parameters)
        assert list(adapters[name]) == list(parameters), name
        if middleware is starlette_adapter.SessionMiddleware:
            for parameter in parameters.values():
                if parameter.default is not inspect.Parameter.empty:
                    assert adapters[name][parameter.name] == f"`{parameter.default!r}`"


def test_the_readme_points_to_the_guide():
    assert "docs/guide.md" in (ROOT / "README.md").read_text()


def test_samples_are_plain_python():
    for block in PYTHON + DJANGO:
        assert block.code == textwrap.dedent(block.code), block.name
