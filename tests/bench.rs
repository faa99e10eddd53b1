//! `make bench`: cost of one hotplug event for N = 1, 8, 64, 256 up dials.
//! Prints, per binary and N, the median wall and CPU time of one ifup that
//! rewrites the route, of one event that finds it unchanged, the peak RSS,
//! and the processes spawned per event (counted by the `sh` stand-ins of
//! ubus and uci that builds before the native client and config reader
//! run). A build that speaks ubus itself asks `ecmp-fake-ubusd` over a
//! socket, as it asks ubusd on a router. Run on release binaries
//! (ECMP_BIN_DIR, set by make bench); with ECMP_BASE_DIR (an earlier
//! build, `make bench BASE=rev`) each event is timed for both builds in
//! turn, side by side in one run.

use sim::{in_netns, script, Router};
use std::process::{Command, Stdio};
use std::time::Instant;

const RUNS: usize = 21;

#[derive(Clone)]
struct Sample {
    wall_ms: f64,
    cpu_ms: f64,
    rss_kib: i64,
}

/// Spawn and reap with wait4, for the child's CPU time and peak RSS
/// (including its reaped children: the ubus and uci stand-ins).
fn measure(c: &mut Command) -> Sample {
    let t = Instant::now();
    let child = c
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut status = 0;
    // SAFETY: zeroed rusage filled by the kernel.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    let wall_ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(pid, child.id() as i32);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "event failed"
    );
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    Sample {
        wall_ms,
        cpu_ms: tv(ru.ru_utime) + tv(ru.ru_stime),
        rss_kib: ru.ru_maxrss,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let base = std::env::var_os("ECMP_BASE_DIR").map(std::path::PathBuf::from);
    let this = std::env::var_os("ECMP_BIN_DIR")
        .map(std::path::PathBuf::from)
        .expect("ECMP_BIN_DIR");
    let label = std::env::var("ECMP_BASE_LABEL").unwrap_or_else(|_| "base".into());
    match &base {
        Some(_) => println!(
            "binary  N    event                 median wall ({label} / this)   median CPU ({label} / this)  peak RSS (this)  processes/event ({label} / this)"
        ),
        None => println!(
            "binary  N    event               median wall  median CPU  peak RSS   processes/event"
        ),
    }
    for n in [1u32, 8, 64, 256] {
        let (base, this) = (base.clone(), this.clone());
        let rows = in_netns(move || {
            let mut r = Router::new(n);
            for i in 0..n as usize {
                r.dial_up(i);
            }
            // A config file exists, as on a router (the package ships it).
            std::fs::write(r.path("ecmp"), "config ecmp 'ipv4'\n\toption metric '1'\n").unwrap();
            // An earlier build reads it through uci: a stand-in that counts.
            script(
                &r.path("uci"),
                &format!(
                    "echo >> '{}/uci.calls'\necho 'ecmp.ipv4=ecmp'",
                    r.dir.0.display()
                ),
            );
            // ubusd's stand-in for builds that speak ubus themselves: it
            // answers with the router's dump.json, in ubus's wire format.
            let sock = r.path("ubus.sock");
            let mut ubusd = Command::new(this.join("ecmp-fake-ubusd"))
                .arg(&sock)
                .arg(r.path("dump.json"))
                .spawn()
                .expect("ecmp-fake-ubusd (make bench builds it)");
            for _ in 0..400 {
                if sock.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            assert!(
                sock.exists(),
                "ecmp-fake-ubusd did not listen on {}",
                sock.display()
            );
            let last = r.dials[n as usize - 1].name.clone();
            let mut rows = Vec::new();
            for (b, iface) in [("ecmp4", last.clone()), ("ecmp6", format!("{last}_6"))] {
                // Builds before the native config reader take --uci.
                let with_uci: Vec<std::path::PathBuf> = base
                    .iter()
                    .chain([&this])
                    .filter(|dir| {
                        Command::new(dir.join(b))
                            .arg("--help")
                            .output()
                            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--uci"))
                    })
                    .cloned()
                    .collect();
                let cmd = |dir: &std::path::Path, action: &str| {
                    let mut c = Command::new(dir.join(b));
                    if with_uci.iter().any(|d| d == dir) {
                        c.arg("--uci").arg(r.path("uci"));
                    }
                    if with_uci.iter().any(|d| d == dir) || !speaks_ubus(&dir.join(b)) {
                        c.arg("--ubus").arg(r.path("ubus"));
                    } else {
                        c.arg("--ubus-socket").arg(&sock);
                    }
                    c.arg("--lock-file")
                        .arg(r.path("lock"))
                        .env_clear()
                        .env("ACTION", action)
                        .env("INTERFACE", &iface)
                        .arg("--config")
                        .arg(r.path("ecmp"))
                        .arg("--syslog-socket")
                        .arg(r.path("nolog"));
                    c
                };
                let dirs: Vec<&std::path::Path> = base
                    .iter()
                    .map(|p| p.as_path())
                    .chain([this.as_path()])
                    .collect();
                // ifup that changes the route: take the dial out first
                // (not measured), so every measured ifup writes.
                let mut rewrite = vec![Vec::new(); dirs.len()];
                let mut unchanged = vec![Vec::new(); dirs.len()];
                // Programs each build ran, counted by the stand-ins.
                let mut spawned = vec![0usize; dirs.len()];
                let calls = || r.ubus_calls() + uci_calls(&r);
                for _ in 0..RUNS {
                    for (k, d) in dirs.iter().enumerate() {
                        let before = calls();
                        measure(&mut cmd(d, "ifdown"));
                        rewrite[k].push(measure(&mut cmd(d, "ifup")));
                        unchanged[k].push(measure(&mut cmd(d, "ifupdate")));
                        spawned[k] += calls() - before;
                    }
                }
                let per_event: Vec<f64> = spawned
                    .iter()
                    .map(|c| *c as f64 / (3 * RUNS) as f64)
                    .collect();
                for (what, s) in [
                    ("ifup (route changed)", &rewrite),
                    ("ifupdate (unchanged)", &unchanged),
                ] {
                    let wall = |v: &Vec<Sample>| median(v.iter().map(|x| x.wall_ms).collect());
                    let cpu = |v: &Vec<Sample>| median(v.iter().map(|x| x.cpu_ms).collect());
                    let last = s.last().expect("one build");
                    let rss = last.iter().map(|x| x.rss_kib).max().unwrap_or(0) as f64 / 1024.0;
                    rows.push(if s.len() == 2 {
                        format!(
                            "{b}   {n:<4} {what:<20}  {:>8.2} / {:>5.2} ms {:>17.2} / {:>5.2} ms  {rss:>9.2} MiB  {} / {}",
                            wall(&s[0]),
                            wall(&s[1]),
                            cpu(&s[0]),
                            cpu(&s[1]),
                            per_event[0],
                            per_event[1]
                        )
                    } else {
                        format!(
                            "{b}   {n:<4} {what:<20} {:>8.2} ms  {:>7.2} ms  {rss:>5.2} MiB  {}",
                            wall(last),
                            cpu(last),
                            per_event[0]
                        )
                    });
                }
            }
            let _ = ubusd.kill();
            let _ = ubusd.wait();
            rows
        });
        for r in rows {
            println!("{r}");
        }
    }
    println!("(peak RSS: ecmp4/ecmp6, or the largest of it and the sh stand-ins it waited for)");
}

/// Does this binary speak ubus over the socket (`--ubus-socket`)?
fn speaks_ubus(bin: &std::path::Path) -> bool {
    Command::new(bin)
        .arg("--help")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--ubus-socket"))
}

fn uci_calls(r: &Router) -> usize {
    std::fs::read_to_string(r.path("uci.calls"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}
