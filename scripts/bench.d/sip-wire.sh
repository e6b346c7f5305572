#!/usr/bin/env bash
# SIP wire format: parse+emit throughput against the rsip crate, measured in the same run.
# Prints a markdown section on stdout (build output goes to stderr).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo bench -q -p gateway --bench sip_wire
