//! multidial: the write-up's shell loops of `ip link add ... type macvlan`
//! and `uci set` as one idempotent plan. `plan` prints a `uci batch`,
//! `apply` feeds it to uci on stdin (the password never reaches argv or a
//! log), checks that uci took every line, and only then commits; `remove`
//! takes out exactly what it made; `up` brings the dials up a few at a
//! time and reports which came up.

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
    if args.version {
        ecmp::say!("multidial {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    match run(&args) {
        Ok(code) => code,
        Err(Fail(code, m)) => {
            ecmp::complain!("multidial: {m}");
            code
        }
    }
}

/// The uci program with its config and save directories.
struct Uci<'a> {
    prog: &'a Path,
    args: Vec<String>,
    dir: &'a Path,
}

impl<'a> Uci<'a> {
    fn new(a: &'a cli::Args) -> Uci<'a> {
        let mut args = vec!["-c".to_string(), a.config_dir.display().to_string()];
        if let Some(t) = &a.save_dir {
            args.extend(["-t".to_string(), t.display().to_string()]);
        }
        Uci {
            prog: &a.uci,
            args,
            dir: &a.config_dir,
        }
    }

    fn name(&self) -> String {
        self.prog.display().to_string()
    }

    /// Run `uci <dirs> <args>` (empty stdin, bounded); its stdout.
    fn run(&self, args: &[&str]) -> Result<Vec<u8>, proc::ProcError> {
        let mut all: Vec<&str> = self.args.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        proc::run(self.prog, &all, Duration::from_secs(10), 8 << 20)
    }

    /// `uci show <pkg>`, parsed. A package that does not exist (no mwan3
    /// installed, no /etc/config/ecmp) is empty.
    fn show(&self, pkg: &str) -> Result<Vec<ecmp::uci::Section>, Fail> {
        match self.run(&["show", pkg]) {
            Ok(out) => parse_show(&String::from_utf8_lossy(&out)).map_err(|e| Fail(3, e)),
            Err(proc::ProcError::Failed { stderr, .. })
                if (pkg == "mwan3" || pkg == "ecmp") && stderr.contains("Entry not found") =>
            {
                Ok(Vec::new())
            }
            Err(e) => Err(Fail(3, format!("{} show {pkg}: {e}", self.name()))),
        }
    }

    fn read(&self) -> Result<Current, Fail> {
        Ok(Current {
            network: self.show("network")?,
            firewall: self.show("firewall")?,
            mwan3: self.show("mwan3")?,
            ecmp: self.show("ecmp")?,
        })
    }

    /// Uncommitted changes in the packages we write, as `uci changes`
    /// prints them: ours would be committed along with them.
    fn pending(&self) -> Result<Vec<String>, Fail> {
        let out = self
            .run(&["changes"])
            .map_err(|e| Fail(3, format!("{} changes: {e}", self.name())))?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .filter(|l| {
                let l = l.trim_start_matches('-');
                plan::PACKAGES
                    .iter()
                    .any(|p| l.starts_with(&format!("{p}.")))
            })
            .map(str::to_string)
            .collect())
    }

    /// `uci batch` with `text` on stdin: nothing secret on argv. uci exits
    /// 0 even when it refused lines; what it printed on stderr says so.
    fn batch(&self, text: &str) -> Result<(), Fail> {
        let mut child = Command::new(self.prog)
            .args(&self.args)
            .arg("batch")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Fail(3, format!("{} batch: {e}", self.name())))?;
        if let Some(mut i) = child.stdin.take() {
            i.write_all(text.as_bytes())
                .map_err(|e| Fail(3, format!("{} batch: {e}", self.name())))?;
        }
        let o = child
            .wait_with_output()
            .map_err(|e| Fail(3, format!("{} batch: {e}", self.name())))?;
        let err = String::from_utf8_lossy(&o.stderr);
        let err = err.trim();
        if !o.status.success() || !err.is_empty() {
            return Err(Fail(
                3,
                format!(
                    "{} batch refused: {} {}",
                    self.name(),
                    o.status,
                    err.lines().next().unwrap_or("")
                ),
            ));
        }
        Ok(())
    }

    fn revert(&self, pkgs: &[&str]) {
        for p in pkgs {
            let _ = self.run(&["revert", p]);
        }
    }
}

/// Write `lines`, check uci took them all (`check` on the re-read config
/// must pass), then commit every package touched. On any failure the
/// uncommitted changes are reverted: the config stays as it was.
fn write(
    uci: &Uci,
    lines: &[String],
    check: impl Fn(&Current) -> Result<(), String>,
) -> Result<(), Fail> {
    if lines.is_empty() {
        return Ok(());
    }
    let pending = uci.pending()?;
    if !pending.is_empty() {
        return Err(Fail(
            3,
            format!(
                "uncommitted uci changes ({}{}): commit or revert them first (uci changes)",
                pending[0],
                if pending.len() > 1 { ", ..." } else { "" }
            ),
        ));
    }
    let pkgs = plan::touched(lines);
    // uci writes only into packages that exist: /etc/config/ecmp comes
    // with the package, but may have been deleted.
    if pkgs.contains(&"ecmp") && !uci.dir.join("ecmp").exists() {
        std::fs::write(uci.dir.join("ecmp"), "")
            .map_err(|e| Fail(3, format!("{}/ecmp: {e}", uci.dir.display())))?;
    }
    let mut text = lines.join("\n");
    text.push('\n');
    let result = uci.batch(&text).and_then(|()| {
        // uci show includes the uncommitted changes: what we would commit.
        check(&uci.read()?).map_err(|left| {
            Fail(
                3,
                format!("uci did not take every change (still to do: {left})"),
            )
        })
    });
    if let Err(e) = result {
        uci.revert(&pkgs);
        return Err(Fail(e.0, format!("{}; nothing written", e.1)));
    }
    for p in &pkgs {
        if let Err(e) = uci.run(&["commit", p]) {
            return Err(Fail(3, format!("{} commit {p}: {e}", uci.name())));
        }
    }
    Ok(())
}

fn run(a: &cli::Args) -> Result<i32, Fail> {
    let command = a
        .command
        .as_deref()
        .ok_or_else(|| usage("give a command: plan, apply, remove or up"))?;
    match command {
        "plan" | "apply" => {
            // Every flag is checked before uci runs.
            let setup = setup(a)?;
            let dials = plan::dials(&setup).map_err(usage)?;
            let uci = Uci::new(a);
            let cur = uci.read()?;
            if setup.balancer == Balancer::Mwan3 && cur.mwan3.is_empty() {
                return Err(Fail(
                    3,
                    "--balancer mwan3: mwan3 is not installed (opkg install mwan3 / apk add mwan3)"
                        .into(),
                ));
            }
            if command == "plan" {
                let lines = plan::plan(&setup, &cur, !a.show_password).map_err(|e| Fail(3, e))?;
                if lines.is_empty() {
                    ecmp::complain!("multidial: nothing to do: the config already matches");
                }
                for l in lines {
                    ecmp::say!("{l}");
                }
                return Ok(0);
            }
            let lines = plan::plan(&setup, &cur, false).map_err(|e| Fail(3, e))?;
            let shadowed = plan::shadowing(&cur, &setup.lines);
            let reordered = lines.iter().any(|l| l.starts_with("reorder "));
            write(&uci, &lines, |now| match plan::plan(&setup, now, true) {
                Ok(left) if left.is_empty() => Ok(()),
                Ok(left) => Err(left[0].clone()),
                Err(e) => Err(e),
            })?;
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
            if setup.balancer == Balancer::Ecmp && !shadowed.is_empty() {
                ecmp::say!(
                    "multidial: {} on the same line now has defaultroute '0' and joins ecmp's route as a member (its own default route would shadow it); remove restores it",
                    shadowed.join(", ")
                );
            }
            if reordered {
                ecmp::say!(
                    "multidial: mwan3 rule {} now comes before the stock rules (mwan3 matches top to bottom); then: /etc/init.d/mwan3 restart",
                    plan::MWAN3_RULE
                );
            }
            Ok(0)
        }
        "remove" => {
            let uci = Uci::new(a);
            let cur = uci.read()?;
            let lines = plan::remove_batch(&cur);
            write(&uci, &lines, |now| match plan::remove_batch(now).first() {
                None => Ok(()),
                Some(l) => Err(l.clone()),
            })?;
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
    let balancer = match a.balancer.as_str() {
        "ecmp" => Balancer::Ecmp,
        "mwan3" => Balancer::Mwan3,
        b => return Err(usage(format!("--balancer '{b}': ecmp or mwan3"))),
    };
    let total = a.dials.saturating_mul(a.line.len() as u32);
    let ipv6 = plan::parse_ipv6(&a.ipv6, total).map_err(usage)?;
    let file = a.password_file.as_deref().ok_or_else(|| {
        usage("give --password-file FILE (or - for stdin); never the password itself")
    })?;
    let s = Setup {
        lines: a.line.clone(),
        dials: a.dials,
        username,
        password: String::new(),
        ipv6,
        metric_base: a.metric_base,
        iface_prefix: a.iface_prefix.clone(),
        dev_prefix: a.dev_prefix.clone(),
        zone: a.zone.clone(),
        balancer,
        track_ip: a.track_ip.clone(),
        batch: a.batch,
        delay: a.delay,
    };
    // Names and numbers first: a missing --line is said before anything
    // is read (the password from stdin included).
    plan::dials(&s).map_err(usage)?;
    Ok(Setup {
        password: read_password(file)?,
        ..s
    })
}

/// The password: the file's one line (or stdin's), without its newline.
fn read_password(p: &Path) -> Result<String, Fail> {
    let mut s = String::new();
    let r = if p == Path::new("-") {
        std::io::stdin().take(4096).read_to_string(&mut s)
    } else {
        std::fs::File::open(p).and_then(|f| f.take(4096).read_to_string(&mut s))
    };
    r.map_err(|e| usage(format!("password file {}: {e}", p.display())))?;
    let s = s.strip_suffix('\n').unwrap_or(&s);
    let s = s.strip_suffix('\r').unwrap_or(s);
    if s.contains('\n') {
        return Err(usage(format!(
            "password file {} has more than one line: a PPPoE password is one line",
            p.display()
        )));
    }
    if s.is_empty() {
        return Err(usage(format!("password file {} is empty", p.display())));
    }
    Ok(s.to_string())
}

fn up(a: &cli::Args) -> Result<i32, Fail> {
    let cur = Uci::new(a).read()?;
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
