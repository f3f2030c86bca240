"""Frameworks' own test files, taken from their sdists at test time (never copied into this
repository), imported so that pytest collects their tests against our adapters.

The sdist of the installed version is fetched once with ``pip download`` into
``.tools/upstream/`` (git-ignored; ``UPSTREAM_TESTS_CACHE`` moves it). A failed download raises:
the run stops with pip's message, it never skips silently.

The upstream files import their siblings as ``tests.<module>`` (their repository's package);
that name belongs to our own tests here, so those imports are answered with the upstream
modules while the upstream files are imported, and the names forgotten after.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import types
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CACHE = Path(os.environ.get("UPSTREAM_TESTS_CACHE") or ROOT / ".tools" / "upstream")


def sdist_tests(distribution: str) -> Path:
    """The ``tests`` directory of the installed ``distribution``'s sdist, fetched if needed."""
    version = importlib.metadata.version(distribution)
    target = CACHE / f"{distribution.lower()}-{version}"
    if not (target / "tests").is_dir():
        _fetch(distribution, version, target)
    return target / "tests"


def _fetch(distribution: str, version: str, target: Path) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary=:all:",
            f"--dest={scratch}",
            f"{distribution}=={version}",
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        archives = list(Path(scratch).glob("*.tar.gz"))
        if done.returncode != 0 or len(archives) != 1:
            raise RuntimeError(
                f"could not download the {distribution} {version} sdist for its test suite "
                f"(needed by tests/integrations/upstream): {' '.join(command)}\n"
                f"{done.stdout}{done.stderr}"
            )
        unpacked = Path(scratch) / "unpacked"
        with tarfile.open(archives[0]) as archive:
            members = [m for m in archive.getmembers() if m.name.split("/")[1:2] == ["tests"]]
            archive.extractall(unpacked, members=members, filter="data")
        (top,) = unpacked.iterdir()
        if not (top / "tests").is_dir():
            raise RuntimeError(f"the {distribution} {version} sdist has no tests directory")
        shutil.rmtree(target, ignore_errors=True)
        top.rename(target)


def import_tests(
    distribution: str, *modules: str, siblings: tuple[str, ...] = ()
) -> list[types.ModuleType]:
    """Import ``modules`` (dotted, relative to the sdist's ``tests``) as the package
    ``upstream_<distribution>``, with pytest's assertion rewriting, and return them.

    ``siblings`` are the modules they import as ``tests.<name>``: imported first, and given
    that name only while ``modules`` are imported.
    """
    tests = sdist_tests(distribution)
    package = f"upstream_{distribution.lower()}"
    if package not in sys.modules:
        root = types.ModuleType(package)
        root.__path__ = [str(tests)]
        sys.modules[package] = root
    aliases = {f"tests.{name}": importlib.import_module(f"{package}.{name}") for name in siblings}
    if taken := sorted(set(aliases) & set(sys.modules)):
        raise RuntimeError(f"cannot stand in for {taken}: already imported")
    sys.modules.update(aliases)
    try:
        return [importlib.import_module(f"{package}.{module}") for module in modules]
    finally:
        for name in aliases:
            del sys.modules[name]


def upstream_tests(
    module: types.ModuleType, names: Iterable[str] | None = None
) -> dict[str, object]:
    """The test functions of ``module`` (those in ``names`` if given), for a test module's
    globals: pytest collects them there, and their marks (parametrize) come with them."""
    wanted = None if names is None else set(names)
    return {
        name: value
        for name, value in vars(module).items()
        if name.startswith("test") and callable(value) and (wanted is None or name in wanted)
    }


def fixtures_of(module: types.ModuleType) -> dict[str, object]:
    """The fixtures ``module`` defines, for a conftest's globals."""
    return {
        name: value
        for name, value in vars(module).items()
        if type(value).__name__ == "FixtureFunctionDefinition"
    }


def skip(tests: dict[str, object], reasons: dict[str, str]) -> None:
    """Mark ``tests`` named in ``reasons`` as skipped with the reason; a reason naming no
    upstream test is an error, so the list cannot outlive what it describes."""
    if missing := sorted(set(reasons) - set(tests)):
        raise RuntimeError(f"skip reasons for tests the upstream suite no longer has: {missing}")
    for name, reason in reasons.items():
        tests[name] = pytest.mark.skip(reason=reason)(tests[name])
