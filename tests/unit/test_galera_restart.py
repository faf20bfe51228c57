"""Chapter 05's rule for a running Galera node (provision/05-db/all.sh, galera_conf_differs):
a configuration that differs only in its node list (``wsrep_cluster_address``, plus the
comment that counts the nodes) restarts nothing, so a scale of the DB tier leaves the nodes
that stay running; any other change restarts the node. Run in bash against the real renders
of the mini profile with 2 and 3 Galera nodes."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from webfarm import labedit, render, topology
from webfarm import secrets as lab_secrets
from webfarm.state import State

ROOT = Path(__file__).resolve().parents[2]
ALL_SH = ROOT / "provision" / "05-db" / "all.sh"
LAB_TEXT = (ROOT / "tests/fixtures/lab.yml").read_text(encoding="utf-8")
OUT = Path("/nonexistent/hosts")
CNF = "files/05-db/90-webfarm-galera.cnf"


def galera_cnf(host: str, nodes: int) -> str:
    text = labedit.set_count(LAB_TEXT, "mini", "db_data", nodes)
    lab = topology.parse(text, "lab.yml", "mini")
    files = render.lab_files(lab, lab_secrets.redacted(), State(), OUT)
    return files[host][OUT / host / CNF]


def function(name: str) -> str:
    found = re.search(rf"^{name}\(\) \{{\n.*?^\}}\n", ALL_SH.read_text(encoding="utf-8"),
                      re.M | re.S)
    assert found, f"{name} not in {ALL_SH}"
    return found.group(0)


def differs(tmp_path: Path, new: str, old: str) -> bool:
    (tmp_path / "new.cnf").write_text(new, encoding="utf-8")
    (tmp_path / "old.cnf").write_text(old, encoding="utf-8")
    script = (f"set -euo pipefail\n{function('galera_conf_differs')}\n"
              "if galera_conf_differs new.cnf old.cnf; then echo yes; else echo no; fi")
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, check=True, timeout=30)
    return done.stdout.strip() == "yes"


@pytest.fixture(scope="module")
def two_and_three() -> tuple[str, str]:
    return galera_cnf("db1", 2), galera_cnf("db1", 3)


def test_a_new_node_changes_only_the_node_list(tmp_path: Path,
                                               two_and_three: tuple[str, str]) -> None:
    two, three = two_and_three
    assert two != three  # the file does change: it is written, for the next start
    changed = [line for line in three.splitlines() if line not in two.splitlines()]
    assert any(line.startswith("wsrep_cluster_address") for line in changed)
    assert not differs(tmp_path, three, two)  # ... and the running node is not restarted
    assert not differs(tmp_path, two, three)  # the same when the node leaves again


@pytest.mark.parametrize(("old", "new"), [
    ("innodb_buffer_pool_size = 256M", "innodb_buffer_pool_size = 512M"),
    ("wsrep_on = ON", "wsrep_on = OFF"),
    ("wsrep_sst_method = rsync", "wsrep_sst_method = mariabackup"),
])
def test_any_other_change_restarts_the_node(tmp_path: Path, two_and_three: tuple[str, str],
                                            old: str, new: str) -> None:
    two, three = two_and_three
    line = next(x for x in two.splitlines() if x.startswith(old.split(" = ")[0] + " "))
    changed = three.replace(line, new)
    assert changed != three
    assert differs(tmp_path, changed, two)


def test_a_commented_out_setting_is_a_change(tmp_path: Path,
                                             two_and_three: tuple[str, str]) -> None:
    two, _ = two_and_three
    line = next(x for x in two.splitlines() if x.startswith("bind-address"))
    assert differs(tmp_path, two.replace(line, "# " + line), two)
