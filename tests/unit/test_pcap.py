"""The pcap reader and the LVS-DR analyser (webfarm/pcap.py) on captures built here with
struct, and the option checks and guest script of ``invoke capture`` (webfarm/capture.py).
No VM: the guest script runs locally against a fake tcpdump."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from webfarm import capture, pcap
from webfarm.args import UserError

# lab-like names; addresses from the documentation ranges would do as well
VIP, CLIENT, REAL = "192.0.2.10", "192.0.2.50", "192.0.2.41"
DIRECTOR_MAC, REAL_MAC, CLIENT_MAC = "52:54:00:00:00:21", "52:54:00:00:00:41", "52:54:00:00:00:50"
OWNERS = {DIRECTOR_MAC: "lb1 (director)", REAL_MAC: "app1 (real server)",
          CLIENT_MAC: "client1 (client)"}
SYN, SYNACK, ACK = 0x02, 0x12, 0x10


def frame(eth_src: str, eth_dst: str, ip_src: str, ip_dst: str, sport: int, dport: int,
          flags: int, vlan: bool = False) -> bytes:
    """Ethernet + IPv4 (20 bytes) + TCP (20 bytes), as the wire has them."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, 5 << 4, flags, 64240, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0x4000, 64, 6, 0,
                     IPv4Address(ip_src).packed, IPv4Address(ip_dst).packed)
    tag = struct.pack("!HH", 0x8100, 7) if vlan else b""
    return (bytes.fromhex(eth_dst.replace(":", "")) + bytes.fromhex(eth_src.replace(":", ""))
            + tag + struct.pack("!H", 0x0800) + ip + tcp)


def pcap_file(frames: list[bytes], order: str = "<", nano: bool = False,
              linktype: int = 1, t0: int = 1_790_000_000) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)
    for i, f in enumerate(frames):
        out += struct.pack(order + "IIII", t0 + i, 250_000 * (1000 if nano else 1), len(f),
                           len(f)) + f
    return out


def dr_frames() -> list[bytes]:
    """What app1 sees in direct routing: the SYN from the director's MAC to the VIP, the
    SYN-ACK from the VIP straight to the client's MAC."""
    return [frame(DIRECTOR_MAC, REAL_MAC, CLIENT, VIP, 40000, 80, SYN),
            frame(REAL_MAC, CLIENT_MAC, VIP, CLIENT, 80, 40000, SYNACK),
            frame(DIRECTOR_MAC, REAL_MAC, CLIENT, VIP, 40000, 80, ACK)]


def nat_frames() -> list[bytes]:
    """What a real server sees behind a NAT director: the SYN rewritten to its own address,
    the SYN-ACK from its own address back to the director (its gateway)."""
    return [frame(DIRECTOR_MAC, REAL_MAC, CLIENT, REAL, 40001, 80, SYN),
            frame(REAL_MAC, DIRECTOR_MAC, REAL, CLIENT, 80, 40001, SYNACK)]


def analyse(frames: list[bytes], clients: tuple[str, ...] = (CLIENT_MAC,)) -> pcap.DrReport:
    return pcap.find_dr(pcap.parse(pcap_file(frames)), VIP, 80, [DIRECTOR_MAC], OWNERS, clients)


# ---------------------------------------------------------------------------------------------
# The reader


def test_reader_decodes_ethernet_ip_tcp_and_time() -> None:
    packets = pcap.parse(pcap_file(dr_frames()))
    assert len(packets) == 3
    syn, synack = packets[0], packets[1]
    assert (syn.eth_src, syn.eth_dst, syn.ip_src, syn.ip_dst, syn.sport, syn.dport) == (
        DIRECTOR_MAC, REAL_MAC, CLIENT, VIP, 40000, 80)
    assert syn.is_syn and not syn.is_synack and syn.flags == "S"
    assert synack.is_synack and synack.flags == "S." and packets[2].flags == "."
    assert syn.ts == pytest.approx(1_790_000_000.25)
    assert syn.line().endswith(f"{DIRECTOR_MAC} > {REAL_MAC}, IP {CLIENT}.40000 > {VIP}.80: "
                               "Flags [S], length 54")


@pytest.mark.parametrize(("order", "nano"), [(">", False), ("<", True), (">", True)])
def test_reader_takes_both_byte_orders_and_nanoseconds(order: str, nano: bool) -> None:
    packets = pcap.parse(pcap_file(dr_frames(), order, nano))
    assert [p.flags for p in packets] == ["S", "S.", "."]
    assert packets[1].ts == pytest.approx(1_790_000_001.25)


def test_reader_skips_a_vlan_tag() -> None:
    (p,) = pcap.parse(pcap_file([frame(DIRECTOR_MAC, REAL_MAC, CLIENT, VIP, 1, 80, SYN,
                                       vlan=True)]))
    assert (p.ip_dst, p.dport, p.flags) == (VIP, 80, "S")


def test_reader_keeps_whole_records_of_a_file_cut_short() -> None:
    data = pcap_file(dr_frames())
    assert len(pcap.parse(data[:-10])) == 2


def test_reader_keeps_frames_it_cannot_decode() -> None:
    arp = bytes(6) + bytes.fromhex(CLIENT_MAC.replace(":", "")) + b"\x08\x06" + bytes(28)
    (p,) = pcap.parse(pcap_file([arp]))
    assert p.ip_src is None and p.ethertype == 0x0806 and "ethertype 0x0806" in p.line()


@pytest.mark.parametrize(("data", "says"), [
    (b"", "too short"),
    (b"\x0a\x0d\x0d\x0a" + bytes(40), "pcapng"),
    (b"GIF89a" + bytes(40), "magic"),
    (pcap_file([], linktype=113), "not Ethernet"),
])
def test_reader_refuses_what_it_cannot_read(data: bytes, says: str) -> None:
    with pytest.raises(pcap.PcapError, match=says):
        pcap.parse(data)


# ---------------------------------------------------------------------------------------------
# The DR signature


def test_direct_routing_is_recognised() -> None:
    report = analyse(nat_frames() + dr_frames())
    assert report.ok, report.problems
    assert report.syn is not None and report.synack is not None
    assert report.owner(report.syn.eth_src) == "lb1 (director)"
    assert report.owner(report.synack.eth_dst) == "client1 (client)"
    data = report.as_dict()
    assert data["syn"]["eth_src_owner"] == "lb1 (director)"
    assert data["synack"]["ip_src"] == VIP and data["synack"]["eth_dst"] == CLIENT_MAC
    json.dumps(data)  # what dr-capture.json holds


def test_nat_is_not_direct_routing() -> None:
    report = analyse(nat_frames())
    assert not report.ok and report.syn is None
    assert "no SYN to" in report.problems[0]


def test_an_answer_through_the_director_is_not_direct_routing() -> None:
    frames = [frame(DIRECTOR_MAC, REAL_MAC, CLIENT, VIP, 40002, 80, SYN),
              frame(REAL_MAC, DIRECTOR_MAC, VIP, CLIENT, 80, 40002, SYNACK)]
    report = analyse(frames)
    assert not report.ok and "passes the director" in report.problems[0]


def test_a_syn_straight_from_the_client_is_not_direct_routing() -> None:
    """The real server answered ARP for the VIP (chapter 03's arp_ignore missing): the client
    sends to it directly, no director involved."""
    frames = [frame(CLIENT_MAC, REAL_MAC, CLIENT, VIP, 40003, 80, SYN),
              frame(REAL_MAC, CLIENT_MAC, VIP, CLIENT, 80, 40003, SYNACK)]
    report = analyse(frames)
    assert not report.ok and "client1 (client)" in report.problems[0]


def test_the_answer_must_go_to_the_client_when_its_mac_is_known() -> None:
    assert analyse(dr_frames(), clients=("52:54:00:99:99:99",)).problems
    assert analyse(dr_frames(), clients=()).ok  # unknown client MAC: any non-director MAC


# ---------------------------------------------------------------------------------------------
# invoke capture's options


@pytest.mark.parametrize("text", ["tcp port 80", "tcp port 80 and host 192.0.2.10",
                                  "not arp and (udp or icmp)", "host app1.webfarm.test",
                                  "ip6 and host fe80::1", "ether host 52:54:00:00:00:21"])
def test_filter_grammar_accepts_tcpdump_words(text: str) -> None:
    assert capture.filter_expr(text) == text


@pytest.mark.parametrize("text", ["tcp port 80'", 'port "80"', "tcp; reboot", "tcp | sh",
                                  "tcp && udp", "!arp", "$(id)", "`id`", "-w /etc/passwd",
                                  "tcp[13] = 2", "(tcp or udp", "tcp)", "tcp and",
                                  "port 80\nreboot", "a" * 201])
def test_filter_grammar_refuses_the_rest(text: str) -> None:
    with pytest.raises(UserError, match="--filter"):
        capture.filter_expr(text)


def test_blank_filter_is_no_filter() -> None:
    assert capture.filter_expr(None) is None and capture.filter_expr("  ") is None


@pytest.mark.parametrize(("value", "expected"), [(None, 50), ("1", 1), ("10000", 10000),
                                                 (" 7 ", 7)])
def test_count_bounds(value: str | None, expected: int) -> None:
    assert capture.count(value) == expected


@pytest.mark.parametrize("value", ["0", "10001", "-1", "1e3", "", "ten", "\u0663"])
def test_count_out_of_bounds_is_refused(value: str) -> None:
    with pytest.raises(UserError, match="--count"):
        capture.count(value)


@pytest.mark.parametrize(("value", "expected"), [(None, 30), ("1", 1), ("300", 300)])
def test_seconds_bounds(value: str | None, expected: int) -> None:
    assert capture.seconds(value) == expected


@pytest.mark.parametrize("value", ["0", "301", "-5", "3.5"])
def test_seconds_out_of_bounds_is_refused(value: str) -> None:
    with pytest.raises(UserError, match="--seconds"):
        capture.seconds(value)


@pytest.mark.parametrize("value", ["any", "eth1;id", "-i", "", "a" * 16, "eth 1"])
def test_interface_names_are_checked(value: str) -> None:
    with pytest.raises(UserError, match="--iface"):
        capture.iface_name(value)


# ---------------------------------------------------------------------------------------------
# The guest script, run here against a fake tcpdump


FAKE_TCPDUMP = """#!/bin/sh
echo "args: $*" >&2
while [ $# -gt 0 ]; do [ "$1" = -w ] && out=$2; shift; done
echo "listening on eth1" >&2
trap 'echo "1 packet captured" >&2; exit 0' TERM
printf 'PCAP' > "$out"
sleep 30 & wait $!
"""


@pytest.fixture
def fake_guest(tmp_path: Path) -> tuple[dict[str, str], str]:
    if shutil.which("timeout") is None:
        pytest.skip("no coreutils timeout")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "tcpdump").write_text(FAKE_TCPDUMP, encoding="utf-8")
    (bindir / "tcpdump").chmod(0o755)
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}")
    return env, str(tmp_path / "webfarm-capture-test.pcap")


def test_guest_script_streams_the_file_and_removes_it(fake_guest: tuple[dict[str, str], str]
                                                      ) -> None:
    env, path = fake_guest
    script = capture.guest_script(path, "eth1", 5, 1, "tcp port 80 and (host 192.0.2.10)")
    done = subprocess.run(["sh", "-c", script], capture_output=True, env=env, timeout=30,
                          check=False)
    assert done.returncode == 124 and done.stdout == b"PCAP"  # ended by timeout at 1 s
    assert b"-c 5 -U -w " in done.stderr and b"-- tcp port 80 and (host 192.0.2.10)" in done.stderr
    assert not Path(path).exists() and not Path(path + ".pid").exists()


def test_stop_ends_the_capture_early_and_cleans_up(fake_guest: tuple[dict[str, str], str]
                                                   ) -> None:
    import time

    env, path = fake_guest
    proc = subprocess.Popen(["sh", "-c", capture.guest_script(path, "eth1", 5, 60, None)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 10
    while not Path(path + ".pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    stop = capture.stop_command(path).removeprefix("sudo -n ")
    subprocess.run(["sh", "-c", stop], check=True, env=env, timeout=10)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and out == b"PCAP" and b"1 packet captured" in err
    assert not Path(path).exists() and not Path(path + ".pid").exists()


def test_guest_script_never_overwrites_an_existing_file(fake_guest: tuple[dict[str, str], str]
                                                        ) -> None:
    env, path = fake_guest
    Path(path).write_text("someone else's", encoding="utf-8")
    done = subprocess.run(["sh", "-c", capture.guest_script(path, "eth1", 5, 1, None)],
                          capture_output=True, env=env, timeout=30, check=False)
    assert done.returncode != 0 and Path(path).read_text(encoding="utf-8") == "someone else's"


def test_commands_run_as_root_without_a_password_prompt() -> None:
    assert capture.remote("true").startswith("sudo -n sh -c ")
    assert capture.cleanup_command("/tmp/webfarm-capture-x.pcap").count("sudo -n ") == 2


# ---------------------------------------------------------------------------------------------
# capture-dr's record and chapter 04's section


def test_docs_section_without_a_capture_says_so(tmp_path: Path) -> None:
    text = capture.docs_section(tmp_path)
    assert "No capture committed yet" in text and "invoke capture-dr" in text


def test_docs_section_shows_the_two_packets(tmp_path: Path) -> None:
    from webfarm import topology

    lab = topology.load(Path(__file__).resolve().parents[1] / "fixtures" / "lab.yml", "mini")
    plan = capture.dr_plan(lab)
    report = analyse(dr_frames())
    hosts = {"lb1": {"role": "director", "iface": "eth1", "mac": DIRECTOR_MAC}}
    record = capture.dr_record(plan, report, hosts, "lb1", "mini", 3, ["200"] * 6)
    src = tmp_path / "x.pcap"
    src.write_bytes(pcap_file(dr_frames()))
    capture.write_assets(src, record, tmp_path)
    assert pcap.read(tmp_path / capture.DR_PCAP)[0].is_syn
    text = capture.docs_section(tmp_path)
    assert f"`{DIRECTOR_MAC}` = lb1 (director)" in text
    assert f"`{CLIENT_MAC}` = client1 (client)" in text
    assert "Flags [S.]" in text and f"(../assets/04-lvs/{capture.DR_PCAP})" in text
    assert plan.filter == f"tcp port 80 and host {lab.vips['www'].address}"
    assert "password" not in json.dumps(record).lower()
