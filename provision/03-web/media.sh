# shellcheck shell=bash
# Chapter 03-web, media servers: nginx serving the app's images, CSS and JavaScript.
#
# The files go to $WF_PATH_WWW_ROOT/media/static/ and are served as http://media.DOMAIN/static/
# with their exact Content-Type, "Cache-Control: public, max-age=86400", ETag and
# Last-Modified, and gzip for the text types (see webfarm-media.conf). The PNG travels as
# base64 text in the project (templates are text) and is decoded here.

static=$WF_PATH_WWW_ROOT/media/static
for file in site.css app.js logo.svg; do
  wf_put "$WF_FILES/03-web/static/$file" "$static/$file" 0644 root:root
done

wf_mktemp png
# shellcheck disable=SC2154  # png is set by wf_mktemp
base64 -d "$WF_FILES/03-web/static/tile.png.b64" >"$png"
wf_put "$png" "$static/tile.png" 0644 root:root
wf_rmtemp "$png"

wf_put "$WF_FILES/03-web/nginx/webfarm-media.conf" "$WF_PATH_NGINX_CONF_D/webfarm-media.conf" \
  0644 root:root "$WF_SVC_NGINX"
