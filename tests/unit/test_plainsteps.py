"""The "Type it yourself" steps (webfarm/plainsteps.py): every helper call of every chapter
script has a translation (or is knowingly shown as written), the steps carry the rendered
files and the OS table's names, never a real secret, and come out the same every time."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from webfarm import chapters, plainsteps, topology
from webfarm import secrets as lab_secrets
from webfarm.topology import Lab

ROOT = Path(__file__).resolve().parents[2]
LAB_FILE = ROOT / "tests" / "fixtures" / "lab.yml"
RAW = yaml.safe_load(LAB_FILE.read_text(encoding="utf-8"))
KNOWN = plainsteps.TRANSLATED | plainsteps.SILENT | plainsteps.SHOWN_AS_IS


def _lab(os_name: str | None = None, profile: str | None = None) -> Lab:
    raw = copy.deepcopy(RAW)
    if os_name:
        raw["lab"]["os"] = os_name
    return topology.build(raw, str(LAB_FILE), profile)


@pytest.fixture(scope="module")
def lab() -> Lab:
    return _lab()


@pytest.fixture(scope="module")
def el9() -> Lab:
    return _lab("almalinux9")


def _director(lab: Lab, secrets: dict[str, str] | None = None) -> str:
    chapter = chapters.get(4)
    host = lab.hosts_with("director")[0]
    return plainsteps.steps(lab, chapter, "director", host, secrets)


def test_every_helper_has_a_decision() -> None:
    defined = set(re.findall(r"^(wf_\w+)\(\)", plainsteps.COMMON.read_text(), re.M))
    assert defined, "no helper found in common.sh"
    missing = defined - KNOWN
    assert not missing, (f"helpers of common.sh with no plain-steps translation: {missing}; "
                         "add them to TRANSLATED (with a method) or SHOWN_AS_IS")
    groups = [plainsteps.TRANSLATED, plainsteps.SILENT, plainsteps.SHOWN_AS_IS]
    assert sum(len(g) for g in groups) == len(KNOWN), "a helper is in two groups"
    for name in plainsteps.TRANSLATED - {"wf_has_role", "wf_on_network"}:
        assert hasattr(plainsteps.Translator, name), f"{name} has no translation method"


@pytest.mark.parametrize("script", sorted((ROOT / "provision").glob("[0-9]*/*.sh")),
                         ids=lambda p: p.relative_to(ROOT / "provision").as_posix())
def test_every_helper_call_of_the_scripts_is_known(script: Path) -> None:
    calls = set(re.findall(r"\b(wf_\w+)\b", script.read_text(encoding="utf-8")))
    assert calls - KNOWN == set()


@pytest.mark.parametrize("chapter", chapters.CHAPTERS, ids=lambda c: c.slug)
@pytest.mark.parametrize("variant", ["debian12", "almalinux9"])
def test_every_block_translates(chapter: chapters.Chapter, variant: str,
                                lab: Lab, el9: Lab) -> None:
    use = lab if variant == "debian12" else el9
    found = plainsteps.blocks(use, chapter)
    assert found, f"{chapter.slug}: no block"
    for role, host in found:
        text = plainsteps.steps(use, chapter, role, host)
        assert text.strip()
        assert "$WF_" not in text, "an env.sh variable was left unexpanded"
        # every heredoc is closed
        opened = re.findall(r"<<'(EOF\d*)'$", text, re.M)
        for delim in opened:
            assert re.search(rf"^{delim}$", text, re.M)


def test_director_debian(lab: Lab) -> None:
    text = _director(lab)
    assert re.search(r"^sudo apt-get install -y .*\bkeepalived\b.*\bipvsadm\b", text, re.M)
    assert "dnf" not in text
    rendered = plainsteps.host_files(lab, lab.hosts_with("director")[0])
    conf = rendered["04-lvs/keepalived.conf"]
    assert "/etc/keepalived/keepalived.conf <<'EOF'\n" + conf + "EOF\n" in text
    assert "sudo systemctl enable --now keepalived" in text
    assert "net.ipv4.vs.expire_nodest_conn = 1" in text
    assert "sudo sysctl -w net.ipv4.vs.expire_nodest_conn=1" in text
    assert "sudo modprobe ip_vs" in text
    # firewalld is EL9's: on Debian only a comment
    assert all(line.lstrip().startswith("#") for line in text.splitlines()
               if "firewall-cmd" in line)


def test_director_el9(el9: Lab) -> None:
    text = _director(el9)
    assert re.search(r"^sudo dnf install -y .*\bkeepalived\b", text, re.M)
    assert "apt-get" not in text
    assert "sudo firewall-cmd --permanent --add-rich-rule='rule protocol value=\"vrrp\" accept'" \
        in text
    assert "sudo firewall-cmd --permanent --add-port=8848/udp" in text
    assert "sudo firewall-cmd --reload" in text


def test_no_real_secret(lab: Lab) -> None:
    """Secrets appear as placeholders; the lab's own .lab/secrets.yml (if any) never shows."""
    real = set(lab_secrets.read().values()) if lab_secrets.DEFAULT.exists() else set()
    fake = {name: (f"zz{i:06d}" if "vrrp" in name else f"Fake-secret-{name}")
            for i, name in enumerate(lab_secrets.GENERATORS)}
    seen: set[str] = set()
    for chapter in chapters.CHAPTERS:
        for role, host in plainsteps.blocks(lab, chapter):
            text = plainsteps.steps(lab, chapter, role, host)
            assert not [v for v in real | set(fake.values()) if v in text]
            seen |= set(re.findall(r"<(\w+) from \.lab/secrets\.yml>", text))
    # every secret a template writes into a file shows as its placeholder somewhere
    assert {"vrrp_auth", "vrrp_auth_dblb", "tsig_key", "db_app_password",
            "db_monitor_password", "nagios_admin_password"} <= seen
    # the placeholders are the default: real values would show only if passed explicitly
    assert fake["vrrp_auth"] in _director(lab, fake)


def test_deterministic(lab: Lab) -> None:
    for chapter in chapters.CHAPTERS:
        for role, host in plainsteps.blocks(lab, chapter):
            first = plainsteps.steps(lab, chapter, role, host)
            assert plainsteps.steps(lab, chapter, role, host) == first
    assert plainsteps.section(lab, chapters.get(4)) == plainsteps.section(lab, chapters.get(4))


def test_known_conditions_keep_one_branch(lab: Lab) -> None:
    chapter = chapters.get(5)
    host = next(h for h in lab.hosts_with("db_data"))
    text = plainsteps.steps(lab, chapter, "db_data", host)
    assert "ndb" not in text.lower().replace("ndb_", ""), "the NDB branch of a Galera lab"
    assert "sudo galera_new_cluster" in text or "mariadb" in text


def test_page_section_placement(lab: Lab) -> None:
    page = ("# 4. LVS\n\n## Run it\n\n```bash\n--8<-- \"provision/04-lvs/director.sh\"\n```\n\n"
            "### Differences on EL9\n\ntext\n")
    out = plainsteps.page_section(page, "chapters/04-lvs.md", LAB_FILE)
    before, _, after = out.partition("### Type it yourself")
    assert "director.sh" in before and "### Differences on EL9" in after
    assert '??? example "director on ' in after
    # a script embedded in a folded note: after the note
    folded = ("## Run it\n\n??? note \"monitor.sh\"\n\n    ```bash\n"
              "    --8<-- \"provision/08-monitor/monitor.sh\"\n    ```\n\nNext paragraph.\n")
    out = plainsteps.page_section(folded, "chapters/08-monitor.md", LAB_FILE)
    assert out.index("```\n") < out.index("### Type it yourself") < out.index("Next paragraph")
    # no embed: before the checks
    plain = "# 1\n\n## Verify\n\nx\n\n## The checks\n\ny\n"
    out = plainsteps.page_section(plain, "chapters/01-base.md", LAB_FILE)
    assert out.index("## Type it yourself") < out.index("## The checks")
    assert plainsteps.page_section("x", "index.md", LAB_FILE) == "x"


def test_long_files_fold_on_their_own_in_order(lab: Lab) -> None:
    """A file longer than FOLD_LINES gets a folded note of its own, between the commands
    around it; short files stay inline; nothing is lost or reordered."""
    chapter = chapters.get(2)
    host = lab.hosts_with("dns")[0]
    body = plainsteps.steps(lab, chapter, "dns", host)
    cut = plainsteps.parts(body)
    kinds = [kind for kind, _ in cut]
    assert "/etc/bind/named.conf" in kinds  # the long config: folded
    assert not any(k.endswith(".key") for k in kinds)  # the short key file: inline
    for kind, text in cut:
        if kind != "code":
            assert text.startswith("sudo install") and text.rstrip("\n").endswith("EOF")
            assert text.count("\n") - 2 > plainsteps.FOLD_LINES

    def lines(text: str) -> list[str]:
        return [line for line in text.split("\n") if line.strip()]
    assert lines("\n".join(text for _, text in cut)) == lines(body)
    # on the page: a note nested in the role's block, titled with the file and its size
    page = plainsteps.section(lab, chapter)
    size = next(t for k, t in cut if k == "/etc/bind/named.conf").count("\n") - 2
    assert f'    ??? note "/etc/bind/named.conf ({size} lines)"' in page
    assert "        sudo install -D -m 0640 -o root -g bind /dev/stdin /etc/bind/named.conf" \
        in page
    assert plainsteps.parts("a\nb\n") == [("code", "a\nb\n")]
