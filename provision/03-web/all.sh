# shellcheck shell=bash
# Chapter 03-web, every web host (app and media servers): make this host an LVS-DR real server.
#
# In direct routing (LVS-DR) the director does not rewrite addresses: it hands the visitor's
# packet, still addressed to the VIP, to a real server by changing only the destination MAC.
# So every real server must
#   1. own the VIP, or its kernel drops the packet as "not for me": we put the VIP on lo as a
#      /32 (a host route, no network behind it) with a small oneshot systemd unit,
#      webfarm-vip-lo.service, that survives reboots;
#   2. never answer ARP for the VIP, or visitors on the front network would send their
#      packets straight to whichever real server answered first, bypassing the director:
#        arp_ignore=1   answer an ARP request only if the asked-for address is configured on
#                       the interface the request came in on (the VIP is on lo, not eth1);
#        arp_announce=2 when this host sends ARP itself, always use the best address of the
#                       outgoing interface as sender, never the VIP;
#      set for "all" (the kernel uses the larger of "all" and the interface's value), for lo
#      and for the front interface;
#   3. answer the VIP's port: nginx, with a catch-all server for the health URL.
# The sysctls go first: the VIP must never be present without them.

# shellcheck disable=SC2086  # WF_PKG_WEB is a list of packages: split it into words
wf_install $WF_PKG_WEB

wf_sysctl lvs-real-server \
  net.ipv4.conf.all.arp_ignore=1 \
  net.ipv4.conf.all.arp_announce=2 \
  net.ipv4.conf.lo.arp_ignore=1 \
  net.ipv4.conf.lo.arp_announce=2 \
  "net.ipv4.conf.$WF_IFACE_FRONT.arp_ignore=1" \
  "net.ipv4.conf.$WF_IFACE_FRONT.arp_announce=2"

# The VIPs this host serves (www on app servers, media on media servers, both on a host that
# is both), on lo, now and at every boot.
wf_systemd_unit "$WF_FILES/03-web/webfarm-vip-lo.service" webfarm-vip-lo.service
wf_service webfarm-vip-lo.service

# nginx: drop the distribution's default site (Debian: sites-enabled/default; EL9 keeps its
# default server inside nginx.conf, where ours wins by being default_server), add ours.
if [ -n "$WF_PATH_NGINX_DEFAULT_SITE" ]; then
  wf_absent "$WF_PATH_NGINX_DEFAULT_SITE" "$WF_SVC_NGINX"
fi
wf_put "$WF_FILES/03-web/nginx/webfarm-default.conf" \
  "$WF_PATH_NGINX_CONF_D/webfarm-default.conf" 0644 root:root "$WF_SVC_NGINX"

# EL9: firewalld lets HTTP in (a no-op on Debian, which runs no firewall).
wf_firewall_open 80/tcp
