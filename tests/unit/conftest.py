"""Shared fixtures for the unit tests: the real lab.yml as data, and helpers that build a
topology from (mutated) data and return the validation error. No VM is ever touched."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the package is used from the checkout, not installed
    sys.path.insert(0, str(ROOT))

from webfarm import topology  # noqa: E402
from webfarm.topology import Lab, LabFileError  # noqa: E402

LAB_FILE = ROOT / "tests/fixtures/lab.yml"  # never the user-editable lab.yml
LAB_NAME = "lab.yml"  # the name errors must carry (what build() is given)


def _raw() -> dict[str, Any]:
    return yaml.safe_load(LAB_FILE.read_text(encoding="utf-8"))


_RAW = _raw()


@pytest.fixture
def data() -> dict[str, Any]:
    """A private deep copy of the real lab.yml data, free to mutate."""
    return copy.deepcopy(_RAW)


@pytest.fixture(params=["full", "mini"])
def profile(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def labs() -> dict[str, Lab]:
    """The real lab.yml, loaded once per profile."""
    return {p: topology.load(LAB_FILE, p) for p in _RAW["profiles"]}


@pytest.fixture
def lab(labs: dict[str, Lab], profile: str) -> Lab:
    return labs[profile]


@pytest.fixture
def fails() -> Callable[..., LabFileError]:
    """``fails(data, profile=None)``: build, expect LabFileError, check its shape, return it."""

    def _fails(raw: Any, profile: str | None = None) -> LabFileError:
        with pytest.raises(LabFileError) as info:
            topology.build(raw, LAB_NAME, profile)
        return check_error(info.value)

    return _fails


@pytest.fixture
def fails_text() -> Callable[..., LabFileError]:
    """``fails_text(text)``: parse YAML text, expect LabFileError, check its shape."""

    def _fails(text: str, profile: str | None = None) -> LabFileError:
        with pytest.raises(LabFileError) as info:
            topology.parse(text, LAB_NAME, profile)
        return check_error(info.value)

    return _fails


def check_error(err: LabFileError) -> LabFileError:
    """Every line of a LabFileError names the file and says how to fix the problem."""
    lines = str(err).splitlines()
    assert err.problems, "a LabFileError must carry at least one problem"
    assert len(lines) == len(err.problems), f"one line per problem expected:\n{err}"
    for line in lines:
        assert line.startswith(f"{LAB_NAME}"), f"line does not name the file: {line!r}"
        assert "Fix:" in line, f"line does not say how to fix it: {line!r}"
        assert "Traceback" not in line
    return err


def lines_for(err: LabFileError, key: str) -> list[str]:
    """The error lines whose key path is exactly ``key``."""
    return [line for line in str(err).splitlines() if line.startswith(f"{LAB_NAME}: {key}: ")]


@pytest.fixture
def line_for() -> Callable[[LabFileError, str], str]:
    """``line_for(err, key)``: the single error line for key path ``key``."""

    def _line(err: LabFileError, key: str) -> str:
        found = lines_for(err, key)
        assert len(found) == 1, f"expected exactly one problem at {key!r}, got:\n{err}"
        return found[0]

    return _line
