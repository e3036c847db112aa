#!/usr/bin/env bash
# Checks the minimum supported Rust version, the `rust-version` of Cargo.toml's
# [workspace.package] (the MSRV):
# 1. every crate of the workspace, and the benchmarks' workspace in bench/, states that version;
# 2. no dependency in either Cargo.lock states a newer `rust-version`;
# 3. the toolchain that builds and tests is that version, so the build, clippy (whose
#    `incompatible_msrv` lint reads `rust-version`) and the tests run by CI after this check
#    run on the MSRV itself. With a newer default toolchain, a rustup toolchain of the MSRV
#    checks the workspace instead (`cargo +MSRV check`); without one the check fails.
# Reads `cargo metadata` with python3.
set -euo pipefail
cd "$(dirname "$0")/.."

msrv=$(sed -n '/^\[workspace.package\]/,/^\[/s/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml)
if [ -z "$msrv" ]; then
    echo "msrv: no rust-version in [workspace.package] of Cargo.toml" >&2
    exit 1
fi
host=$(rustc -vV | sed -n 's/^host: //p')

check_manifest() {
    cargo metadata --format-version 1 --locked --filter-platform "$host" --manifest-path "$1" |
        python3 -c '
import json, sys

msrv, manifest = sys.argv[1], sys.argv[2]

def version(text):
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))

meta = json.load(sys.stdin)
members = set(meta["workspace_members"])
problems = []
for package in meta["packages"]:
    name = "{} {}".format(package["name"], package["version"])
    stated = package.get("rust_version")
    if package["id"] in members:
        if stated is None or version(stated) != version(msrv):
            problems.append("{} states rust-version {}, not {}".format(name, stated, msrv))
    elif stated is not None and version(stated) > version(msrv):
        problems.append("dependency {} needs Rust {}".format(name, stated))
for problem in problems:
    print("msrv: {}: {}".format(manifest, problem), file=sys.stderr)
count = len(meta["packages"])
if problems:
    sys.exit(1)
print("msrv: {}: {} packages, none needs more than Rust {}".format(manifest, count, msrv))
' "$msrv" "$1"
}

check_manifest Cargo.toml
check_manifest bench/Cargo.toml

toolchain=$(rustc --version | sed -n 's/^rustc \([0-9]*\.[0-9]*\)\..*/\1/p')
if [ "$toolchain" = "${msrv%.*}" ] || [ "$toolchain" = "$msrv" ]; then
    echo "msrv: the toolchain is Rust $(rustc --version | cut -d' ' -f2), the MSRV $msrv: what follows builds and tests on it"
    exit 0
fi
installed=$(rustup toolchain list 2>/dev/null | sed -n "s/^\($msrv\(\.[0-9]*\)\{0,1\}-[^ ]*\).*/\1/p" | head -n 1)
if [ -z "$installed" ]; then
    echo "msrv: the toolchain is Rust $toolchain, not the MSRV $msrv, and no rustup toolchain" \
        "of $msrv is installed: run CI on Rust $msrv, or install it with" \
        "\`rustup toolchain install $msrv\`" >&2
    exit 1
fi
echo "msrv: the toolchain is Rust $toolchain; checking the workspace with $installed"
CARGO_TARGET_DIR=target/msrv cargo "+$installed" check --workspace --all-targets --locked
