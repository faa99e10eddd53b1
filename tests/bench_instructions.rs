//! `make bench-instructions`: instructions per hotplug event, counted by
//! callgrind (repeatable whatever else the machine does), for this build
//! against an earlier one (ECMP_BASE_DIR, built by the Makefile from
//! BASE), side by side in one run. N = 64 dials up with IPv6, our route in
//! place; one ifupdate that finds it unchanged (the commonest event) and
//! one ifup that rewrites it, per binary, the dump from a file (no ubus).

use sim::{in_netns, Router};
use std::path::{Path, PathBuf};
use std::process::Command;

fn count(bin: &Path, r: &Router, action: &str, iface: &str) -> u64 {
    let o = Command::new("valgrind")
        .arg("--tool=callgrind")
        // CALLGRIND_OUT=FILE keeps the profile (for callgrind_annotate).
        .arg(format!(
            "--callgrind-out-file={}",
            std::env::var("CALLGRIND_OUT").unwrap_or_else(|_| "/dev/null".into())
        ))
        .arg(bin)
        .args(["--action", action, "--interface", iface, "--mode", "auto"])
        .arg("--dump-file")
        .arg(r.path("dump.json"))
        // The config the package ships (member tables and rules on).
        .arg("--config")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../openwrt/files/ecmp.config"
        ))
        .arg("--syslog-socket")
        .arg(r.path("nolog"))
        .arg("--lock-file")
        .arg(r.path("lock"))
        .output()
        .expect("valgrind (apt-get install valgrind)");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{}: {err}", bin.display());
    err.lines()
        .find_map(|l| l.split("Collected : ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no callgrind total in: {err}"))
}

fn main() {
    let this = PathBuf::from(std::env::var_os("ECMP_BIN_DIR").expect("ECMP_BIN_DIR"));
    let base = std::env::var_os("ECMP_BASE_DIR").map(PathBuf::from);
    let label = std::env::var("ECMP_BASE_LABEL").unwrap_or_else(|_| "base".into());
    const N: u32 = 64;
    let rows = in_netns(move || {
        let r = Router::all_up(N);
        let last = r.dials[N as usize - 1].name.clone();
        let mut rows = Vec::new();
        for (b, iface) in [("ecmp4", last.clone()), ("ecmp6", format!("{last}_6"))] {
            for (what, action) in [
                ("ifupdate, unchanged", "ifupdate"),
                ("ifup, rewritten", "ifup"),
            ] {
                let mut cells = Vec::new();
                for dir in base.iter().chain([&this]) {
                    let bin = dir.join(b);
                    if action == "ifup" {
                        // Take the last dial out first, so the ifup writes.
                        let mut down = r.clone_dump_without(&last);
                        down.push('\n');
                        std::fs::write(r.path("dump.json"), &down).unwrap();
                        count(&bin, &r, "ifdown", &iface);
                        r.write_dump();
                    } else {
                        count(&bin, &r, "ifupdate", &iface);
                    }
                    cells.push(count(&bin, &r, action, &iface));
                }
                rows.push((b, what, cells));
            }
        }
        rows
    });
    match rows.first().map(|r| r.2.len()) {
        Some(2) => {
            println!(
                "instructions per event, N = {N} (callgrind)     {label:>14} {:>14}  change",
                "this build"
            );
            for (b, what, c) in rows {
                let pct = (c[1] as f64 - c[0] as f64) / c[0] as f64 * 100.0;
                println!("{b}  {what:<28} {:>14} {:>14}  {pct:+.1}%", c[0], c[1]);
            }
        }
        _ => {
            println!("instructions per event, N = {N} (callgrind)     this build");
            for (b, what, c) in rows {
                println!("{b}  {what:<28} {:>14}", c[0]);
            }
        }
    }
}
