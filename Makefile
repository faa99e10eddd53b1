# ecmp-hotplug. `make demo` and `make test` are all a newcomer needs.
#
# Tests and the demo create network namespaces: as root they run directly;
# as a normal user they run inside `unshare -rn` (user + network
# namespace) where the kernel allows unprivileged user namespaces.

CARGO ?= cargo
NETNS := $(if $(filter 0,$(shell id -u)),,unshare -rn)
# OpenWrt's real programs (uci, ubus, netifd, opkg, apk): ../shared/openwrt
# beside the repository, or OPENWRT_KIT. Tests that need it say so.
OPENWRT_KIT ?= $(CURDIR)/../shared/openwrt
export OPENWRT_KIT

.PHONY: all build test demo bench bench-instructions bench-router bench-flows bench-track bench-inbound bench-dataplane bench-rules bench-boot fuzz cross size smoke ipk ipk-check apk apk-check install-test feed-check clean

all: build

build:
	$(CARGO) build --release
	@ls -l target/release/ecmp4 target/release/ecmp6 target/release/ecmp-track

# Unit tests need no privileges; the integration tests run the built
# binaries in private network namespaces, never on the host's tables.
test:
	$(CARGO) build --workspace --all-targets
	$(CARGO) test -p ecmp -p ecmp-track -p multidial
	# luci-app-ecmp's strings: the template current, every language complete.
	tools/luci-i18n check
	$(NETNS) $(CARGO) test --offline -p ecmp-tests --test ecmp4 --test ecmp6 --test nexthop --test status --test multidial --test config --test track --test inbound --test rules --test mistakes
	# Under the real netifd (../shared/openwrt/run-router; root only).
	$(CARGO) test --offline -p ecmp-tests --test router
	# Under the real firewall4 (../shared/openwrt-fw4/run-fw4; root only).
	$(CARGO) test --offline -p ecmp-tests --test firewall
	# On real PPPoE: kernel PPP, pppd, a BRAS, in a qemu VM
	# (../shared/openwrt-vm/run-router-vm; root only; one boot).
	$(CARGO) test --offline -p ecmp-tests --test pppoe -- --nocapture --test-threads=1
	# luci-app-ecmp in the real LuCI and headless Chromium
	# (../shared/openwrt-luci/run-luci; root only); screenshots in target/luci-shots.
	$(CARGO) test --offline -p ecmp-tests --test luci
	$(MAKE) install-test
	@rm -f target/fault-suite.txt
	$(NETNS) $(CARGO) test --offline -p ecmp-tests --test faults
	@cat target/fault-suite.txt

demo:
	$(CARGO) build --workspace --bins
	$(NETNS) target/debug/ecmp-demo

# The benchmarks compare this build with BASE (a commit), built from
# `git archive` into target/base, side by side in one run.
base-build = rm -rf target/base-src && mkdir -p target/base-src && git archive $(BASE) | tar -x -C target/base-src && \
	(cd target/base-src && CARGO_TARGET_DIR=$(CURDIR)/target/base $(CARGO) build --release --offline -q -p ecmp4 -p ecmp6)
base-build-track = rm -rf target/base-src && mkdir -p target/base-src && git archive $(BASE) | tar -x -C target/base-src && \
	(cd target/base-src && CARGO_TARGET_DIR=$(CURDIR)/target/base $(CARGO) build --release --offline -q -p ecmp-track)
base-env = ECMP_BASE_DIR=$(CURDIR)/target/base/release ECMP_BASE_SRC=$(CURDIR)/target/base-src ECMP_BASE_LABEL="$(BASE)"

# Wall and CPU time per event (simulated router; BASE= optional).
bench:
	$(CARGO) build --release --workspace --bins
	$(if $(BASE),$(base-build))
	ECMP_BIN_DIR=$(CURDIR)/target/release $(if $(BASE),$(base-env)) $(NETNS) target/release/ecmp-bench

# Instructions per event (callgrind), against BASE (default HEAD: the
# working tree against the last commit).
bench-instructions: BASE ?= HEAD
bench-instructions:
	$(CARGO) build --release --workspace --bins
	$(base-build)
	ECMP_BIN_DIR=$(CURDIR)/target/release $(base-env) $(NETNS) target/release/ecmp-bench-instr

# Under the real netifd and ubusd (../shared/openwrt/run-router, root):
# hook time at N = 8 and 64, programs per event, the N = 64 boot storm,
# of the static x86_64 binaries the packages ship (tools/cross), against
# BASE's (default: the last landed stop), built the same way.
bench-router: BASE ?= 450c285
bench-router:
	$(CARGO) build --release --workspace --bins
	tools/cross x86_64-unknown-linux-musl
	rm -rf target/base-src && mkdir -p target/base-src/.cross && git archive $(BASE) | tar -x -C target/base-src && \
		ln -s $(CURDIR)/.cross/venv target/base-src/.cross/venv && target/base-src/tools/cross x86_64-unknown-linux-musl
	ECMP_BIN_DIR=$(CURDIR)/dist/bin/x86_64-unknown-linux-musl ECMP_BASE_DIR=$(CURDIR)/target/base-src/dist/bin/x86_64-unknown-linux-musl \
		ECMP_BASE_SRC=$(CURDIR)/target/base-src ECMP_BASE_LABEL="$(BASE)" target/release/ecmp-bench-router

bench-flows:
	$(CARGO) build --release --workspace --bins
	ECMP_BIN_DIR=$(CURDIR)/target/release $(NETNS) target/release/ecmp-bench-flows

# ecmp-track against a mwan3track-style model (a sh loop and a ping per
# link per round): 64 links, 60 s each, CPU, RSS, probes, spawns and the
# detection latency of 10 blackholes. N= changes 64.
bench-track:
	$(CARGO) build --release --workspace --bins
	$(if $(BASE),$(base-build-track))
	ECMP_BIN_DIR=$(CURDIR)/target/release $(if $(BASE),$(base-env)) $(NETNS) target/release/ecmp-bench-track

# What the port-forward marks add per forwarded packet, each direction.
bench-inbound:
	$(CARGO) build --release --workspace --bins
	ECMP_BIN_DIR=$(CURDIR)/target/release $(NETNS) target/release/ecmp-bench-inbound

# What our policy rules cost a forwarded packet at 4, 16 and 64 dials:
# inbound off, on, and on with port-forward marks, this build against
# BASE's (default: the last landed stop), side by side in one run.
bench-dataplane: BASE ?= d985f6b
bench-dataplane:
	$(CARGO) build --release --workspace --bins
	$(base-build)
	ECMP_BIN_DIR=$(CURDIR)/target/release $(base-env) $(NETNS) target/release/ecmp-bench-dataplane

# What policy rules cost a forwarded packet: none, 0, 8 and 32 rules the
# traffic does not match, and 32 whose last one pins it, side by side.
bench-rules:
	$(CARGO) build --release --workspace --bins
	ECMP_BIN_DIR=$(CURDIR)/target/release $(NETNS) target/release/ecmp-bench-rules

# Boot to balanced with 64 dials under the real firewall4 and netifd
# (../shared/openwrt-fw4): the wan zone by network names against a device
# pattern, side by side (root only).
bench-boot:
	$(CARGO) build --release --workspace --bins
	BIN_DIR=$(CURDIR)/target/release tools/bench-boot 64 3

# Bounded fuzzing (nightly + cargo-fuzz, installed on first use): the dump
# parser with member selection and group plans, and the uci config reader.
# FUZZ_SECONDS=60 per target by default. New inputs land in
# tests/fuzz/corpus/<target>; a crash is saved in
# tests/fuzz/artifacts: copy it into the corpus, whose every input
# `make test` replays (crates/ecmp/src/fuzz.rs).
FUZZ_SECONDS ?= 60
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd tests/fuzz && for t in dump uci blobmsg ucifile; do \
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

# OpenWrt 24.10 (opkg): one .ipk per arch in dist/ipk; ARCHES= picks
# OpenWrt arches. Builds the binaries it lacks (tools/cross).
ipk:
	tools/ipk $(ARCHES)

# Check every package, and that a rebuild is byte-identical.
ipk-check: ipk
	tools/check-ipk
	sha256sum dist/ipk/*.ipk > dist/ipk.sha256
	tools/ipk $(ARCHES) > /dev/null
	sha256sum -c --quiet dist/ipk.sha256 && echo "ipk: rebuild is byte-identical"

# OpenWrt 25.12 (apk-tools 3): one .apk per arch in dist/apk, built with
# `apk mkpkg`: APK= (else apk on PATH; the SDK has
# staging_dir/host/bin/apk). APK_KEY=private.pem signs them.
apk:
	tools/apk $(ARCHES)

apk-check: apk
	tools/check-apk
	sha256sum dist/apk/*.apk > dist/apk.sha256
	tools/apk $(ARCHES) > /dev/null
	sha256sum -c --quiet dist/apk.sha256 && echo "apk: rebuild is byte-identical"

# Install, upgrade and remove the x86_64 packages with the real apk and
# opkg in a live-like root, and into an offline root (root only; builds
# the x86_64 packages first, and so the cross toolchain on first use).
install-test:
	tests/install.sh

# The SDK feed Makefile: fields, scripts, install section, and its cargo
# invocation with OpenWrt's profile settings on this host.
feed-check:
	tools/check-feed

clean:
	$(CARGO) clean
