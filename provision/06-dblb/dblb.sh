# shellcheck shell=bash
# Chapter 06-dblb, role dblb: turn this host into a DB load balancer.
#
# Two balancers share the db VIP. Two daemons, one job each:
#   - HAProxy (TCP mode) listens on the VIP: the write port sends every connection to one
#     node (the others are backups), the read port spreads connections over every node. It
#     asks each node's health agent (chapter 05) whether the node is Synced and writable, and
#     takes a node that is not out of both pools;
#   - keepalived (VRRP only) elects which balancer holds the VIP, with its own router id and
#     password (not the directors'), and hands the VIP over when the holder dies or when its
#     HAProxy does (a track script lowers the holder's priority).
# Both balancers run HAProxy all the time, bound to the VIP whether they hold it or not
# (ip_nonlocal_bind): a takeover only moves the address, nothing restarts. This works the
# same on a host of its own and on a host that is also a Galera node (mini profile): MariaDB
# listens on the host's own DB address, HAProxy on the VIP, both on the same port number.
# The differences between the two balancers (priority, peers, stats address) are already in
# the rendered files.

# 1. Ports and names derived from lab.yml; a host that cannot run this chapter stops here.
# shellcheck source=/dev/null
source "$WF_FILES/06-dblb/dblb.env"
if [ -n "$DBLB_CONFLICT" ]; then
  echo "06-dblb: $DBLB_CONFLICT" >&2
  exit 1
fi

# 2. Packages: keepalived (VRRP) and HAProxy.
# shellcheck disable=SC2086  # WF_PKG_DBLB is a list of package names
wf_install $WF_PKG_DBLB

# 3. Let HAProxy bind the VIP on the balancer that does not hold it (the BACKUP). Without
#    this, bind() of an address the host does not have fails and HAProxy does not start.
wf_sysctl dblb net.ipv4.ip_nonlocal_bind=1

# 4. The user keepalived runs the haproxy track script as (enable_script_security refuses
#    to run scripts as root by default; this user can do nothing else).
if ! getent passwd "$DBLB_SCRIPT_USER" >/dev/null; then
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$DBLB_SCRIPT_USER"
  wf_changed "created user $DBLB_SCRIPT_USER"
fi

# 5. EL9 only (no-ops on Debian): firewalld lets in VRRP from the other balancer and the
#    VIP's write, read and stats ports. SELinux: haproxy_t may bind and connect only to
#    ports labelled for it; 3307 (read), 8404 (stats) and the health agent's 9200 are not, so
#    haproxy_connect_any is turned on. keepalived only speaks VRRP and runs pidof here: it
#    needs no boolean.
wf_firewall_rich 'rule protocol value="vrrp" accept'
# shellcheck disable=SC2086  # DBLB_PORTS is a list of PORT/PROTO words
wf_firewall_open $DBLB_PORTS
wf_selinux_bool haproxy_connect_any

# 6. HAProxy's configuration, checked by HAProxy on this host before it replaces the
#    running one (a rejected file stops the chapter; the old one keeps serving). A changed
#    file is applied with a reload: the new process takes over the listening sockets, the
#    old one finishes the connections it has, no client is cut.
if ! check=$(haproxy -c -f "$WF_FILES/06-dblb/haproxy.cfg" 2>&1); then
  printf '%s\n' "$check" >&2
  echo "06-dblb: haproxy rejected $WF_FILES/06-dblb/haproxy.cfg; $WF_PATH_HAPROXY_CONF" \
       "is unchanged" >&2
  exit 1
fi
changes_before=$WF_CHANGES
wf_put "$WF_FILES/06-dblb/haproxy.cfg" "$WF_PATH_HAPROXY_CONF" 0644 root:root
if [ "$WF_CHANGES" != "$changes_before" ] && systemctl is-active --quiet "$WF_SVC_HAPROXY"; then
  wf_log "reloading $WF_SVC_HAPROXY (new configuration)"
  systemctl reload "$WF_SVC_HAPROXY"
fi

# 7. keepalived's configuration (it holds the VRRP password: root only). Debian's unit needs
#    a non-empty file before it starts. A change is applied with a reload (SIGHUP): the VRRP
#    state is kept, so the VIP does not move because a file was re-rendered.
changes_before=$WF_CHANGES
wf_put "$WF_FILES/06-dblb/keepalived.conf" "$WF_PATH_KEEPALIVED_CONF" 0640 root:root
if [ "$WF_CHANGES" != "$changes_before" ] && systemctl is-active --quiet "$WF_SVC_KEEPALIVED"; then
  wf_log "reloading $WF_SVC_KEEPALIVED (new configuration)"
  systemctl reload "$WF_SVC_KEEPALIVED"
fi

# 8. Enabled at boot and running now: HAProxy first, so the track script finds it.
wf_service "$WF_SVC_HAPROXY"
wf_service "$WF_SVC_KEEPALIVED"
