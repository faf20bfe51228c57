"""``vagrant.up``: batches, per-VM boot seconds, and one retry of a VM that missed its boot
timeout, against a fake ``vagrant`` on PATH that prints what the real one prints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from webfarm import vagrant
from webfarm.topology import Lab

FAKE = r"""#!/usr/bin/env bash
# fake vagrant: logs its arguments; `up` boots every host named, except that a host listed in
# $FAIL_ONCE fails its first boot (as a missed boot_timeout does, in parallel mode).
echo "$*" >> "$CALLS"
cmd=$1; shift
[ "$cmd" = up ] || exit 0
rc=0
for h in "$@"; do
  case $h in --*) continue ;; esac
  if [[ " ${FAIL_ONCE:-} " == *" $h "* ]] && [ ! -e "$STATE/$h.failed" ]; then
    touch "$STATE/$h.failed"
    echo "==> $h: Waiting for SSH to become available..."
    echo "An error occurred while executing the action on the '$h' machine. Please handle this"
    echo "Timed out while waiting for the machine to boot."
    rc=1
    continue
  fi
  echo "==> $h: Machine booted and ready!"
done
exit $rc
"""


@pytest.fixture
def fake_vagrant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "vagrant"
    exe.write_text(FAKE, encoding="utf-8")
    exe.chmod(0o755)
    (tmp_path / "state").mkdir()
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CALLS", str(tmp_path / "calls"))
    monkeypatch.setenv("STATE", str(tmp_path / "state"))
    monkeypatch.setattr(vagrant, "LOG_DIR", tmp_path / "logs")
    monkeypatch.delenv("WEBFARM_UP_BATCH", raising=False)
    return tmp_path / "calls"


def _calls(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_boots_in_batches_and_times_each_vm(fake_vagrant: Path, labs: dict[str, Lab]) -> None:
    lab = labs["mini"].with_provider("libvirt", driver="qemu")
    ready: list[str] = []
    report = vagrant.up(lab, on_ready=lambda h, s: ready.append(h))
    names = list(lab.hosts)
    assert report.batches == [names[:4], names[4:]]  # TCG: 4 at a time
    assert _calls(fake_vagrant) == [f"up --provider=libvirt {' '.join(names[:4])}",
                                    f"up --provider=libvirt {' '.join(names[4:])}"]
    assert sorted(report.seconds) == sorted(names) and sorted(ready) == sorted(names)
    assert report.retried == []
    log = (vagrant.LOG_DIR / "vagrant-up.log").read_text(encoding="utf-8")
    assert "s] ==> client1: Machine booted and ready!" in log  # lines carry their time


def test_kvm_boots_everything_at_once(fake_vagrant: Path, labs: dict[str, Lab]) -> None:
    report = vagrant.up(labs["mini"].with_provider("libvirt", driver="kvm"))
    assert report.batches == [list(labs["mini"].hosts)]


def test_a_vm_that_missed_its_boot_is_destroyed_and_retried_once(
        fake_vagrant: Path, labs: dict[str, Lab], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIL_ONCE", "client1")
    report = vagrant.up(labs["mini"], batch=8)
    assert report.retried == ["client1"]
    calls = _calls(fake_vagrant)
    assert calls[1:] == ["destroy -f client1", "up --provider=libvirt client1"]
    assert "client1" in report.seconds


def test_no_retry_means_a_clear_error(fake_vagrant: Path, labs: dict[str, Lab],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIL_ONCE", "lb2")
    with pytest.raises(vagrant.VagrantError, match=r"boot_timeout") as info:
        vagrant.up(labs["mini"], batch=8, retry=False)
    assert "Timed out while waiting for the machine to boot" in str(info.value)


def test_a_vm_failing_twice_fails_the_run(fake_vagrant: Path, labs: dict[str, Lab],
                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path
                                          ) -> None:
    monkeypatch.setenv("FAIL_ONCE", "db1")
    real = vagrant._up_once

    def always_fail_db1(*args: object, **kwargs: object) -> tuple[int, set[str], list[str]]:
        (tmp_path / "state" / "db1.failed").unlink(missing_ok=True)  # fail again
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(vagrant, "_up_once", always_fail_db1)
    with pytest.raises(vagrant.VagrantError, match="after a second try"):
        vagrant.up(labs["mini"], batch=8)
