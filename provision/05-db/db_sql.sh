# shellcheck shell=bash
# Chapter 05-db, role db_sql: a database node that answers SQL.
#
# Galera: every db_sql host is a full node (db_galera_node in all.sh: the same node as a
# db_data host; set up once per host). NDB: this host runs mysqld with the ndbcluster engine,
# an SQL front end whose NDBCLUSTER tables live in the data nodes; each SQL node keeps its own
# users, so each applies users.sql itself.

if [ "$DB_ENGINE" = galera ]; then
  db_galera_node
  return 0
fi

# ---- MySQL NDB Cluster (EL9): rendered and checked offline, NOT run in this lab's CI --------
db_ndb_repo
# shellcheck disable=SC2086  # WF_PKG_NDB_SQL is a list of package names
wf_install $WF_PKG_NDB_SQL
db_ndb_my_cnf
wf_put "$WF_FILES/05-db/root.cnf" /root/.my.cnf 0600 root:root
wf_service "$WF_SVC_MYSQLD"
# The first start of MySQL's server writes a temporary root password into its log: replace
# it with db_root_password (from .lab/secrets.yml, in /root/.my.cnf).
if ! db_root_sql -e 'SELECT 1' >/dev/null 2>&1; then
  temporary=$(sed -n 's/.*temporary password is generated for root@localhost: //p' \
    /var/log/mysqld.log | tail -n 1)
  password=$(sed -n 's/^password = "\(.*\)"$/\1/p' /root/.my.cnf)
  mysql --connect-expired-password -uroot -p"$temporary" \
    -e "ALTER USER 'root'@'localhost' IDENTIFIED BY '$password'"
  unset temporary password
  wf_changed "root@localhost password set"
fi
db_ndb_wait_ready
db_health_agent
db_apply_users
