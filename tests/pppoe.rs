//! The write-up's whole path on real PPPoE: Debian's kernel with PPP in a
//! qemu VM, OpenWrt's real netifd and ppp.sh running Debian's pppd, and
//! rp-pppoe's pppoe-server as the BRAS (the kit's `run-router-vm`). One
//! VM boot (it runs under software emulation here: tens of seconds), so
//! one test with several checks; the emulated-PPP suites stay the fast
//! ones. What only real PPP shows: `multidial apply --up` dialling 4
//! sessions on one shared account through real macvlans, `pppoe-*`
//! devices that are real ppp links, IPv6 over PPP (real IPV6CP) in
//! ecmp6's group, a session the BRAS kills (PADT) leaving
//! the group and coming back after netifd's redial, with the default
//! route present at every sample; and a silent BRAS (a MAC's frames
//! dropped) that ecmp-track finds, taking that dial out and redialling it
//! alone; the BRAS pinging each session's address, answered by that
//! session; and a BRAS that caps its sessions, in a second boot.

const SCRIPT: &str = r#"set -u
i=0; until ubus list network.interface.wan >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 600 ] || exit 8; sleep 0.1; done
t0=$(date +%s%N)
multidial apply --line eth1 --dials 4 --ipv6 all --username u1 --password-file /etc/pw --up --delay 0 --wait 150
echo "== apply rc=$?"
i=0; until [ "$(ip route show default metric 1 | grep -c nexthop)" = 5 ]; do i=$((i+1)); [ $i -lt 1500 ] || break; sleep 0.1; done
t1=$(date +%s%N)
echo "== balanced: $(ip route show default metric 1 | grep -c nexthop) hops after $(( (t1 - t0) / 1000000 )) ms"
ip route show default metric 1
i=0; until [ "$(ip -6 route show default metric 1 | grep -c nexthop)" = 5 ]; do i=$((i+1)); [ $i -lt 1500 ] || break; sleep 0.1; done
echo "== balanced6: $(ip -6 route show default metric 1 | grep -c nexthop) hops"
ip -6 route show default metric 1
echo "== link: $(ip -o link show pppoe-VWAN2 | grep -o 'link/[a-z]*')"
( n=0; miss=0
  while [ ! -e /tmp/stop ]; do n=$((n+1)); ip route show default metric 1 | grep -q . || miss=$((miss+1)); done
  echo "== samples $n missing $miss" ) &
mac=$(cat /sys/class/net/veth2/address)
t0=$(date +%s%N)
"$ROUTER_VM_KIT/bras/bras-ctl" kill-session "$mac" >/dev/null
i=0; while ip route show default metric 1 | grep -q pppoe-VWAN2; do i=$((i+1)); [ $i -lt 600 ] || break; sleep 0.05; done
t1=$(date +%s%N)
echo "== without VWAN2: $(ip route show default metric 1 | grep -c nexthop) hops"
i=0; until ip route show default metric 1 | grep -q pppoe-VWAN2; do i=$((i+1)); [ $i -lt 1200 ] || break; sleep 0.1; done
t2=$(date +%s%N)
touch /tmp/stop; wait
echo "== VWAN2 out after $(( (t1 - t0) / 1000000 )) ms, back after $(( (t2 - t0) / 1000000 )) ms"
echo "== final: $(ip route show default metric 1 | grep -c nexthop) hops"
# A silent BRAS for VWAN3 (its frames dropped: the session dies without a
# PADT): ecmp-track, probing the BRAS's "internet" through every dial,
# takes it out and redials that interface alone.
printf "config track 'track'\n\toption enabled '1'\n\tlist track_ip '198.51.100.1'\n\toption interval '1'\n\toption timeout '1'\n\toption down '2'\n\toption up '2'\n\toption redial_after '1'\n" > /etc/config/ecmp
rm -f /tmp/stop
ecmp-track &
tracker=$!
alive() { grep -o '"state":"alive"' /var/run/ecmp-hotplug/track.json 2>/dev/null | wc -l; }
i=0; until [ "$(alive)" -ge 5 ]; do i=$((i+1)); [ $i -lt 600 ] || break; sleep 0.1; done
echo "== tracked: $(alive) links alive"
( low=9; while [ ! -e /tmp/stop ]; do n=$(ip route show default metric 1 | grep -c nexthop); [ $n -lt $low ] && low=$n; done
  echo "== fewest hops while VWAN3 was silent: $low" ) &
mac=$(cat /sys/class/net/veth3/address)
t0=$(date +%s%N)
"$ROUTER_VM_KIT/bras/bras-ctl" block "$mac" >/dev/null
i=0; while ip route show default metric 1 | grep -q pppoe-VWAN3; do i=$((i+1)); [ $i -lt 600 ] || break; sleep 0.05; done
t1=$(date +%s%N)
i=0; until grep -q 'redial VWAN3: dead' "$ROUTER_STATE/syslog.txt"; do i=$((i+1)); [ $i -lt 600 ] || break; sleep 0.1; done
"$ROUTER_VM_KIT/bras/bras-ctl" unblock "$mac" >/dev/null
i=0; until ip route show default metric 1 | grep -q pppoe-VWAN3; do i=$((i+1)); [ $i -lt 1200 ] || break; sleep 0.1; done
t2=$(date +%s%N)
touch /tmp/stop; kill $tracker; wait
echo "== VWAN3 out after $(( (t1 - t0) / 1000000 )) ms, back $(( (t2 - t0) / 1000000 )) ms after the block"
echo "== redials: $(grep -c 'redial VWAN[0-9]*: dead' "$ROUTER_STATE/syslog.txt") $(grep -o 'redial VWAN[0-9]*: dead for [0-9]* s' "$ROUTER_STATE/syslog.txt" | head -1)"
echo "== final2: $(ip route show default metric 1 | grep -c nexthop) hops"
# Inbound: the BRAS pings each session's own address with strict
# reverse-path filtering, so a reply that leaves by another session (the
# ECMP route's choice) is dropped there; each must come back by its own.
ok=0
for d in wan VWAN1 VWAN2 VWAN3 VWAN4; do
  a=$(ip -4 -o addr show dev pppoe-$d | sed -n 's/.* inet \([0-9.]*\).*/\1/p')
  nsenter -t "$ROUTER_BRAS_PID" -n sh -c "sysctl -qw net.ipv4.conf.all.rp_filter=1; busybox ping -c 3 -W 2 $a" > /tmp/ping.txt 2>&1
  got=$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' /tmp/ping.txt)
  echo "== inbound $d $a: ${got:-0} of 3"
done
"#;

#[test]
fn multidial_and_ecmp4_on_real_pppoe_through_a_bras_kill() {
    let Some(vm) = sim::run_router_vm() else {
        return;
    };
    let f = sim::RouterFiles::new();
    let t = std::time::Instant::now();
    let (code, out) = f.run(
        &vm,
        1,
        &[
            "--no-wait",
            "--ipv6",
            "--bras-account",
            "u1:pw",
            "--vm-timeout",
            "600",
        ],
        SCRIPT,
    );
    eprintln!(
        "real PPPoE suite: {:.1} s\n{out}",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("multidial: 4 of 4 up: VWAN1 VWAN2 VWAN3 VWAN4"),
        "{out}"
    );
    assert!(out.contains("== apply rc=0"), "{out}");
    // wan (its own account) and the four dials on the shared one, all in
    // one resilient group via the BRAS's one gateway.
    assert!(out.contains("== balanced: 5 hops"), "{out}");
    for d in [
        "pppoe-wan",
        "pppoe-VWAN1",
        "pppoe-VWAN2",
        "pppoe-VWAN3",
        "pppoe-VWAN4",
    ] {
        assert!(
            out.contains(&format!("nexthop via 100.64.0.1 dev {d} weight 1")),
            "{d}: {out}"
        );
    }
    assert!(out.contains("== link: link/ppp"), "a real ppp link: {out}");
    // IPv6 over PPP (real IPV6CP, the kit's emulated DHCPv6): ecmp6's
    // group over the five `_6` interfaces.
    assert!(out.contains("== balanced6: 5 hops"), "{out}");
    // The kill: out of the group, back after the redial, never absent.
    assert!(out.contains("== without VWAN2: 4 hops"), "{out}");
    assert!(out.contains("== final: 5 hops"), "{out}");
    let samples = out
        .lines()
        .find_map(|l| l.strip_prefix("== samples "))
        .unwrap_or_else(|| panic!("no samples: {out}"));
    let (n, missing) = samples.split_once(" missing ").unwrap();
    assert!(n.parse::<u32>().unwrap() > 10, "{out}");
    assert_eq!(missing, "0", "the route was absent: {out}");
    // The silent BRAS: the tracker took VWAN3 out, redialled it alone,
    // the others stayed, and it came back.
    assert!(out.contains("== tracked: 5 links alive"), "{out}");
    assert!(
        out.contains("== fewest hops while VWAN3 was silent: 4"),
        "{out}"
    );
    assert!(
        out.contains("== redials: 1 redial VWAN3: dead for"),
        "{out}"
    );
    assert!(out.contains("== final2: 5 hops"), "{out}");
    // Inbound: every session's address answers by its own session.
    for d in ["wan", "VWAN1", "VWAN2", "VWAN3", "VWAN4"] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("== inbound {d} ")))
            .unwrap_or_else(|| panic!("no inbound check of {d}: {out}"));
        assert!(line.ends_with(": 3 of 3"), "{line}: {out}");
    }
}

/// A BRAS that caps sessions (4 in all: the kit's wan and three of five
/// dials get in): `multidial up` reports which did not come up and exits
/// 1; the group holds exactly the sessions that are up, never a dial
/// without one; netifd keeps retrying the refused dials, and when a slot
/// frees (one dial taken down), a refused one gets in and joins the route.
const CAPPED: &str = r#"set -u
i=0; until ubus list network.interface.wan >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 600 ] || exit 8; sleep 0.1; done
multidial apply --line eth1 --dials 5 --username u1 --password-file /etc/pw --up --batch 5 --delay 0 --wait 40
echo "== apply rc=$?"
ups() { ubus call network.interface dump | jsonfilter -e '@.interface[@.up=true].l3_device' | grep pppoe | sort | tr '\n' ' '; }
hops() { ip route show default metric 1 | grep -o 'dev pppoe-[A-Za-z0-9]*' | cut -d' ' -f2 | sort | tr '\n' ' '; }
i=0; until [ "$(hops)" = "$(ups)" ]; do i=$((i+1)); [ $i -lt 100 ] || break; sleep 0.1; done
echo "== up: $(ups)"
echo "== route: $(hops)"
before=$(ups)
gone=$(ups | tr ' ' '\n' | grep VWAN | head -1 | sed 's/pppoe-//')
ubus call network.interface.$gone down
t0=$(date +%s%N)
i=0; until [ "$(ups | wc -w)" = 4 ] && [ "$(ups)" != "$before" ] && ! ups | grep -q "pppoe-$gone "; do i=$((i+1)); [ $i -lt 1200 ] || break; sleep 0.1; done
t1=$(date +%s%N)
i=0; until [ "$(hops)" = "$(ups)" ]; do i=$((i+1)); [ $i -lt 100 ] || break; sleep 0.1; done
echo "== freed $gone after $(( (t1 - t0) / 1000000 )) ms; up: $(ups)"
echo "== route2: $(hops)"
"#;

#[test]
fn a_bras_that_caps_sessions_leaves_no_half_made_group() {
    let Some(vm) = sim::run_router_vm() else {
        return;
    };
    let f = sim::RouterFiles::new();
    let (code, out) = f.run(
        &vm,
        1,
        &[
            "--no-wait",
            "--bras-account",
            "u1:pw",
            "--bras-max-sessions",
            "4",
            "--vm-timeout",
            "600",
        ],
        CAPPED,
    );
    eprintln!("{out}");
    assert_eq!(code, 0, "{out}");
    // Three of five dials in (with wan: the BRAS's four sessions), the
    // other two named, exit 1.
    assert!(out.contains("multidial: 3 of 5 up: "), "{out}");
    assert!(out.contains("multidial: not up after 40 s: "), "{out}");
    assert!(out.contains("== apply rc=1"), "{out}");
    let field = |tag: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(tag))
            .unwrap_or_else(|| panic!("no {tag}: {out}"))
            .to_string()
    };
    // The group is exactly what is up: four sessions, no more.
    assert_eq!(field("== up: "), field("== route: "), "{out}");
    assert_eq!(field("== up: ").split_whitespace().count(), 4, "{out}");
    // A freed slot: a refused dial, retried by netifd, takes it.
    let up2 = field("== freed ");
    let (gone, up2) = up2.split_once(" after ").unwrap();
    let up2 = up2.split_once("up: ").unwrap().1.to_string();
    assert!(!up2.contains(&format!("pppoe-{gone} ")), "{out}");
    assert_eq!(up2.split_whitespace().count(), 4, "{out}");
    assert_ne!(up2, field("== up: "), "a refused dial got in: {out}");
    assert_eq!(up2, field("== route2: "), "{out}");
}
