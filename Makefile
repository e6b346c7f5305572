# gatewayd: two commands matter: `make run` and `make test`. Both install what they lack first.
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never
# Test groups whose Debian/PyPI packages `make test` needs (scripts/deps.d/*.apt, *.pip).
TEST_DEPS := build test
RUN_DIR ?= .run

.PHONY: run test check-tools deps-run deps-test fmt-check clippy unit bench fuzz image qemu clean

check-tools:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs) first" >&2; exit 1; }

deps-run: check-tools
	@scripts/deps.sh build

deps-test: check-tools
	@scripts/deps.sh $(TEST_DEPS)

## make run: the gateway on the simulated board (2 FXS + 1 FXO on a simulated PSTN) with its web page.
run: deps-run
	$(CARGO) build --release -p gateway -p board --bins
	@RUN_DIR=$(RUN_DIR) exec scripts/run-sim.sh

## make test: formatting, lints, then every test (unit, property, interop, end-to-end).
test: deps-test fmt-check clippy unit

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) clippy -p hal --features linux --all-targets --locked -- -D warnings
	$(CARGO) clippy -p gateway --features linux --all-targets --locked -- -D warnings

unit:
	$(CARGO) test --workspace --locked --no-fail-fast
	$(CARGO) test -p hal --features linux --locked --no-fail-fast
	$(CARGO) test -p gateway --features linux --locked --no-fail-fast --lib hwboard

## make bench: speed targets, each as a ratio against a reference measured in the same run.
bench: deps-test
	scripts/bench.sh

## make fuzz: every cargo-fuzz target for a bounded time (not part of CI).
fuzz: check-tools
	scripts/fuzz.sh

## make image BOARD=qemu-aarch64: the firmware image (cross-compiled gatewayd, kernel, root fs), with sizes.
BOARD ?= qemu-aarch64
image: check-tools
	board/image/build.sh $(BOARD)

## make qemu BOARD=qemu-aarch64: boots the image in QEMU, ports and web page on loopback (docs/firmware.md).
qemu: image
	board/qemu/run.sh $(BOARD)

clean:
	$(CARGO) clean
