#!/bin/bash
# Install, upgrade and remove the x86_64 packages with OpenWrt's real
# package managers (apk-tools 3 for 25.12, opkg-lede for 24.10, from the
# kit), in a live-like root: a private mount and network namespace, chroot
# into a root with static busybox, the manager, the real uci, a ubus
# stand-in and two dials (veth pairs). Then the image-builder way: an
# offline root, the scripts run on the "build host", whose sysctls and
# routes must stay as they were.
# Usage: tests/install.sh   (root; builds the packages first: release 1 in
# dist/apk and dist/ipk, release 2 in dist/test). Prints "install: N passed, 0 failed".
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KIT=${OPENWRT_KIT:-$ROOT/../shared/openwrt}
if [ ! -x "$KIT/bin/apk" ]; then
	if [ "${CI:-}" = true ]; then echo "install: the OpenWrt kit is not at $KIT (set OPENWRT_KIT); CI needs it" >&2; exit 1; fi
	echo "install: skipped: the OpenWrt kit is not at $KIT (set OPENWRT_KIT)"; exit 0
fi
if [ "$(id -u)" != 0 ]; then
	if [ "${CI:-}" = true ]; then echo "install: needs root (chroot, mounts); CI runs as root" >&2; exit 1; fi
	echo "install: skipped: needs root (chroot, mounts)"; exit 0
fi
if [ "${1:-}" != __inner ]; then
	# The packages: release 1 as `make ipk`/`make apk` build them, and a
	# release 2 to upgrade to (binaries from tools/cross, built if needed).
	export APK=${APK:-$KIT/bin/apk}
	"$ROOT/tools/ipk" x86_64 > /dev/null &&
		"$ROOT/tools/apk" x86_64 > /dev/null &&
		PKG_RELEASE=2 PKG_OUT=$ROOT/dist/test "$ROOT/tools/ipk" x86_64 > /dev/null &&
		PKG_RELEASE=2 PKG_OUT=$ROOT/dist/test "$ROOT/tools/apk" x86_64 > /dev/null ||
		{ echo "install: building the packages failed" >&2; exit 1; }
	exec unshare --mount --net --propagation private -- "$0" __inner
fi
KIT=$(cd "$KIT" && pwd)
APKF=$ROOT/dist/apk/ecmp-hotplug-0.1.0-r1-x86_64.apk
APKF2=$ROOT/dist/test/ecmp-hotplug-0.1.0-r2-x86_64.apk
IPKF=$ROOT/dist/ipk/ecmp-hotplug_0.1.0-1_x86_64.ipk
IPKF2=$ROOT/dist/test/ecmp-hotplug_0.1.0-2_x86_64.ipk
LUCI_APK=$ROOT/dist/apk/luci-app-ecmp-0.1.0-r1.apk
LUCI_APK_ZH=$ROOT/dist/apk/luci-i18n-ecmp-zh-cn-0.1.0-r1.apk
LUCI_IPK=$ROOT/dist/ipk/luci-app-ecmp_0.1.0-1_all.ipk
LUCI_IPK_ZH=$ROOT/dist/ipk/luci-i18n-ecmp-zh-cn_0.1.0-1_all.ipk
for f in "$APKF" "$APKF2" "$IPKF" "$IPKF2" "$LUCI_APK" "$LUCI_APK_ZH" "$LUCI_IPK" "$LUCI_IPK_ZH" "$ROOT/target/debug/ecmp-fake-ubusd"; do
	[ -f "$f" ] || { echo "install: $f is missing" >&2; exit 1; }
done
pass=0 failed=0
ok() { pass=$((pass + 1)); echo "  ok   $*"; }
bad() { failed=$((failed + 1)); echo "  FAIL $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
# are TEST FILE...: every FILE passes `[ TEST FILE ]` (check takes one command).
are() { local t=$1 f; shift; for f; do [ "$t" "$f" ] || return 1; done; }
W=$(mktemp -d)
FAKES=
trap 'kill $FAKES 2>/dev/null; umount -R "$W"/*/proc "$W"/*/sys 2>/dev/null; rm -rf "$W"' EXIT

# Two dials, as pppd leaves them.
ip link set lo up
for i in 0 1; do
	n=$([ $i = 0 ] && echo wan || echo VWAN$i)
	ip link add "pppoe-$n" type veth peer name "peer$i"
	# No DAD: the link-local addresses (and their routes) come at once,
	# not in the middle of a check that compares the table.
	for d in "pppoe-$n" "peer$i"; do echo 0 > "/proc/sys/net/ipv6/conf/$d/accept_dad"; done
	ip link set "pppoe-$n" up; ip link set "peer$i" up
	ip addr add "100.66.$i.2" peer "100.64.$i.1/32" dev "pppoe-$n"
done
DUMP='{"interface":[{"interface":"loopback","up":true,"proto":"static","l3_device":"lo"},
{"interface":"wan","up":true,"proto":"pppoe","l3_device":"pppoe-wan","ipv4-address":[{"address":"100.66.0.2","mask":32,"ptpaddress":"100.64.0.1"}],"route":[{"target":"0.0.0.0","mask":0,"nexthop":"100.64.0.1"}]},
{"interface":"VWAN1","up":true,"proto":"pppoe","l3_device":"pppoe-VWAN1","ipv4-address":[{"address":"100.66.1.2","mask":32,"ptpaddress":"100.64.1.1"}],"route":[{"target":"0.0.0.0","mask":0,"nexthop":"100.64.1.1"}]}]}'

# A live-like OpenWrt root: busybox, the manager, real uci, /bin/ubus.
mkroot() {
	local r=$1
	# The directories base-files gives every OpenWrt.
	mkdir -p "$r"/{bin,sbin,usr/bin,usr/sbin,etc/init.d,etc/config,etc/hotplug.d/iface,etc/sysctl.d,lib,tmp,var/run,var/lock,proc,sys,dev,root,usr/lib/opkg}
	cp "$KIT/bin/busybox" "$r/bin/"
	cp "$KIT/bin/apk" "$r/usr/bin/apk"
	cp "$KIT/bin/opkg-cl" "$r/bin/opkg"
	cp "$KIT/bin/uci" "$r/sbin/uci"
	mount -t proc proc "$r/proc"
	touch "$r/dev/null"; mount --bind /dev/null "$r/dev/null"
	printf 'dest root /\narch all 100\narch x86_64 200\nlists_dir ext /var/opkg-lists\n' > "$r/etc/opkg.conf"
	chroot "$r" /bin/busybox --install -s
	# ... and files of its own in them.
	printf '#!/bin/sh\n' > "$r/etc/hotplug.d/iface/00-netstate"
	echo "net.ipv4.ip_forward=1" > "$r/etc/sysctl.d/10-default.conf"
	echo "DISTRIB_ID='OpenWrt'" > "$r/etc/openwrt_release"
	echo "root:x:0:0:root:/root:/bin/sh" > "$r/etc/passwd"
	echo "root:x:0:" > "$r/etc/group"
	printf '%s\n' "$DUMP" > "$r/etc/dump.json"
	# ubusd's socket, answered by a stand-in outside the root (there is no
	# netifd here); ecmp4/ecmp6 inside read the dump through it.
	mkdir -p "$r/var/run/ubus"
	"$ROOT/target/debug/ecmp-fake-ubusd" "$r/var/run/ubus/ubus.sock" "$r/etc/dump.json" &
	FAKES="${FAKES:-} $!"
	for _ in 1 2 3 4 5 6 7 8 9 10; do [ -S "$r/var/run/ubus/ubus.sock" ] && break; sleep 0.1; done
	# What restart of OpenWrt's base-files /etc/init.d/sysctl does.
	printf '#!/bin/sh\n[ "$1" = restart ] || exit 0\nfor f in /etc/sysctl.d/*.conf /etc/sysctl.conf; do [ -f "$f" ] && sysctl -e -p "$f" >/dev/null; done\nexit 0\n' > "$r/etc/init.d/sysctl"
	chmod 755 "$r/etc/init.d/sysctl"
	# The user's own setting, to be handed back on removal.
	echo "net.ipv4.fib_multipath_hash_policy=2" > "$r/etc/sysctl.conf"
	mkdir -p "$r/pkg"
}
state() { # our routes and nexthop objects (protocol 236)
	{ ip route show table all proto 236; ip -6 route show table all proto 236; ip nexthop show proto 236 2>/dev/null; } | sed 's/ *$//'
}
# Every path of the root but the managers' own databases.
files() { (cd "$1" && find . -xdev \( -path ./proc -o -path ./dev -o -path ./pkg -o -path ./lib/apk/db -o -path ./etc/apk -o -path ./var -o -path ./usr/lib/opkg -o -path ./tmp \) -prune -o -print | grep -vx './lib/apk' | LC_ALL=C sort); }
policy() { cat "/proc/sys/net/ipv$1/fib_multipath_hash_policy"; }

# One manager, live: install, upgrade with an edited conffile, remove.
live() {
	local mgr=$1 r=$W/$1 p1 p2 add add2 del
	echo "$mgr (live root)"
	mkroot "$r"
	if [ "$mgr" = apk ]; then
		cp "$APKF" "$r/pkg/a.apk"; cp "$APKF2" "$r/pkg/b.apk"
		add="apk add --initdb --allow-untrusted --no-network --no-cache --repositories-file /dev/null /pkg/a.apk"
		add2="apk add --allow-untrusted --no-network --no-cache --repositories-file /dev/null /pkg/b.apk"
		del="apk del --no-network --repositories-file /dev/null ecmp-hotplug"
		new=/etc/config/ecmp.apk-new
	else
		cp "$IPKF" "$r/pkg/a.ipk"; cp "$IPKF2" "$r/pkg/b.ipk"
		add="opkg install /pkg/a.ipk"
		add2="opkg install /pkg/b.ipk"
		del="opkg remove ecmp-hotplug"
		new=/etc/config/ecmp-opkg
	fi
	echo 0 > /proc/sys/net/ipv4/fib_multipath_hash_policy
	echo 0 > /proc/sys/net/ipv6/fib_multipath_hash_policy
	local before; before=$(files "$r")
	out=$(chroot "$r" /bin/sh -c "$add" 2>&1); rc=$?
	check "$mgr: install exits 0" [ $rc = 0 ]
	[ $rc = 0 ] || echo "$out"
	check "$mgr: postinst set the hash policy" [ "$(policy 4)$(policy 6)" = 11 ]
	check "$mgr: ecmp-track and its init script are installed" are -x "$r/usr/sbin/ecmp-track" "$r/etc/init.d/ecmp-track"
	local s; s=$(state)
	check "$mgr: postinst synced: our route over both dials" sh -c "echo '$s' | grep -q 'default nhid' && echo '$s' | grep -q 'dev pppoe-wan' && echo '$s' | grep -q 'dev pppoe-VWAN1'"
	# The user edits the config; the upgrade keeps it.
	sed -i "s/option metric '1'/option metric '3'/" "$r/etc/config/ecmp"
	local edited; edited=$(cat "$r/etc/config/ecmp")
	out=$(chroot "$r" /bin/sh -c "$add2" 2>&1); rc=$?
	check "$mgr: upgrade to release 2 exits 0" [ $rc = 0 ]
	[ $rc = 0 ] || echo "$out"
	check "$mgr: upgrade kept the edited /etc/config/ecmp" [ "$(cat "$r/etc/config/ecmp")" = "$edited" ]
	check "$mgr: the new default config is beside it ($new)" [ -f "$r$new" ]
	rm -f "$r$new"
	chroot "$r" /usr/sbin/ecmp4 >/dev/null 2>&1
	check "$mgr: after the upgrade a sync uses the user's metric" sh -c "ip route show proto 236 | grep -q 'metric 3'"
	out=$(chroot "$r" /bin/sh -c "$del" 2>&1); rc=$?
	check "$mgr: remove exits 0" [ $rc = 0 ]
	[ $rc = 0 ] || echo "$out"
	check "$mgr: remove left no route or nexthop object of ours" [ -z "$(state)" ]
	check "$mgr: the user's hash policy is back (4: 2 from sysctl.conf, 6: 0)" [ "$(policy 4)$(policy 6)" = 20 ]
	local left; left=$(diff <(echo "$before") <(files "$r") | grep '^[<>]')
	check "$mgr: nothing left but the edited conffile" [ "$left" = "> ./etc/config/ecmp" ]
	[ "$left" = "> ./etc/config/ecmp" ] || echo "$left"
	umount "$r/proc" "$r/dev/null"
}

# A stand-in luci-base (the kit has none): only its name and version, for
# the LuCI packages' dependency. $1: apk or opkg, $2: where.
fake_luci_base() {
	local w; w=$(mktemp -d)
	mkdir -p "$w/data" "$w/control"
	if [ "$1" = apk ]; then
		"$KIT/bin/apk" mkpkg --info name:luci-base --info version:1-r1 --info arch:noarch \
			--info "description:test stand-in" --files "$w/data" --output "$2" >/dev/null
	else
		printf 'Package: luci-base\nVersion: 1-1\nArchitecture: all\nMaintainer: t <t@t.t>\nDescription: test stand-in\n' > "$w/control/control"
		(cd "$w/data" && tar --format=gnu --owner=0 --group=0 -czf ../data.tar.gz .)
		(cd "$w/control" && tar --format=gnu --owner=0 --group=0 -czf ../control.tar.gz ./control)
		echo 2.0 > "$w/debian-binary"
		(cd "$w" && tar --format=gnu --owner=0 --group=0 -cf - ./debian-binary ./data.tar.gz ./control.tar.gz) | gzip -n > "$2"
	fi
	rm -rf "$w"
}

# The LuCI packages, live: refused without luci-base, installed beside
# ecmp-hotplug with it (architecture-independent: noarch/all), their
# scripts clearing LuCI's caches; removed without a trace.
luci() {
	local mgr=$1 r=$W/luci-$1 add del app zh
	echo "$mgr (LuCI packages)"
	mkroot "$r"
	local e files first
	if [ "$mgr" = apk ]; then
		e=apk files="$APKF $LUCI_APK $LUCI_APK_ZH"
		add="apk add --allow-untrusted --no-network --no-cache --repositories-file /dev/null"
		first="$add --initdb" del="apk del --no-network --repositories-file /dev/null"
	else
		e=ipk files="$IPKF $LUCI_IPK $LUCI_IPK_ZH"
		add="opkg install" first="opkg install" del="opkg remove"
	fi
	# ecmp-hotplug, luci-app-ecmp, its catalog: a, l and z.
	# shellcheck disable=SC2086
	set -- $files
	cp "$1" "$r/pkg/a.$e"; cp "$2" "$r/pkg/l.$e"; cp "$3" "$r/pkg/z.$e"
	fake_luci_base "$mgr" "$r/pkg/base.$e"
	chroot "$r" /bin/sh -c "$first /pkg/a.$e" >/dev/null 2>&1
	app=/pkg/l.$e zh=/pkg/z.$e
	check "$mgr: ecmp-hotplug is in" [ -x "$r/usr/sbin/ecmp4" ]
	local before; before=$(files "$r")
	out=$(chroot "$r" /bin/sh -c "$add $app" 2>&1); rc=$?
	check "$mgr: luci-app-ecmp without luci-base is refused" sh -c "[ $rc != 0 ] && [ ! -e '$r/usr/share/rpcd/acl.d/luci-app-ecmp.json' ]"
	chroot "$r" /bin/sh -c "$add /pkg/base.$e" >/dev/null 2>&1
	touch "$r/tmp/luci-indexcache.abc"
	out=$(chroot "$r" /bin/sh -c "$add $app $zh" 2>&1); rc=$?
	check "$mgr: luci-app-ecmp and luci-i18n-ecmp-zh-cn install with it" [ $rc = 0 ]
	[ $rc = 0 ] || echo "$out"
	check "$mgr: the views, menu, ACL and catalog are in place" are -f "$r/www/luci-static/resources/view/ecmp/status.js" \
		"$r/www/luci-static/resources/view/ecmp/config.js" "$r/www/luci-static/resources/view/ecmp/multidial.js" "$r/usr/share/luci/menu.d/luci-app-ecmp.json" \
		"$r/usr/share/rpcd/acl.d/luci-app-ecmp.json" "$r/usr/lib/lua/luci/i18n/ecmp.zh-cn.lmo"
	check "$mgr: the postinst cleared LuCI's menu cache" [ ! -e "$r/tmp/luci-indexcache.abc" ]
	out=$(chroot "$r" /bin/sh -c "$del luci-i18n-ecmp-zh-cn luci-app-ecmp luci-base" 2>&1); rc=$?
	check "$mgr: removing them exits 0" [ $rc = 0 ]
	[ $rc = 0 ] || echo "$out"
	# Files, that is: opkg leaves the directories, which luci-base owns
	# on a router anyway.
	local left; left=$(diff <(echo "$before") <(files "$r") | grep '^[<>]' | while read -r _ p; do [ -d "$r/$p" ] || echo "$p"; done)
	check "$mgr: no file of them is left" [ -z "$left" ]
	[ -z "$left" ] || echo "$left"
	# ecmp-hotplug goes too, with its routes (as after live()).
	chroot "$r" /bin/sh -c "$del ecmp-hotplug" >/dev/null 2>&1
	umount "$r/proc" "$r/dev/null"
}

# The image builder: an offline root; the scripts run on this "host".
offline() {
	local mgr=$1 r=$W/off-$1
	echo "$mgr (offline root, as the image builder)"
	mkdir -p "$r/tmp"
	echo 0 > /proc/sys/net/ipv4/fib_multipath_hash_policy
	ip route add default via 100.64.0.1 dev pppoe-wan metric 7
	local before; before="$(ip route show table all; ip nexthop show 2>/dev/null; policy 4; policy 6)"
	if [ "$mgr" = apk ]; then
		IPKG_INSTROOT=$r "$KIT/bin/apk" add --root "$r" --initdb --allow-untrusted --no-network \
			--force-no-chroot --no-cache --repositories-file /dev/null --preserve-env "$APKF" >/dev/null 2>&1
	else
		IPKG_NO_SCRIPT=1 IPKG_INSTROOT=$r TMPDIR=$r/tmp "$KIT/bin/opkg-cl" --offline-root "$r" \
			--force-postinstall --add-dest root:/ --add-arch all:100 --add-arch x86_64:200 install "$IPKF" >/dev/null 2>&1
	fi
	check "$mgr: offline install exits 0" [ $? = 0 ]
	check "$mgr: the root holds the package" sh -c "[ -x '$r/usr/sbin/ecmp4' ] && [ -f '$r/etc/config/ecmp' ]"
	local after; after="$(ip route show table all; ip nexthop show 2>/dev/null; policy 4; policy 6)"
	check "$mgr: the host's routes, objects and sysctls are untouched" [ "$before" = "$after" ]
	[ "$before" = "$after" ] || diff <(echo "$before") <(echo "$after")
	ip route del default metric 7
}

live apk
live opkg
luci apk
luci opkg
offline apk
offline opkg
# The host had no OpenWrt: even a script run there without IPKG_INSTROOT
# does nothing (the /etc/openwrt_release guard).
before="$(ip route show table all; policy 4)"
sh "$ROOT/openwrt/files/postinst" configure; sh "$ROOT/openwrt/files/prerm" remove; sh "$ROOT/openwrt/files/postrm" remove
check "scripts on a host without /etc/openwrt_release do nothing" [ "$before" = "$(ip route show table all; policy 4)" ]
echo "install: $pass passed, $failed failed"
[ "$failed" = 0 ]
