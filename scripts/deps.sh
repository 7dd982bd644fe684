#!/bin/sh
# deps.sh - install the Debian packages a task needs, non-interactively,
# and only those that are missing.
#
#   scripts/deps.sh run     build and run (make run)
#   scripts/deps.sh test    and the test peers and checkers (make test)
#   scripts/deps.sh bench   and the load generators and anchors (make bench)
#   scripts/deps.sh fuzz    and clang with its fuzzing runtime (make fuzz)
set -eu
BUILD="build-essential pkg-config
libuv1-dev libcurl4-openssl-dev libesmtp-dev libtokyocabinet-dev libconfig-dev
libhttp-parser-dev libjansson-dev libsodium-dev libargon2-dev libjpeg-dev libpng-dev libgif-dev libssl-dev openssl libopendkim-dev libgmime-3.0-dev libpq-dev"
TEST="check cppcheck clang-format clang-tidy postfix sasl2-bin libsasl2-modules
kannel kannel-extras faketime curl python3 procps tokyocabinet-bin strace
python3-dkim opendkim-tools python3-pil graphviz postgresql"
BENCH="wrk redis-server redis-tools nghttp2-client apache2-utils python3-uvloop"
FUZZ="clang libclang-rt-14-dev"
case "${1:-test}" in
run) PKGS="$BUILD" ;;
test) PKGS="$BUILD $TEST" ;;
bench) PKGS="$BUILD $TEST $BENCH" ;;
fuzz) PKGS="$BUILD $TEST $FUZZ" ;;
*) echo "usage: deps.sh run|test|bench|fuzz" >&2; exit 2 ;;
esac
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
