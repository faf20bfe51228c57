# shellcheck shell=bash
# Chapter 05-db, every DB host (db_mgmt, db_data, db_sql): the facts from lab.yml, the
# firewall, and the steps the role scripts call.
#
# Which engine, which host bootstraps, whether this host runs the arbitrator: all of it was
# decided on the workstation (webfarm/dbplan.py) and written into db.env. The role scripts only
# dispatch on those values. A host can have several DB roles (in the mini profile db1 is
# db_data and db_sql): the Galera node is set up once per host, by the first role script that
# asks for it.

# shellcheck source=/dev/null
source "$WF_FILES/05-db/db.env"

DB_STATE=/var/lib/webfarm/05-db # markers: this node has been a cluster member, users applied
mkdir -p "$DB_STATE"

# EL9 only (no-ops on Debian): firewalld opens exactly this host's database ports.
# shellcheck disable=SC2086  # DB_FIREWALL_PORTS is a list of PORT/PROTO words
wf_firewall_open $DB_FIREWALL_PORTS

# =============================================================================================
# Talking to the local server: as its root, over the unix socket (MariaDB's root@localhost
# logs in by the socket's peer credentials, with no password; MySQL's root has one, in
# /root/.my.cnf). Never over the network.

db_root_sql() {
  # db_root_sql [CLIENT OPTIONS...]: the SQL client as the server's root, rows tab-separated.
  if [ "$DB_ENGINE" = ndb ]; then
    "$DB_CLIENT" --defaults-extra-file=/root/.my.cnf -N -B "$@"
  else
    "$DB_CLIENT" -N -B "$@"
  fi
}

db_status() {
  # db_status NAME: a global status value of the local server ('' when it does not answer).
  db_root_sql --connect-timeout=5 -e "SHOW GLOBAL STATUS LIKE '$1'" 2>/dev/null | cut -f2 || true
}

db_apply_users() {
  # The database, the app user and the monitor user (users.sql, rendered from lab.yml), applied
  # only when the rendered file differs from the copy applied last time: a second run sends
  # nothing to the server. The copy is kept only once the server has taken the file.
  local applied=$DB_STATE/users.sql
  if [ -f "$applied" ] && cmp -s "$WF_FILES/05-db/users.sql" "$applied"; then
    return 0
  fi
  wf_log "applying users.sql (the app database, the app and monitor users) as root over the local socket"
  db_root_sql <"$WF_FILES/05-db/users.sql"
  wf_put "$WF_FILES/05-db/users.sql" "$applied" 0600 root:root
}

db_health_agent() {
  # The node's health agent: systemd listens on DB_ADDRESS:DB_HEALTH_PORT and hands the socket
  # to webfarm-dbcheck, one Python process running as its own system user, which alone can
  # read the monitor user's password. It keeps one client connection to the server and asks
  # it every second; HAProxy (chapter 06) asks the agent GET / and gets 200 or 503. (A client
  # per check costs about a second of CPU on an emulated guest: measured, too slow.)
  if ! id "$DB_HEALTH_USER" >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$DB_HEALTH_USER"
    wf_changed "created system user $DB_HEALTH_USER"
  fi
  wf_put "$WF_FILES/05-db/webfarm-dbcheck" /usr/local/libexec/webfarm-dbcheck 0755 root:root \
    webfarm-dbcheck.service
  wf_put "$WF_FILES/05-db/dbcheck.cnf" /etc/webfarm/dbcheck.cnf 0400 \
    "$DB_HEALTH_USER:$DB_HEALTH_USER" webfarm-dbcheck.service
  wf_systemd_unit "$WF_FILES/05-db/webfarm-dbcheck.socket" webfarm-dbcheck.socket
  wf_systemd_unit "$WF_FILES/05-db/webfarm-dbcheck.service" webfarm-dbcheck.service
  wf_service webfarm-dbcheck.socket
  wf_service webfarm-dbcheck.service
}

db_selinux_ports() {
  # EL9 only: mysqld (mysqld_t) may bind only ports labelled mysqld_port_t; Galera's group,
  # IST and SST ports are not (4444 and 4567 even carry other labels), so relabel them.
  [ "$WF_SELINUX" = 1 ] || return 0
  local port
  for port in $DB_SELINUX_PORTS; do
    if ! semanage port -l | awk -v p="$port" '$1 == "mysqld_port_t" && $2 == "tcp" {
           for (i = 3; i <= NF; i++) { gsub(",", "", $i); if ($i == p) found = 1 } }
         END { exit !found }'; then
      semanage port -a -t mysqld_port_t -p tcp "$port" 2>/dev/null ||
        semanage port -m -t mysqld_port_t -p tcp "$port"
      wf_changed "selinux: tcp/$port labelled mysqld_port_t"
    fi
  done
}

# =============================================================================================
# Galera: one node per db_data/db_sql host

galera_local_primary() {
  # Is the local server a member of the primary component (the part of the cluster that has
  # quorum) and ready for queries?
  [ "$(db_status wsrep_cluster_status)" = Primary ] && [ "$(db_status wsrep_ready)" = ON ]
}

galera_peer_primary() {
  # Does another node run in a primary component? Its health agent says so in its one line
  # ("db2 Synced Primary ..."; a donor says "Donor/Desynced Primary": still a cluster).
  local peer
  for peer in $DB_PEERS; do
    if curl -s --max-time 5 "http://$peer:$DB_HEALTH_PORT/" 2>/dev/null | grep -q ' Primary '; then
      return 0
    fi
  done
  return 1
}

galera_safe_to_bootstrap() {
  # grastate.dat says safe_to_bootstrap: 1 only on the node that left the cluster last, in
  # an orderly shutdown: it has every committed transaction.
  grep -q '^safe_to_bootstrap: *1' "$WF_PATH_MYSQL_DATADIR/grastate.dat" 2>/dev/null
}

galera_start() {
  # Bring the (stopped, standalone or cut-off) local server into the cluster. Sets
  # DB_GALERA_WAITING=1 when it cannot be done from here now (the whole cluster is down and
  # another node must start it); mariadb then keeps trying to join (Restart=on-failure).
  local peer_up=0
  if galera_peer_primary; then peer_up=1; fi
  if [ "$peer_up" = 1 ]; then
    wf_log "joining the running cluster (state transfer from a donor: IST, or a full SST)"
    systemctl restart "$WF_SVC_MARIADB"
    wf_changed "joined the Galera cluster"
  elif [ "$DB_BOOTSTRAP" = 1 ] && [ ! -e "$DB_STATE/galera-member" ]; then
    wf_log "no node runs the cluster and this is the bootstrap node: galera_new_cluster"
    galera_new_cluster "$WF_SVC_MARIADB.service"
    wf_changed "bootstrapped a new Galera cluster"
  elif galera_safe_to_bootstrap; then
    wf_log "the whole cluster is down and this node left it last (safe_to_bootstrap: 1):" \
      "starting it again from here with galera_new_cluster"
    galera_new_cluster "$WF_SVC_MARIADB.service"
    wf_changed "bootstrapped the Galera cluster again"
  elif [ -e "$DB_STATE/galera-member" ]; then
    wf_log "WARNING: the whole cluster is down and another node left it last" \
      "(grastate.dat here: safe_to_bootstrap: 0). Not bootstrapping from a node that may" \
      "miss transactions: run the chapter on the other nodes; the node with" \
      "safe_to_bootstrap: 1 starts the cluster and this one joins by itself."
    systemctl restart --no-block "$WF_SVC_MARIADB"
    wf_changed "mariadb left trying to join the cluster"
    DB_GALERA_WAITING=1
  else
    wf_log "no node answers Primary yet: trying to join (the bootstrap node runs first)"
    systemctl restart "$WF_SVC_MARIADB"
    wf_changed "joined the Galera cluster"
  fi
}

galera_wait_synced() {
  # Wait (bounded) until the local node is Synced in the primary component. A first join
  # copies the whole data directory (SST): minutes on an emulated (TCG) guest.
  local deadline=$((SECONDS + DB_SYNC_TIMEOUT)) state cluster
  while :; do
    state=$(db_status wsrep_local_state_comment)
    cluster=$(db_status wsrep_cluster_status)
    if [ "$state" = Synced ] && [ "$cluster" = Primary ]; then
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      wf_log "not Synced after ${DB_SYNC_TIMEOUT}s: state ${state:-none}, cluster ${cluster:-none}" \
        "(see journalctl -u $WF_SVC_MARIADB)" >&2
      return 1
    fi
    sleep 5
  done
}

galera_conf_differs() {
  # galera_conf_differs NEW OLD: do the two node configurations differ in anything but
  # comments and wsrep_cluster_address?
  local filter='/^[[:space:]]*(#|$)/d; /^[[:space:]]*wsrep_cluster_address[[:space:]]*=/d'
  ! cmp -s <(sed -E "$filter" "$1") <(sed -E "$filter" "$2")
}

db_galera_node() {
  # Everything a Galera node needs, once per host whatever its number of DB roles.
  [ "${DB_GALERA_NODE_DONE:-0}" = 1 ] && return 0
  DB_GALERA_NODE_DONE=1

  # 1. Packages: MariaDB, its client and the Galera 4 library. Debian's package starts a
  #    standalone server at once (wsrep off, on 127.0.0.1): step 4 restarts it as a node.
  # shellcheck disable=SC2086  # WF_PKG_GALERA is a list of package names
  wf_install $WF_PKG_GALERA

  # 2. The node's configuration (a file that sorts after the distribution's own), and a
  #    unit drop-in so that a node that found no cluster at boot keeps trying to join.
  #    A new or departing node changes only wsrep_cluster_address (and the comment that counts
  #    the nodes): that list is read when a node starts and looks for the cluster, while a
  #    running node learns every member from the cluster itself. So such a change is written
  #    for the next start and restarts nothing (a scale of the DB tier never restarts the
  #    nodes that stay); any other change of the file, or of the drop-in, restarts this node.
  local conf="$WF_PATH_MYSQL_CONF_D/90-webfarm-galera.cnf" before config_changed=0
  DB_GALERA_WAITING=0
  before=$WF_CHANGES
  wf_put "$WF_FILES/05-db/mariadb-webfarm.conf" \
    "/etc/systemd/system/$WF_SVC_MARIADB.service.d/webfarm.conf" 0644 root:root
  if [ "$WF_CHANGES" != "$before" ]; then
    config_changed=1
    systemctl daemon-reload
  fi
  local list_only=0
  if [ -f "$conf" ] && ! galera_conf_differs "$WF_FILES/05-db/90-webfarm-galera.cnf" "$conf"
  then
    list_only=1
  fi
  before=$WF_CHANGES
  wf_put "$WF_FILES/05-db/90-webfarm-galera.cnf" "$conf" 0644 root:root
  if [ "$WF_CHANGES" != "$before" ] && [ "$list_only" = 1 ]; then
    wf_log "only the node list (wsrep_cluster_address) changed: written for the next start," \
      "this running node is not restarted"
  elif [ "$WF_CHANGES" != "$before" ]; then
    config_changed=1
  fi
  db_selinux_ports
  if ! systemctl is-enabled --quiet "$WF_SVC_MARIADB" 2>/dev/null; then
    systemctl enable --quiet "$WF_SVC_MARIADB"
    wf_changed "enabled $WF_SVC_MARIADB"
  fi

  # 3. The health agent, before the server: the other nodes ask it whether a cluster runs.
  db_health_agent

  # 4. Into the cluster. A node already in the primary component is left alone unless its
  #    configuration changed: then only this node restarts, and rejoins the others (by IST:
  #    the write-sets it missed are still in their cache). Otherwise see galera_start.
  if galera_local_primary; then
    if [ "$config_changed" = 1 ]; then
      wf_log "new configuration: restarting this node only"
      systemctl stop "$WF_SVC_MARIADB"
      galera_start
    fi
  else
    galera_start
  fi
  [ "$DB_GALERA_WAITING" = 0 ] || return 0

  # 5. Synced (bounded wait), then remembered: from now on this node only ever bootstraps
  #    from grastate.dat's safe_to_bootstrap, never as "the first node" again.
  galera_wait_synced
  touch "$DB_STATE/galera-member"

  # 6. Users and the app's database: once, on the bootstrap node; Galera copies them to the
  #    others (CREATE USER, GRANT and DROP USER are replicated).
  if [ "$DB_BOOTSTRAP" = 1 ]; then
    db_apply_users
  fi
}

# =============================================================================================
# Galera arbitrator (the db_mgmt host, when the number of nodes is even)

db_galera_arbitrator() {
  # shellcheck disable=SC2086  # WF_PKG_ARBITRATOR is a list of package names
  wf_install $WF_PKG_ARBITRATOR
  # garbd runs as nobody; it keeps its view of the cluster (gvwstate.dat) in its work dir.
  if [ ! -d /var/lib/garb ]; then
    install -d -m 0700 -o nobody -g "$(id -gn nobody)" /var/lib/garb
    wf_changed "created /var/lib/garb"
  fi
  local before=$WF_CHANGES
  wf_put "$WF_FILES/05-db/garb" "$WF_PATH_GARB_CONF" 0644 root:root "$WF_SVC_GARB"
  wf_put "$WF_FILES/05-db/garb-webfarm.conf" \
    "/etc/systemd/system/$WF_SVC_GARB.service.d/webfarm.conf" 0644 root:root "$WF_SVC_GARB"
  if [ "$WF_CHANGES" != "$before" ]; then systemctl daemon-reload; fi
  wf_service "$WF_SVC_GARB"
  wf_restart_pending
  # Bounded wait until garbd holds a connection to a node's group port: it is in the cluster.
  local deadline=$((SECONDS + 180))
  until ss -H -t -n state established "( sport = :$DB_GROUP_PORT or dport = :$DB_GROUP_PORT )" |
        grep -q .; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      wf_log "garbd has no connection to any node after 180 s (journalctl -u $WF_SVC_GARB)" >&2
      return 1
    fi
    sleep 3
  done
}

# =============================================================================================
# MySQL NDB Cluster (EL9 only). Rendered and checked offline; NOT run in this lab's CI,
# which has only Debian 12 (no NDB packages there). Start order: management, data, SQL nodes
# (the chapter's tiers).

db_ndb_repo() {
  # The MySQL Cluster packages come from Oracle's repository (the release package, then the
  # cluster channel instead of the plain server's).
  if ! rpm -q mysql84-community-release >/dev/null 2>&1; then
    dnf install -y -q https://repo.mysql.com/mysql84-community-release-el9.rpm
    dnf config-manager --disable mysql-8.4-lts-community
    dnf config-manager --enable mysql-cluster-8.4-lts-community
    wf_changed "MySQL Cluster repository enabled"
  fi
}

db_ndb_my_cnf() {
  # my.cnf of a data and/or SQL node (one file, both daemons read it): a change restarts the
  # daemons of this host's roles.
  local before=$WF_CHANGES
  wf_put "$WF_FILES/05-db/ndb-my.cnf" "$WF_PATH_NDB_MY_CNF" 0644 root:root
  if [ "$WF_CHANGES" != "$before" ]; then
    if [ "$DB_NDB_DATA" = 1 ] && systemctl is-active --quiet webfarm-ndbd; then
      wf_mark_restart webfarm-ndbd
    fi
    if [ "$DB_NDB_SQL" = 1 ] && systemctl is-active --quiet "$WF_SVC_MYSQLD"; then
      wf_mark_restart "$WF_SVC_MYSQLD"
    fi
  fi
  return 0
}

db_ndb_wait_ready() {
  # Bounded wait until this SQL node sees at least one ready data node.
  local deadline=$((SECONDS + DB_SYNC_TIMEOUT)) ready
  while :; do
    ready=$(db_status Ndb_number_of_ready_data_nodes)
    if [ "${ready:-0}" -gt 0 ] 2>/dev/null; then return 0; fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      wf_log "mysqld sees no ready NDB data node after ${DB_SYNC_TIMEOUT}s" >&2
      return 1
    fi
    sleep 5
  done
}
