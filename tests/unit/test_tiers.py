"""The scale rule of lab.yml (webfarm.tiers): ranges, new hosts' names and addresses, and
every refusal with its key and fix. The data is the test fixture's (tests/fixtures/lab.yml)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pytest

from webfarm import render, tiers, topology
from webfarm.topology import LabFileError

A = ipaddress.IPv4Address


def grown(data: dict[str, Any], profile: str, **counts: int) -> topology.Lab:
    data["profiles"][profile]["scale"] = counts
    return topology.build(data, "lab.yml", profile)


# -- pure parts ---------------------------------------------------------------------------------


def test_parse_range() -> None:
    rng = tiers.parse_range("192.168.56.41-192.168.56.43")
    assert (rng.first, rng.last, len(rng), str(rng)) == (
        A("192.168.56.41"), A("192.168.56.43"), 3, "192.168.56.41-192.168.56.43")
    assert list(rng) == [A("192.168.56.41"), A("192.168.56.42"), A("192.168.56.43")]
    assert A("192.168.56.42") in rng and A("192.168.56.44") not in rng
    assert tiers.parse_range(" 10.0.0.5 - 10.0.0.5 ").first == A("10.0.0.5")


@pytest.mark.parametrize(("text", "says"), [
    ("192.168.56.41", "two addresses joined by '-'"),
    ("192.168.56.49-192.168.56.41", "ends (192.168.56.41) before it starts"),
    ("192.168.56.41-192.168.56.300", "two IPv4 addresses"),
    (41, "two addresses joined by '-'"),
    ("192.168.56.0/24", "two addresses joined by '-'"),
])
def test_parse_range_refuses(text: Any, says: str) -> None:
    with pytest.raises(ValueError, match=says.replace("(", r"\(").replace(")", r"\)")):
        tiers.parse_range(text)


def test_lowest_free_skips_used_addresses_and_stops_when_it_runs_out() -> None:
    rng = tiers.parse_range("10.0.0.1-10.0.0.5")
    used = [A("10.0.0.1"), A("10.0.0.3")]
    assert tiers.lowest_free(rng, used, 2) == [A("10.0.0.2"), A("10.0.0.4")]
    assert tiers.lowest_free(rng, used, 9) == [A("10.0.0.2"), A("10.0.0.4"), A("10.0.0.5")]


def test_overlaps() -> None:
    a, b = tiers.parse_range("10.0.0.1-10.0.0.5"), tiers.parse_range("10.0.0.5-10.0.0.9")
    assert a.overlaps(b) and b.overlaps(a)
    assert not a.overlaps(tiers.parse_range("10.0.0.6-10.0.0.9"))


@pytest.mark.parametrize(("names", "want"), [
    (["app1", "app2"], ("app", 2)), (["db1", "db2", "db7"], ("db", 7)),
    (["media-01", "media-02"], ("media-", 2)), (["app1", "web2"], None), (["app"], None),
    (["1app"], None), ([], None),
])
def test_name_pattern(names: list[str], want: tuple[str, int] | None) -> None:
    assert tiers.name_pattern(names) == want


def test_new_names_skip_taken_ones() -> None:
    assert tiers.new_names("app", 2, 3, ["app4"]) == ["app3", "app5", "app6"]


def test_roles_that_cannot_scale_say_why() -> None:
    assert set(tiers.CANNOT_SCALE) == {"director", "db_mgmt", "monitor", "client"}
    assert set(tiers.SCALABLE) == {"dns", "app", "media", "dblb", "db_data", "db_sql"}


# -- the lab model -------------------------------------------------------------------------------


def test_the_committed_count_adds_nothing(data: dict[str, Any]) -> None:
    lab = topology.build(data, "lab.yml", "mini")
    assert not any(h.scaled for h in lab.hosts.values())
    assert len(lab.hosts) == 8


def test_a_new_app_host_copies_the_tier_and_takes_the_lowest_free_addresses(
        data: dict[str, Any]) -> None:
    lab = grown(data, "mini", app=4)
    app3, app4 = lab.hosts["app3"], lab.hosts["app4"]
    app1 = lab.hosts["app1"]
    assert app3.scaled and app4.scaled and not app1.scaled
    assert app3.roles == app1.roles == ("app", "media")
    assert (app3.memory, app3.cpus, app3.os) == (app1.memory, app1.cpus, app1.os)
    assert app3.addresses == {"front": A("192.168.56.43"), "db": A("192.168.57.43")}
    assert app4.addresses == {"front": A("192.168.56.44"), "db": A("192.168.57.44")}
    assert list(app3.addresses) == list(app1.addresses)  # eth1 front, eth2 db as app1
    # right after the tier, so lab.yml order (primary first) is kept
    assert list(lab.hosts)[:6] == ["lb1", "lb2", "app1", "app2", "app3", "app4"]
    assert [h.name for h in lab.hosts_with("app")] == ["app1", "app2", "app3", "app4"]


def test_a_new_host_keeps_its_address_when_the_tier_grows_again(data: dict[str, Any]) -> None:
    three = grown(data, "mini", app=3).hosts["app3"]
    five = grown(data, "mini", app=5).hosts["app3"]
    assert three == five


def test_addresses_used_by_any_host_are_skipped(data: dict[str, Any]) -> None:
    data["profiles"]["full"]["hosts"]["app2"]["networks"]["front"] = "192.168.56.43"
    lab = grown(data, "full", app=3)
    assert lab.hosts["app3"].addresses["front"] == A("192.168.56.42")


def test_a_db_tier_grows_with_the_roles_of_its_hosts(data: dict[str, Any]) -> None:
    lab = grown(data, "mini", db_sql=3)
    db3 = lab.hosts["db3"]
    assert db3.roles == ("dblb", "db_data", "db_sql")
    assert db3.addresses == {"db": A("192.168.57.61")}  # the scaled role's range
    full = grown(data, "full", db_sql=3)
    assert full.hosts["sql3"].addresses == {"db": A("192.168.57.63")}


def test_the_vagrantfile_lists_the_new_hosts(data: dict[str, Any]) -> None:
    lab = grown(data, "mini", app=3)
    rows = render.vagrant_data(lab, {"mini": lab})["profiles"]["mini"]
    row = next(r for r in rows if r["name"] == "app3")
    assert row["networks"] == [["front", "192.168.56.43", "255.255.255.0"],
                               ["db", "192.168.57.43", "255.255.255.0"]]
    assert "07-app" in row["chapters"]


# -- refusals ------------------------------------------------------------------------------------


Refusal = Callable[[dict[str, Any]], None]


def _range(role: str, **nets: str) -> Refusal:
    def mutate(d: dict[str, Any]) -> None:
        d["roles"][role]["range"] = nets
    return mutate


def _scale(profile: str, **counts: Any) -> Refusal:
    def mutate(d: dict[str, Any]) -> None:
        d["profiles"][profile]["scale"] = counts
    return mutate


def _both(*mutations: Refusal) -> Refusal:
    def mutate(d: dict[str, Any]) -> None:
        for m in mutations:
            m(d)
    return mutate


def _host(profile: str, name: str, net: str, address: str) -> Refusal:
    def mutate(d: dict[str, Any]) -> None:
        d["profiles"][profile]["hosts"][name]["networks"][net] = address
    return mutate


REFUSALS: list[tuple[str, Refusal, str, str, str]] = [
    # (id, mutation, key, what the message says, what the fix says)
    ("range-outside-network", _range("app", front="192.168.57.41-192.168.57.49"),
     "roles.app.range.front", "is outside network front", "pick a range inside"),
    ("range-not-a-range", _range("app", front="192.168.56.41"),
     "roles.app.range.front", "two addresses joined by '-'", "write it like"),
    ("range-backwards", _range("media", front="192.168.56.59-192.168.56.51"),
     "roles.media.range.front", "before it starts", "write it like"),
    ("range-unknown-network", _range("media", back="192.168.56.51-192.168.56.59"),
     "roles.media.range.back", "unknown network 'back'", "use one of: front, db"),
    ("range-overlaps-another-role", _range("media", front="192.168.56.49-192.168.56.59"),
     "roles.media.range.front", "overlaps roles.app.range.front", "must not overlap"),
    ("range-holds-a-vip", _range("media", front="192.168.56.10-192.168.56.19"),
     "roles.media.range.front", "the address of VIP www", "keep them out of every range"),
    ("range-holds-the-gateway", _range("media", front="192.168.56.1-192.168.56.9"),
     "roles.media.range.front", "host-side (.1) address", "start the range after it"),
    ("range-of-a-pair-that-cannot-scale", _range("director", front="192.168.56.23-192.168.56.29"),
     "roles.director.range", "role director cannot scale: the directors are one "
     "active/standby pair", "remove range from roles.director"),
    ("range-over-a-foreign-host", _range("media", front="192.168.56.91-192.168.56.99"),
     "profiles.full.hosts.mon1.networks.front", "inside roles.media.range.front",
     "give mon1 an address outside"),
    ("range-runs-out", _both(_range("app", front="192.168.56.41-192.168.56.43",
                                    db="192.168.57.41-192.168.57.49"), _scale("mini", app=4)),
     "profiles.mini.scale.app", "need 2 new address(es) on front but "
     "roles.app.range.front (192.168.56.41-192.168.56.43) has only 1 free",
     "widen roles.app.range.front, or lower the count"),
    ("range-missing-a-network", _both(_range("app", front="192.168.56.41-192.168.56.49"),
                                      _scale("mini", app=3)),
     "profiles.mini.scale.app", "roles.app.range has no db range", "add db: FIRST-LAST"),
    ("count-below-the-pair", _scale("mini", app=1), "profiles.mini.scale.app",
     "the app tier is a redundant pair", "keep at least 2"),
    ("count-below-the-listed-hosts", _both(
        _host("full", "app2", "front", "192.168.56.42"),
        lambda d: d["profiles"]["full"]["hosts"].update(
            app3={"roles": ["app"], "networks": {"front": "192.168.56.43",
                                                  "db": "192.168.57.43"}}),
        _scale("full", app=2)),
     "profiles.full.scale.app", "fewer than the 3 app hosts listed",
     "use a count of at least 3"),
    ("count-not-a-number", _scale("mini", app="three"), "profiles.mini.scale.app",
     "not a whole number", "use a number between 1 and 32"),
    ("count-too-large", _scale("mini", app=99), "profiles.mini.scale.app",
     "not a whole number from 1 to 32", "use a number between 1 and 32"),
    ("director-cannot-scale", _scale("full", director=3), "profiles.full.scale.director",
     "role director cannot scale", "remove director here"),
    ("monitor-cannot-scale", _scale("full", monitor=2), "profiles.full.scale.monitor",
     "one Nagios watches the whole farm", "remove monitor here"),
    ("db-mgmt-cannot-scale", _scale("full", db_mgmt=2), "profiles.full.scale.db_mgmt",
     "exactly one management node", "remove db_mgmt here"),
    ("client-cannot-scale", _scale("full", client=2), "profiles.full.scale.client",
     "the client is the test visitor", "remove client here"),
    ("dns-rides-on-the-directors", _scale("mini", dns=3), "profiles.mini.scale.dns",
     "the dns hosts (lb1, lb2) also carry director, and role director cannot scale",
     "move dns to hosts of its own"),
    ("same-tier-twice", _scale("mini", db_data=3, db_sql=3), "profiles.mini.scale.db_sql",
     "db_sql and db_data are the same hosts (db1, db2)", "scale only one of them (db_data)"),
    ("unknown-role", _scale("mini", web=3), "profiles.mini.scale.web", "unknown role 'web'",
     "scale one of the roles that can grow"),
    ("tier-not-numbered", lambda d: (d["profiles"]["full"]["hosts"].update(
        web={**d["profiles"]["full"]["hosts"].pop("app2")}),
        d["profiles"]["full"].update(scale={"app": 3})),
     "profiles.full.scale.app", "not named NAME + number", "name them like app1, app2"),
    ("scale-not-a-mapping", lambda d: d["profiles"]["mini"].update(scale=[3]),
     "profiles.mini.scale", "expected a mapping", "write it as"),
]


@pytest.mark.parametrize(("mutate", "key", "says", "fix"), [r[1:] for r in REFUSALS],
                         ids=[r[0] for r in REFUSALS])
def test_refusal(data: dict[str, Any], fails: Callable[..., LabFileError],
                 line_for: Callable[[LabFileError, str], str], mutate: Refusal, key: str,
                 says: str, fix: str) -> None:
    mutate(data)
    err = fails(data)
    line = line_for(err, key)
    assert says in line, line
    assert fix in line.split("Fix: ", 1)[1], line


def test_a_refusal_in_another_profile_is_reported_too(
        data: dict[str, Any], fails: Callable[..., LabFileError]) -> None:
    data["profiles"]["full"]["scale"] = {"app": 1}
    err = fails(data, "mini")
    assert "profiles.full.scale.app" in str(err)


def test_a_galera_tier_of_two_without_arbiter_is_still_refused_after_scaling(
        data: dict[str, Any], fails: Callable[..., LabFileError]) -> None:
    """The profile's own rules judge the grown tier: 4 Galera nodes need garbd."""
    data["profiles"]["full"]["hosts"].pop("mgm1")
    data["profiles"]["full"]["scale"] = {"db_sql": 3}  # data1, data2, sql1..3: 5 nodes
    topology.build(data, "lab.yml", "full")
    data["profiles"]["full"]["scale"] = {"db_sql": 4}  # 6 nodes, no arbitrator
    err = fails(data, "full")
    assert "6 Galera nodes" in str(err)
