//! End to end under OpenWrt's real ubusd and netifd (the kit's
//! `run-router`, emulated pppd): our hotplug hooks, binaries and init
//! script on a throwaway router. Needs root; see `sim::run_router`.

use std::path::Path;

use sim::RouterFiles as Files;

/// Stand-ins for procd's instance calls: the init script's command is
/// written to /run/ecmp-test-cmd (a fresh tmpfs per router; there is no procd in the kit); the rest is real.
const PROCD: &str = "procd_open_instance() { :; }; procd_close_instance() { :; }
procd_set_param() { [ \"$1\" = command ] && { shift; echo \"$*\" > /run/ecmp-test-cmd; }; return 0; }
. /lib/functions.sh
";

#[test]
fn dials_wait_for_the_init_script_and_come_up_in_batches() {
    let Some(rr) = sim::run_router() else { return };
    let f = Files::new();
    let script = format!(
        "set -e
multidial apply --line eth1 --dials 3 --username u --password-file /etc/pw --batch 2 --delay 1
ubus call network reload; sleep 2
echo \"up after reload: $(ubus call network.interface dump | jsonfilter -e '@.interface[@.up=true].interface' | tr '\\n' ' ')\"
{PROCD}. /etc/init.d/multidial
start_service
echo \"init: $(cat /run/ecmp-test-cmd)\"
$(cat /run/ecmp-test-cmd) --wait 20
ip route show default metric 1"
    );
    let (code, out) = f.run(&rr, 1, &[], &script);
    assert_eq!(code, 0, "{out}");
    // The real uci wrote auto '0': a reload starts none of them.
    let net = std::fs::read_to_string(f.d.0.join("config/network")).unwrap();
    assert!(net.contains("option auto '0'"), "{net}");
    assert!(out.contains("up after reload: loopback wan \n"), "{out}");
    assert!(
        out.contains("init: /usr/sbin/multidial up --batch 2 --delay 1\n"),
        "{out}"
    );
    assert!(
        out.contains("multidial: up VWAN1 VWAN2\nmultidial: up VWAN3\nmultidial: 3 of 3 up: VWAN1 VWAN2 VWAN3\n"),
        "{out}"
    );
    // Our hooks ran for each: all four dials in the route.
    for d in ["pppoe-wan", "pppoe-VWAN1", "pppoe-VWAN2", "pppoe-VWAN3"] {
        assert!(out.contains(&format!("dev {d} weight 1")), "{d}: {out}");
    }
}

#[test]
fn the_init_script_does_nothing_without_multidial_s_section() {
    let Some(rr) = sim::run_router() else { return };
    let f = Files::new();
    let script = format!("{PROCD}. /etc/init.d/multidial\nstart_service\n[ ! -e /run/ecmp-test-cmd ] && echo no-instance");
    let (code, out) = f.run(&rr, 1, &[], &script);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no-instance"), "{out}");
}

fn hops(out: &str, family_marker: &str) -> usize {
    // The block after the marker line, up to the next marker.
    out.split(family_marker)
        .nth(1)
        .map(|b| {
            b.split("==")
                .next()
                .unwrap_or("")
                .matches("nexthop via")
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_storm_of_8_dials_ends_with_every_member_in_both_families() {
    let Some(rr) = sim::run_router() else { return };
    let f = Files::new();
    let (code, out) = f.run(
        &rr,
        8,
        &["--ipv6"],
        "echo '== v4'; ip route show default proto 236; echo '== v6'; ip -6 route show default proto 236; echo '== end'",
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(hops(&out, "== v4"), 8, "{out}");
    assert_eq!(hops(&out, "== v6"), 8, "{out}");
    let log = std::fs::read_to_string(f.d.0.join("state/syslog.txt")).unwrap_or_default();
    assert!(log.contains("ecmp4"), "our hooks ran: {log}");
    assert!(!log.contains("error:"), "{log}");
    // Every event that runs logs a line; one passed over (its proto in
    // /etc/config/network is not the family's) logs none and asks no
    // dump: ecmp6 for the IPv4 dials and loopback, ecmp4 for loopback.
    let ran = |who: &str, ev: &str| {
        log.lines()
            .filter(|l| l.contains(&format!("{who}[")) && l.contains(&format!("]: {ev}: ")))
            .count()
    };
    for i in 1..8 {
        assert!(ran("ecmp4", &format!("ifup VWAN{i}")) >= 1, "{log}");
        assert!(ran("ecmp6", &format!("ifup VWAN{i}_6")) >= 1, "{log}");
        assert_eq!(ran("ecmp6", &format!("ifup VWAN{i}")), 0, "{log}");
    }
    assert_eq!(
        ran("ecmp4", "ifup loopback") + ran("ecmp6", "ifup loopback"),
        0,
        "{log}"
    );
}

#[test]
fn a_redial_through_netifd_keeps_the_route() {
    let Some(rr) = sim::run_router() else { return };
    let f = Files::new();
    // Sample our IPv4 route while VWAN3 goes down and comes back.
    let script = "
        ( n=0; miss=0; while [ ! -e /run/stop ]; do
            n=$((n+1)); ip route show default proto 236 | grep -q nhid || miss=$((miss+1)); done
          echo \"samples $n missing $miss\" > /run/samples ) &
        ubus call network.interface.VWAN3 down; sleep 1
        echo \"== down\"; ip route show default proto 236
        ubus call network.interface.VWAN3 up; sleep 3
        touch /run/stop; sleep 0.3
        echo \"== up\"; ip route show default proto 236
        cat /run/samples";
    let (code, out) = f.run(&rr, 4, &[], script);
    assert_eq!(code, 0, "{out}");
    let down = out
        .split("== down")
        .nth(1)
        .unwrap_or("")
        .split("== up")
        .next()
        .unwrap_or("");
    assert!(
        down.contains("nhid") && !down.contains("pppoe-VWAN3"),
        "{out}"
    );
    let up = out.split("== up").nth(1).unwrap_or("");
    assert!(up.contains("pppoe-VWAN3"), "VWAN3 back: {out}");
    let samples = out
        .lines()
        .find(|l| l.starts_with("samples "))
        .expect("samples");
    let n: usize = samples.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(n > 50, "{samples}");
    println!("redial: {samples}");
    assert!(
        samples.ends_with(" missing 0"),
        "the route was never gone: {samples}"
    );
}

#[test]
fn a_dials_device_vanishing_keeps_the_route() {
    let Some(rr) = sim::run_router() else { return };
    let f = Files::new();
    // pppd dies: its device goes, netifd says nothing for the v4 side.
    let script = "ip link del pppoe-VWAN2; sleep 0.5; ip route show default proto 236";
    let (code, out) = f.run(&rr, 4, &[], script);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("nhid"), "{out}");
    assert_eq!(out.matches("nexthop via").count(), 3, "{out}");
    assert!(!out.contains("pppoe-VWAN2"), "{out}");
}

#[test]
fn the_socket_and_the_ubus_program_read_the_same_dump() {
    let Some(rr) = sim::run_router() else { return };
    let f = Files::new();
    // Our own client over ubusd's socket, against the real `ubus` CLI's
    // JSON, through the one typed model: the same status, both families.
    // What moves between two runs (byte counters, uptime) is masked.
    let script = "same() { sed -E 's/\"(rx_bytes|tx_bytes|uptime)\": [0-9]+/\"\\1\": N/g' \"$1\"; }
        for b in ecmp4 ecmp6; do
            $b status --json > /run/socket.$b; echo \"socket $b: $?\"
            $b --ubus /bin/ubus status --json > /run/cli.$b; echo \"cli $b: $?\"
            same /run/socket.$b | grep -q '\"rx_bytes\": N' &&
                [ \"$(same /run/socket.$b)\" = \"$(same /run/cli.$b)\" ] && echo \"same $b\"
            ubus call network.interface dump > /run/dump.json
            $b --dump-file /run/dump.json status --json > /run/file.$b
            [ \"$(same /run/socket.$b)\" = \"$(same /run/file.$b)\" ] && echo \"file $b\"
        done; cat /run/socket.ecmp6";
    let (code, out) = f.run(&rr, 4, &["--ipv6"], script);
    assert_eq!(code, 0, "{out}");
    for l in [
        "socket ecmp4: 0",
        "cli ecmp4: 0",
        "same ecmp4",
        "file ecmp4",
        "socket ecmp6: 0",
        "cli ecmp6: 0",
        "same ecmp6",
        "file ecmp6",
    ] {
        assert!(out.lines().any(|x| x == l), "{l}: {out}");
    }
    assert_eq!(out.matches("\"interface\": \"VWAN").count(), 3, "{out}");
}

/// ecmp-track under the real netifd, configured with the real uci: the init
/// script starts it only when enabled; a dial whose target never answers
/// leaves the route (the other stays), and `redial_after` downs and ups
/// that interface alone through ubusd, which netifd carries out (the
/// hooks see ifdown and ifup VWAN1).
#[test]
fn ecmp_track_leaves_out_and_redials_a_dead_dial_under_netifd() {
    let Some(rr) = sim::run_router() else { return };
    let f = Files::new();
    // The package's /etc/config/ecmp, tracking disabled as shipped.
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../openwrt/files/ecmp.config"),
        f.d.0.join("config/ecmp"),
    )
    .unwrap();
    let script = format!(
        "{PROCD}. /etc/init.d/ecmp-track
start_service
[ -e /run/ecmp-test-cmd ] || echo no-instance-while-disabled
uci -q batch <<EOF
set ecmp.track=track
set ecmp.track.enabled='1'
set ecmp.track.interval='1'
set ecmp.track.failure_interval='1'
set ecmp.track.recovery_interval='1'
set ecmp.track.timeout='1'
set ecmp.track.down='2'
set ecmp.track.redial_after='2'
set ecmp.VWAN1=member
add_list ecmp.VWAN1.track_ip='192.0.2.99'
commit ecmp
EOF
start_service
echo \"init: $(cat /run/ecmp-test-cmd)\"
$(cat /run/ecmp-test-cmd) -v 2> /run/track.log &
pid=$!
i=0; until grep -q 'VWAN1 (pppoe-VWAN1) ipv4 dead' /run/track.log; do i=$((i+1)); [ $i -lt 100 ] || exit 7; sleep 0.1; done
sleep 0.3
echo \"== dead\"; ip route show default proto 236
i=0; until grep -q 'redial VWAN1' /run/track.log; do i=$((i+1)); [ $i -lt 100 ] || exit 8; sleep 0.1; done
sleep 1
kill $pid; wait $pid || true
echo \"== log\"; cat /run/track.log
echo \"== end\""
    );
    let (code, out) = f.run(&rr, 2, &[], &script);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no-instance-while-disabled"), "{out}");
    assert!(out.contains("init: /usr/sbin/ecmp-track\n"), "{out}");
    let dead = out
        .split("== dead")
        .nth(1)
        .unwrap()
        .split("==")
        .next()
        .unwrap();
    assert!(
        dead.contains("dev pppoe-wan") && !dead.contains("pppoe-VWAN1"),
        "{out}"
    );
    assert!(
        out.contains("ecmp-track: warning: VWAN1 (pppoe-VWAN1) ipv4 dead: 0 of 1 targets answered for 2 rounds; left the group"),
        "{out}"
    );
    let log = out.split("== log").nth(1).unwrap();
    assert_eq!(log.matches("redial VWAN1: dead for ").count(), 1, "{out}");
    assert!(log.contains("network.interface.VWAN1 down, up"), "{out}");
    // netifd carried it out: the hooks ran for VWAN1 going down and up.
    let syslog = std::fs::read_to_string(f.d.0.join("state/syslog.txt")).unwrap();
    let after = syslog.split("redial VWAN1").nth(1).unwrap_or("");
    assert!(after.contains("ifdown VWAN1"), "{syslog}");
    assert!(after.contains("ifup VWAN1"), "{syslog}");
}

/// The shell block that follows `marker` in the write-up (its next
/// ```shell ... ``` code block).
fn writeup_block(marker: &str) -> String {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/seed");
    let text = std::fs::read_dir(&seed)
        .unwrap_or_else(|e| panic!("the write-up in {}: {e}", seed.display()))
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .find(|t| t.contains(marker))
        .unwrap_or_else(|| panic!("no write-up with {marker} in {}", seed.display()));
    let at = text.find(marker).unwrap();
    let rest = &text[at..];
    let start = rest.find("```shell\n").unwrap() + "```shell\n".len();
    let end = rest[start..].find("```").unwrap();
    rest[start..start + end].to_string()
}

/// From the write-up to ecmp-hotplug on one router: its macvlan loop, its
/// `uci set` script and its two hotplug scripts and sysctl lines, all as
/// it gives them, with 4 dials up; then our package's hooks, `multidial
/// adopt`, what `check` names and the fixes it gives, and every dial in
/// ecmp4's route.
#[test]
fn from_the_write_ups_scripts_to_ecmp_hotplug() {
    let Some(rr) = sim::run_router() else { return };
    let f = Files::new();
    std::fs::write(
        f.d.0.join("config/firewall"),
        "config zone\n\toption name 'lan'\n\tlist network 'lan'\nconfig zone\n\toption name 'wan'\n\tlist network 'wan'\n\toption masq '1'\n",
    )
    .unwrap();
    // Ours waits aside until the write-up's setup runs.
    let hooks = f.d.0.join("hooks");
    std::fs::create_dir_all(f.d.0.join("ours")).unwrap();
    for h in ["97-ecmp4", "98-ecmp6"] {
        std::fs::rename(hooks.join(h), f.d.0.join("ours").join(h)).unwrap();
        std::fs::copy(f.d.0.join("ours").join(h), f.d.0.join("files/etc").join(h)).unwrap();
    }
    std::fs::write(hooks.join("97-ECMPv4"), writeup_block("```97-ECMPv4```")).unwrap();
    std::fs::write(hooks.join("98-ECMPv6"), writeup_block("```98-ECMPv6```")).unwrap();
    let dial = writeup_block("### 拨号");
    let sysctl = writeup_block("先开启L4 Hash以及邻居健康检查");
    let script = format!(
        r#"set -u
cd /tmp
# The write-up's dial block as it stands (its line is eth1 here, its
# account filled in), with a network reload before its ifup loop (ifup is
# `ubus call network.interface.X up`).
cat > dial.sh <<'WRITEUP'
{dial}
WRITEUP
sed -i 's/^NUM=$/NUM=4/; s/eth0\.2/eth1/; s/^username=$/username=u/; s/^password=$/password=pw/' dial.sh
sed -i 's/^ *ifup \(.*\)$/ ubus call network.interface.\1 up/; /^#拨数较多的话/i ubus call network reload; sleep 1' dial.sh
sh dial.sh
cat > sysctl.sh <<'WRITEUP'
{sysctl}
WRITEUP
touch /etc/sysctl.conf; sh sysctl.sh >/dev/null 2>&1
i=0; until [ "$(ip route show default metric 1 | grep -c nexthop)" = 5 ]; do i=$((i+1)); [ $i -lt 150 ] || break; sleep 0.2; done
echo "== write-up route: $(ip route show default metric 1 | grep -c nexthop) hops, $(ip route show default metric 1 | head -1)"
# Our package: the hooks go in, adopt takes the dials over.
cp /etc/97-ecmp4 /etc/98-ecmp6 /etc/hotplug.d/iface/
multidial adopt; echo "== adopt rc=$?"
ecmp4 check > check1.txt; echo "== check1 rc=$?"
cat check1.txt
# What check says to do.
rm /etc/hotplug.d/iface/97-ECMPv4 /etc/hotplug.d/iface/98-ECMPv6
ip route del default metric 1; ip -6 route del default metric 1 2>/dev/null
ecmp4; ecmp6
ecmp4 check > check2.txt; echo "== check2 rc=$?"
cat check2.txt
echo "== ours: $(ip route show default metric 1 | grep -c nexthop) hops, $(ip route show default metric 1 | head -1)"
echo "== ours6: $(ip -6 route show default metric 1 | head -1)"
"#
    );
    let (code, out) = f.run(&rr, 1, &["--ipv6"], &script);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("== write-up route: 5 hops, default"),
        "the write-up's own route first: {out}"
    );
    // The kit's wan sits on a macvlan of the line too (vwan0): five dials.
    assert!(
        out.contains("multidial: adopted 5 dials (wan VWAN1 VWAN2 VWAN3 VWAN4)"),
        "{out}"
    );
    assert!(out.contains("== adopt rc=0"), "{out}");
    // check names the write-up's scripts and its route, with the fix.
    let check1 = out.split("== check1").nth(1).unwrap_or("");
    for said in [
        "[FAIL] /etc/hotplug.d/iface/97-ECMPv4 writes a default route too",
        "fix: rm /etc/hotplug.d/iface/97-ECMPv4",
        "[FAIL] /etc/hotplug.d/iface/98-ECMPv6 writes a default route too",
        "is not ours and holds our metric 1: every event exits 6 (conflict)",
        "fix: remove it (ip route del default metric 1; left by the write-up's 97-ECMPv4/98-ECMPv6?)",
    ] {
        assert!(check1.contains(said), "{said}: {out}");
    }
    // Once they are gone, none of it: and every dial is in our route.
    let check2 = out.split("== check2").nth(1).unwrap_or("");
    assert!(!check2.contains("ECMPv"), "{out}");
    assert!(
        !check2.contains("is not ours and holds our metric"),
        "{out}"
    );
    assert!(check2.contains("0 to fix"), "{out}");
    assert!(out.contains("== ours: 5 hops, default nhid"), "{out}");
    // IPv6: the write-up dials its VWANs without it; wan_6 is ecmp6's.
    assert!(out.contains("== ours6: default nhid"), "{out}");
}
