# shellcheck shell=bash
# Chapter 07-app, app servers: the app uses the database.
#
# Chapter 03 left a page that says "database: not configured yet"; chapters 05 and 06 built
# the cluster and put the db VIP in front of it. This chapter adds, under $WF_PATH_WWW_ROOT/app:
#   db.php                the database credentials (from .lab/secrets.yml) and the VIP's name
#                         and ports: outside the document root, mode 0640 root:nginx's group;
#                         its presence switches chapter 03's page to the real database;
#   lib/database.php      the two connections: writes to the write port, reads to the read
#                         port (causal reads with Galera);
#   lib/session.php       PHP sessions stored in the database (table `sessions`);
#   bin/migrate.php       creates the tables (idempotent; run here, on the first app server);
#   public/guestbook.php, public/api/session.php, public/api/db-health.php: the app, reached
#                         at /guestbook, /api/session and /api/db-health (nginx: 07-app.conf).
# Run on the first app server, then the others (tiers app[0], app[1:]).

# shellcheck source=/dev/null
source "$WF_FILES/07-app/app.env"
app=$WF_PATH_WWW_ROOT/app
site_d=$WF_PATH_NGINX_CONF_D/webfarm-app.d

# 0. Chapter 03 must be recent enough: its server block includes webfarm-app.d/*.conf, and
#    its page reads db.php. Without that this chapter's URLs would simply not exist.
if ! grep -q 'webfarm-app\.d/' "$WF_PATH_NGINX_CONF_D/webfarm-app.conf" 2>/dev/null; then
  echo "07-app: $WF_PATH_NGINX_CONF_D/webfarm-app.conf has no include of $site_d/*.conf:" \
       "run chapter 03-web again first" >&2
  exit 1
fi

# 1. PHP's command line (bin/migrate.php); on Debian php-fpm already brought it.
# shellcheck disable=SC2086  # WF_PKG_PHP_CLI is a list of packages: split it into words
wf_install $WF_PKG_PHP_CLI

# 2. EL9: PHP (httpd_t) may connect to database ports only with httpd_can_network_connect_db
#    (chapter 03 set it), and a "database port" is one SELinux labels mysqld_port_t: 3306 is,
#    the read port is not until we label it (on this host: the label applies to the port
#    PHP connects to). No-op on Debian.
if [ "$WF_SELINUX" = 1 ]; then
  for port in "$DB_WRITE_PORT" "$DB_READ_PORT"; do
    if ! semanage port -l | awk -v p="$port" '$1 == "mysqld_port_t" && $2 == "tcp" {
           for (i = 3; i <= NF; i++) { gsub(",", "", $i); n = split($i, r, "-");
             if ((n == 1 && p == r[1]) || (n == 2 && p >= r[1] && p <= r[2])) found = 1 } }
           END { exit !found }'; then
      semanage port -a -t mysqld_port_t -p tcp "$port" 2>/dev/null ||
        semanage port -m -t mysqld_port_t -p tcp "$port"
      wf_changed "selinux: tcp/$port labelled mysqld_port_t"
    fi
  done
fi

# 3. The app's files. db.php holds the password: root writes it, nginx's group (PHP-FPM's
#    workers) reads it, nobody else. The rest holds no secret.
wf_put "$WF_FILES/07-app/app/db.php" "$app/db.php" 0640 "root:$WF_PATH_NGINX_GROUP"
for file in lib/database.php lib/session.php bin/migrate.php public/guestbook.php \
            public/api/session.php public/api/db-health.php; do
  wf_put "$WF_FILES/07-app/app/$file" "$app/$file" 0644 root:root
done

# 4. nginx: the three URLs, included in chapter 03's server block. Checked, then applied
#    with a reload (the old workers finish their requests), only when the file changed.
#    PHP-FPM needs nothing: it reads the scripts anew (OPcache checks their time stamps).
changes_before=$WF_CHANGES
wf_put "$WF_FILES/07-app/nginx/07-app.conf" "$site_d/07-app.conf" 0644 root:root
if [ "$WF_CHANGES" != "$changes_before" ]; then
  nginx -t -q
  if systemctl is-active --quiet "$WF_SVC_NGINX"; then
    wf_log "reloading $WF_SVC_NGINX (new locations)"
    systemctl reload "$WF_SVC_NGINX"
  fi
fi

# 5. The schema, through the write port. The first app server creates what is missing (and
#    waits, bounded, for the write port: the cluster or its balancers may still be starting);
#    the others check that it is there, which also proves their own way to the database
#    (DNS name, VIP, the grant for their address). Only a created table counts as a change.
if [ "$APP_MIGRATE" = 1 ]; then
  migrated=$(php "$app/bin/migrate.php" --wait 300)
else
  migrated=$(php "$app/bin/migrate.php" --wait 300 --check)
fi
while read -r line; do
  wf_log "migrate: $line"
  case "$line" in "created table "*) wf_changed "database: $line" ;; esac
done <<<"$migrated"

# 6. The app answers through nginx and PHP-FPM: /api/db-health on this host's own address
#    says 200 once both ports answer (a few tries: nginx's new workers start after a reload).
health="http://$WF_ADDR_FRONT/api/db-health"
for try in $(seq 1 15); do
  if answer=$(curl -sf --max-time 15 -H "Host: $APP_SITE" "$health"); then
    wf_log "db-health: $answer"
    break
  fi
  if [ "$try" = 15 ]; then
    echo "07-app: $health does not say 200:" >&2
    curl -s --max-time 15 -H "Host: $APP_SITE" "$health" >&2 || true
    exit 1
  fi
  sleep 2
done
