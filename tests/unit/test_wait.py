"""webfarm.wait.wait_until: asks at once, then every interval, a last time at the deadline;
returns the first truthy answer, raises WaitTimeout (with the last answer) otherwise. A fake
clock makes the timing exact."""

from __future__ import annotations

import pytest

from webfarm import wait
from webfarm.wait import WaitTimeout, wait_until


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(wait.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(wait.time, "sleep", fake.sleep)
    return fake


def test_a_yes_at_once_does_not_sleep(clock: FakeClock) -> None:
    assert wait_until(lambda: 4242, timeout=60, interval=0.2, what="a pid") == 4242
    assert clock.sleeps == []


def test_asks_every_interval_and_returns_the_answer(clock: FakeClock) -> None:
    answers = iter([None, "", 0, "ready"])
    assert wait_until(lambda: next(answers), timeout=10, interval=0.5, what="x") == "ready"
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_last_try_exactly_at_the_deadline_then_timeout(clock: FakeClock) -> None:
    asked: list[float] = []

    def never() -> dict[str, int]:
        asked.append(round(clock.now - 100.0, 6))
        return {}

    with pytest.raises(WaitTimeout) as info:
        wait_until(never, timeout=1.0, interval=0.4, what="the VIP to move")
    assert asked == [0.0, 0.4, 0.8, 1.0]  # the last sleep is cut to the deadline
    assert info.value.last == {} and info.value.what == "the VIP to move"
    assert "the VIP to move after 1 s" in str(info.value)
    assert isinstance(info.value, TimeoutError)


def test_a_success_on_the_last_try_counts(clock: FakeClock) -> None:
    answers = iter([False, False, True])
    assert wait_until(lambda: next(answers), timeout=1.0, interval=0.5, what="x") is True


def test_zero_timeout_asks_once(clock: FakeClock) -> None:
    calls: list[int] = []
    with pytest.raises(WaitTimeout):
        wait_until(lambda: calls.append(1), timeout=0, interval=1, what="x")
    assert calls == [1] and clock.sleeps == []


def test_predicate_errors_are_not_swallowed(clock: FakeClock) -> None:
    def dead() -> bool:
        raise RuntimeError("libvirtd exited")

    with pytest.raises(RuntimeError, match="libvirtd exited"):
        wait_until(dead, timeout=60, interval=0.5, what="libvirtd")


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        wait_until(lambda: True, timeout=1, interval=0, what="x")


def test_real_clock_short_wait() -> None:
    with pytest.raises(WaitTimeout):
        wait_until(lambda: False, timeout=0.05, interval=0.01, what="nothing")
