#!/bin/sh
# run.sh - "make run": the engine and the gateway in the foreground on
# conf/regflow.conf (or $REGFLOW_CONF); Ctrl-C stops both cleanly.
set -u
CONF=${REGFLOW_CONF:-conf/regflow.conf}
BIN=${REGFLOW_BIN:-bin}
mkdir -p var spool
chmod 600 conf/tokens 2>/dev/null # the engine warns about a token file others can read
"$BIN/regflowd" -c "$CONF" &
engine=$!
"$BIN/regflow-gw" -c "$CONF" &
gw=$!
stop() {
	kill -TERM "$engine" "$gw" 2>/dev/null
	wait "$engine" "$gw" 2>/dev/null
	exit 0
}
trap stop INT TERM
echo "regflow: engine pid $engine on http://127.0.0.1:7800, gateway pid $gw; mail lands in var/sink/ (Ctrl-C stops)" >&2
# if either dies, stop the other
while kill -0 "$engine" 2>/dev/null && kill -0 "$gw" 2>/dev/null; do
	sleep 1
done
echo "regflow: a daemon exited; stopping" >&2
stop
