#!/usr/bin/env bash
# Runs every test in the workspace. Makes sure what the tests need is there first:
# - redis-server, installed from the distribution's packages if missing, and a Redis server
#   answering at $REDIS_URL (default redis://127.0.0.1:6379), started if none does;
# - the official MCP Python SDK client (pip mcp==1.30.0) in a virtualenv at .venv, exported as
#   $MCP_PYTHON for the interoperability test;
# - the official MCP conformance suite and Node 22 (npm, pinned by package-lock.json), run by
#   scripts/conformance.sh against mcp-task-server --http.
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

MCP_SDK_VERSION=1.30.0

has_mcp_sdk() {
    "$1" -c "import importlib.metadata as m, sys; sys.exit(m.version('mcp') != '$MCP_SDK_VERSION')" 2>/dev/null
}

ensure_python_client() {
    local venv="$PWD/.venv"
    if ! has_mcp_sdk "$venv/bin/python"; then
        echo "python: creating $venv with mcp==$MCP_SDK_VERSION"
        if ! command -v python3 >/dev/null || ! python3 -m venv --clear "$venv" >/dev/null 2>&1; then
            echo "python: installing python3 and python3-venv from the distribution's packages"
            local sudo=""
            [ "$(id -u)" -ne 0 ] && sudo="sudo"
            $sudo apt-get update -qq
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3 python3-venv >/dev/null
            python3 -m venv --clear "$venv"
        fi
        "$venv/bin/python" -m pip install --quiet "mcp==$MCP_SDK_VERSION"
    fi
    if ! has_mcp_sdk "$venv/bin/python"; then
        echo "python: $venv has no mcp==$MCP_SDK_VERSION" >&2
        exit 1
    fi
    export MCP_PYTHON="$venv/bin/python"
    echo "python: $("$MCP_PYTHON" --version), mcp $MCP_SDK_VERSION at $MCP_PYTHON"
}

ensure_redis
ensure_python_client
# The benchmarks are a workspace of their own (bench/), so their peers' features stay out of
# this build.
cargo test --workspace --locked "$@"
# The facade with every combination of its features (the workspace run above has all three):
# each doc test shows one way to pick a backend, and a missing one is named in the error.
for features in "" memory sqlite redis memory,sqlite memory,redis sqlite,redis; do
    cargo test -p task-store --no-default-features --features "$features" --locked "$@"
done
# The official MCP conformance suite against `mcp-task-server --http`, one scenario at a time.
./scripts/conformance.sh
