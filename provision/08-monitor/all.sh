# shellcheck shell=bash
# Chapter 08-monitor, every host: NRPE, the agent through which the monitor looks inside.
#
# Nagios on the monitor checks from outside what a client can see (HTTP, DNS, SQL). What only
# the host itself knows (its load, its disk, whether keepalived runs, what IPVS forwards to,
# whether it holds a VIP) it asks the host's NRPE daemon to check. NRPE here:
#   - listens only on the address the monitor reaches this host at, and answers only the
#     monitor's addresses (allowed_hosts; on EL9 firewalld too);
#   - runs only the commands written in nrpe.d/webfarm.cfg, with their arguments fixed
#     there: the monitor sends a command name, never an argument (dont_blame_nrpe=0), so
#     nobody on the network can make it run anything else.

# 1. Addresses derived from lab.yml.
# shellcheck source=/dev/null
source "$WF_FILES/08-monitor/nrpe.env"

# 2. Packages: the NRPE daemon and the standard plugins (load, disk, swap, procs, ntp time).
# shellcheck disable=SC2086  # WF_PKG_NRPE is a list of package names
wf_install $WF_PKG_NRPE

# 3. The lab's own plugins (which VIP this host holds; what IPVS forwards to).
if [ ! -d "$PLUGIN_DIR" ]; then
  install -d -m 0755 "$PLUGIN_DIR"
  wf_changed "created $PLUGIN_DIR"
fi
wf_put "$WF_FILES/08-monitor/check_webfarm_holds" "$PLUGIN_DIR/check_webfarm_holds" 0755
wf_put "$WF_FILES/08-monitor/check_webfarm_ipvs" "$PLUGIN_DIR/check_webfarm_ipvs" 0755

# 4. What the monitor may ask, and from where. server_address and allowed_hosts are read
#    at start only: a changed file restarts NRPE at the end of the chapter.
wf_put "$WF_FILES/08-monitor/nrpe-webfarm.cfg" "$WF_PATH_NRPE_CONF_D/webfarm.cfg" 0644 \
  root:root "$WF_SVC_NRPE"

# 5. EL9 only (a no-op on Debian): firewalld lets in NRPE from the monitor's addresses only.
for src in $NRPE_SOURCES; do
  wf_firewall_rich "rule family=\"ipv4\" source address=\"$src\" port port=\"$NRPE_PORT\" protocol=\"tcp\" accept"
done

# 6. Enabled at boot and running now.
wf_service "$WF_SVC_NRPE"
