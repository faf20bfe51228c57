# shellcheck shell=bash
# Chapter 03-web, app servers: nginx + PHP-FPM running the webfarm app.
#
# The app is three small PHP files under $WF_PATH_WWW_ROOT/app:
#   config.php         this host's facts (name, address, the media site's name); outside the
#                      document root and readable only by root and nginx's group;
#   public/index.php   the page: which server answered, for which address, to whom, when,
#                      and the database section: "not configured yet" until chapter 07 puts
#                      db.php (how to reach the db VIP) next to config.php;
#   public/api/whoami.php  the same facts as JSON, for scripts and checks (/api/whoami).
# PHP runs in its own PHP-FPM pool "webfarm" with its own unix socket; nginx passes exactly
# those two scripts to it and answers /health itself (later chapters add their own exact
# locations in webfarm-app.d/, included by the site).

# shellcheck disable=SC2086  # WF_PKG_PHP is a list of packages: split it into words
wf_install $WF_PKG_PHP

wf_put "$WF_FILES/03-web/php-fpm/webfarm.conf" "$WF_PATH_PHP_FPM_POOL_DIR/webfarm.conf" \
  0644 root:root "$WF_SVC_PHP_FPM"

app=$WF_PATH_WWW_ROOT/app
wf_put "$WF_FILES/03-web/app/config.php" "$app/config.php" 0640 "root:$WF_PATH_NGINX_GROUP"
wf_put "$WF_FILES/03-web/app/public/index.php" "$app/public/index.php" 0644 root:root
wf_put "$WF_FILES/03-web/app/public/api/whoami.php" "$app/public/api/whoami.php" 0644 root:root

wf_put "$WF_FILES/03-web/nginx/webfarm-app.conf" "$WF_PATH_NGINX_CONF_D/webfarm-app.conf" \
  0644 root:root "$WF_SVC_NGINX"

# EL9: SELinux stops PHP (running as httpd_t) from opening database connections unless this
# boolean is on; the database chapters need it, so the app server gets it now.
wf_selinux_bool httpd_can_network_connect_db
