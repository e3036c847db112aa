#!/usr/bin/env bash
# Runs every test in the workspace. Makes sure what the tests need is there first:
# - redis-server, installed from the distribution's packages if missing, and a Redis server
#   answering at $REDIS_URL (default redis://127.0.0.1:6379), started if none does;
# - PostgreSQL's server programs, installed from the distribution's packages if missing, and a
#   server answering at $DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test, trust
#   authentication); if none answers, a private cluster (initdb in a temporary folder, on a
#   port of its own), exported as $DATABASE_URL;
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

DEFAULT_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test

# The folder of PostgreSQL's server programs (initdb, pg_ctl), if installed.
postgres_bin() {
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        dirname "$(command -v initdb)"
        return
    fi
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

install_postgres() {
    [ -n "$(postgres_bin)" ] && command -v psql >/dev/null && return
    echo "postgres: installing postgresql from the distribution's packages"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql postgresql-client >/dev/null
}

postgres_answers() {
    timeout 5 psql "$1" -qAtc 'SELECT 1' >/dev/null 2>&1
}

ensure_postgres() {
    # The PostgreSQL restart tests start private clusters of their own, so the server
    # programs are needed even when a server already answers.
    install_postgres
    if [ -n "${DATABASE_URL:-}" ]; then
        if postgres_answers "$DATABASE_URL"; then
            echo "postgres: answering at DATABASE_URL"
            return
        fi
        echo "postgres: nothing answers at DATABASE_URL; starting a private cluster"
    elif postgres_answers "$DEFAULT_DATABASE_URL"; then
        export DATABASE_URL="$DEFAULT_DATABASE_URL"
        echo "postgres: answering at $DATABASE_URL"
        return
    fi
    local bin dir port owner=()
    bin="$(postgres_bin)"
    dir="$(mktemp -d /tmp/task-store-postgres.XXXXXX)"
    port=54329
    while timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; do
        port=$((port + 1))
    done
    # The server refuses to run as root.
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$dir"
        owner=(runuser -u postgres --)
    fi
    echo "postgres: starting a private cluster in $dir on port $port"
    "${owner[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
    "${owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
        -o "-p $port -c listen_addresses=127.0.0.1 -k $dir" start >/dev/null
    psql "postgres://postgres@127.0.0.1:$port/postgres" -qc 'CREATE DATABASE test'
    export DATABASE_URL="postgres://postgres@127.0.0.1:$port/test"
    if ! postgres_answers "$DATABASE_URL"; then
        echo "postgres: did not start; see $dir/server.log" >&2
        exit 1
    fi
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
ensure_postgres
ensure_python_client
# The benchmarks are a workspace of their own (bench/), so their peers' features stay out of
# this build.
cargo test --workspace --locked "$@"
# The facade with its features alone and in pairs (the workspace run above has all four):
# each doc test shows one way to pick a backend, and a missing one is named in the error.
for features in "" memory sqlite redis postgres memory,sqlite memory,redis sqlite,redis \
    sqlite,postgres redis,postgres; do
    cargo test -p task-store --no-default-features --features "$features" --locked "$@"
done
# The official MCP conformance suite against `mcp-task-server --http`, one scenario at a time,
# on each backend: memory, a fresh SQLite file, Redis under a prefix of this run's own and
# PostgreSQL in a schema of this run's own (dropped afterwards).
conformance_dir="$(mktemp -d)"
conformance_schema="conformance_$$_$RANDOM"
drop_conformance_schema() {
    psql "$DATABASE_URL" -qc "DROP SCHEMA IF EXISTS $conformance_schema CASCADE" >/dev/null 2>&1 || true
}
trap 'rm -rf "$conformance_dir"; drop_conformance_schema' EXIT
# DATABASE_URL may carry a query of its own (sslmode, say).
query_joint="?"
[[ $DATABASE_URL == *\?* ]] && query_joint="&"
./scripts/conformance.sh memory:// "sqlite://$conformance_dir/tasks.db" \
    "$REDIS_URL?prefix=conformance-$$-$RANDOM" \
    "$DATABASE_URL${query_joint}schema=$conformance_schema"
