# shellcheck shell=bash
# Chapter 01-base, the client host: the tools of the "internet user" the drills measure from.
#   curl  fetches the sites through the VIPs (www, media), like a browser would;
#   dig   asks the lab's name servers directly (chapter 02);
#   wrk   a small HTTP load generator (Debian only; EL9 has no package for it).

# shellcheck disable=SC2086  # WF_PKG_CLIENT is a list of packages: split it into words
wf_install $WF_PKG_CLIENT
