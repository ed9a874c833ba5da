#!/usr/bin/env bash
# The system packages the tests use, installed before anything else: Debian's chromium (the browser
# tests drive /usr/bin/chromium) and nginx (the team-serving test starts its own from
# deploy/nginx-rnnpanel.conf). As root it installs them with apt-get, with sudo where there is
# one; otherwise it names the packages and the command, and exits 1 so nothing else runs.
# Installing nginx must not leave the system's nginx service on port 80 (Debian starts it on
# install where systemd runs): the service this script installed is stopped and disabled.
set -euo pipefail

runnable() { [ -f "$1" ] && [ -x "$1" ]; }   # bash's `command -v` also names a file it cannot run
missing=()
runnable /usr/bin/chromium || missing+=(chromium)
runnable "$(command -v nginx 2>/dev/null)" || runnable /usr/sbin/nginx || missing+=(nginx)
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "[setup] the tests need Chromium at /usr/bin/chromium and nginx, missing here (${missing[*]});" \
         "install them with your system's package manager, then run this again" >&2
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "[setup] the tests need the Debian packages ${missing[*]}, and installing them needs root;" \
         "as root run: apt-get install -y ${missing[*]}" >&2
    exit 1
fi

echo "[setup] installing ${missing[*]} for the browser and team-serving tests"
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q "${missing[@]}"
if [[ " ${missing[*]} " == *" nginx "* ]] && command -v systemctl >/dev/null 2>&1 \
        && systemctl is-active --quiet nginx 2>/dev/null; then
    echo "[setup] stopping and disabling the nginx service the install started (the tests start their own)"
    "${as_root[@]}" systemctl disable --now nginx
fi
