//! `make bench-inbound`: what the port-forward marks add per forwarded
//! packet. A router with 4 dials, an "internet" namespace behind them and
//! a LAN host behind a DNAT (as fw4's port forward). A UDP stream goes
//! from the internet to the LAN host through dial 1 (original direction:
//! our prerouting chain's two map lookups, no match), and one comes back
//! from the LAN host as replies of that connection (reply direction: the
//! mark copied, and the `fwmark` rule's table). Each direction is timed
//! with the marks off and on, alternating, 5 rounds of 2 s each; the
//! figure is the median of packets per second, and the cost per packet
//! the difference of their inverses. Sender, router and receiver share
//! the machine's cores, so the absolute rates are this machine's, not a
//! router's; the difference is what the rules add.

use sim::{in_netns, ip, Isp, Router};
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROUND: Duration = Duration::from_secs(2);
const ROUNDS: usize = 5;

fn nft(text: &str) {
    use std::io::Write;
    let mut c = std::process::Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("nft (nftables) is needed");
    c.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    assert!(c.wait().unwrap().success());
}

/// Packets per second from `send` (run on the sender's namespace) to a
/// receiver counting on `recv` for ROUND.
fn rate(from: &Isp, to: &Isp, src: &str, dst: &str, port: u16, sport: u16) -> f64 {
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (c, s) = (count.clone(), stop.clone());
    let listen = format!("0.0.0.0:{port}");
    let (tx, rx) = std::sync::mpsc::channel();
    let receiver = to.run(move || {
        let sock = UdpSocket::bind(&listen).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        tx.send(()).unwrap();
        let mut b = [0u8; 64];
        while !s.load(Ordering::Relaxed) {
            if sock.recv(&mut b).is_ok() {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    rx.recv().unwrap();
    let (src, dst) = (format!("{src}:{sport}"), dst.to_string());
    let sender = from.run(move || {
        let sock = UdpSocket::bind(&src).unwrap();
        let end = Instant::now() + ROUND;
        let b = [0u8; 32];
        let mut n = 0u64;
        while Instant::now() < end {
            for _ in 0..64 {
                let _ = sock.send_to(&b, &dst);
            }
            n += 64;
        }
        n
    });
    let sent = sender.join().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    receiver.join().unwrap();
    let got = count.load(Ordering::Relaxed);
    assert!(got > sent / 2, "only {got} of {sent} packets arrived");
    got as f64 / ROUND.as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    in_netns(|| {
        let r = Router::all_up(4);
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap();
        std::fs::write("/proc/sys/net/ipv4/fib_multipath_hash_policy", "1").unwrap();
        let net = r.internet();
        // The internet answers the dial's address by that dial only.
        net.ip("route add default via 100.64.0.2");
        let lan = sim::lan_host();
        nft("table ip nat {\n\tchain pre {\n\t\ttype nat hook prerouting priority dstnat;\n\t\tudp dport 9091 dnat to 192.168.1.10:7000\n\t}\n}\n");
        std::fs::write(
            r.path("firewall"),
            "config redirect\n\toption src 'wan'\n\toption src_dport '9091'\n\toption dest_ip '192.168.1.10'\n",
        )
        .unwrap();
        let conf = |on: bool| {
            let p = r.path(if on { "on.conf" } else { "off.conf" });
            let v = if on { "auto" } else { "0" };
            std::fs::write(
                &p,
                format!("config ecmp 'ipv4'\n\toption inbound_mark '{v}'\n"),
            )
            .unwrap();
            p
        };
        let (off, on) = (conf(false), conf(true));
        let set = |p: &std::path::Path| {
            let run = r.event(
                "ecmp4",
                "",
                "",
                &["--config", p.to_str().unwrap(), "--mode", "resilient"],
            );
            assert_eq!(run.code, 0, "{}", run.stderr);
        };
        let dial = r.dials[1].local4();
        let (mut in_off, mut in_on, mut out_off, mut out_on) = (vec![], vec![], vec![], vec![]);
        for i in 0..ROUNDS {
            for (marks, p) in [(false, &off), (true, &on)] {
                set(p);
                // A fresh connection each time (its own source port): its
                // first packet, arriving on dial 1, takes the mark or not.
                let sport = 20000 + (i * 2 + usize::from(marks)) as u16;
                let inbound = rate(
                    &net,
                    &lan,
                    "198.51.100.10",
                    &format!("{dial}:9091"),
                    7000,
                    sport,
                );
                // The LAN host's replies of that connection.
                let outbound = rate(
                    &lan,
                    &net,
                    "192.168.1.10",
                    &format!("198.51.100.10:{sport}"),
                    sport,
                    7000,
                );
                if marks {
                    in_on.push(inbound);
                    out_on.push(outbound);
                } else {
                    in_off.push(inbound);
                    out_off.push(outbound);
                }
            }
        }
        let row = |what: &str, off: Vec<f64>, on: Vec<f64>| {
            let (a, b) = (median(off), median(on));
            println!(
                "{what:<44} {:>12.0} {:>12.0} {:>10.0} ns",
                a,
                b,
                (1e9 / b - 1e9 / a)
            );
        };
        println!(
            "port-forward marks, UDP through a DNAT on dial 1 of 4 (median of {ROUNDS} x {} s):",
            ROUND.as_secs()
        );
        println!(
            "{:<44} {:>12} {:>12} {:>13}",
            "", "pkt/s off", "pkt/s on", "per packet"
        );
        row("internet -> LAN host (original direction)", in_off, in_on);
        row("LAN host -> internet (replies: marked)", out_off, out_on);
        let rules = ip(&["rule", "show"]);
        assert_eq!(rules.matches("fwmark 0x").count(), 4, "{rules}");
    });
}
