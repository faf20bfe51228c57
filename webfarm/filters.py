"""Jinja filters that check a lab.yml value against its grammar where it lands in a config.

lab.yml is validated when it is loaded (webfarm.topology); these filters are the second line
of defence: a value that reaches BIND, nginx, keepalived, chrony or a shell file must have the
shape that file expects, or rendering stops with a clear error (and, render being
all-or-nothing, no file is written). On a valid value every filter returns it unchanged, so
the rendered files do not change.

    {{ host.name | hostname }}   one DNS label: lb1, www, app1-db
    {{ lab.domain | dnsname }}   a dotted DNS name without trailing dot: webfarm.test
    {{ vip.address | ipv4 }}     an IPv4 address (an ipaddress object or its text)
    {{ net.description | oneline }}  free text for a comment: no line break, no control char

The grammars come from webfarm.grammar, the module the lab.yml validator uses too.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import jinja2

from webfarm import grammar


class TemplateValueError(ValueError):
    """A value does not fit the grammar of the file being rendered."""


def _fail(ctx: jinja2.runtime.Context, value: Any, what: str, fix: str) -> TemplateValueError:
    where = ctx.name or "template"
    return TemplateValueError(f"{where}: {value!r} is not {what}. Fix: {fix}")


@jinja2.pass_context
def hostname(ctx: jinja2.runtime.Context, value: Any) -> str:
    text = str(value)
    if not grammar.hostname(text):
        raise _fail(ctx, value, "a host name (one DNS label: lower-case letters, digits, "
                    "inner hyphens, starting with a letter, at most 63)",
                    "rename it in lab.yml, e.g. app1")
    return text


@jinja2.pass_context
def dnsname(ctx: jinja2.runtime.Context, value: Any) -> str:
    text = str(value)
    if len(text) > grammar.MAX_DOMAIN or not all(map(grammar.dns_label, text.split("."))):
        raise _fail(ctx, value, "a DNS name (dot-separated labels of letters, digits and "
                    "inner hyphens, no trailing dot)", "fix it in lab.yml, e.g. webfarm.test")
    return text


@jinja2.pass_context
def ipv4(ctx: jinja2.runtime.Context, value: Any) -> str:
    try:
        return str(ipaddress.IPv4Address(str(value)))
    except ValueError:
        raise _fail(ctx, value, "an IPv4 address", "write it like 192.168.56.21 in lab.yml"
                    ) from None


@jinja2.pass_context
def oneline(ctx: jinja2.runtime.Context, value: Any) -> str:
    text = str(value)
    if not text.isprintable():
        raise _fail(ctx, value, "one line of printable text (it goes into a comment)",
                    "remove line breaks and control characters from it in lab.yml")
    return text


def ruby_comment(value: Any) -> str:
    """Text safe inside a Ruby ``#`` comment: printable ASCII as is, anything else as a JSON
    string literal (escaped, so nothing can end the comment line)."""
    text = str(value)
    if all(" " <= c <= "~" for c in text):
        return text
    return json.dumps(text, ensure_ascii=True)


FILTERS = {
    "hostname": hostname,
    "dnsname": dnsname,
    "ipv4": ipv4,
    "oneline": oneline,
    "ruby_comment": ruby_comment,
}
