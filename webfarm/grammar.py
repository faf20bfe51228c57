"""The grammar of every lab.yml string that reaches a generated file.

Names from ``lab.yml`` end up in Ruby (the Vagrantfile), BIND zones and named.conf, nginx,
HAProxy, keepalived and Nagios configs. Each function here says whether a string is safe for
its place; :mod:`webfarm.validation` refuses what fails, and the renderer may call them again
as a second line of defence. Every pattern is explicit ASCII: ``str.isalnum()`` and ``\\w``
accept Unicode look-alikes and superscripts, which no resolver or config parser wants.
"""

from __future__ import annotations

import re

MAX_DOMAIN = 253  # RFC 1035, without the trailing dot
MAX_LABEL = 63
MAX_TEXT = 200  # free text (descriptions)
MAX_PATH = 255

_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?", re.ASCII)
_HOSTNAME = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?", re.ASCII)
_LAB_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}[a-z0-9]|[a-z]", re.ASCII)
_KEY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}", re.ASCII)
_BOX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)?", re.ASCII)
_RESOURCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", re.ASCII)
_ABS_PATH = re.compile(r"(?:/[A-Za-z0-9._+-]+)+", re.ASCII)
_UNSAFE_TEXT = ("\"", "'", "\\", "`", "$", "#{")

# Names a host may not take: they already mean something in /etc/hosts, resolvers or DNS.
RESERVED_HOSTNAMES = frozenset({
    "localhost", "localdomain", "local", "broadcasthost", "ip6-localhost", "ip6-loopback",
    "ip6-localnet", "ip6-mcastprefix", "ip6-allnodes", "ip6-allrouters", "ip6-allhosts",
})
# Top-level labels a lab domain may not end in (mDNS, loopback, infrastructure).
RESERVED_TLDS = frozenset({"local", "localhost", "arpa", "invalid"})


def _full(pattern: re.Pattern[str], text: object) -> bool:
    return isinstance(text, str) and pattern.fullmatch(text) is not None


def dns_label(text: object) -> bool:
    """One DNS label: ASCII letters, digits, '-', 1-63 chars, no '-' at either end."""
    return _full(_LABEL, text)


def hostname(text: object) -> bool:
    """A host (or VIP) name: a lower-case DNS label starting with a letter."""
    return _full(_HOSTNAME, text)


def reserved_hostname(text: str) -> bool:
    return text in RESERVED_HOSTNAMES


def domain(text: object) -> bool:
    """A lab domain: two or more lower-case labels, <= 253 chars, no trailing dot, and a
    top-level label that is not all digits (that would read as an address)."""
    if not isinstance(text, str) or not 0 < len(text) <= MAX_DOMAIN:
        return False
    labels = text.split(".")
    return (len(labels) >= 2 and text == text.lower()
            and all(dns_label(label) for label in labels) and not labels[-1].isdigit())


def lab_name(text: object) -> bool:
    """``lab.name``: lower-case letters, digits, '-', starts with a letter, <= 32 chars (it
    prefixes VM and libvirt network names and the TSIG key name)."""
    return _full(_LAB_NAME, text)


def key_name(text: object) -> bool:
    """A name that is only a key of lab.yml (profile, box key, network): ASCII letters,
    digits, '_' and '-', starting with a letter, <= 63 chars."""
    return _full(_KEY_NAME, text)


def box_name(text: object) -> bool:
    """A Vagrant box name such as ``webfarm/debian12`` (an optional one-level namespace)."""
    return _full(_BOX, text) and len(str(text)) <= 2 * MAX_LABEL + 1


def resource_name(text: object) -> bool:
    """A libvirt network or storage pool name: letters, digits, '.', '_', '-', <= 63."""
    return _full(_RESOURCE, text)


def abs_path(text: object) -> bool:
    """An absolute path of safe characters only (it is written into a Ruby string)."""
    return (_full(_ABS_PATH, text) and len(str(text)) <= MAX_PATH
            and ".." not in str(text).split("/"))


def safe_text(text: object) -> bool:
    """Free text (descriptions): printable, one line, <= 200 chars, and none of the
    characters that end or interpolate a quoted string in Ruby or shell."""
    return (isinstance(text, str) and len(text) <= MAX_TEXT and text.isprintable()
            and not any(bad in text for bad in _UNSAFE_TEXT))
