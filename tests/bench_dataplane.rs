//! `make bench-dataplane`: what our policy rules cost a forwarded packet,
//! at 4, 16 and 64 dials. A router namespace with N veth dials, conntrack
//! and nft masquerade; a LAN host sends 64-byte UDP from 1,024 source ports
//! to an "internet" namespace behind every dial, which drops them at a
//! blackhole route (no ICMP back). The sender's thread is pinned to CPU 0,
//! where the whole path runs in its softirq: the cost per packet is the
//! sender thread's CPU time plus ksoftirqd/0's, over the packets sent.
//!
//! Side by side, in one run, interleaved round by round: inbound off (no
//! rule of ours at all), inbound on and on with port-forward marks of this
//! build, and the same two of BASE's (ECMP_BASE_DIR, built by `make`;
//! skipped without it). Each figure is the median of ROUNDS rounds.

use sim::{in_netns, Router};
use std::path::{Path, PathBuf};
use std::time::Duration;

const ROUND: Duration = Duration::from_millis(1500);
const ROUNDS: usize = 5;
const TARGET: &str = "198.51.100.200";

use sim::dataplane::{median, per_packet};

/// A build's ecmp4, run against the router with `conf`.
fn sync(r: &Router, bin: &Path, conf: &Path, extra: &[&str]) {
    let o = std::process::Command::new(bin)
        .args(["--ubus", r.path("ubus").to_str().unwrap()])
        .args(["--config", conf.to_str().unwrap()])
        .args(["--lock-file", r.path("lock").to_str().unwrap()])
        .args(["--state-dir", r.path(".").to_str().unwrap()])
        .args(["--syslog-socket", r.path("nolog").to_str().unwrap()])
        .args(["--mode", "resilient"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}: {}",
        bin.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn main() {
    let this = sim::bin("ecmp4");
    let base = std::env::var_os("ECMP_BASE_DIR").map(|d| PathBuf::from(d).join("ecmp4"));
    let label = std::env::var("ECMP_BASE_LABEL").unwrap_or_else(|_| "BASE".into());
    println!(
        "ns of CPU per forwarded 64-byte UDP packet, LAN -> internet, 1,024 flows (median of {ROUNDS} x {:.1} s)",
        ROUND.as_secs_f64()
    );
    let mut head = format!("{:>6} {:>9} {:>9} {:>9}", "dials", "off", "on", "marks");
    if base.is_some() {
        head.push_str(&format!(
            " {:>14} {:>14}",
            format!("on {label}"),
            format!("marks {label}")
        ));
    }
    head.push_str(&format!(" {:>8} {:>8}", "on/off", "marks/off"));
    println!("{head}");
    for n in [4u32, 16, 64] {
        let (this, base) = (this.clone(), base.clone());
        let row = in_netns(move || {
            let r = Router::all_up(n);
            for k in ["ip_forward"] {
                std::fs::write(format!("/proc/sys/net/ipv4/{k}"), "1").unwrap();
            }
            std::fs::write("/proc/sys/net/ipv4/fib_multipath_hash_policy", "1").unwrap();
            let net = r.internet();
            net.ip(&format!("route add blackhole {TARGET}/32"));
            let lan = sim::lan_host();
            let nft = "table ip nat {\n\tchain post {\n\t\ttype nat hook postrouting priority srcnat;\n\t\toifname \"pppoe-*\" masquerade\n\t}\n}\n";
            let mut c = std::process::Command::new("nft")
                .args(["-f", "-"])
                .stdin(std::process::Stdio::piped())
                .spawn()
                .expect("nft (nftables) is needed");
            use std::io::Write;
            c.stdin.take().unwrap().write_all(nft.as_bytes()).unwrap();
            assert!(c.wait().unwrap().success());
            let conf = |name: &str, body: &str| {
                let p = r.path(name);
                std::fs::write(&p, body).unwrap();
                p
            };
            let off = conf("off.conf", "config ecmp 'ipv4'\n\toption inbound '0'\n");
            let on = conf("on.conf", "config ecmp 'ipv4'\n\toption inbound_mark '0'\n");
            let marks = conf(
                "marks.conf",
                "config ecmp 'ipv4'\n\toption inbound_mark '0x00ff0000'\n",
            );
            // (build, config) per column; every column starts from none of
            // ours (this build's flush removes every rule of proto 236).
            let mut cols: Vec<(&Path, &Path)> = vec![(&this, &off), (&this, &on), (&this, &marks)];
            if let Some(b) = &base {
                cols.push((b, &on));
                cols.push((b, &marks));
            }
            let mut figures = vec![Vec::new(); cols.len()];
            for _ in 0..ROUNDS {
                for (k, (bin, conf)) in cols.iter().enumerate() {
                    sync(&r, &this, &off, &["--flush"]);
                    sync(&r, bin, conf, &[]);
                    figures[k].push(per_packet(&lan, "192.168.1.10", 30000, TARGET, ROUND));
                }
            }
            figures.into_iter().map(median).collect::<Vec<f64>>()
        });
        let mut line = format!("{n:>6} {:>9.0} {:>9.0} {:>9.0}", row[0], row[1], row[2]);
        if row.len() > 3 {
            line.push_str(&format!(" {:>14.0} {:>14.0}", row[3], row[4]));
        }
        line.push_str(&format!(
            " {:>8.3} {:>8.3}",
            row[1] / row[0],
            row[2] / row[0]
        ));
        println!("{line}");
    }
}
