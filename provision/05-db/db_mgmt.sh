# shellcheck shell=bash
# Chapter 05-db, role db_mgmt: the cluster's third party.
#
# Galera: the operator's console (a MariaDB client), and, when the number of nodes is even,
# garbd, the arbitrator: a member that votes but stores nothing, so that a failure taking half
# the nodes still leaves a majority (with an odd number of nodes there is nothing to add, and
# a garbd left from an even count is stopped).
# NDB: ndb_mgmd, the management node: it hands config.ini to every data and SQL node and
# arbitrates when the data nodes lose sight of each other. It starts first.

if [ "$DB_ENGINE" = galera ]; then
  # shellcheck disable=SC2086  # WF_PKG_DB_CLIENT is a list of package names
  wf_install $WF_PKG_DB_CLIENT
  if [ "$DB_ARBITRATOR" = 1 ]; then
    db_galera_arbitrator
  else
    # an odd number of nodes: a garbd left from an even count (before a node was added) is
    # stopped and disabled; it leaves the cluster cleanly. A no-op where it never ran.
    wf_service_off "$WF_SVC_GARB"
  fi
  return 0
fi

# ---- MySQL NDB Cluster (EL9): rendered and checked offline, NOT run in this lab's CI --------
db_ndb_repo
# shellcheck disable=SC2086  # WF_PKG_NDB_MGMT is a list of package names
wf_install $WF_PKG_NDB_MGMT
install -d -m 0750 "$DB_NDB_DATA_DIR"
before=$WF_CHANGES
wf_put "$WF_FILES/05-db/config.ini" "$DB_NDB_DATA_DIR/config.ini" 0644 root:root
config_changed=0
if [ "$WF_CHANGES" != "$before" ]; then config_changed=1; fi
wf_systemd_unit "$WF_FILES/05-db/webfarm-ndb-mgmd.service" webfarm-ndb-mgmd.service
# ndb_mgmd keeps the configuration it served in its config cache (--configdir): --initial
# the first time (no cache yet), --reload when config.ini changed, nothing otherwise. The
# flags are for one start only.
flags=
if [ ! -e "$DB_STATE/ndb-mgmd-initialized" ]; then
  flags=--initial
elif [ "$config_changed" = 1 ]; then
  flags=--reload
fi
if [ -n "$flags" ]; then
  printf 'NDB_MGMD_FLAGS=%s\n' "$flags" >"$DB_STATE/ndb_mgmd.env"
  systemctl restart webfarm-ndb-mgmd
  wf_changed "ndb_mgmd started with $flags"
  sleep 5
  rm -f "$DB_STATE/ndb_mgmd.env"
  touch "$DB_STATE/ndb-mgmd-initialized"
fi
wf_service webfarm-ndb-mgmd
# Bounded wait until the management node answers (ndb_mgm -e show lists the nodes).
deadline=$((SECONDS + 120))
until ndb_mgm --connect-string="$DB_ADDRESS:$DB_NDB_MGM_PORT" -e show >/dev/null 2>&1; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    wf_log "ndb_mgmd does not answer on $DB_ADDRESS:$DB_NDB_MGM_PORT after 120 s" >&2
    return 1
  fi
  sleep 3
done
