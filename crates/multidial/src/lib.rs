//! multidial: the write-up's shell loops of `ip link add ... type macvlan`
//! and `uci set` as one idempotent plan. `plan` prints a `uci batch`,
//! `apply` feeds it to uci on stdin (the password never reaches argv or a
//! log), checks that uci took every line, and only then commits; `remove`
//! takes out exactly what it made; `up` brings the dials up a few at a
//! time and reports which came up.

pub mod adopt;
pub mod cli;
pub mod mwan3;
pub mod plan;

use ecmp::input::uci::parse_show;
use ecmp::{proc, Error};
use plan::{Balancer, Current, Firewall, Setup};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// Exit 2 (usage); uci failing, refusing or holding a section not ours is
/// `Error::Config`, exit 3. The core's error type and exit statuses.
fn usage(m: impl Into<String>) -> Error {
    Error::Usage(m.into())
}

fn uci_failed(m: impl Into<String>) -> Error {
    Error::Config(m.into())
}

pub fn main() -> i32 {
    let argv = match ecmp::input::cli::argv() {
        Ok(v) => v,
        Err(e) => {
            ecmp::complain!("multidial: {e}");
            return e.exit_code();
        }
    };
    let rest: Vec<&str> = argv.iter().map(String::as_str).collect();
    let args = match <cli::Args as argh::FromArgs>::from_args(&["multidial"], &rest) {
        Ok(a) => a,
        Err(e) => {
            return match e.status {
                Ok(()) => {
                    ecmp::say!("{}", e.output);
                    0
                }
                Err(()) => {
                    // argh's words, in ecmp4's form: "usage: unrecognized
                    // argument: --x (see --help)".
                    let e = ecmp::input::cli::refused(&e.output);
                    ecmp::complain!("multidial: {e}");
                    e.exit_code()
                }
            };
        }
    };
    // --from-config: the setup is the saved one, whole; a flag of it
    // beside would be silently ignored, so it is refused.
    const SETUP: [&str; 13] = [
        "--line",
        "--dials",
        "--username",
        "--password-file",
        "--ipv6",
        "--metric-base",
        "--iface-prefix",
        "--dev-prefix",
        "--zone",
        "--balancer",
        "--track-ip",
        "--batch",
        "--delay",
    ];
    if let Some(f) = SETUP.iter().find(|f| args.from_config && rest.contains(*f)) {
        ecmp::complain!("multidial: usage: --from-config takes the whole setup from /etc/config/ecmp; {f} goes without it");
        return 2;
    }
    if args.version {
        ecmp::say!("multidial {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            ecmp::complain!("multidial: {e}");
            e.exit_code()
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

    /// Run `uci <dirs> <args>` (bounded); its stdout, and what it printed
    /// on stderr even when it exits 0.
    fn run(
        &self,
        args: &[&str],
        stdin: Option<&[u8]>,
    ) -> Result<(Vec<u8>, String), proc::ProcError> {
        let mut all: Vec<&str> = self.args.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        proc::run_full(self.prog, &all, stdin, Duration::from_secs(30), 8 << 20)
    }

    /// `uci show <pkg>`, parsed. A package that does not exist (no mwan3
    /// installed, no /etc/config/ecmp) is empty.
    fn show(&self, pkg: &str) -> Result<Vec<ecmp::input::uci::Section>, Error> {
        match self.run(&["show", pkg], None) {
            Ok((out, _)) => parse_show(&String::from_utf8_lossy(&out)).map_err(uci_failed),
            Err(proc::ProcError::Failed { stderr, .. })
                if (pkg == "mwan3" || pkg == "ecmp") && stderr.contains("Entry not found") =>
            {
                Ok(Vec::new())
            }
            Err(e) => Err(uci_failed(format!("{} show {pkg}: {e}", self.name()))),
        }
    }

    fn read(&self) -> Result<Current, Error> {
        Ok(Current {
            network: self.show("network")?,
            firewall: self.show("firewall")?,
            mwan3: self.show("mwan3")?,
            ecmp: self.show("ecmp")?,
        })
    }

    /// Uncommitted changes in the packages we write, as `uci changes`
    /// prints them: ours would be committed along with them.
    fn pending(&self) -> Result<Vec<String>, Error> {
        let (out, _) = self
            .run(&["changes"], None)
            .map_err(|e| uci_failed(format!("{} changes: {e}", self.name())))?;
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
    fn batch(&self, text: &str) -> Result<(), Error> {
        match self.run(&["batch"], Some(text.as_bytes())) {
            Ok((_, err)) if err.is_empty() => Ok(()),
            Ok((_, err)) => Err(uci_failed(format!(
                "{} batch refused: exit status: 0 {}",
                self.name(),
                err.lines().next().unwrap_or("")
            ))),
            Err(e) => Err(uci_failed(format!("{} batch refused: {e}", self.name()))),
        }
    }

    fn revert(&self, pkgs: &[&str]) {
        for p in pkgs {
            let _ = self.run(&["revert", p], None);
        }
    }
}

/// What is left to do after a batch, as the plan of the re-read config
/// says it: nothing, or the first line uci did not take.
fn took(left: Result<Vec<String>, String>) -> Result<(), Error> {
    match left {
        Ok(l) if l.is_empty() => Ok(()),
        Ok(l) => Err(uci_failed(format!(
            "uci did not take every change (still to do: {})",
            l[0]
        ))),
        Err(e) => Err(uci_failed(format!(
            "uci did not take every change (still to do: {e})"
        ))),
    }
}

/// Write `lines`, check uci took them all and the result is usable
/// (`check` on the re-read, uncommitted config must pass), then commit
/// every package touched. On any failure the uncommitted changes are
/// reverted: the config stays as it was.
fn write(
    uci: &Uci,
    lines: &[String],
    check: impl Fn(&Current) -> Result<(), Error>,
) -> Result<(), Error> {
    if lines.is_empty() {
        return Ok(());
    }
    let pending = uci.pending()?;
    if !pending.is_empty() {
        return Err(uci_failed(format!(
            "uncommitted uci changes ({}{}): commit or revert them first (uci changes)",
            pending[0],
            if pending.len() > 1 { ", ..." } else { "" }
        )));
    }
    let pkgs = plan::touched(lines);
    // uci writes only into packages that exist: /etc/config/ecmp comes
    // with the package, but may have been deleted.
    if pkgs.contains(&"ecmp") && !uci.dir.join("ecmp").exists() {
        std::fs::write(uci.dir.join("ecmp"), "")
            .map_err(|e| uci_failed(format!("{}/ecmp: {e}", uci.dir.display())))?;
    }
    let mut text = lines.join("\n");
    text.push('\n');
    // uci show includes the uncommitted changes: what we would commit.
    let result = uci.batch(&text).and_then(|()| check(&uci.read()?));
    if let Err(e) = result {
        uci.revert(&pkgs);
        let m = match e {
            Error::Config(m) | Error::Usage(m) | Error::Input(m) => m,
            e => e.to_string(),
        };
        return Err(uci_failed(format!("{m}; nothing written")));
    }
    for p in &pkgs {
        if let Err(e) = uci.run(&["commit", p], None) {
            return Err(uci_failed(format!("{} commit {p}: {e}", uci.name())));
        }
    }
    Ok(())
}

fn run(a: &cli::Args) -> Result<i32, Error> {
    let command =
        a.command.first().map(String::as_str).ok_or_else(|| {
            usage("give a command: plan, apply, adopt, remove, up or import-mwan3")
        })?;
    let what = a.command.get(1).map(String::as_str);
    if let Some(w) = a.command.get(2) {
        return Err(usage(format!("unrecognized argument: {w} (see --help)")));
    }
    if what.is_some() && command != "plan" {
        return Err(usage(format!(
            "'{command}' takes no second word (only `plan remove` does)"
        )));
    }
    if a.up && command != "apply" && command != "adopt" {
        return Err(usage("--up goes with apply or adopt"));
    }
    if a.from_config && !matches!(command, "plan" | "apply" | "up") {
        return Err(usage("--from-config goes with plan, apply or up"));
    }
    if a.dry_run && command != "adopt" {
        return Err(usage("--dry-run goes with adopt (plan is apply's dry run)"));
    }
    match command {
        "plan" if what == Some("remove") => {
            let cur = Uci::new(a).read()?;
            let lines = plan::remove_batch(&cur);
            if lines.is_empty() {
                ecmp::complain!("multidial: nothing to remove: no section made by multidial");
            }
            for l in lines {
                ecmp::say!("{l}");
            }
            Ok(0)
        }
        "plan" if what.is_some() => Err(usage(format!(
            "plan {}: plan takes the setup's flags, or `remove`",
            what.unwrap_or_default()
        ))),
        "plan" | "apply" => {
            // Every flag is checked before uci runs.
            let flags = match a.from_config {
                true => None,
                false => Some(setup(a)?),
            };
            let uci = Uci::new(a);
            let cur = uci.read()?;
            let setup = match flags {
                Some(s) => s,
                None => {
                    let sec = cur.ecmp.iter().find(|s| s.name == plan::BOOT).ok_or_else(|| {
                        Error::Config(format!(
                            "--from-config: no config multidial '{}' in {}/ecmp: save the setup first (LuCI's Multi-dial page), or give the flags",
                            plan::BOOT,
                            a.config_dir.display()
                        ))
                    })?;
                    plan::setup_from(sec, firewall(a)).map_err(Error::Config)?
                }
            };
            let dials = plan::dials(&setup).map_err(usage)?;
            if setup.balancer == Balancer::Mwan3 && cur.mwan3.is_empty() {
                return Err(uci_failed(
                    "--balancer mwan3: mwan3 is not installed (apk add mwan3; 24.10: opkg install mwan3)",
                ));
            }
            if command == "plan" {
                let lines = plan::plan(&setup, &cur, !a.show_password).map_err(uci_failed)?;
                if lines.is_empty() {
                    ecmp::complain!("multidial: nothing to do: the config already matches");
                } else {
                    ecmp::complain!("multidial: plan: {}", plan::summary(&lines, &cur));
                }
                for l in lines {
                    ecmp::say!("{l}");
                }
                return Ok(0);
            }
            let lines = plan::plan(&setup, &cur, false).map_err(uci_failed)?;
            let shadowed = plan::shadowing(&cur, &setup.lines);
            let reordered = lines.iter().any(|l| l.starts_with("reorder "));
            let fw4_checks =
                setup.firewall == Firewall::Fw4 && plan::touched(&lines).contains(&"firewall");
            write(&uci, &lines, |now| {
                took(plan::plan(&setup, now, true))?;
                // fw4 renders the staged zone and nft checks it: a pattern
                // it does not take is refused before anything is committed.
                if fw4_checks {
                    fw4_check(&a.fw4)?;
                }
                Ok(())
            })?;
            ecmp::say!(
                "multidial: {} dials on {} line{} ({}): {} change{}{}",
                dials.len(),
                setup.lines.len(),
                ecmp::log::s(setup.lines.len()),
                setup.lines.join(","),
                lines.len(),
                ecmp::log::s(lines.len()),
                match (lines.is_empty(), a.up) {
                    (true, _) => ", nothing to do",
                    (false, true) => "",
                    (false, false) => "; now: /etc/init.d/network reload; /etc/init.d/firewall reload; multidial up (the dials are auto '0': none dials before that, or before the next boot)",
                }
            );
            if plan::touched(&lines).contains(&"firewall") {
                let ifaces: Vec<String> = dials.iter().map(|d| d.iface.clone()).collect();
                match setup.firewall {
                    Firewall::Fw4 => ecmp::say!(
                        "multidial: zone {} covers the dials by device ({}): no firewall reload per dial",
                        setup.zone,
                        plan::patterns(&ifaces).join(" ")
                    ),
                    Firewall::Fw3 => ecmp::say!(
                        "multidial: no firewall4 ({}): the dials join zone {} by name, and the ifup of each reloads the firewall",
                        a.fw4.display(),
                        setup.zone
                    ),
                }
            }
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
            if a.up {
                reload(a)?;
                return up(a);
            }
            Ok(0)
        }
        "remove" => {
            let uci = Uci::new(a);
            let cur = uci.read()?;
            let lines = plan::remove_batch(&cur);
            write(&uci, &lines, |now| took(Ok(plan::remove_batch(now))))?;
            ecmp::say!(
                "multidial: removed: {} change{}",
                lines.len(),
                ecmp::log::s(lines.len())
            );
            Ok(0)
        }
        "adopt" => adopt(a),
        "import-mwan3" => {
            let uci = Uci::new(a);
            let secs = uci.show("mwan3")?;
            if secs.is_empty() {
                return Err(uci_failed(
                    "import-mwan3: uci show mwan3 is empty: no mwan3 configuration",
                ));
            }
            let i = mwan3::import(&secs, &uci.show("ecmp")?);
            ecmp::say!("{}", i.batch.trim_end());
            for n in &i.notes {
                ecmp::complain!("multidial: import-mwan3: not carried: {n}");
            }
            Ok(0)
        }
        "up" => up(a),
        c => Err(usage(format!(
            "unknown command '{c}': plan, apply, adopt, remove or up"
        ))),
    }
}

fn setup(a: &cli::Args) -> Result<Setup, Error> {
    let username = a.username.clone().ok_or_else(|| usage("give --username"))?;
    let balancer = Balancer::parse(&a.balancer).map_err(|e| usage(format!("--{e}")))?;
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
        firewall: firewall(a),
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
fn read_password(p: &Path) -> Result<String, Error> {
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

/// `adopt`: take over the dials found, as `apply` would have made them.
fn adopt(a: &cli::Args) -> Result<i32, Error> {
    let uci = Uci::new(a);
    let cur = uci.read()?;
    // Macvlans made outside UCI (rc.local): the kernel's. Without root,
    // or rtnetlink, only those UCI declares.
    let kernel = ecmp::kernel::rtnetlink::Netlink::open()
        .and_then(|mut nl| nl.macvlans())
        .unwrap_or_default();
    let set = adopt::Adopt {
        zone: a.zone.clone(),
        firewall: firewall(a),
        batch: a.batch,
        delay: a.delay,
    };
    let lines_for = |cur: &Current| -> Result<(Vec<adopt::Found>, Vec<String>), String> {
        let found = adopt::find(cur, &kernel)?;
        let mut lines = adopt::plan(cur, &found, &set)?;
        let mut parents: Vec<String> = found.iter().map(|f| f.parent.clone()).collect();
        parents.dedup();
        lines.extend(plan::shadow_batch(cur, &parents));
        Ok((found, lines))
    };
    let (found, lines) = lines_for(&cur).map_err(uci_failed)?;
    let names: Vec<&str> = found.iter().map(|f| f.iface.as_str()).collect();
    if a.dry_run {
        if lines.is_empty() {
            ecmp::complain!(
                "multidial: nothing to do: {} adopted already",
                names.join(" ")
            );
        }
        for l in &lines {
            ecmp::say!("{l}");
        }
        return Ok(0);
    }
    let fw4_checks = set.firewall == Firewall::Fw4 && plan::touched(&lines).contains(&"firewall");
    write(&uci, &lines, |now| {
        took(lines_for(now).map(|(_, l)| l))?;
        if fw4_checks {
            fw4_check(&a.fw4)?;
        }
        Ok(())
    })?;
    ecmp::say!(
        "multidial: adopted {} dial{} ({}): {}",
        found.len(),
        ecmp::log::s(found.len()),
        names.join(" "),
        ecmp::log::plural(lines.len(), "change")
    );
    let declared: Vec<&str> = found
        .iter()
        .filter(|f| !f.declared)
        .map(|f| f.dev.as_str())
        .collect();
    if !declared.is_empty() && !lines.is_empty() {
        ecmp::say!(
            "multidial: /etc/config/network now declares the macvlans {}: netifd makes them at boot",
            declared.join(" ")
        );
    }
    // The rc.local lines that made them can go; not edited here.
    let rc = a.config_dir.parent().map(|d| d.join("rc.local"));
    if let Some(text) = rc.and_then(|p| std::fs::read_to_string(p).ok()) {
        let made: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#') && l.contains("type macvlan"))
            .collect();
        if !made.is_empty() {
            ecmp::say!("multidial: these lines of /etc/rc.local can go (this does not edit it):");
            for l in made {
                ecmp::say!("  {}", l.trim());
            }
            ecmp::say!("  sed -i '/ip link add.*type macvlan/d' /etc/rc.local");
        }
    }
    if a.up {
        reload(a)?;
        return up(a);
    }
    if !lines.is_empty() {
        ecmp::say!(
            "multidial: now: /etc/init.d/network reload; /etc/init.d/firewall reload; multidial up"
        );
    }
    Ok(0)
}

/// fw4 is what 22.03 and later ship; without it (fw3), names.
fn firewall(a: &cli::Args) -> Firewall {
    if a.fw4.is_file() {
        Firewall::Fw4
    } else {
        Firewall::Fw3
    }
}

/// `fw4 check`: the ruleset rendered from the config (uncommitted changes
/// included, as fw4's uci cursor reads them) passes `nft -c`.
fn fw4_check(fw4: &Path) -> Result<(), Error> {
    proc::run(fw4, &["check"], None, Duration::from_secs(60), 1 << 20)
        .map(|_| ())
        .map_err(|e| uci_failed(format!("{} check refused the zone: {e}", fw4.display())))
}

/// `apply --up`: netifd reads the new interfaces (`ubus call network
/// reload`, what /etc/init.d/network reload does), and the firewall its
/// zone, when this is a router with one.
fn reload(a: &cli::Args) -> Result<(), Error> {
    ubus(a, &["call", "network", "reload"])?;
    let fw = Path::new("/etc/init.d/firewall");
    if fw.exists() {
        proc::run(fw, &["reload"], None, Duration::from_secs(60), 1 << 16)
            .map_err(|e| uci_failed(format!("{} reload: {e}", fw.display())))?;
    }
    Ok(())
}

/// One ubus call, its output.
fn ubus(a: &cli::Args, args: &[&str]) -> Result<Vec<u8>, Error> {
    proc::run(&a.ubus, args, None, Duration::from_secs(10), 8 << 20)
        .map_err(|e| uci_failed(format!("{} {}: {e}", a.ubus.display(), args.join(" "))))
}

/// netifd's dump.
fn dump(a: &cli::Args) -> Result<Vec<u8>, Error> {
    ubus(a, &ecmp::UBUS_DUMP)
}

/// Wait (at most `--wait` seconds) until netifd lists every one of
/// `ifaces`: right after netifd starts, or after a network reload, it has
/// not read them yet, and `ubus call network.interface.X up` would fail
/// with "Not found".
fn registered(a: &cli::Args, ifaces: &[String]) -> Result<(), Error> {
    let start = std::time::Instant::now();
    loop {
        let out = dump(a)?;
        let d = ecmp::input::dump::Dump::parse(&out).map_err(|e| uci_failed(e.to_string()))?;
        let missing: Vec<&str> = ifaces
            .iter()
            .filter(|n| !d.interface.iter().any(|i| i.interface == n.as_str()))
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= Duration::from_secs(u64::from(a.wait)) {
            return Err(uci_failed(format!(
                "netifd has no interface {} after {} s (is the network reloaded? /etc/init.d/network reload)",
                missing.join(", "),
                a.wait
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn up(a: &cli::Args) -> Result<i32, Error> {
    let cur = Uci::new(a).read()?;
    let ifaces = plan::our_interfaces(&cur);
    if ifaces.is_empty() {
        return Err(usage(
            "no dials made by multidial in the network config: run apply first",
        ));
    }
    registered(a, &ifaces)?;
    // --from-config: the batches the setup saved (as the boot's).
    let (batch, delay) = match a.from_config {
        false => (a.batch, a.delay),
        true => {
            let saved = cur.ecmp.iter().find(|s| s.name == plan::BOOT);
            let num = |k: &str, d: u32| -> Result<u32, Error> {
                match saved.and_then(|s| s.options.get(k)).and_then(|v| v.first()) {
                    None => Ok(d),
                    Some(v) => v.parse().map_err(|_| {
                        Error::Config(format!("ecmp.{}.{k} '{v}' is not a number", plan::BOOT))
                    }),
                }
            };
            (num("batch", 4)?, num("delay", 5)?)
        }
    };
    let k = batch.max(1) as usize;
    for (i, chunk) in ifaces.chunks(k).enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_secs(u64::from(delay)));
        }
        for iface in chunk {
            ubus(a, &["call", &format!("network.interface.{iface}"), "up"])?;
        }
        ecmp::say!("multidial: up {}", chunk.join(" "));
    }
    // Wait for the last ones, then one dump tells which came up.
    let mut waited = 0;
    loop {
        let out = dump(a)?;
        let dump = ecmp::input::dump::Dump::parse(&out).map_err(|e| uci_failed(e.to_string()))?;
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
