//! multidial: the write-up's shell loops of `ip link add ... type macvlan`
//! and `uci set` as one idempotent plan. `plan` prints a `uci batch`,
//! `apply` feeds it to uci on stdin (the password never reaches argv or a
//! log) and commits, `remove` takes out exactly what it made, `up` brings
//! the dials up a few at a time and reports which came up.

pub mod cli;
pub mod plan;

use ecmp::proc;
use ecmp::uci::parse_show;
use plan::{Balancer, Current, Setup};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// An error and its exit status.
pub struct Fail(pub i32, pub String);

fn usage(m: impl Into<String>) -> Fail {
    Fail(2, m.into())
}

pub fn main() -> i32 {
    let argv: Vec<String> = match std::env::args_os().map(|a| a.into_string()).collect() {
        Ok(v) => v,
        Err(_) => {
            ecmp::complain!("multidial: usage: arguments must be valid UTF-8");
            return 2;
        }
    };
    let rest: Vec<&str> = argv.iter().skip(1).map(String::as_str).collect();
    let args = match <cli::Args as argh::FromArgs>::from_args(&["multidial"], &rest) {
        Ok(a) => a,
        Err(e) => {
            return match e.status {
                Ok(()) => {
                    ecmp::say!("{}", e.output);
                    0
                }
                Err(()) => {
                    ecmp::complain!("multidial: usage: {}", e.output.trim());
                    2
                }
            }
        }
    };
    match run(&args) {
        Ok(code) => code,
        Err(Fail(code, m)) => {
            ecmp::complain!("multidial: {m}");
            code
        }
    }
}

fn run(a: &cli::Args) -> Result<i32, Fail> {
    match a.command.as_str() {
        "plan" | "apply" => {
            let setup = setup(a)?;
            let cur = read(&a.uci)?;
            if setup.balancer == Balancer::Mwan3
                && proc::run(
                    &a.uci,
                    &["-q", "show", "mwan3"],
                    Duration::from_secs(10),
                    8 << 20,
                )
                .is_err()
            {
                return Err(Fail(
                    3,
                    "--balancer mwan3: mwan3 is not installed (opkg install mwan3)".into(),
                ));
            }
            let dials = plan::dials(&setup).map_err(usage)?;
            let want = plan::desired(&setup, &dials);
            let ifaces: Vec<String> = dials.iter().map(|d| d.iface.clone()).collect();
            if a.command == "plan" {
                let lines = plan::batch(&want, &ifaces, &setup.zone, &cur, !a.show_password)
                    .map_err(|e| Fail(3, e))?;
                for l in lines {
                    ecmp::say!("{l}");
                }
                return Ok(0);
            }
            let lines =
                plan::batch(&want, &ifaces, &setup.zone, &cur, false).map_err(|e| Fail(3, e))?;
            commit(&a.uci, &lines, setup.balancer == Balancer::Mwan3)?;
            ecmp::say!(
                "multidial: {} dials on {} line{} ({}): {} change{}{}",
                dials.len(),
                setup.lines.len(),
                if setup.lines.len() == 1 { "" } else { "s" },
                setup.lines.join(","),
                lines.len(),
                if lines.len() == 1 { "" } else { "s" },
                if lines.is_empty() {
                    ", nothing to do"
                } else {
                    "; now: /etc/init.d/network reload; /etc/init.d/firewall reload"
                }
            );
            Ok(0)
        }
        "remove" => {
            let cur = read(&a.uci)?;
            let lines = plan::remove_batch(&cur);
            commit(&a.uci, &lines, !cur.mwan3.is_empty())?;
            ecmp::say!(
                "multidial: removed: {} change{}",
                lines.len(),
                if lines.len() == 1 { "" } else { "s" }
            );
            Ok(0)
        }
        "up" => up(a),
        c => Err(usage(format!(
            "unknown command '{c}': plan, apply, remove or up"
        ))),
    }
}

fn setup(a: &cli::Args) -> Result<Setup, Fail> {
    let username = a.username.clone().ok_or_else(|| usage("give --username"))?;
    let file = a.password_file.as_deref().ok_or_else(|| {
        usage("give --password-file FILE (or - for stdin); never the password itself")
    })?;
    let password = read_password(file)?;
    let balancer = match a.balancer.as_str() {
        "ecmp" => Balancer::Ecmp,
        "mwan3" => Balancer::Mwan3,
        b => return Err(usage(format!("--balancer '{b}': ecmp or mwan3"))),
    };
    let total = a.dials.saturating_mul(a.line.len() as u32);
    Ok(Setup {
        lines: a.line.clone(),
        dials: a.dials,
        username,
        password,
        ipv6: plan::parse_ipv6(&a.ipv6, total).map_err(usage)?,
        metric_base: a.metric_base,
        iface_prefix: a.iface_prefix.clone(),
        dev_prefix: a.dev_prefix.clone(),
        zone: a.zone.clone(),
        balancer,
        track_ip: a.track_ip.clone(),
    })
}

/// The first line of the file (or stdin), without its newline.
fn read_password(p: &Path) -> Result<String, Fail> {
    let mut s = String::new();
    let r = if p == Path::new("-") {
        std::io::stdin().take(4096).read_to_string(&mut s)
    } else {
        std::fs::File::open(p).and_then(|f| f.take(4096).read_to_string(&mut s))
    };
    r.map_err(|e| usage(format!("password file {}: {e}", p.display())))?;
    let pw = s.lines().next().unwrap_or_default().to_string();
    if pw.is_empty() {
        return Err(usage(format!("password file {} is empty", p.display())));
    }
    Ok(pw)
}

fn show(uci: &Path, pkg: &str) -> Result<Vec<ecmp::uci::Section>, Fail> {
    match proc::run(uci, &["-q", "show", pkg], Duration::from_secs(10), 8 << 20) {
        Ok(out) => parse_show(&String::from_utf8_lossy(&out)).map_err(|e| Fail(3, e)),
        // `uci -q show` of a package that does not exist (no mwan3) fails.
        Err(proc::ProcError::Failed { .. }) if pkg == "mwan3" => Ok(Vec::new()),
        Err(e) => Err(Fail(3, format!("{} -q show {pkg}: {e}", uci.display()))),
    }
}

fn read(uci: &Path) -> Result<Current, Fail> {
    Ok(Current {
        network: show(uci, "network")?,
        firewall: show(uci, "firewall")?,
        mwan3: show(uci, "mwan3")?,
    })
}

/// `uci batch` with the lines on stdin, then commit: nothing secret on argv.
fn commit(uci: &Path, lines: &[String], mwan3: bool) -> Result<(), Fail> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut text = lines.join("\n");
    text.push_str("\ncommit network\ncommit firewall\n");
    if mwan3 {
        text.push_str("commit mwan3\n");
    }
    let mut child = Command::new(uci)
        .arg("batch")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Fail(3, format!("{} batch: {e}", uci.display())))?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(text.as_bytes())
            .map_err(|e| Fail(3, format!("{} batch: {e}", uci.display())))?;
    }
    let o = child
        .wait_with_output()
        .map_err(|e| Fail(3, format!("{} batch: {e}", uci.display())))?;
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        return Err(Fail(
            3,
            format!("{} batch: {} {}", uci.display(), o.status, err.trim()),
        ));
    }
    Ok(())
}

fn up(a: &cli::Args) -> Result<i32, Fail> {
    let cur = read(&a.uci)?;
    let ifaces = plan::our_interfaces(&cur);
    if ifaces.is_empty() {
        return Err(usage(
            "no dials made by multidial in the network config: run apply first",
        ));
    }
    let k = a.batch.max(1) as usize;
    for (i, chunk) in ifaces.chunks(k).enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_secs(u64::from(a.delay)));
        }
        for iface in chunk {
            let obj = format!("network.interface.{iface}");
            proc::run(
                &a.ubus,
                &["call", &obj, "up"],
                Duration::from_secs(10),
                1 << 16,
            )
            .map_err(|e| Fail(3, format!("{} call {obj} up: {e}", a.ubus.display())))?;
        }
        ecmp::say!("multidial: up {}", chunk.join(" "));
    }
    // Wait for the last ones, then one dump tells which came up.
    let mut waited = 0;
    loop {
        let out = proc::run(
            &a.ubus,
            &["call", "network.interface", "dump"],
            Duration::from_secs(10),
            8 << 20,
        )
        .map_err(|e| {
            Fail(
                3,
                format!("{} call network.interface dump: {e}", a.ubus.display()),
            )
        })?;
        let dump = ecmp::dump::Dump::parse(&out).map_err(|e| Fail(3, e.to_string()))?;
        let is_up = |n: &String| dump.interface.iter().any(|i| i.interface == *n && i.up);
        let (ok, not): (Vec<&String>, Vec<&String>) = ifaces.iter().partition(|n| is_up(n));
        if not.is_empty() || waited >= a.wait {
            let names = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
            ecmp::say!(
                "multidial: {} of {} up: {}",
                ok.len(),
                ifaces.len(),
                names(&ok)
            );
            if !not.is_empty() {
                ecmp::say!("multidial: not up after {waited} s: {}", names(&not));
                return Ok(1);
            }
            return Ok(0);
        }
        std::thread::sleep(Duration::from_secs(1));
        waited += 1;
    }
}
