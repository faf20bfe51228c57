"""Shared by the config tests of chapters 03-web and 07-app (tests/configs is on sys.path while
pytest runs them): a throwaway network namespace that holds a host's addresses (the VIPs it
serves on lo, its front address on a dummy interface, or a veth where the kernel has no dummy
module), and nginx run inside it. ``nginx -t`` binds its listen sockets, so those addresses
must exist; the namespace keeps them off this machine.

Needs: iproute2 (and nginx where nginx runs); the namespace needs root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from webfarm.topology import Host, Lab, Vip


def tool(name: str, package: str) -> str:
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None)
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install {package} (CI installs it)")
    return path


@contextlib.contextmanager
def host_netns(name_prefix: str, lab: Lab, host: Host, lo_vips: Iterable[Vip]) -> Iterator[str]:
    """A namespace ``{name_prefix}-{pid}`` with ``lo_vips`` as /32s on lo and ``host``'s front
    interface up with its front address; deleted on the way out."""
    ip = tool("ip", "iproute2")
    if os.geteuid() != 0:
        pytest.fail("the nginx checks need root (network namespaces): run the config tests as "
                    "root, as CI does")
    ns = f"{name_prefix}-{os.getpid()}"
    subprocess.run([ip, "netns", "del", ns], capture_output=True, check=False)
    subprocess.run([ip, "netns", "add", ns], check=True)
    try:
        def sh(*args: str) -> None:
            subprocess.run([ip, "-n", ns, *args], check=True, capture_output=True)

        sh("link", "set", "lo", "up")
        for vip in lo_vips:
            sh("addr", "add", f"{vip.address}/32", "dev", "lo")
        iface = host.interface("front")
        made = subprocess.run([ip, "-n", ns, "link", "add", iface, "type", "dummy"],
                              capture_output=True, check=False)
        if made.returncode != 0:  # kernels without the dummy module: a veth pair does too
            sh("link", "add", iface, "type", "veth", "peer", "name", f"{iface}-peer")
        prefix = lab.networks["front"].prefixlen
        sh("addr", "add", f"{host.addresses['front']}/{prefix}", "dev", iface)
        sh("link", "set", iface, "up")
        yield ns
    finally:
        subprocess.run([ip, "netns", "del", ns], capture_output=True, check=False)


def in_ns(ns: str, *cmd: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("ip", "iproute2"), "netns", "exec", ns, *cmd],
                          capture_output=True, text=True, check=check, timeout=30)


def write_nginx_conf(prefix: Path, sites: Path, extra_http: str = "") -> Path:
    """``prefix``/nginx.conf: an http block that includes ``sites``/*.conf, with every path
    nginx writes kept in ``prefix``; ``extra_http`` goes in the http block before the include."""
    temp = "".join(f"    {k}_temp_path {prefix}/tmp-{k};\n"
                   for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = prefix / "nginx.conf"
    conf.write_text(
        "user root;\n"
        f"pid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/error.log;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        "    include /etc/nginx/mime.types;\n"
        "    default_type application/octet-stream;\n"
        f"    access_log {prefix}/access.log;\n"
        + temp
        + extra_http
        + f"    include {sites}/*.conf;\n"
        "}\n",
        encoding="utf-8",
    )
    return conf


@contextlib.contextmanager
def nginx_serving(ns: str, nginx: str, prefix: Path, conf: Path,
                  address: str) -> Iterator[subprocess.Popen[bytes]]:
    """nginx run in ``ns`` in the foreground, once it accepts connections on ``address``:80
    (10 seconds at most); terminated on the way out."""
    proc = subprocess.Popen(
        [tool("ip", "iproute2"), "netns", "exec", ns, nginx, "-p", str(prefix), "-c",
         str(conf), "-g", "daemon off;"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while in_ns(ns, sys.executable, "-c",
                    f"import socket; socket.create_connection(('{address}', 80), 1)").returncode:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "nginx did not start listening"
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
