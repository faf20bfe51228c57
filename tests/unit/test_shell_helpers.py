"""The cleanup helpers of provision/lib/common.sh, run in a real bash with stub commands.

Bash has one EXIT trap per shell; common.sh keeps a list of exit handlers that one trap runs
(wf_on_exit), removes temporary files on any exit (wf_mktemp, wf_rmtemp) and thaws a zone it
froze (wf_zone_freeze, wf_zone_thaw), also when a later step fails. These tests prove that on
success, on failure (set -e), on a signal, and in subshells; the last ones run chapter 02-dns's
dns.sh itself against stub BIND tools (rndc, named-checkzone, systemctl).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMON = ROOT / "provision" / "lib" / "common.sh"
DNS_SH = ROOT / "provision" / "02-dns" / "dns.sh"

STUBS = {
    # rndc: log every call; `rndc freeze` fails for a zone named refused.test
    "rndc": """#!/bin/sh
echo "$*" >>"$STUB_LOG"
[ "$1 $2" = "freeze refused.test" ] && exit 1
exit 0
""",
    # systemctl: named is active when NAMED_ACTIVE=1; everything else succeeds
    "systemctl": """#!/bin/sh
echo "systemctl $*" >>"$STUB_LOG"
case "$1" in
  is-active) [ "${NAMED_ACTIVE:-0}" = 1 ] ;;
  *) exit 0 ;;
esac
""",
    # named-checkzone: -D prints the file's SOA with its serial; -q exits CHECKZONE_RC
    "named-checkzone": """#!/bin/sh
case "$1" in
  -D) serial=$(awk '/; serial$/ { print $1 }' "$5")
      echo "$4. 300 IN SOA ns1.$4. hostmaster.$4. $serial 3600 600 1209600 60" ;;
  -q) exit "${CHECKZONE_RC:-0}" ;;
esac
""",
    "named-checkconf": "#!/bin/sh\nexit 0\n",
    # install: as the real one, minus -o/-g (the tests need not run as root)
    "install": """#!/bin/sh
skip=0
for a in "$@"; do
  shift
  if [ "$skip" = 1 ]; then skip=0; continue; fi
  case "$a" in
    -o|-g) skip=1 ;;
    *) set -- "$@" "$a" ;;
  esac
done
exec /usr/bin/install "$@"
""",
}


class Bash:
    """Runs bash snippets after `set -euo pipefail; source common.sh`, with the stub commands
    first on PATH and TMPDIR a fresh, empty folder (so a leaked temporary file shows)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.bin, self.tmpdir, self.log = path / "bin", path / "tmp", path / "stub.log"
        self.bin.mkdir()
        self.tmpdir.mkdir()
        self.log.touch()
        for name, text in STUBS.items():
            (self.bin / name).write_text(text)
            (self.bin / name).chmod(0o755)

    def __call__(self, script: str, prelude: str = "",
                 **env: str) -> subprocess.CompletedProcess[str]:
        full = f'{prelude}\nset -euo pipefail\nsource "{COMMON}"\n{script}'
        environ = {**os.environ, "PATH": f"{self.bin}:{os.environ['PATH']}",
                   "TMPDIR": str(self.tmpdir), "STUB_LOG": str(self.log), "WF_HOST": "ns1",
                   "WF_CHAPTER": "test", **env}
        return subprocess.run(["bash", "-c", full], capture_output=True, text=True,
                              env=environ, cwd=self.path, check=False, timeout=60)


@pytest.fixture
def sh(tmp_path: Path) -> Bash:
    return Bash(tmp_path)


def leftovers(sh: Bash) -> list[str]:
    """What is left in TMPDIR."""
    return sorted(p.name for p in sh.tmpdir.iterdir())


def rndc_calls(sh: Bash) -> list[str]:
    """The rndc commands run, in order."""
    return [line for line in sh.log.read_text().splitlines() if not line.startswith("systemctl")]


# --- temporary files ---------------------------------------------------------------------------

def test_temp_file_exists_while_running_and_is_removed_on_success(sh: Bash) -> None:
    r = sh('wf_mktemp t; echo data >"$t"; cat "$t"; echo "$t"')
    assert r.returncode == 0, r.stderr
    data, path = r.stdout.split()
    assert data == "data" and Path(path).parent == sh.tmpdir
    assert leftovers(sh) == []


def test_temp_file_is_removed_when_a_later_step_fails(sh: Bash) -> None:
    r = sh('wf_mktemp t; echo data >"$t"; false; echo not reached')
    assert r.returncode == 1 and "not reached" not in r.stdout
    assert leftovers(sh) == []


def test_temp_file_is_removed_when_a_step_inside_a_function_fails(sh: Bash) -> None:
    r = sh('f() { local tmp; wf_mktemp tmp; echo "$tmp"; grep -q absent "$tmp"; }; f; echo no')
    assert r.returncode == 1 and "no" not in r.stdout.split()
    assert Path(r.stdout.split()[0]).parent == sh.tmpdir
    assert leftovers(sh) == []


def test_temp_file_is_removed_when_the_shell_is_killed(sh: Bash) -> None:
    r = sh('wf_mktemp t; kill -TERM $$; sleep 5')
    assert r.returncode in (-15, 143)  # killed by SIGTERM, after the EXIT trap ran
    assert leftovers(sh) == []


def test_wf_rmtemp_removes_now_and_forgets_the_file(sh: Bash) -> None:
    """After wf_rmtemp, a new file that happens to get the same name is not removed at exit."""
    r = sh('wf_mktemp t; wf_rmtemp "$t"; test ! -e "$t"; echo mine >"$t"')
    assert r.returncode == 0, r.stderr
    assert leftovers(sh) != [] and (sh.tmpdir / leftovers(sh)[0]).read_text() == "mine\n"


def test_wf_mktemp_refuses_a_bad_variable_name(sh: Bash) -> None:
    r = sh('wf_mktemp "x; rm -rf /"')
    assert r.returncode == 2 and "not a variable name" in r.stderr
    assert leftovers(sh) == []


@pytest.mark.parametrize("fails", [False, True])
def test_wf_put_text_leaves_no_temp_file(sh: Bash, fails: bool) -> None:
    """wf_put_text in a pipeline (a subshell, as wf_sysctl uses it) and on its own."""
    owner = "$(id -un):$(id -gn)"
    put = 'wf_put() { return 1; }; ' if fails else ''
    r = sh(f'{put}printf "a\\nb\\n" | wf_put_text out1.conf 0644 {owner}\n'
           f'wf_put_text out2.conf 0640 {owner} <<<"c"', WF_SELINUX="0")
    assert leftovers(sh) == []
    if fails:
        assert r.returncode == 1
    else:
        assert r.returncode == 0, r.stderr
        assert (sh.path / "out1.conf").read_text() == "a\nb\n"
        assert (sh.path / "out2.conf").read_text() == "c\n"


# --- exit handlers -----------------------------------------------------------------------------

def test_every_exit_handler_runs_in_order_and_the_exit_status_stays(sh: Bash) -> None:
    r = sh("wf_on_exit echo first\n"
           "wf_on_exit printf '%s|' 'two words' \"it's\" '$HOME' '*'\n"
           "wf_on_exit false\n"
           "wf_on_exit echo last\n"
           "exit 3")
    assert r.returncode == 3
    assert r.stdout == "first\ntwo words|it's|$HOME|*|last\n"
    assert "exit handler failed: false" in r.stderr


def test_handlers_run_after_a_failure(sh: Bash) -> None:
    r = sh("wf_on_exit echo one; wf_on_exit echo two; false; echo not reached")
    assert (r.returncode, r.stdout) == (1, "one\ntwo\n")


def test_an_existing_exit_trap_is_kept_and_runs_first(sh: Bash) -> None:
    r = sh("wf_on_exit echo new", prelude="trap 'echo old' EXIT")
    assert (r.returncode, r.stdout) == (0, "old\nnew\n")


def test_a_cancelled_handler_does_not_run(sh: Bash) -> None:
    r = sh("wf_on_exit echo a; wf_on_exit echo b; wf_on_exit echo a; wf_cancel_exit echo a")
    assert r.stdout == "b\na\n"


def test_subshells_run_their_own_handlers_not_their_parents(sh: Bash) -> None:
    r = sh('wf_on_exit echo parent\n'
           'wf_mktemp keep\n'
           '( wf_on_exit echo child; echo in-child )\n'
           'x=$(wf_mktemp t; echo "$t"); test ! -e "$x"\n'
           'test -e "$keep"; echo parent-file-kept')
    assert r.returncode == 0, r.stderr
    assert r.stdout == "in-child\nchild\nparent-file-kept\nparent\n"
    assert leftovers(sh) == []


def test_sourcing_common_sh_sets_no_trap(sh: Bash) -> None:
    assert sh("trap -p EXIT").stdout == ""


# --- rndc freeze / thaw ------------------------------------------------------------------------

def test_zone_is_thawed_when_a_step_after_freeze_fails(sh: Bash) -> None:
    r = sh("wf_zone_freeze lab.test; false; wf_zone_thaw lab.test")
    assert r.returncode == 1
    assert rndc_calls(sh) == ["freeze lab.test", "thaw lab.test"]


def test_zone_is_thawed_once_on_success(sh: Bash) -> None:
    r = sh("wf_zone_freeze lab.test; wf_zone_freeze other.test; wf_zone_thaw lab.test; "
           "wf_zone_thaw other.test")
    assert r.returncode == 0, r.stderr
    assert rndc_calls(sh) == ["freeze lab.test", "freeze other.test", "thaw lab.test",
                              "thaw other.test"]


def test_a_zone_named_refused_to_freeze_is_not_thawed(sh: Bash) -> None:
    r = sh("if wf_zone_freeze refused.test; then echo frozen; fi; false")
    assert r.returncode == 1 and "frozen" not in r.stdout
    assert rndc_calls(sh) == ["freeze refused.test"]


# --- chapter 02-dns's dns.sh against the stubs -------------------------------------------------

ZONE = """$TTL 300
@       IN SOA  ns1.lab.test. hostmaster.lab.test. (
                1          ; serial
                3600 600 1209600 60 )
@       IN NS   ns1.lab.test.
ns1     IN A    192.0.2.1
"""


class DnsRun:
    """Runs dns.sh as the primary of zone lab.test, sourced after common.sh the way chapter.sh
    does it; every path it writes is under the test's folder."""

    def __init__(self, sh: Bash) -> None:
        self.sh, base = sh, sh.path
        files = base / "files" / "02-dns"
        (files / "zones").mkdir(parents=True)
        (files / "dns.env").write_text('WF_DNS_SERVER_ROLE=primary\nWF_DNS_KEY_NAME=xfer\n'
                                       'WF_DNS_ZONES="lab.test=fwd.zone"\n')
        (files / "tsig.key").write_text("key\n")
        (files / "named.conf").write_text("options {};\n")
        self.rendered, self.live = files / "zones" / "fwd.zone", base / "zones" / "db.lab.test"
        self.rendered.write_text(ZONE)
        text = DNS_SH.read_text()
        state = 'last="/var/lib/webfarm/02-dns/'
        assert text.count(state) == 1, "dns.sh's state folder moved: update this test"
        self.script = base / "dns.sh"
        self.script.write_text(text.replace(state, f'last="{base}/state/'))
        self.env = {
            "WF_FILES": str(base / "files"), "WF_PKG_MANAGER": "apt", "WF_PKG_DNS": "",
            "WF_FIREWALL": "none", "WF_SELINUX": "0", "WF_SVC_NAMED": "named",
            "WF_PATH_NAMED_CONF_DIR": f"{base}/etc", "WF_PATH_NAMED_CONF": f"{base}/etc/named.conf",
            "WF_PATH_NAMED_ZONE_DIR": f"{base}/zones"}

    def __call__(self, **extra: str) -> subprocess.CompletedProcess[str]:
        self.sh.log.write_text("")
        return self.sh(f'WF_PATH_NAMED_USER=$(id -un) WF_PATH_NAMED_GROUP=$(id -gn)\n'
                       f'source "{self.script}"\necho "pending:$WF_PENDING_RESTART"',
                       **self.env, **extra)


@pytest.fixture
def dns(sh: Bash) -> DnsRun:
    return DnsRun(sh)


def test_dns_sh_installs_a_zone_under_freeze_and_thaws_it(dns: DnsRun, sh: Bash) -> None:
    r = dns(NAMED_ACTIVE="1")
    assert r.returncode == 0, r.stderr
    assert rndc_calls(sh) == ["freeze lab.test", "thaw lab.test"]
    assert "; serial" in dns.live.read_text() and "  1  " not in dns.live.read_text()
    assert leftovers(sh) == []
    again = dns(NAMED_ACTIVE="1")  # same render: nothing to freeze, nothing written
    assert again.returncode == 0 and rndc_calls(sh) == []
    assert "zone lab.test" not in again.stdout


def test_dns_sh_thaws_the_zone_when_the_new_zone_fails_its_check(dns: DnsRun, sh: Bash) -> None:
    assert dns(NAMED_ACTIVE="1").returncode == 0
    before = dns.live.read_text()
    dns.rendered.write_text(ZONE + "www     IN A    192.0.2.2\n")
    r = dns(NAMED_ACTIVE="1", CHECKZONE_RC="1")
    assert r.returncode == 1
    assert rndc_calls(sh) == ["freeze lab.test", "thaw lab.test"]
    assert dns.live.read_text() == before
    assert leftovers(sh) == []


def test_dns_sh_without_named_freezes_nothing_and_restarts_named(dns: DnsRun, sh: Bash) -> None:
    r = dns(NAMED_ACTIVE="0")
    assert r.returncode == 0, r.stderr
    assert rndc_calls(sh) == []
    assert "pending: named\n" in r.stdout  # named starts with the new zone
    assert leftovers(sh) == []
