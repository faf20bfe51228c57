# shellcheck shell=bash
# Chapter 04-lvs, role director: turn this host into an LVS-DR load balancer.
#
# Two directors share the front VIPs (www and media). keepalived does both jobs:
#   - VRRP: the directors elect a MASTER (highest priority, from lab.yml) that holds the VIPs
#     on its front interface; when it stops advertising, the BACKUP takes them over and sends
#     gratuitous ARPs so the network learns the VIPs' new MAC address;
#   - IPVS: keepalived programs the kernel's layer-4 load balancer with one virtual service
#     per VIP, in direct-routing mode to the real servers of chapter 03, and removes a real
#     server whose HTTP health check fails (and puts it back when it passes again).
# Nothing here is specific to one director: the differences (priority, peers, addresses)
# are already in the rendered keepalived.conf.

# 1. Packages: keepalived (VRRP + health checks + IPVS programming) and ipvsadm, the
#    command-line view of the kernel's IPVS tables.
# shellcheck disable=SC2086  # WF_PKG_LVS is a list of package names
wf_install $WF_PKG_LVS

# 2. The IPVS kernel modules, loaded now and at every boot. keepalived would load ip_vs on
#    demand too; loading it here makes `ipvsadm -Ln` work before keepalived ever starts.
wf_put "$WF_FILES/04-lvs/webfarm-ipvs.conf" /etc/modules-load.d/webfarm-ipvs.conf 0644 root:root
while read -r module; do
  case "$module" in '' | '#'*) continue ;; esac
  if [ ! -d "/sys/module/$module" ]; then
    modprobe "$module"
    wf_changed "loaded kernel module $module"
  fi
done <"$WF_FILES/04-lvs/webfarm-ipvs.conf"

# 2b. When a health check removes a real server, the connections IPVS already scheduled there
#     keep their entries. With expire_nodest_conn=0 (the default) IPVS drops those
#     connections' packets until the entry times out; with 1 it expires the entry at the next
#     packet (since Linux 5.9 at once, when the server is removed), so the client's retry is
#     scheduled anew to a live server.
#     (The net.ipv4.vs.* keys exist once ip_vs is loaded: modules load before sysctls at boot.)
wf_sysctl ipvs net.ipv4.vs.expire_nodest_conn=1

# 3. Ports and options derived from lab.yml (the VIPs' ports, the sync daemon's port).
# shellcheck source=/dev/null
source "$WF_FILES/04-lvs/lvs.env"

# 4. EL9 only (no-ops on Debian): firewalld must let in
#    - VRRP, IP protocol 112, from the other director (multicast or unicast adverts);
#    - the virtual services' ports: IPVS takes a packet destined to a VIP over in the
#      LOCAL_IN hook *after* the INPUT filter, so a dropped port never reaches IPVS;
#    - the connection-sync daemon's UDP port.
#    SELinux: keepalived runs confined as keepalived_t; the policy lets it connect to
#    http_port_t (80, 443, ...) for HTTP_GET checks. Only other ports need the boolean.
wf_firewall_rich 'rule protocol value="vrrp" accept'
# shellcheck disable=SC2086  # LVS_PORTS is a list of PORT/PROTO words
wf_firewall_open $LVS_PORTS "$LVS_SYNC_PORT"
if [ "$LVS_CONNECT_ANY" = 1 ]; then
  wf_selinux_bool keepalived_connect_any
fi

# 5. The configuration. Debian's keepalived unit has ConditionFileNotEmpty on this file, so
#    it must be in place before the service is enabled and started. A changed file is applied
#    with a reload (SIGHUP): keepalived re-reads it and keeps its VRRP state, so the VIPs do
#    not move just because a config was re-rendered.
changes_before=$WF_CHANGES
wf_put "$WF_FILES/04-lvs/keepalived.conf" "$WF_PATH_KEEPALIVED_CONF" 0640 root:root
if [ "$WF_CHANGES" != "$changes_before" ] && systemctl is-active --quiet "$WF_SVC_KEEPALIVED"; then
  wf_log "reloading $WF_SVC_KEEPALIVED (new configuration)"
  systemctl reload "$WF_SVC_KEEPALIVED"
fi

# 6. Enabled at boot and running now.
wf_service "$WF_SVC_KEEPALIVED"
