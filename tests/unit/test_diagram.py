"""The topology diagrams (webfarm/diagram.py): well-formed SVG showing every host and VIP of
each profile, the front/DB separation as the lab has it, nothing overlapping, every text from
lab.yml escaped, the same bytes for the same lab, and the committed copies up to date."""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from webfarm import chapters, diagram, topology

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "lab.yml"
NS = {"s": "http://www.w3.org/2000/svg"}
PROFILES = ("full", "mini")


@pytest.fixture(params=PROFILES)
def lab(request: pytest.FixtureRequest) -> topology.Lab:
    return topology.load(FIXTURE, request.param)


def _tree(text: str) -> ET.Element:
    return ET.fromstring(text)


def _all(root: ET.Element, path: str) -> list[ET.Element]:
    return root.findall(path, NS)


def test_well_formed_and_accessible(lab: topology.Lab) -> None:
    for text in (diagram.svg(lab), diagram.svg(lab, {"lb1"}, "a title")):
        root = _tree(text)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert root.get("role") == "img" and root.get("viewBox", "").startswith("0 0 ")
        title, desc = root.find("s:title", NS), root.find("s:desc", NS)
        assert title is not None and title.text and desc is not None and desc.text
        assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
        sizes = [int(t.get("font-size", "0")) for t in root.iter(f"{{{NS['s']}}}text")]
        assert sizes and min(sizes) >= 12, "text too small to read"
        assert "<script" not in text and "href" not in text, "no script, no external reference"


def test_every_host_and_vip_appears(lab: topology.Lab) -> None:
    root = _tree(diagram.svg(lab))
    hosts = {g.get("data-host") for g in _all(root, ".//s:g[@class='host']")}
    assert hosts == set(lab.hosts)
    vips = {g.get("data-vip") for g in _all(root, ".//s:g[@class='vip']")}
    assert vips == set(lab.vips)
    texts = "\n".join("".join(t.itertext()) for t in root.iter(f"{{{NS['s']}}}text"))
    for h in lab.hosts.values():
        assert h.name in texts
        for address in h.addresses.values():
            assert str(address) in texts
    for v in lab.vips.values():
        assert f"{v.address}:{v.port}" in texts
        holders = "/".join(h.name for h in lab.hosts_with(v.holder))
        assert f"held by {holders}" in texts
    for n in lab.networks.values():
        assert n.name in texts and str(n.cidr) in texts


def test_hosts_touch_only_the_buses_of_their_networks(lab: topology.Lab) -> None:
    """A DB-only host has no line to the front bus, a front-only host none to the db bus,
    and each line ends on its own bus without crossing the other."""
    root = _tree(diagram.svg(lab))
    bus_y = {b.get("data-network"): float(b.get("y1", "nan"))
             for b in _all(root, ".//s:line[@class='bus']")}
    assert set(bus_y) == {"front", "db"} and bus_y["front"] < bus_y["db"]
    links: dict[str, list[ET.Element]] = {}
    for line in _all(root, ".//s:line[@class='link']"):
        links.setdefault(line.get("data-host", ""), []).append(line)
    for h in lab.hosts.values():
        assert {ln.get("data-network") for ln in links.get(h.name, [])} == set(h.addresses)
        for ln in links[h.name]:
            ys = sorted(float(ln.get(k, "nan")) for k in ("y1", "y2"))
            own = bus_y[ln.get("data-network", "")]
            assert own in ys
            other = [y for net, y in bus_y.items() if net != ln.get("data-network")]
            assert not any(ys[0] < y < ys[1] for y in other), f"{h.name} crosses a bus"
    db_only = [h for h in lab.hosts.values() if set(h.addresses) == {"db"}]
    front_only = [h for h in lab.hosts.values() if set(h.addresses) == {"front"}]
    assert db_only and front_only  # both profiles have both kinds


def test_nothing_overlaps_and_every_text_fits(lab: topology.Lab) -> None:
    lay = diagram.layout(lab)
    canvas = diagram.Rect(0, 0, lay.width, lay.height)
    boxes = [b.rect for b in lay.hosts]
    pills = [p.rect for p in lay.vips]
    for a, b in itertools.combinations(boxes + pills, 2):
        assert not a.intersects(b), (a, b)
    for box in lay.hosts:
        assert canvas.contains(box.rect)
        for t in box.texts:
            inner = dataclasses.replace(box.rect, x=box.rect.x + 4, w=box.rect.w - 8)
            assert inner.contains(t.extent), f"{box.host.name}: {t.text!r} overflows its box"
    for pill in lay.vips:
        assert canvas.contains(pill.rect)
        for t in pill.texts:  # clear of the rounded ends
            inner = dataclasses.replace(pill.rect, x=pill.rect.x + 10, w=pill.rect.w - 20)
            assert inner.contains(t.extent), f"{pill.vip.name}: {t.text!r} overflows its pill"
    for bus in lay.buses:
        for t in bus.texts:
            assert canvas.contains(t.extent)
            assert not any(t.extent.intersects(r) for r in boxes + pills), t.text
            xs = [x for b in lay.hosts for net, x, _, _ in b.links if net == bus.network.name]
            assert all(x > t.extent.right for x in xs), "a connector crosses a bus label"


def test_connectors_of_different_rows_never_meet_on_a_bus(lab: topology.Lab) -> None:
    """Otherwise a front-only host's line would seem to run on through the bus into the box
    below it."""
    lay = diagram.layout(lab)
    for bus in lay.buses:
        ends = [(b.row, x) for b in lay.hosts for net, x, _, _ in b.links
                if net == bus.network.name]
        for (r1, x1), (r2, x2) in itertools.combinations(ends, 2):
            if r1 != r2:
                assert abs(x1 - x2) >= 20, (bus.network.name, x1, x2)


def test_vips_sit_by_their_holders(lab: topology.Lab) -> None:
    lay = diagram.layout(lab)
    rows = {b.host.name: b for b in lay.hosts}
    for pill in lay.vips:
        held = [rows[h] for h in pill.holders]
        assert held and pill.holders == [h.name for h in lab.hosts_with(pill.vip.holder)]
        if all(b.row == 0 for b in held):  # above the pair (www, media: the directors)
            assert pill.rect.bottom < min(b.rect.y for b in held)
        else:  # below it (db: the DB balancers)
            assert pill.rect.y > max(b.rect.bottom for b in held)
        centre = pill.rect.x + pill.rect.w / 2
        assert min(b.rect.x for b in held) - pill.rect.w <= centre
        assert centre <= max(b.rect.right for b in held) + pill.rect.w


def test_left_to_right_by_role(lab: topology.Lab) -> None:
    lay = diagram.layout(lab)
    for row in range(3):
        names = [b.host.name for b in sorted(lay.hosts, key=lambda b: b.rect.x) if b.row == row]
        ranks = [diagram._rank(lab.hosts[n]) for n in names]
        assert ranks == sorted(ranks), names
    client = next(b for b in lay.hosts if "client" in b.host.roles)
    assert client.rect.x == min(b.rect.x for b in lay.hosts if b.row == client.row)


def test_highlight_accents_the_chosen_and_greys_the_rest(lab: topology.Lab) -> None:
    chapter = chapters.get(4)
    chosen = {h.name for h in chapter.hosts(lab)}
    root = _tree(diagram.svg(lab, chosen))
    marked = {g.get("data-host") for g in _all(root, ".//s:g[@class='host']")
              if g.get("data-highlight") == "yes"}
    assert marked == chosen
    for g in _all(root, ".//s:g[@class='host']"):
        rect = g.find("s:rect", NS)
        assert rect is not None
        if g.get("data-host") in chosen:
            assert rect.get("stroke") == diagram.ACCENT
        else:
            assert rect.get("fill") == diagram.GREY_FILL
    plain = _tree(diagram.svg(lab))
    assert all(g.get("data-highlight") == "no" for g in _all(plain, ".//s:g[@class='host']"))


def test_deterministic(lab: topology.Lab) -> None:
    again = topology.load(FIXTURE, lab.profile)
    assert diagram.svg(lab) == diagram.svg(again)
    names = list(lab.hosts)[:4]
    assert diagram.svg(lab, set(names)) == diagram.svg(again, frozenset(reversed(names)))
    assert diagram.svg(lab, names) == diagram.svg(lab, list(reversed(names)))


HOSTILE = "<script>alert(1)</script> & ]]> --> &amp; <!-- <![CDATA[ x"  # no quotes: refused


def test_lab_text_is_escaped() -> None:
    text = FIXTURE.read_text(encoding="utf-8").replace(
        "description: public side, where visitors and the directors live",
        f"description: '{HOSTILE}'", 1)
    lab = topology.parse(text, FIXTURE, "mini")
    assert lab.networks["front"].description == HOSTILE
    out = diagram.svg(lab, {"lb1"}, title=HOSTILE)
    assert "<script>" not in out
    root = _tree(out)
    desc = root.find("s:desc", NS)
    title = root.find("s:title", NS)
    assert desc is not None and HOSTILE in (desc.text or "")
    assert title is not None and title.text == HOSTILE


def test_odd_host_and_vip_names_are_escaped() -> None:
    """Names lab.yml's grammar refuses, given straight to the model: still well-formed."""
    lab = topology.load(FIXTURE, "mini")
    odd = '<b a="1">&x\'</b>'
    hosts = {(odd if name == "app1" else name): dataclasses.replace(h, name=odd)
             if name == "app1" else h for name, h in lab.hosts.items()}
    vips = {(odd if name == "www" else name): dataclasses.replace(v, name=odd)
            if name == "www" else v
            for name, v in lab.vips.items()}
    odd_lab = dataclasses.replace(lab, hosts=hosts, vips=vips, name=odd)
    root = _tree(diagram.svg(odd_lab, {odd}))
    assert odd in {g.get("data-host") for g in _all(root, ".//s:g[@class='host']")}
    assert odd in {g.get("data-vip") for g in _all(root, ".//s:g[@class='vip']")}
    assert root.get("data-lab") == odd
    assert odd in ["".join(t.itertext()) for t in root.iter(f"{{{NS['s']}}}text")]


def test_docs_files_per_profile_and_chapter() -> None:
    files = diagram.docs_files(FIXTURE)
    for profile in PROFILES:
        assert f"diagrams/topology-{profile}.svg" in files
        for c in chapters.CHAPTERS:
            text = files[f"diagrams/{diagram.chapter_file(profile, c.number)}"]
            assert f"Chapter {c.tag}" in text
            _tree(text)
    figure = diagram.chapter_figure(4, FIXTURE)
    assert figure.index('=== "mini"') < figure.index('=== "full"')  # smallest first
    assert "](../diagrams/topology-full-04.svg)" in figure


def test_chapter_pages_show_their_diagram(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBFARM_DOCS_LAB", str(FIXTURE))
    spec = importlib.util.spec_from_file_location("webfarm_docs_hook_diagram",
                                                  ROOT / "docs" / "hooks" / "webfarm_docs.py")
    assert spec and spec.loader
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    chapter = chapters.get(4)
    page = SimpleNamespace(file=SimpleNamespace(src_uri=f"chapters/{chapter.slug}.md"))
    out = hook.on_page_markdown(chapter.page.read_text(encoding="utf-8"), page=page)
    box = out.index("This chapter's files")
    shown = out.index("(../diagrams/topology-full-04.svg)")
    assert box < shown < out.index("\n## "), "the diagram sits near the top, after the box"


def test_home_page_shows_every_profile() -> None:
    home = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    for profile in PROFILES:
        assert f"(diagrams/topology-{profile}.svg)" in home


def test_committed_diagrams_are_up_to_date() -> None:
    """docs/assets/topology-PROFILE.svg (the README's) are what lab.yml draws now."""
    stale = diagram.committed_drift(ROOT / "lab.yml", ROOT / "docs" / "assets")
    assert not stale, f"stale: {', '.join(stale)}. Fix: invoke render, then commit them"


def test_drift_is_noticed(tmp_path: Path) -> None:
    for path, text in diagram.committed(FIXTURE, tmp_path).items():
        path.write_text(text, encoding="utf-8")
    assert diagram.committed_drift(FIXTURE, tmp_path) == []
    (tmp_path / "topology-mini.svg").write_text("<svg/>", encoding="utf-8")
    (tmp_path / "topology-full.svg").unlink()
    assert len(diagram.committed_drift(FIXTURE, tmp_path)) == 2
