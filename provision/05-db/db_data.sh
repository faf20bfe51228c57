# shellcheck shell=bash
# Chapter 05-db, role db_data: a database node that stores data.
#
# Galera has no storage/SQL split: every db_data host is a full node (db_galera_node in
# all.sh; a host that is db_sql too sets its node up only once). NDB splits the work: this
# host runs ndbd, a data node holding a share of every table in memory, in a node group of
# two (NoOfReplicas=2).

if [ "$DB_ENGINE" = galera ]; then
  db_galera_node
  return 0
fi

# ---- MySQL NDB Cluster (EL9): rendered and checked offline, NOT run in this lab's CI --------
db_ndb_repo
# shellcheck disable=SC2086  # WF_PKG_NDB_DATA is a list of package names
wf_install $WF_PKG_NDB_DATA
install -d -m 0750 "$DB_NDB_DATA_DIR"
# The connect string (where ndb_mgmd is) in my.cnf; node id and DataDir come from the
# management node's config.ini, matched by this host's address.
db_ndb_my_cnf
wf_systemd_unit "$WF_FILES/05-db/webfarm-ndbd.service" webfarm-ndbd.service
wf_service webfarm-ndbd
