//! End to end under OpenWrt's real ubusd and netifd (the kit's
//! `run-router`, emulated pppd): our hotplug hooks, binaries and init
//! script on a throwaway router. Needs root; see `sim::run_router`.

use std::path::Path;
use std::process::Command;

/// A router's files: our binaries at /usr/sbin, the init script, the
/// hooks, and a config dir with a wan zone that masquerades.
struct Files {
    d: sim::TempDir,
}

impl Files {
    fn new() -> Files {
        let d = sim::TempDir::new("router");
        let root = env!("CARGO_MANIFEST_DIR");
        for dir in ["files/usr/sbin", "files/etc/init.d", "config", "hooks"] {
            std::fs::create_dir_all(d.0.join(dir)).unwrap();
        }
        for b in ["ecmp4", "ecmp6", "ecmp-track", "multidial"] {
            std::fs::copy(sim::bin(b), d.0.join("files/usr/sbin").join(b)).unwrap();
        }
        for init in ["multidial", "ecmp-track"] {
            std::fs::copy(
                Path::new(root).join(format!("../openwrt/files/{init}.init")),
                d.0.join("files/etc/init.d").join(init),
            )
            .unwrap();
        }
        for h in ["97-ecmp4", "98-ecmp6"] {
            std::fs::copy(
                Path::new(root).join("../hotplug.d/iface").join(h),
                d.0.join("hooks").join(h),
            )
            .unwrap();
        }
        std::fs::write(
            d.0.join("config/firewall"),
            "config zone\n\toption name 'wan'\n\tlist network 'wan'\n\toption masq '1'\n",
        )
        .unwrap();
        std::fs::write(d.0.join("files/etc/pw"), "pw\n").unwrap();
        Files { d }
    }

    /// run-router --dials N with our files; `script` runs inside (sh -c).
    fn run(&self, rr: &Path, dials: u32, extra: &[&str], script: &str) -> (i32, String) {
        let o = Command::new(rr)
            .args(["--dials", &dials.to_string()])
            .arg("--config-dir")
            .arg(self.d.0.join("config"))
            .arg("--files")
            .arg(self.d.0.join("files"))
            .arg("--hotplug-dir")
            .arg(self.d.0.join("hooks"))
            .arg("--state")
            .arg(self.d.0.join("state"))
            .args(extra)
            .args(["--", "sh", "-c", script])
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    }
}

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
