# shellcheck shell=bash
# Chapter 02-dns, role dns: a BIND 9 name server for the lab's domain.
#
# The first dns host of lab.yml is the PRIMARY: it holds the zone files, one forward zone
# (every host and service name) and one reverse zone per lab network (address -> name). The
# other dns hosts are SECONDARIES: they copy the zones from the primary by zone transfer
# (AXFR/IXFR) and answer from their copy, so every name still resolves while the primary is
# down. The two talk like this:
#   - on every change the primary sends NOTIFY to the secondaries;
#   - a secondary asks for the primary's SOA record and transfers the zone when the SOA
#     serial went up (it also polls every `refresh` seconds, in case a NOTIFY got lost);
#   - every message between them is signed with a shared TSIG key (HMAC-SHA256), and the
#     zones refuse transfers to anyone without the key. A NOTIFY is accepted by its source
#     address (the secondary's masters / allow-notify), not by the key: the key protects the
#     SOA query and the transfer the NOTIFY sets off.
# Which host is which is already decided in the rendered named.conf and dns.env.

# shellcheck source=/dev/null
source "$WF_FILES/02-dns/dns.env"

# 1. Packages: named (the server), named-checkconf/named-checkzone, dig and nsupdate.
# shellcheck disable=SC2086  # WF_PKG_DNS is a list of package names
wf_install $WF_PKG_DNS

# 2. EL9 only (a no-op on Debian): firewalld lets DNS in, over UDP for ordinary queries and
#    TCP for zone transfers and large answers. SELinux needs nothing more: named may write
#    its dynamic zones (/var/named/dynamic) and secondary copies (/var/named/slaves).
wf_firewall_open 53/udp 53/tcp

# 3. The configuration: the TSIG key (secret, readable by named's group only) and
#    named.conf, which replaces the distribution's (Debian's /etc/bind/named.conf with its
#    includes, EL9's /etc/named.conf) with one file that is the same on both families.
wf_put "$WF_FILES/02-dns/tsig.key" "$WF_PATH_NAMED_CONF_DIR/$WF_DNS_KEY_NAME.key" 0640 \
  "root:$WF_PATH_NAMED_GROUP" "$WF_SVC_NAMED"
wf_put "$WF_FILES/02-dns/named.conf" "$WF_PATH_NAMED_CONF" 0640 "root:$WF_PATH_NAMED_GROUP" \
  "$WF_SVC_NAMED"

# 4. Primary only: the zone files. Each rendered zone carries the placeholder serial 1; the
#    serial a secondary sees must go up on every change and stay put otherwise, so:
#      - the last rendered zone installed is kept in /var/lib/webfarm/02-dns/;
#      - when the new render equals it, nothing happens (same serial, changed=0);
#      - otherwise the new serial is YYYYMMDDNN (today's first, or the live serial + 1),
#        written into the zone, and named reloads it and sends NOTIFY.
#    The zones accept dynamic updates from local root (`nsupdate -l`), so named may hold
#    changes in a journal (.jnl): `rndc freeze` writes them into the file and stops updates
#    while the file is replaced, `rndc thaw` loads the new file and resumes them. Once frozen,
#    the zone is thawed whatever happens next (wf_zone_freeze: even when a later step fails).
dns_serial() {
  # dns_serial ZONE FILE: the SOA serial of a zone file (any format named writes).
  named-checkzone -D -o - "$1" "$2" 2>/dev/null | awk '$4 == "SOA" && !n++ { print $7 }'
}

dns_install_zone() {
  # dns_install_zone ZONE RENDERED: install a primary zone, raising its serial on change.
  local zone=$1 src=$2
  local live="$WF_PATH_NAMED_ZONE_DIR/db.$zone" last="/var/lib/webfarm/02-dns/$zone.zone"
  local frozen=0 old=0 new tmp
  if [ -f "$live" ] && cmp -s "$src" "$last"; then
    return 0
  fi
  if ! grep -Eq '^[[:space:]]+[0-9]+[[:space:]]+; serial$' "$src"; then
    echo "dns.sh: $src has no '; serial' line to fill in" >&2
    return 1
  fi
  if systemctl is-active --quiet "$WF_SVC_NAMED" && wf_zone_freeze "$zone"; then
    frozen=1
  fi
  if [ -f "$live" ]; then
    old=$(dns_serial "$zone" "$live") || old=0
  fi
  new=$(wf_next_serial "${old:-0}")
  wf_mktemp tmp
  sed -E "s/^([[:space:]]+)[0-9]+([[:space:]]+; serial)$/\\1$new\\2/" "$src" >"$tmp"
  named-checkzone -q "$zone" "$tmp"
  rm -f "$live.jnl"
  wf_put "$tmp" "$live" 0644 "$WF_PATH_NAMED_USER:$WF_PATH_NAMED_GROUP"
  wf_rmtemp "$tmp"
  install -D -m 0644 "$src" "$last"
  wf_log "zone $zone: serial ${old:-0} -> $new"
  if [ "$frozen" = 1 ]; then
    wf_zone_thaw "$zone"
  else
    wf_mark_restart "$WF_SVC_NAMED"
  fi
}

if [ "$WF_DNS_SERVER_ROLE" = primary ]; then
  for entry in $WF_DNS_ZONES; do
    dns_install_zone "${entry%%=*}" "$WF_FILES/02-dns/zones/${entry#*=}"
  done
fi

# 5. Check the whole configuration (and, on the primary, load every zone) before named
#    (re)starts with it: a typo stops the chapter here with named's own message.
named-checkconf -z "$WF_PATH_NAMED_CONF" >/dev/null

# 6. named enabled and running (the chapter restarts it at the end if its files changed).
wf_service "$WF_SVC_NAMED"
