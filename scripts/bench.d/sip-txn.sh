#!/usr/bin/env bash
# SIP transactions per second through the transaction core (client + server layers in memory),
# against the cost of parsing and emitting the same messages, measured in the same run.
# Prints a markdown section on stdout; build chatter goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
BENCH_OUT="$tmp/txn.md" cargo test --release -q -p gateway --test sip_txn_bench -- --ignored >&2
cat "$tmp/txn.md"
