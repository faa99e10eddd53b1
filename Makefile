# ecmp-hotplug. `make demo` and `make test` are all a newcomer needs.
#
# Tests and the demo create network namespaces: as root they run directly;
# as a normal user they run inside `unshare -rn` (user + network
# namespace) where the kernel allows unprivileged user namespaces.

CARGO ?= cargo
NETNS := $(if $(filter 0,$(shell id -u)),,unshare -rn)

.PHONY: all build test demo bench bench-flows fuzz cross size smoke ipk ipk-check clean

all: build

build:
	$(CARGO) build --release
	@ls -l target/release/ecmp4 target/release/ecmp6

# Unit tests need no privileges; the integration tests run the built
# binaries in private network namespaces, never on the host's tables.
test:
	$(CARGO) build --workspace --all-targets
	$(CARGO) test -p ecmp -p multidial
	$(NETNS) $(CARGO) test --offline -p ecmp-tests --test ecmp4 --test ecmp6 --test nexthop --test status --test multidial
	# Under the real netifd (../shared/openwrt/run-router; root only).
	$(CARGO) test --offline -p ecmp-tests --test router
	@rm -f target/fault-suite.txt
	$(NETNS) $(CARGO) test --offline -p ecmp-tests --test faults
	@cat target/fault-suite.txt

demo:
	$(CARGO) build --workspace --bins
	$(NETNS) target/debug/ecmp-demo

bench:
	$(CARGO) build --release --workspace --bins
	ECMP_BIN_DIR=$(CURDIR)/target/release $(NETNS) target/release/ecmp-bench

bench-flows:
	$(CARGO) build --release --workspace --bins
	ECMP_BIN_DIR=$(CURDIR)/target/release $(NETNS) target/release/ecmp-bench-flows

# Bounded fuzzing (nightly + cargo-fuzz, installed on first use): the dump
# parser with member selection and group plans, and the uci config reader.
# FUZZ_SECONDS=60 per target by default. New inputs land in
# tests/fuzz/corpus/<target>; a crash is saved in
# tests/fuzz/artifacts: copy it into the corpus, whose every input
# `make test` replays (crates/ecmp/src/fuzz.rs).
FUZZ_SECONDS ?= 60
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd tests/fuzz && for t in dump uci; do \
		$(CARGO) +nightly fuzz run --fuzz-dir . $$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -max_len=65536 || exit 1; \
	done

# Static router binaries (x86_64, aarch64, armv7, mipsel, mips); TARGETS=
# picks Rust triples. Installs its toolchain on first use (tools/cross-setup).
cross:
	tools/cross $(TARGETS)

size:
	tools/size

smoke:
	tools/smoke $(TARGETS)

ipk:
	tools/ipk $(ARCHES)

# Check every package, and that a rebuild is byte-identical.
ipk-check: ipk
	tools/check-ipk
	sha256sum dist/ipk/*.ipk > dist/ipk.sha256
	tools/ipk $(ARCHES) > /dev/null
	sha256sum -c --quiet dist/ipk.sha256 && echo "ipk: rebuild is byte-identical"

clean:
	$(CARGO) clean
