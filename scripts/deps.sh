#!/bin/sh
# deps.sh - install the Debian packages that building, running and testing
# regflow need, non-interactively, and only those that are missing.
set -eu
PKGS="build-essential pkg-config cppcheck
libuv1-dev libcurl4-openssl-dev libesmtp-dev libtokyocabinet-dev libconfig-dev
libhttp-parser-dev libjansson-dev libsodium-dev libmagic-dev check
libssl-dev openssl postfix sasl2-bin libsasl2-modules
kannel kannel-extras faketime curl python3 procps tokyocabinet-bin strace clang libclang-rt-14-dev"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: need root to install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
