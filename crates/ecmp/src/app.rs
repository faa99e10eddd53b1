//! The program: the command line resolved into settings, then one
//! function per mode (an event, `--flush`, `status`, `check`), each
//! mapping its result to the exit status.

use crate::input::cli::{self, Parsed};
use crate::input::event::Event;
use crate::input::settings::{Command, Settings};
use crate::kernel::dummy::Dummy;
use crate::kernel::rtnetlink::Netlink;
use crate::kernel::State;
use crate::lock::Lock;
use crate::log::{Level, Log};
use crate::{
    input::read, kernel::nft, kernel::program, pass, plan::inbound, plan::members, report::check,
    report::status, Error, Family,
};
use std::io::IsTerminal;

/// Entry point of both binaries; returns the exit status.
pub fn main(family: Family) -> i32 {
    let parsed = cli::argv().and_then(|w| cli::parse(&w));
    let args = match parsed {
        Ok(Parsed::Help) => {
            crate::say!("{}", cli::help(family));
            return 0;
        }
        Ok(Parsed::Version) => {
            crate::say!("{} {}", family.program(), env!("CARGO_PKG_VERSION"));
            return 0;
        }
        Ok(Parsed::Run(a)) => a,
        Err(e) => {
            crate::complain!("{}: {e}", family.program());
            return e.exit_code();
        }
    };
    let mut log = Log::new(
        family,
        args.syslog_socket.as_deref(),
        args.verbose || args.dry_run,
    );
    let env = |k| std::env::var_os(k);
    let s = match Settings::resolve(family, args, env("ACTION"), env("INTERFACE")) {
        Ok(s) => s,
        Err(e) => {
            log.line(Level::Error, &e.to_string());
            return e.exit_code();
        }
    };
    match &s.command {
        Command::Event(e) => event(&s, e, &mut log),
        Command::Flush => flush(&s, &mut log),
        Command::Status { json } => status(&s, *json, &mut log),
        Command::Check { root } => {
            let f = check::run(&s, root);
            crate::say!(
                "{}",
                check::render(&f, std::io::stdout().is_terminal()).trim_end()
            );
            i32::from(f.iter().any(|x| !x.ok))
        }
    }
}

fn lock(s: &Settings) -> Result<Lock, Error> {
    Lock::acquire(&s.lock_file, s.lock_wait)
}

/// The nft table against the plan, and the policy rules with their
/// counters (read with `nft list counters`: status is no event).
fn marks_status(
    s: &Settings,
    r: &mut status::Report,
    cfg: &crate::input::config::Config,
    plan: &inbound::Plan,
    mask: Option<u32>,
) {
    use crate::plan::nft as plan_nft;
    let Some(k) = mask else {
        status::rules(r, &cfg.rules, &[], |_| None);
        return;
    };
    let text = plan_nft::ruleset(s.family, k, &plan.marked, &cfg.rules);
    if nft::needed(nft::last(&s.state_dir, s.family).as_deref(), &text) {
        r.diff.push(format!(
            "+ nft table {} {} as planned (its members or rules changed since it was loaded)",
            plan_nft::nfamily(s.family),
            plan_nft::table(s.family)
        ));
        r.in_sync = false;
    }
    let listed = crate::proc::run(
        std::path::Path::new("nft"),
        &[
            "list",
            "counters",
            "table",
            plan_nft::nfamily(s.family),
            plan_nft::table(s.family),
        ],
        None,
        std::time::Duration::from_secs(5),
        1 << 20,
    )
    .map(|o| status::parse_counters(&String::from_utf8_lossy(&o)))
    .unwrap_or_default();
    status::rules(r, &cfg.rules, &plan.marked, |n| {
        let name = format!("r{n}");
        listed
            .iter()
            .find(|(c, _, _)| *c == name)
            .map(|(_, p, b)| (*p, *b))
    });
}

/// One hotplug event (or a sync): read, decide, write, one log line.
/// ecmp-track calls it too, in-process, when a link changes state.
pub fn event(s: &Settings, ev: &Event, log: &mut Log) -> i32 {
    if !ev.action.acts() {
        let msg = format!(
            "{}: action '{}' changes no link; nothing to do",
            ev.label(),
            ev.action_name
        );
        log.line(Level::Debug, &msg);
        return 0;
    }
    let mut passed = None;
    let mut run = || -> Result<program::Outcome, Error> {
        let _lock = if s.dry_run { None } else { Some(lock(s)?) };
        let cfg = read::config(s)?;
        if !cfg.enabled {
            return Ok(program::Outcome {
                line: format!("{}: disabled in config, nothing done", ev.label()),
                warnings: vec![],
            });
        }
        if let Some(why) = read::not_ours(s, &cfg, ev) {
            passed = Some(why);
            return Ok(program::Outcome::default());
        }
        let raw = read::dump(&cfg, s)?;
        let dump = raw.parse()?;
        let (sel, seen, warned) = members::for_event(s, &cfg, &dump, ev)?;
        let input = pass::Input {
            family: s.family,
            cfg: &cfg,
            dump: &dump,
            sel: &sel,
            mask: read::marks(s, &cfg, &read::Firewall::new(s)),
        };
        let mut out = if !s.dry_run {
            let mut nl = Netlink::open()?;
            let mut nft = nft::Nft {
                program: crate::proc::on_path("nft"),
                state_dir: &s.state_dir,
            };
            let out = pass::run(&mut nl, Some(&mut nft), &input, &ev.label())?;
            // A running tracker reads netifd's dump again at once: a
            // dial that came up is probed from now, one that went is not.
            if let Some(st) = seen.state().filter(|st| st.pid != std::process::id()) {
                // SAFETY: a signal to the pid of a running ecmp-track.
                unsafe { libc::kill(st.pid as libc::pid_t, libc::SIGHUP) };
            }
            out
        } else {
            // The same pass on the kernel as it is (or an empty one),
            // writing down what it would do instead of doing it.
            for x in &sel.skipped {
                log.line(Level::Info, &format!("not a member: {x}"));
            }
            let devs: Vec<&str> = sel.members.iter().map(|m| m.device.as_str()).collect();
            let mut d = match Netlink::open() {
                Ok(mut nl) => Dummy::from_state(&mut nl, s.family, cfg.table, &devs)?,
                Err(_) => Dummy::from_state(&mut Dummy::empty(), s.family, cfg.table, &devs)?,
            };
            let mut nft = nft::DryNft {
                state_dir: &s.state_dir,
                commands: Vec::new(),
            };
            let label = format!("{}: dry run", ev.label());
            let out = pass::run(&mut d, Some(&mut nft), &input, &label)?;
            for c in nft.commands.iter().chain(&d.commands) {
                crate::say!("{c}");
            }
            out
        };
        out.warnings.splice(0..0, warned);
        Ok(out)
    };
    let r = run();
    if let Some(why) = passed {
        log.line(Level::Debug, &why);
    }
    match r {
        Ok(out) => {
            for w in &out.warnings {
                log.line(Level::Warning, w);
            }
            if !out.line.is_empty() {
                log.line(Level::Info, &out.line);
            }
            0
        }
        Err(e) => {
            log.line(Level::Error, &format!("{}: {e}", ev.label()));
            e.exit_code()
        }
    }
}

/// `--flush`: our routes and nexthop objects go, whatever the event.
fn flush(s: &Settings, log: &mut Log) -> i32 {
    // A dry run flushes a copy of the kernel (the in-memory one, started
    // from the real state) and prints what it would delete: `--dry-run`
    // never writes, whatever it comes with.
    let run = || -> Result<String, Error> {
        let _lock = if s.dry_run { None } else { Some(lock(s)?) };
        let cfg = read::config(s)?;
        let mut nl = Netlink::open()?;
        let mut dummy = match s.dry_run {
            true => Some(Dummy::from_state(&mut nl, s.family, cfg.table, &[])?),
            false => None,
        };
        let k: &mut dyn crate::kernel::Kernel = match dummy.as_mut() {
            Some(d) => d,
            None => &mut nl,
        };
        let (routes, objects) = program::flush(k, s.family, cfg.table)?;
        let st = State::read_for(k, s.family, cfg.table, &[])?;
        let plan = match inbound::Current::of(&st.tables, st.rules.as_deref(), &cfg.inbound) {
            Some(cur) => inbound::flush_plan(&cur),
            None => inbound::Plan::default(),
        };
        crate::kernel::tables::apply(k, &plan)?;
        let mut dry = nft::DryNft {
            state_dir: &s.state_dir,
            commands: Vec::new(),
        };
        let mut real = nft::Nft {
            program: crate::proc::on_path("nft"),
            state_dir: &s.state_dir,
        };
        let marks: &mut dyn nft::Marker = if s.dry_run { &mut dry } else { &mut real };
        marks.clear(s.family).map_err(Error::Kernel)?;
        for c in dry
            .commands
            .iter()
            .chain(dummy.iter().flat_map(|d| &d.commands))
        {
            crate::say!("{c}");
        }
        let (rules, tables) = (plan.del_rules.len(), plan.del_routes.len());
        let p = crate::log::plural;
        Ok(format!(
            "flush: {} {}, {}, {} and {} of ours",
            if s.dry_run {
                "dry run: would remove"
            } else {
                "removed"
            },
            p(routes, "route"),
            p(objects, "nexthop object"),
            p(rules, "rule"),
            p(tables, "member table route"),
        ))
    };
    match run() {
        Ok(line) => {
            log.line(Level::Info, &line);
            0
        }
        Err(e) => {
            log.line(Level::Error, &format!("flush: {e}"));
            e.exit_code()
        }
    }
}

/// `status`: exit 1 when the kernel is not what the members call for.
fn status(s: &Settings, json: bool, log: &mut Log) -> i32 {
    let run = || -> Result<status::Report, Error> {
        let family = s.family;
        let cfg = read::config(s)?;
        // The hint check gives, when ubusd's socket does not answer.
        let raw = read::dump(&cfg, s).map_err(|e| match (e, &cfg.ubus, &s.dump_file) {
            (Error::Input(m), None, None) => Error::Input(format!(
                "{m} (is ubusd running? ubus call network.interface dump)"
            )),
            (e, _, _) => e,
        })?;
        let dump = raw.parse()?;
        let (sel, seen, track_warnings) = members::for_event(s, &cfg, &dump, &Event::sync())?;
        let mut nl = Netlink::open()?;
        let st = State::read(&mut nl, family, cfg.table)?;
        let mut w = program::warnings(family, &cfg, &dump, sel.members.len(), {
            use crate::kernel::Kernel;
            nl.hash_policy(family)
        });
        let fw = read::Firewall::new(s);
        if family == Family::V6 && sel.members.len() >= 2 && fw.nat66() == Some(false) {
            w.push("no firewall zone has masq6 '1': with several IPv6 uplinks, LAN addresses from one prefix leave through the others and are dropped; set option masq6 '1' on the wan zone (NAT66)".into());
        }
        w.extend(track_warnings);
        // What fights our route, on the system the config belongs to
        // (/etc/config/ecmp: /).
        let root = s
            .config
            .parent()
            .and_then(|d| d.parent())
            .and_then(|d| d.parent());
        let rules = st.rules.as_deref().unwrap_or_default();
        w.extend(
            root.into_iter()
                .flat_map(|r| crate::report::fights::find(r, family, rules))
                .map(|(what, fix)| format!("{what}; fix: {fix}")),
        );
        w.extend(
            fw.zones_by_name(&cfg, &dump)
                .into_iter()
                .map(|(what, fix)| format!("{what}; move them to a device pattern: {fix}")),
        );
        let mut r = status::report(family, &cfg, &dump, &sel, &st, w);
        if let Some(cur) = inbound::Current::of(&st.tables, st.rules.as_deref(), &cfg.inbound) {
            let mask = read::marks(s, &cfg, &fw);
            let plan = inbound::wanted(family, &cfg, &dump, &sel, &st.links, &cur, mask);
            status::inbound(&mut r, &plan, &cur);
            marks_status(s, &mut r, &cfg, &plan, mask);
        }
        // The rounds behind each verdict, for LuCI's chart: read only here.
        let history = match json {
            true => crate::plan::track::read_history(&s.state_dir),
            false => Vec::new(),
        };
        status::tracking(&mut r, family, &cfg, &dump, &sel, &seen, &history);
        let bytes = nl.link_bytes()?;
        status::counters(&mut r, |dev| {
            bytes.iter().find(|(n, _)| n == dev).map(|(_, b)| *b)
        });
        Ok(r)
    };
    match run() {
        Ok(r) => {
            if json {
                crate::say!("{}", status::to_json(&r));
            } else {
                let colour = std::io::stdout().is_terminal();
                crate::say!(
                    "{}",
                    status::render(&r, s.family.program(), colour).trim_end()
                );
            }
            i32::from(!r.in_sync)
        }
        Err(e) => {
            log.line(Level::Error, &format!("status: {e}"));
            e.exit_code()
        }
    }
}
