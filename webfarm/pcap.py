"""A small reader for classic libpcap files (what ``tcpdump -w`` writes), stdlib only.

It decodes what chapter 04 needs to show direct routing on the wire: the Ethernet addresses,
IPv4 addresses, TCP ports and flags, and the timestamp of each frame. Link type Ethernet
(LINKTYPE_ETHERNET, 1) only, 802.1Q tags skipped; other frames are kept with what could be
decoded (``ip_src`` None for non-IPv4, ``sport`` None for non-TCP).

:func:`find_dr` looks, in a capture taken on a *real server* while a client fetched a page
from a VIP, for the LVS-DR signature:

- the SYN arrives addressed to the VIP (IP) but from a **director's** MAC: the director
  changed only the destination MAC;
- the SYN-ACK leaves from the VIP (IP) to the client, addressed to a MAC that is **not** a
  director's (the client's, or its gateway's): the answer bypasses the director.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

LINKTYPE_ETHERNET = 1
ETH_IPV4 = 0x0800
ETH_VLAN = (0x8100, 0x88A8)
PROTO_TCP = 6
# magic -> (struct byte order, fraction of a second per timestamp unit)
MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
TCP_FLAGS = (("F", 0x01), ("S", 0x02), ("R", 0x04), ("P", 0x08), ("U", 0x20), ("E", 0x40),
             ("W", 0x80))
SYN, ACK = 0x02, 0x10
MAX_RECORD = 256 * 1024  # bytes; tcpdump's default snaplen is 262144


class PcapError(ValueError):
    """The file is not a classic pcap file this reader understands; the message says why."""


@dataclass(frozen=True)
class Packet:
    """One captured frame, decoded as far as Ethernet / IPv4 / TCP go."""

    index: int  # 1-based, as Wireshark numbers frames
    ts: float  # seconds since the epoch
    length: int  # original length on the wire
    eth_src: str | None = None
    eth_dst: str | None = None
    ethertype: int | None = None
    ip_src: str | None = None
    ip_dst: str | None = None
    proto: int | None = None
    sport: int | None = None
    dport: int | None = None
    tcp_flags: int | None = None

    @property
    def flags(self) -> str:
        """TCP flags as tcpdump prints them: ``S``, ``S.`` (SYN-ACK), ``P.``, ``F.``..."""
        if self.tcp_flags is None:
            return ""
        text = "".join(c for c, bit in TCP_FLAGS if self.tcp_flags & bit)
        return text + ("." if self.tcp_flags & ACK else "")

    @property
    def is_syn(self) -> bool:
        return self.tcp_flags is not None and self.tcp_flags & (SYN | ACK) == SYN

    @property
    def is_synack(self) -> bool:
        return self.tcp_flags is not None and self.tcp_flags & (SYN | ACK) == SYN | ACK

    @property
    def time(self) -> str:
        """UTC time of day with microseconds, like ``tcpdump -tttt`` without the date."""
        return datetime.fromtimestamp(self.ts, UTC).strftime("%H:%M:%S.%f")

    def line(self) -> str:
        """One line in the style of ``tcpdump -e -n``."""
        link = f"{self.eth_src or '?'} > {self.eth_dst or '?'}"
        if self.ip_src is None:
            kind = f"ethertype 0x{self.ethertype:04x}" if self.ethertype is not None else "?"
            return f"{self.time} {link}, {kind}, length {self.length}"
        if self.sport is None:
            return (f"{self.time} {link}, IP {self.ip_src} > {self.ip_dst}: proto "
                    f"{self.proto}, length {self.length}")
        return (f"{self.time} {link}, IP {self.ip_src}.{self.sport} > {self.ip_dst}."
                f"{self.dport}: Flags [{self.flags}], length {self.length}")

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "time_utc": datetime.fromtimestamp(self.ts, UTC)
                .isoformat(timespec="microseconds"), "eth_src": self.eth_src,
                "eth_dst": self.eth_dst, "ip_src": self.ip_src, "ip_dst": self.ip_dst,
                "sport": self.sport, "dport": self.dport, "flags": self.flags,
                "line": self.line()}


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def decode(index: int, ts: float, length: int, frame: bytes) -> Packet:
    """Decode one Ethernet frame (as far as it goes; a short frame keeps what it had)."""
    if len(frame) < 14:
        return Packet(index, ts, length)
    dst, src = _mac(frame[0:6]), _mac(frame[6:12])
    (ethertype,) = struct.unpack_from("!H", frame, 12)
    offset = 14
    while ethertype in ETH_VLAN and len(frame) >= offset + 4:
        (ethertype,) = struct.unpack_from("!H", frame, offset + 2)
        offset += 4
    base = Packet(index, ts, length, src, dst, ethertype)
    if ethertype != ETH_IPV4 or len(frame) < offset + 20:
        return base
    ver_ihl, proto = frame[offset], frame[offset + 9]
    if ver_ihl >> 4 != 4:
        return base
    ihl = (ver_ihl & 0x0F) * 4
    ip_src = str(IPv4Address(frame[offset + 12:offset + 16]))
    ip_dst = str(IPv4Address(frame[offset + 16:offset + 20]))
    (frag,) = struct.unpack_from("!H", frame, offset + 6)
    tcp = offset + ihl
    if proto != PROTO_TCP or frag & 0x1FFF or len(frame) < tcp + 14:
        return Packet(index, ts, length, src, dst, ethertype, ip_src, ip_dst, proto)
    sport, dport = struct.unpack_from("!HH", frame, tcp)
    return Packet(index, ts, length, src, dst, ethertype, ip_src, ip_dst, proto, sport, dport,
                  frame[tcp + 13])


def parse(data: bytes) -> list[Packet]:
    """Every frame of a classic pcap file (bytes). A file cut short mid-record (a capture
    killed while writing) keeps the complete records before the cut."""
    if len(data) < 24:
        raise PcapError(f"{len(data)} bytes: too short for a pcap file header (24 bytes)")
    magic = data[:4]
    if magic not in MAGICS:
        what = "a pcapng file (use tcpdump -w, not dumpcap)" if magic == b"\x0a\x0d\x0d\x0a" \
            else f"magic {magic.hex()}"
        raise PcapError(f"not a classic pcap file: {what}")
    order, unit = MAGICS[magic]
    _major, _minor, _zone, _sigfigs, _snaplen, linktype = struct.unpack_from(
        order + "HHiIII", data, 4)
    if linktype & 0xFFFF != LINKTYPE_ETHERNET:
        raise PcapError(f"link type {linktype & 0xFFFF}, not Ethernet (1): capture on one "
                        "interface (tcpdump -i eth1), not -i any")
    packets: list[Packet] = []
    offset = 24
    while offset + 16 <= len(data):
        sec, frac, caplen, length = struct.unpack_from(order + "IIII", data, offset)
        if caplen > MAX_RECORD:
            raise PcapError(f"record {len(packets) + 1}: {caplen} bytes captured: damaged file")
        offset += 16
        if offset + caplen > len(data):
            break
        packets.append(decode(len(packets) + 1, sec + frac * unit, length,
                              data[offset:offset + caplen]))
        offset += caplen
    return packets


def read(path: Path | str) -> list[Packet]:
    return parse(Path(path).read_bytes())


# ---------------------------------------------------------------------------------------------
# The LVS-DR signature


@dataclass
class DrReport:
    """What :func:`find_dr` found: the SYN and SYN-ACK of one connection to the VIP, whose
    MAC is whose, and, when there is no DR signature, why not (``problems``)."""

    vip: str
    port: int
    syn: Packet | None = None
    synack: Packet | None = None
    owners: dict[str, str] = field(default_factory=dict)  # MAC -> "lb1 (director)"
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.syn is not None and self.synack is not None and not self.problems

    def owner(self, mac: str | None) -> str:
        return self.owners.get((mac or "").lower(), "unknown")

    def as_dict(self) -> dict[str, Any]:
        def one(p: Packet | None) -> dict[str, Any] | None:
            if p is None:
                return None
            return p.as_dict() | {"eth_src_owner": self.owner(p.eth_src),
                                  "eth_dst_owner": self.owner(p.eth_dst)}

        return {"vip": self.vip, "port": self.port, "ok": self.ok, "syn": one(self.syn),
                "synack": one(self.synack), "owners": dict(self.owners),
                "problems": list(self.problems)}


def find_dr(packets: Iterable[Packet], vip: IPv4Address | str, port: int,
            director_macs: Iterable[str], owners: Mapping[str, str] | None = None,
            client_macs: Iterable[str] = ()) -> DrReport:
    """The first connection to ``vip:port`` in ``packets`` that shows direct routing (see the
    module docstring). ``director_macs``: the directors' MACs on the VIP's network;
    ``client_macs`` (optional): MACs the answer may go to (the client's, its gateway's); when
    given, the SYN-ACK must go to one of them. The report's ``problems`` say why a capture
    shows no DR signature (empty when ``ok``)."""
    packets = list(packets)
    vip_s, directors = str(IPv4Address(str(vip))), {m.lower() for m in director_macs}
    clients = {m.lower() for m in client_macs}
    report = DrReport(vip_s, port, owners={k.lower(): v for k, v in (owners or {}).items()})
    if not directors:
        report.problems.append("no director MAC given: cannot tell who sent the SYN")
        return report
    syns = [p for p in packets if p.is_syn and p.ip_dst == vip_s and p.dport == port]
    if not syns:
        report.problems.append(f"no SYN to {vip_s}:{port} in {len(packets)} packets: the "
                               "connection did not reach this server with the VIP as its "
                               "destination (not DR, or the scheduler chose another server)")
        return report
    seen: list[str] = []
    for syn in syns:
        if (syn.eth_src or "").lower() not in directors:
            seen.append(f"SYN #{syn.index} came from MAC {syn.eth_src} "
                        f"({report.owner(syn.eth_src)}), not a director's")
            continue
        answers = [p for p in packets if p.is_synack and p.index > syn.index
                   and p.ip_src == vip_s and p.sport == port and p.ip_dst == syn.ip_src
                   and p.dport == syn.sport]
        if not answers:
            seen.append(f"SYN #{syn.index} has no SYN-ACK from {vip_s}:{port} in the capture")
            continue
        synack = answers[0]
        dst = (synack.eth_dst or "").lower()
        if dst in directors:
            seen.append(f"SYN-ACK #{synack.index} goes back to the director's MAC {dst} "
                        f"({report.owner(dst)}): the answer passes the director")
            continue
        if clients and dst not in clients:
            seen.append(f"SYN-ACK #{synack.index} goes to MAC {dst} ({report.owner(dst)}), "
                        "neither the client's nor its gateway's")
            continue
        report.syn, report.synack = syn, synack
        return report
    report.problems.extend(seen)
    return report
