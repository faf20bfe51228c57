# shellcheck shell=bash
# Chapter 08-monitor, role monitor: Nagios Core watches every host, service, pair and VIP.
#
# Everything Nagios knows comes from lab.yml: the rendered object files list one host per VM
# and per VIP, host groups per role, service groups per tier, and every service
# (webfarm/monitor.py). Adding a host to lab.yml and running this chapter again adds its
# checks. Apache serves the web UI on the front address, behind the lab's password.

# 1. Names, addresses and the UI password (rendered from lab.yml and .lab/secrets.yml).
# shellcheck source=/dev/null
source "$WF_FILES/08-monitor/monitor.env"

# 2. Packages: Nagios Core, the plugins, check_nrpe, Apache for the CGIs.
# shellcheck disable=SC2086  # WF_PKG_NAGIOS is a list of package names
wf_install $WF_PKG_NAGIOS

# 3. The lab's plugins for the checks made from here (DNS answers and serials, which holder
#    has a VIP, HAProxy's servers) and the notification command.
if [ ! -d "$PLUGIN_DIR" ]; then
  install -d -m 0755 "$PLUGIN_DIR"
  wf_changed "created $PLUGIN_DIR"
fi
for plugin in check_webfarm_dns check_webfarm_serial check_webfarm_vip check_webfarm_haproxy \
              webfarm-notify; do
  wf_put "$WF_FILES/08-monitor/plugins/$plugin" "$PLUGIN_DIR/$plugin" 0755
done

# 4. The DB monitor user's login (check_mysql reads it with -f; no password on a command
#    line) and the $USERn$ macros: readable by Nagios, nobody else.
wf_put "$WF_FILES/08-monitor/webfarm-mysql.cnf" "$NAGIOS_CONF_DIR/$MYSQL_OPTIONS" 0640 \
  "root:$WF_PATH_NAGIOS_USER"
wf_put "$WF_FILES/08-monitor/resource.cfg" "$WF_PATH_NAGIOS_RESOURCE" 0640 \
  "root:$WF_PATH_NAGIOS_USER"

# 5. The object files. Nagios checks the whole new configuration first: nagios -v on a copy
#    that reads the rendered objects from a scratch directory (Nagios reads objects as its
#    own user, so the copy is readable by that user); a rejected set stops the chapter and
#    the running configuration is left as it was.
verify_dir=$(mktemp -d)
wf_on_exit rm -rf -- "$verify_dir"
cp -r "$WF_FILES/08-monitor/objects" "$WF_FILES/08-monitor/resource.cfg" "$verify_dir/"
sed -e "s#^cfg_dir=.*#cfg_dir=$verify_dir/objects#" \
    -e "s#^resource_file=.*#resource_file=$verify_dir/resource.cfg#" \
    "$WF_FILES/08-monitor/nagios.cfg" >"$verify_dir/nagios.cfg"
chgrp -R "$WF_PATH_NAGIOS_USER" "$verify_dir"
chmod -R g+rX "$verify_dir"
if ! check=$("$WF_PATH_NAGIOS_BIN" -v "$verify_dir/nagios.cfg" 2>&1); then
  printf '%s\n' "$check" | grep -Ei 'error|warning' >&2 || printf '%s\n' "$check" >&2
  echo "08-monitor: nagios rejected the rendered configuration in $WF_FILES/08-monitor;" \
       "$WF_PATH_NAGIOS_OBJECTS is unchanged" >&2
  exit 1
fi
if [ ! -d "$WF_PATH_NAGIOS_OBJECTS" ]; then
  install -d -m 0755 "$WF_PATH_NAGIOS_OBJECTS"
  wf_changed "created $WF_PATH_NAGIOS_OBJECTS"
fi
for src in "$WF_FILES"/08-monitor/objects/*.cfg; do
  wf_put "$src" "$WF_PATH_NAGIOS_OBJECTS/${src##*/}" 0644 root:root "$WF_SVC_NAGIOS"
done
# a file lab.yml no longer produces (a role that left the lab) goes
for dest in "$WF_PATH_NAGIOS_OBJECTS"/*.cfg; do
  [ -e "$dest" ] || continue
  if [ ! -e "$WF_FILES/08-monitor/objects/${dest##*/}" ]; then
    rm -f "$dest"
    wf_changed "removed $dest"
    wf_mark_restart "$WF_SVC_NAGIOS"
  fi
done
wf_put "$WF_FILES/08-monitor/cgi.cfg" "$WF_PATH_NAGIOS_CGI_CFG" 0644 root:root
wf_put "$WF_FILES/08-monitor/nagios.cfg" "$WF_PATH_NAGIOS_CONF" 0644 root:root "$WF_SVC_NAGIOS"
# where check results are spooled (the package makes it on Debian)
if [ ! -d "$WF_PATH_NAGIOS_VAR/spool/checkresults" ]; then
  install -d -m 0750 -o "$WF_PATH_NAGIOS_USER" -g "$WF_PATH_NAGIOS_USER" \
    "$WF_PATH_NAGIOS_VAR/spool/checkresults"
  wf_changed "created $WF_PATH_NAGIOS_VAR/spool/checkresults"
fi
# the notification log exists from the start (a drill reads it; Nagios appends to it)
if [ ! -e "$NOTIFY_LOG" ]; then
  install -m 0644 -o "$WF_PATH_NAGIOS_USER" -g "$WF_PATH_NAGIOS_USER" /dev/null "$NOTIFY_LOG"
  wf_changed "created $NOTIFY_LOG"
fi

# 6. The web UI's password (bcrypt, in Apache's password file): rewritten only when the one
#    in .lab/secrets.yml no longer matches. The password goes through stdin, never argv.
if ! printf '%s' "$UI_PASSWORD" | htpasswd -v -i "$WF_PATH_NAGIOS_HTPASSWD" "$UI_USER" \
     >/dev/null 2>&1; then
  printf '%s' "$UI_PASSWORD" | htpasswd -c -B -i "$WF_PATH_NAGIOS_HTPASSWD" "$UI_USER" 2>/dev/null
  wf_changed "set the web UI password of $UI_USER"
fi
if [ "$(stat -c '%a %U:%G' "$WF_PATH_NAGIOS_HTPASSWD")" != "640 root:$WF_PATH_APACHE_GROUP" ]; then
  chown "root:$WF_PATH_APACHE_GROUP" "$WF_PATH_NAGIOS_HTPASSWD"
  chmod 0640 "$WF_PATH_NAGIOS_HTPASSWD"
  wf_changed "$WF_PATH_NAGIOS_HTPASSWD: 0640 root:$WF_PATH_APACHE_GROUP"
fi

# 7. Apache: our site on the front address, nothing else. Debian: the package's snippet
#    (any private address, no password) and the default site go; CGIs need mod_cgi.
wf_put "$WF_FILES/08-monitor/apache-ports.conf" "$WF_PATH_APACHE_PORTS" 0644 root:root \
  "$WF_SVC_APACHE"
wf_put "$WF_FILES/08-monitor/apache-nagios.conf" "$WF_PATH_APACHE_CONF" 0644 root:root \
  "$WF_SVC_APACHE"
if [ "$WF_OS_FAMILY" = debian12 ]; then
  if ! a2query -q -m cgi; then
    a2enmod -q cgi >/dev/null
    wf_changed "enabled Apache's cgi module"
    wf_mark_restart "$WF_SVC_APACHE"
  fi
  if a2query -q -c nagios4-cgi; then
    a2disconf -q nagios4-cgi >/dev/null
    wf_changed "disabled the package's nagios4-cgi snippet"
    wf_mark_restart "$WF_SVC_APACHE"
  fi
  if a2query -q -s 000-default; then
    a2dissite -q 000-default >/dev/null
    wf_changed "disabled Apache's default site"
    wf_mark_restart "$WF_SVC_APACHE"
  fi
  if ! a2query -q -s webfarm-nagios; then
    a2ensite -q webfarm-nagios >/dev/null
    wf_changed "enabled the webfarm-nagios site"
    wf_mark_restart "$WF_SVC_APACHE"
  fi
  if ! check=$(apache2ctl configtest 2>&1); then
    printf '%s\n' "$check" >&2
    echo "08-monitor: Apache rejected its configuration" >&2
    exit 1
  fi
fi

if [ "$WF_OS_FAMILY" = el9 ] && grep -q '^Listen 80$' /etc/httpd/conf/httpd.conf; then
  # httpd.conf's own "Listen 80" (every address) gives way to the UI address only
  sed -i 's/^Listen 80$/# Listen 80  (webfarm: see webfarm-listen.conf)/' /etc/httpd/conf/httpd.conf
  wf_changed "httpd listens on the UI address only"
  wf_mark_restart "$WF_SVC_APACHE"
fi

# 8. EL9 only (no-ops on Debian): the UI from the front network; SELinux lets Apache's CGIs
#    read Nagios's status (the EPEL policy module does), NRPE answers as above.
wf_firewall_rich "rule family=\"ipv4\" source address=\"$UI_NETWORK\" port port=\"80\" protocol=\"tcp\" accept"

# 9. Enabled at boot and running now (a changed file restarts them at the end).
wf_service "$WF_SVC_NAGIOS"
wf_service "$WF_SVC_APACHE"
