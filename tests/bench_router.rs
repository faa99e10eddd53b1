//! `make bench-router`: our hooks under OpenWrt's real netifd and ubusd
//! (the kit's run-router), this build against an earlier one (BASE), both
//! the static x86_64 musl binaries the packages ship (tools/cross, run by
//! the Makefile), side by side in one run, each with the config its
//! package ships:
//! - the time of one hook run (ifupdate of the last dial) at N = 8 and 64,
//!   median of 21;
//! - the programs one event runs (strace's execve count, after the hook's
//!   own shell);
//! - the N = 64 boot storm: the time netifd's hotplug queue spent in our
//!   two hooks.
//!
//! A hook run is timed as hotplug-call runs it: sourced in a subshell of
//! a running shell (a fork, then the hook's exec of our binary), between
//! two `$EPOCHREALTIME` stamps of busybox's sh, so nothing else is in the
//! window. During the boot each of our hooks is a wrapper that does just
//! that around the real one.
//!
//! Needs root and the kit (`sim::run_router`). Inside the router this
//! binary runs again as `inner N REAL` (the measurements).

use std::path::{Path, PathBuf};
use std::process::Command;

const RUNS: usize = 21;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Seconds from a pair of busybox `$EPOCHREALTIME` stamps ("s.us s.us").
fn span(line: &str) -> Option<f64> {
    let mut t = line.split(' ').map(|x| x.parse::<f64>().ok());
    let (a, b) = (t.next()??, t.next()??);
    Some(b - a)
}

/// Run `hook` the way hotplug-call does, sourced in a subshell of a shell
/// already running (a fork, then our exec), between two `$EPOCHREALTIME`
/// stamps of that shell: nothing but the hook run is timed.
fn timed(hook: &str) -> String {
    format!("t0=$EPOCHREALTIME; ( . {hook} ); r=$?; echo \"$t0 $EPOCHREALTIME $r\"")
}

/// `inner N REAL`: inside the router, after the boot.
fn inner(n: u32, real: &str) {
    let runs: Vec<f64> = std::fs::read_to_string("/run/bench/durations")
        .unwrap_or_default()
        .lines()
        .filter_map(span)
        .collect();
    let storm: f64 = runs.iter().sum();
    let last = format!("VWAN{}", n - 1);
    let hook = |c: &mut Command| {
        c.env("ACTION", "ifupdate")
            .env("INTERFACE", &last)
            .env("DEVICE", format!("pppoe-{last}"))
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    };
    let real = format!("{real}/97-ecmp4");
    let real = real.as_str();
    let mut c = Command::new("/bin/sh");
    c.arg("-c").arg(format!(
        "i=0; while [ $i -lt {RUNS} ]; do {}; i=$((i+1)); done",
        timed(real)
    ));
    hook(&mut c);
    let out = c.output().expect("sh");
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.lines().count() == RUNS && out.lines().all(|l| l.ends_with(" 0")),
        "the hook failed: {out}"
    );
    let times: Vec<f64> = out.lines().filter_map(span).map(|s| s * 1e3).collect();
    let trace = "/run/bench/strace";
    let mut c = Command::new("strace");
    c.args([
        "-f",
        "-qq",
        "-e",
        "trace=execve",
        "-o",
        trace,
        "/bin/sh",
        real,
    ]);
    hook(&mut c);
    let traced = c.status().is_ok_and(|s| s.success());
    let execs = std::fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("execve(") && l.trim_end().ends_with("= 0"))
        .count();
    println!(
        "RESULT {n} {:.2} {} {:.3} {}",
        median(times),
        if traced {
            execs.saturating_sub(1) as i64
        } else {
            -1
        },
        storm,
        runs.len()
    );
}

/// One boot of `n` dials with the build in `dir` (its binaries and its
/// shipped config): (hook ms, programs per event, storm s, hook runs in
/// the storm).
fn boot(rr: &Path, dir: &Path, config: &Path, n: u32) -> (f64, i64, f64, usize) {
    let me = std::env::current_exe().expect("own path");
    let d = sim::TempDir::new("bench-router");
    let files = d.0.join("files");
    for sub in ["usr/sbin", "etc/config"] {
        std::fs::create_dir_all(files.join(sub)).unwrap();
    }
    for b in ["ecmp4", "ecmp6"] {
        std::fs::copy(dir.join(b), files.join("usr/sbin").join(b)).unwrap();
    }
    let cfg = d.0.join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::copy(config, cfg.join("ecmp")).unwrap();
    // The hooks netifd runs: each one the stamp around the real hook.
    let hooks = d.0.join("hooks");
    let real = d.0.join("real");
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::create_dir_all(&real).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for h in ["97-ecmp4", "98-ecmp6"] {
        std::fs::copy(repo.join("hotplug.d/iface").join(h), real.join(h)).unwrap();
        // Sourced by hotplug-call in a subshell: the real hook, timed.
        let real = format!("{}/{h}", real.display());
        std::fs::write(
            hooks.join(h),
            format!(
                "[ -d /run/bench ] || mkdir -p /run/bench\n{} >> /run/bench/durations\n",
                timed(&real)
            ),
        )
        .unwrap();
    }
    let o = Command::new(rr)
        .args(["--dials", &n.to_string(), "--ipv6", "--timeout", "180"])
        .arg("--files")
        .arg(&files)
        .arg("--config-dir")
        .arg(&cfg)
        .arg("--hotplug-dir")
        .arg(&hooks)
        .arg("--state")
        .arg(d.0.join("state"))
        .arg("--")
        .arg(&me)
        .args(["inner", &n.to_string()])
        .arg(&real)
        .output()
        .expect("run-router");
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("no result: {out}{}", String::from_utf8_lossy(&o.stderr)));
    let f: Vec<&str> = line.split(' ').collect();
    (
        f[2].parse().unwrap(),
        f[3].parse().unwrap(),
        f[4].parse().unwrap(),
        f[5].parse().unwrap(),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("inner") => return inner(args[2].parse().expect("N"), &args[3]),
        _ => {}
    }
    let Some(rr) = sim::run_router() else { return };
    let this = PathBuf::from(std::env::var_os("ECMP_BIN_DIR").expect("ECMP_BIN_DIR"));
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut builds = Vec::new();
    if let Some(b) = std::env::var_os("ECMP_BASE_DIR") {
        let src = PathBuf::from(std::env::var_os("ECMP_BASE_SRC").expect("ECMP_BASE_SRC"));
        let label = std::env::var("ECMP_BASE_LABEL").unwrap_or_else(|_| "base".into());
        builds.push((
            label,
            PathBuf::from(b),
            src.join("openwrt/files/ecmp.config"),
        ));
    }
    builds.push((
        "this build".into(),
        this,
        repo.join("openwrt/files/ecmp.config"),
    ));
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut cells: Vec<Vec<String>> = Vec::new();
    for (label, dir, config) in &builds {
        let (h8, _, _, _) = boot(&rr, dir, config, 8);
        let (h64, x64, s64, runs) = boot(&rr, dir, config, 64);
        cells.push(vec![
            format!("{h8:.2} ms"),
            format!("{h64:.2} ms"),
            x64.to_string(),
            format!("{s64:.2} s"),
            runs.to_string(),
        ]);
        rows.push((label.clone(), dir.display().to_string()));
    }
    println!("under the real netifd + ubusd (run-router), IPv6 on, the package's own config, static x86_64 binaries");
    print!("{:<36}", "");
    for (label, _) in &rows {
        print!("{label:>16}");
    }
    println!();
    for (i, what) in [
        "hook run, N = 8 (median of 21)",
        "hook run, N = 64 (median of 21)",
        "programs per event (execve, strace)",
        "N = 64 boot storm: queue in our hooks",
        "  hook runs in that storm",
    ]
    .iter()
    .enumerate()
    {
        print!("{what:<36}");
        for c in &cells {
            print!("{:>16}", c[i]);
        }
        println!();
    }
}
