//! `make bench-rules`: what policy rules cost a forwarded packet. The
//! router of `make bench-dataplane` (4 dials, conntrack, masquerade, a LAN
//! host sending 64-byte UDP from 1,024 source ports to an address behind
//! every dial), and the CPU time per packet (sender thread plus
//! ksoftirqd/0, both on CPU 0). Unlike that bench's flows, each of these
//! is answered once before it is timed, as real traffic is: its conntrack
//! entry is established, not `new` on every packet; the timed packets
//! are then dropped at the far end. With:
//!
//! - no rule at all (the member tables and their guards, no marks: the
//!   default without port forwards);
//! - 0, 8 and 32 policy rules that the traffic does not match (each a
//!   source CIDR, the last one pinning 192.168.1.99 to a dial): the
//!   rules are walked by a connection's first packet only, every other
//!   packet pays the marks' failed `ct state new` test and one map
//!   lookup;
//! - 32 rules whose last one pins the sender (matched traffic: every
//!   packet copies its mark and takes the member's table by `fwmark`).
//!
//! Columns interleaved round by round, each round starting at the next
//! column, each figure the median of ROUNDS (11; `ROUNDS=` changes it).
//! Sender, router and receiver share this machine's cores: the absolute
//! figures are this machine's, the ratios are what the rules add.

use sim::dataplane::{median, per_packet};
use sim::{in_netns, Router};
use std::net::UdpSocket;
use std::time::Duration;

const ROUND: Duration = Duration::from_millis(1500);
/// Rounds per column: 11 unless `ROUNDS=` says otherwise.
fn rounds() -> usize {
    std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(11)
}
const TARGET: &str = "198.51.100.200";

/// `n` rules matching other sources, then (with `pin`) one matching the
/// sender, pinning it to VWAN2.
fn rules(n: usize, pin: bool) -> String {
    let mut s = String::from("config ecmp 'ipv4'\n\toption inbound_mark 'on'\n");
    for k in 0..n {
        let (src, last) = (format!("10.{k}.0.0/16"), k + 1 == n);
        let src = if last && pin {
            "192.168.1.10".to_string()
        } else if last {
            "192.168.1.99".into()
        } else {
            src
        };
        let to = if last { "VWAN2" } else { "balanced" };
        s.push_str(&format!(
            "config rule 'r{k}'\n\tlist src_ip '{src}'\n\toption use '{to}'\n"
        ));
    }
    s
}

fn main() {
    println!(
        "ns of CPU per forwarded 64-byte UDP packet, LAN -> internet, 1,024 flows, 4 dials (median of {} x {:.1} s)",
        rounds(),
        ROUND.as_secs_f64()
    );
    let cols: Vec<(&str, String)> = vec![
        (
            "no rules",
            "config ecmp 'ipv4'\n\toption inbound_mark '0'\n".into(),
        ),
        ("0 rules", rules(0, false)),
        ("8 unmatched", rules(8, false)),
        ("32 unmatched", rules(32, false)),
        ("32, matched", rules(32, true)),
    ];
    let names: Vec<&str> = cols.iter().map(|c| c.0).collect();
    let row = in_netns(move || {
        let r = Router::all_up(4);
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap();
        std::fs::write("/proc/sys/net/ipv4/fib_multipath_hash_policy", "1").unwrap();
        let net = r.internet();
        net.ip(&format!("addr add {TARGET}/32 dev lo"));
        // The far end answers every datagram, until `drop` is loaded.
        let _echo = net.run(|| {
            let s = UdpSocket::bind((TARGET, 9)).unwrap();
            let mut b = [0u8; 64];
            while let Ok((n, from)) = s.recv_from(&mut b) {
                let _ = s.send_to(&b[..n], from);
            }
        });
        let drop = |on: bool| {
            let o = std::process::Command::new("nsenter")
                .arg(format!("--net={}", net.ns))
                .args(["nft", "-f", "-"])
                .stdin(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    let t = if on {
                        "table ip far {\n\tchain pre {\n\t\ttype filter hook prerouting priority -300;\n\t\tudp dport 9 drop\n\t}\n}\n"
                    } else {
                        "table ip far\ndelete table ip far\n"
                    };
                    c.stdin.take().unwrap().write_all(t.as_bytes())?;
                    c.wait()
                })
                .unwrap();
            assert!(o.success());
        };
        let lan = sim::lan_host();
        sim::nft("table ip nat {\n\tchain post {\n\t\ttype nat hook postrouting priority srcnat;\n\t\toifname \"pppoe-*\" masquerade\n\t}\n}\n");
        let mut figures = vec![Vec::new(); cols.len()];
        for round in 0..rounds() {
            // Each round starts at another column: no column is always first.
            for k in (0..cols.len()).map(|i| (i + round) % cols.len()) {
                let body = &cols[k].1;
                let conf = r.path("bench.conf");
                std::fs::write(&conf, body).unwrap();
                let c = conf.to_str().unwrap();
                for extra in [&["--flush"][..], &[]] {
                    let mut args = vec!["--config", c, "--mode", "resilient"];
                    args.extend(extra);
                    let run = r.event("ecmp4", "", "", &args);
                    assert_eq!(run.code, 0, "{}", run.stderr);
                }
                // Each column its own source ports: its flows are new to
                // it, and meet its own rules (a conntrack entry keeps the
                // mark its first packet got).
                let sport = 20000 + 1024 * k as u16;
                // Each flow answered once (established), then timed.
                drop(false);
                lan.run(move || {
                    let socks: Vec<UdpSocket> = (0..1024)
                        .map(|i| UdpSocket::bind(("192.168.1.10", sport + i)).unwrap())
                        .collect();
                    // One at a time (a burst overflows the echo's buffer),
                    // with a second try.
                    let mut b = [0u8; 64];
                    let mut answered = 0;
                    for s in &socks {
                        s.set_read_timeout(Some(Duration::from_millis(200)))
                            .unwrap();
                        answered += usize::from((0..2).any(|_| {
                            let _ = s.send_to(&[0u8; 22], (TARGET, 9));
                            s.recv(&mut b).is_ok()
                        }));
                    }
                    assert!(answered > 1000, "{answered} of 1024 flows answered");
                })
                .join()
                .unwrap();
                drop(true);
                figures[k].push(per_packet(&lan, "192.168.1.10", sport, TARGET, ROUND));
            }
        }
        figures.into_iter().map(median).collect::<Vec<f64>>()
    });
    for (name, ns) in names.iter().zip(&row) {
        println!("{name:>14} {ns:>8.0} ns  {:>6.3} x no rules", ns / row[0]);
    }
}
