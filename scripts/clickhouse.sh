#!/usr/bin/env bash
# A private ClickHouse server on loopback for tests and local runs.
#   scripts/clickhouse.sh install  install Debian's clickhouse-server and -client if missing
#   scripts/clickhouse.sh start    install Debian's clickhouse-server if missing, start a server
#                                  with its own data directory on free loopback ports, wait
#                                  until it answers; prints the URL. Idempotent.
#   scripts/clickhouse.sh stop     stop the server this script started (and only that one)
#   scripts/clickhouse.sh status   running or not, with ports
#   scripts/clickhouse.sh url      tcp://127.0.0.1:PORT (for --clickhouse-url)
# CH_DIR (default: target/clickhouse) holds data, config, log, pid and ports; a restart
# reuses the same ports, so a running load can reconnect.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${CH_DIR:-target/clickhouse}
mkdir -p "$D"
D=$(cd "$D" && pwd)
exec 9>"$D/.lock"
flock 9

running() { [ -f "$D/server.pid" ] && kill -0 "$(cat "$D/server.pid")" 2>/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

install() {
    command -v clickhouse-server >/dev/null && command -v clickhouse-client >/dev/null && return
    echo "installing Debian's clickhouse-server and clickhouse-client…" >&2
    local SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clickhouse-server clickhouse-client >&2
}

wait_ready() {
    for _ in $(seq 300); do
        clickhouse-client --port "$(cat "$D/tcp_port")" --query 'SELECT 1' </dev/null >/dev/null 2>&1 && return 0
        running || { echo "clickhouse-server exited; log: $D/server.log" >&2; tail -20 "$D/server.log" >&2; return 1; }
        sleep 0.1
    done
    echo "clickhouse-server did not answer within 30 s; log: $D/server.log" >&2
    return 1
}

case "${1:-}" in
install)
    install
    ;;
start)
    install
    if running; then
        echo "tcp://127.0.0.1:$(cat "$D/tcp_port")"
        exit 0
    fi
    [ -f "$D/tcp_port" ] || free_port >"$D/tcp_port"
    [ -f "$D/http_port" ] || free_port >"$D/http_port"
    mkdir -p "$D/data" "$D/tmp"
    # Debian's users plus `etl`, a password user for tests of the password path
    # (password from CH_ETL_PASSWORD, default below; a test fixture, not a secret).
    ETL_SHA=$(printf '%s' "${CH_ETL_PASSWORD:-etl-test-password-Zq81}" | sha256sum | cut -d' ' -f1)
    sed "0,/<users>/s//<users><etl><password_sha256_hex>$ETL_SHA<\/password_sha256_hex><networks><ip>127.0.0.1<\/ip><ip>::1<\/ip><\/networks><profile>default<\/profile><quota>default<\/quota><\/etl>/" \
        /etc/clickhouse-server/users.xml >"$D/users.xml"
    cat >"$D/config.xml" <<XML
<yandex>
  <logger><level>information</level><console>1</console></logger>
  <tcp_port>$(cat "$D/tcp_port")</tcp_port><http_port>$(cat "$D/http_port")</http_port>
  <listen_host>127.0.0.1</listen_host>
  <path>$D/data/</path><tmp_path>$D/tmp/</tmp_path>
  <users_config>$D/users.xml</users_config>
  <default_profile>default</default_profile><default_database>default</default_database>
  <mark_cache_size>536870912</mark_cache_size>
</yandex>
XML
    # setsid: the server outlives this script and is not killed with the caller's group.
    setsid clickhouse-server --config-file="$D/config.xml" >"$D/server.log" 2>&1 </dev/null 9>&- &
    echo $! >"$D/server.pid"
    wait_ready
    echo "tcp://127.0.0.1:$(cat "$D/tcp_port")"
    ;;
stop)
    if running; then
        PID=$(cat "$D/server.pid")
        kill "$PID"
        for _ in $(seq 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$PID" 2>/dev/null || true
    fi
    rm -f "$D/server.pid"
    ;;
status)
    if running; then
        echo "running: pid $(cat "$D/server.pid"), tcp 127.0.0.1:$(cat "$D/tcp_port"), http $(cat "$D/http_port"), dir $D"
    else
        echo "not running (dir $D)"
        exit 1
    fi
    ;;
url)
    running || { echo "not running: scripts/clickhouse.sh start" >&2; exit 1; }
    echo "tcp://127.0.0.1:$(cat "$D/tcp_port")"
    ;;
*)
    echo "usage: scripts/clickhouse.sh install|start|stop|status|url   (CH_DIR=$D)" >&2
    exit 2
    ;;
esac
