#!/usr/bin/env bash
# Runs every test in the workspace. Makes sure what the tests need is there first:
# redis-server, installed from the distribution's packages if missing, and a Redis server
# answering at $REDIS_URL (default redis://127.0.0.1:6379), started if none does.
set -euo pipefail
cd "$(dirname "$0")/.."

export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"

redis_answers() {
    local hostport="${REDIS_URL#redis://}"
    hostport="${hostport%%/*}"
    hostport="${hostport##*@}"
    local host="${hostport%%:*}" port="${hostport##*:}"
    [ "$port" = "$hostport" ] && port=6379
    timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port && printf 'PING\r\n' >&3 && read -r reply <&3 && [[ \$reply == +PONG* ]]" 2>/dev/null
}

install_redis_server() {
    command -v redis-server >/dev/null && return
    echo "redis: installing redis-server from the distribution's packages"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
}

ensure_redis() {
    # The Redis fault tests start and stop redis-server processes of their own, so the binary
    # is needed even when a server already answers.
    install_redis_server
    if redis_answers; then
        echo "redis: answering at $REDIS_URL"
        return
    fi
    local port="${REDIS_URL##*:}"
    port="${port%%/*}"
    [[ "$port" =~ ^[0-9]+$ ]] || port=6379
    echo "redis: starting redis-server on port $port"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
        --dir /tmp --logfile /tmp/redis-test-"$port".log
    for _ in $(seq 50); do
        redis_answers && return
        sleep 0.1
    done
    echo "redis: did not start; see /tmp/redis-test-$port.log" >&2
    exit 1
}

ensure_redis
cargo test --workspace --locked "$@"
# The facade with each feature alone and with none: each doc test shows one way to pick a
# backend, and a missing one is named in the error.
for features in "" memory sqlite redis; do
    cargo test -p task-store --no-default-features --features "$features" --locked "$@"
done
