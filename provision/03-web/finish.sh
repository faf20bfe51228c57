# shellcheck shell=bash
# Chapter 03-web, every web host, last step: label, check, start.
#
# EL9: files under $WF_PATH_WWW_ROOT get the SELinux type httpd_sys_content_t, the type nginx
# and PHP-FPM may read (a rule for the whole tree, then restorecon). Then the configs are
# checked with the daemons' own checkers before anything restarts (a typo stops the chapter
# here, with nginx's or PHP-FPM's message, while the old config still runs), and the services
# are enabled and started. Services whose files changed restart after this step.

wf_selinux_fcontext httpd_sys_content_t "$WF_PATH_WWW_ROOT"

nginx -t -q
if wf_has_role app; then
  # php-fpm -t reports success on stderr too: show its words only when it fails
  if ! fpm_test=$("$WF_PATH_PHP_FPM_BIN" -t 2>&1); then
    echo "$fpm_test" >&2
    false
  fi
  wf_service "$WF_SVC_PHP_FPM"
fi
wf_service "$WF_SVC_NGINX"
