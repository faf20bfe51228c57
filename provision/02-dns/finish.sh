# shellcheck shell=bash
# Chapter 02-dns, every host (last step): resolve through the lab's name servers.
#
# /etc/resolv.conf lists both name servers, the primary first, with a one-second timeout: if
# the primary does not answer, the resolver asks the secondary a second later (at once when
# the primary's host refuses the packet), on every lookup: glibc remembers no dead server.
# /etc/hosts (chapter 01) still comes first (nsswitch.conf: files before dns): the names it
# lists never reach these servers; only the names it lacks do. This runs after the role scripts, so on the name
# servers themselves named is already running when resolv.conf starts pointing at it.
#
# Nothing may rewrite the file behind our back:
#   - Debian box: /etc/resolv.conf is a symlink to systemd-resolved's stub (127.0.0.53).
#     It becomes a plain file and systemd-resolved is turned off: the lab's resolvers are
#     the BIND servers, one hop away, not a local cache in front of them.
#   - EL9: NetworkManager writes resolv.conf from DHCP on the management NIC (eth0) unless
#     told `dns=none`.
# Hosts only on the DB network cannot reach the name servers (no DB host reaches the front
# network, by design; enforced on libvirt, not on VirtualBox: see chapter 01): they keep
# resolving the lab's names from /etc/hosts (chapter 01).

if wf_on_network front; then
  if [ -n "$WF_SVC_NETWORK_MANAGER" ]; then
    wf_put_text "$WF_PATH_NM_CONF_D/90-webfarm-dns.conf" 0644 root:root \
      "$WF_SVC_NETWORK_MANAGER" <<'CONF'
# webfarm (chapter 02-dns): /etc/resolv.conf belongs to the lab, not to NetworkManager.
[main]
dns=none
CONF
  fi
  wf_put "$WF_FILES/02-dns/resolv.conf" /etc/resolv.conf 0644 root:root
  wf_service_off "$WF_SVC_RESOLVED"
else
  wf_log "no front network: names resolve from /etc/hosts (chapter 01), nothing to do"
fi
