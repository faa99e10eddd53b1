//! One event, start to finish: env + config -> dump -> members -> desired
//! route -> diff with the kernel -> one netlink write -> one log line.

use crate::cli::Args;
use crate::config::{self, Config};
use crate::dump::{Dump, MAX_DUMP};
use crate::event::Event;
use crate::log::{Level, Log};
use crate::members::{self, Member, Selection};
use crate::route::{self, Action, Route};
use crate::system::{Kernel, Link, Netlink, ENODEV};
use crate::{proc, Error, Family};
use std::io::Read;
use std::path::{Path, PathBuf};

/// What happened, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub line: String,
    pub warnings: Vec<String>,
}

/// Entry point of both binaries; returns the exit status.
pub fn main(family: Family) -> i32 {
    let argv: Vec<String> = match std::env::args_os().map(|a| a.into_string()).collect() {
        Ok(v) => v,
        Err(_) => {
            eprintln!("{}: usage: arguments must be valid UTF-8", family.program());
            return 2;
        }
    };
    let cmd = argv
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a))
        .unwrap_or(family.program());
    let rest: Vec<&str> = argv.iter().skip(1).map(String::as_str).collect();
    let args = match <Args as argh::FromArgs>::from_args(&[cmd], &rest) {
        Ok(a) => a,
        Err(early) => {
            return match early.status {
                Ok(()) => {
                    println!("{}", early.output);
                    0
                }
                Err(()) => {
                    eprintln!("{}: usage: {}", family.program(), early.output.trim());
                    2
                }
            };
        }
    };
    if args.version {
        println!("{} {}", family.program(), env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let mut log = Log::new(
        family,
        args.syslog_socket.as_deref(),
        args.verbose || args.dry_run,
    );
    let event = match Event::new(
        args.action.clone(),
        args.interface.clone(),
        std::env::var_os("ACTION"),
        std::env::var_os("INTERFACE"),
    ) {
        Ok(e) => e,
        Err(e) => {
            log.line(Level::Error, &e.to_string());
            return e.exit_code();
        }
    };
    if !event.action.acts() {
        return 0;
    }
    match run(family, &args, &event, &mut log) {
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
            log.line(Level::Error, &format!("{}: {e}", event.label()));
            e.exit_code()
        }
    }
}

/// Config from file (via uci), then flags.
pub fn load_config(family: Family, args: &Args) -> Result<Config, Error> {
    let path = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_CONFIG));
    let uci = args
        .uci
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_UCI));
    let mut cfg = Config::load(family, &path, &uci)?;
    let usage = |flag: &str, e: String| Error::Usage(format!("{flag}: {e}"));
    if let Some(m) = args.metric {
        cfg.metric = m;
    }
    if let Some(t) = &args.table {
        cfg.table = config::parse_table(t).map_err(|e| usage("--table", e))?;
    }
    if !args.proto.is_empty() {
        cfg.protos = args.proto.clone();
    }
    if !args.exclude.is_empty() {
        cfg.exclude = args.exclude.clone();
    }
    if let Some(u) = &args.ubus {
        cfg.ubus = u.clone();
    }
    if let Some(t) = &args.ubus_timeout {
        cfg.ubus_timeout = config::parse_timeout(t).map_err(|e| usage("--ubus-timeout", e))?;
    }
    Ok(cfg)
}

/// The netifd dump: one `ubus call network.interface dump`, or a file.
pub fn read_dump(cfg: &Config, file: Option<&Path>) -> Result<Dump, Error> {
    let bytes = match file {
        Some(p) if p == Path::new("-") => {
            let mut b = Vec::new();
            std::io::stdin()
                .take(MAX_DUMP as u64 + 1)
                .read_to_end(&mut b)
                .map_err(|e| Error::Input(format!("stdin: {e}")))?;
            b
        }
        Some(p) => std::fs::read(p).map_err(|e| Error::Input(format!("{}: {e}", p.display())))?,
        None => proc::run(
            &cfg.ubus,
            &["call", "network.interface", "dump"],
            cfg.ubus_timeout,
            MAX_DUMP,
        )
        .map_err(|e| {
            Error::Input(format!(
                "{} call network.interface dump: {e}",
                cfg.ubus.display()
            ))
        })?,
    };
    Dump::parse(&bytes)
}

fn run(family: Family, args: &Args, event: &Event, log: &mut Log) -> Result<Outcome, Error> {
    let cfg = load_config(family, args)?;
    if !cfg.enabled {
        return Ok(Outcome {
            line: format!("{}: disabled in config, nothing done", event.label()),
            warnings: vec![],
        });
    }
    let dump = read_dump(&cfg, args.dump_file.as_deref())?;
    let sel = members::select(family, &dump, &cfg, event)?;
    if args.dry_run {
        for s in &sel.skipped {
            log.line(Level::Info, &format!("not a member: {s}"));
        }
        match Route::desired(family, cfg.table, cfg.metric, &sel.members) {
            Some(r) => println!("{}", r.to_ip("replace")),
            None => println!(
                "{} del default{} proto {} metric {}",
                family.ip_cmd(),
                if cfg.table == 254 {
                    String::new()
                } else {
                    format!(" table {}", cfg.table)
                },
                crate::RTPROT_ECMP,
                cfg.metric
            ),
        }
        return Ok(Outcome::default());
    }
    let mut nl = Netlink::open()?;
    apply(&mut nl, family, &cfg, &dump, &sel, event)
}

/// Members whose device exists, with ifindex filled in; the rest named.
fn resolve(members: &[Member], links: &[Link]) -> (Vec<(Member, u32)>, Vec<String>) {
    let mut live = Vec::new();
    let mut gone = Vec::new();
    for m in members {
        match links.iter().find(|l| l.name == m.device) {
            Some(l) => live.push((m.clone(), l.index)),
            None => gone.push(m.device.clone()),
        }
    }
    (live, gone)
}

fn desired_route(family: Family, cfg: &Config, live: &[(Member, u32)]) -> Option<Route> {
    let members: Vec<Member> = live.iter().map(|(m, _)| m.clone()).collect();
    let mut r = Route::desired(family, cfg.table, cfg.metric, &members)?;
    for (n, (_, idx)) in r.nexthops.iter_mut().zip(live) {
        n.ifindex = *idx;
    }
    Some(r)
}

fn summary(r: &Route) -> String {
    let devs = r.devices();
    let shown = if devs.len() > 8 {
        format!("{},...", devs[..8].join(","))
    } else {
        devs.join(",")
    };
    let n = devs.len();
    format!(
        "default metric {} via {n} link{} {shown}",
        r.metric,
        if n == 1 { "" } else { "s" }
    )
}

/// Warnings that save users hours; none of them stops the event.
fn warnings(
    family: Family,
    cfg: &Config,
    dump: &Dump,
    kernel: &[Route],
    nexthops: usize,
    policy: Option<u32>,
) -> Vec<String> {
    let mut w = Vec::new();
    for r in kernel {
        if !r.is_ours() && r.src_len == 0 && r.kind == route::RTN_UNICAST && r.metric < cfg.metric {
            w.push(format!(
                "default route via {} metric {} (proto {}) shadows ours (metric {}): give that interface a higher metric or set defaultroute 0",
                r.devices().join(","),
                r.metric,
                r.protocol,
                cfg.metric
            ));
        }
    }
    for i in &dump.interface {
        let has_default = i.route.iter().any(|r| r.is_default(family.any()));
        if i.up && has_default && i.metric.unwrap_or(0) == cfg.metric {
            w.push(format!(
                "interface {} has metric {}, the same as ours: netifd replaces our route with its own; change one of them",
                i.interface, cfg.metric
            ));
        }
    }
    if nexthops >= 2 && policy == Some(0) {
        let v = if family == Family::V4 { 4 } else { 6 };
        w.push(format!(
            "net.ipv{v}.fib_multipath_hash_policy is 0: flows hash on addresses only, so one download uses one link; set it to 1"
        ));
    }
    w
}

/// Bring the kernel to the desired state with one write (plus, after a
/// configuration change, the removal of our routes at an old metric).
pub fn apply<K: Kernel>(
    k: &mut K,
    family: Family,
    cfg: &Config,
    dump: &Dump,
    sel: &Selection,
    event: &Event,
) -> Result<Outcome, Error> {
    let label = event.label();
    let links = k.links()?;
    let (mut live, mut gone) = resolve(&sel.members, &links);
    let kernel = k.default_routes(family, cfg.table)?;
    let mut want = desired_route(family, cfg, &live);
    let mut plan = route::plan(want.as_ref(), &kernel, cfg.table, cfg.metric)?;
    let mut out = Outcome {
        warnings: warnings(
            family,
            cfg,
            dump,
            &kernel,
            live.len(),
            k.hash_policy(family),
        ),
        ..Outcome::default()
    };
    let write = |k: &mut K, a: &Action| -> Result<(), crate::system::KernelError> {
        match a {
            Action::Replace(r) => k.replace(r),
            Action::Delete(r) => k.delete(r),
            Action::Unchanged | Action::Absent => Ok(()),
        }
    };
    let mut result = write(k, &plan.action);
    if matches!(&result, Err(e) if e.errno == ENODEV) {
        // A device vanished between the dump and the write (pppd exited):
        // drop the members that are gone and try once more with the rest.
        let links = k.links()?;
        let (l, g) = resolve(&sel.members, &links);
        live = l;
        gone = g;
        want = desired_route(family, cfg, &live);
        plan = route::plan(want.as_ref(), &kernel, cfg.table, cfg.metric)?;
        result = write(k, &plan.action);
    }
    let verb = match &plan.action {
        Action::Replace(r) => format!("replace {}", summary(r)),
        Action::Delete(r) => format!("delete default metric {}", r.metric),
        _ => String::new(),
    };
    result.map_err(|e| Error::Kernel(format!("{verb}: {e}")))?;
    for s in &plan.stale {
        k.delete(s).map_err(|e| {
            Error::Kernel(format!("delete our old default metric {}: {e}", s.metric))
        })?;
    }
    let mut gone_note = if gone.is_empty() {
        String::new()
    } else {
        format!(" [gone: {}]", gone.join(","))
    };
    if !sel.skipped.is_empty() {
        gone_note.push_str(&format!(" [left out: {}]", sel.skipped.join("; ")));
    }
    let stale_note = if plan.stale.is_empty() {
        String::new()
    } else {
        format!(
            " [removed ours at metric {}]",
            plan.stale
                .iter()
                .map(|s| s.metric.to_string())
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    out.line = match (&plan.action, &want) {
        (Action::Replace(r), _) => {
            format!("{label}: {} (replaced){gone_note}{stale_note}", summary(r))
        }
        (Action::Unchanged, Some(r)) => {
            format!("{label}: {} (unchanged){gone_note}{stale_note}", summary(r))
        }
        (Action::Delete(_), _) => format!(
            "{label}: no live links, default metric {} deleted{gone_note}{stale_note}",
            cfg.metric
        ),
        _ => format!("{label}: no live links, no route of ours{gone_note}{stale_note}"),
    };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Action as Ev;
    use crate::route::Nexthop;
    use crate::system::KernelError;

    /// An in-memory kernel: links, routes, and scripted failures.
    #[derive(Default)]
    struct Fake {
        links: Vec<Link>,
        routes: Vec<Route>,
        /// Links after the first write attempt (a device vanishing).
        links_after_write: Option<Vec<Link>>,
        fail: Option<i32>,
        writes: Vec<String>,
        policy: Option<u32>,
    }

    impl Kernel for Fake {
        fn links(&mut self) -> Result<Vec<Link>, Error> {
            Ok(self.links.clone())
        }
        fn default_routes(&mut self, _: Family, table: u32) -> Result<Vec<Route>, Error> {
            Ok(self
                .routes
                .iter()
                .filter(|r| r.table == table)
                .cloned()
                .collect())
        }
        fn replace(&mut self, r: &Route) -> Result<(), KernelError> {
            if let Some(l) = self.links_after_write.take() {
                self.links = l;
            }
            // Like the kernel: a nexthop on a missing ifindex is ENODEV.
            if r.nexthops
                .iter()
                .any(|n| !self.links.iter().any(|l| l.index == n.ifindex))
            {
                self.writes.push("replace failed".into());
                return Err(KernelError {
                    errno: ENODEV,
                    text: String::new(),
                });
            }
            if let Some(errno) = self.fail.take() {
                return Err(KernelError {
                    errno,
                    text: "scripted".into(),
                });
            }
            self.writes
                .push(format!("replace {}", r.devices().join(",")));
            self.routes
                .retain(|o| !(o.table == r.table && o.metric == r.metric));
            self.routes.push(r.clone());
            Ok(())
        }
        fn delete(&mut self, r: &Route) -> Result<(), KernelError> {
            self.writes.push(format!("delete {}", r.metric));
            self.routes
                .retain(|o| !(o.table == r.table && o.metric == r.metric && o.is_ours()));
            Ok(())
        }
        fn hash_policy(&self, _: Family) -> Option<u32> {
            self.policy
        }
    }

    fn link(i: u32, n: &str) -> Link {
        Link {
            index: i,
            name: n.into(),
        }
    }

    fn member(i: &str, dev: &str, gw: &str) -> Member {
        Member {
            interface: i.into(),
            device: dev.into(),
            gateway: Some(gw.parse().unwrap()),
            weight: 1,
        }
    }

    fn ev(a: &str, i: &str) -> Event {
        Event {
            action_name: a.into(),
            action: Ev::parse(a),
            interface: i.into(),
        }
    }

    fn setup() -> (Fake, Config, Selection) {
        let fake = Fake {
            links: vec![
                link(1, "lo"),
                link(5, "pppoe-wan"),
                link(6, "pppoe-VWAN1"),
                link(7, "pppoe-VWAN2"),
            ],
            policy: Some(1),
            ..Fake::default()
        };
        let sel = Selection {
            members: vec![
                member("wan", "pppoe-wan", "100.64.0.1"),
                member("VWAN1", "pppoe-VWAN1", "100.64.1.1"),
                member("VWAN2", "pppoe-VWAN2", "100.64.2.1"),
            ],
            skipped: vec![],
        };
        (fake, Config::defaults(Family::V4), sel)
    }

    #[test]
    fn replace_then_unchanged_with_no_write() {
        let (mut k, cfg, sel) = setup();
        let d = Dump::default();
        let o = apply(&mut k, Family::V4, &cfg, &d, &sel, &ev("ifup", "VWAN2")).unwrap();
        assert_eq!(
            o.line,
            "ifup VWAN2: default metric 1 via 3 links pppoe-wan,pppoe-VWAN1,pppoe-VWAN2 (replaced)"
        );
        assert_eq!(k.writes, ["replace pppoe-wan,pppoe-VWAN1,pppoe-VWAN2"]);
        let o = apply(&mut k, Family::V4, &cfg, &d, &sel, &ev("ifupdate", "VWAN1")).unwrap();
        assert!(o.line.ends_with("(unchanged)"), "{}", o.line);
        assert_eq!(k.writes.len(), 1, "no second write");
    }

    #[test]
    fn device_vanishing_before_the_write_is_dropped_and_retried_once() {
        let (mut k, cfg, sel) = setup();
        k.links_after_write = Some(vec![
            link(1, "lo"),
            link(5, "pppoe-wan"),
            link(7, "pppoe-VWAN2"),
        ]);
        let o = apply(
            &mut k,
            Family::V4,
            &cfg,
            &Dump::default(),
            &sel,
            &ev("ifup", "VWAN2"),
        )
        .unwrap();
        assert_eq!(
            k.writes,
            ["replace failed", "replace pppoe-wan,pppoe-VWAN2"]
        );
        assert!(
            o.line.ends_with("(replaced) [gone: pppoe-VWAN1]"),
            "{}",
            o.line
        );
    }

    #[test]
    fn missing_device_up_front_is_left_out() {
        let (mut k, cfg, sel) = setup();
        k.links.retain(|l| l.name != "pppoe-wan");
        let o = apply(
            &mut k,
            Family::V4,
            &cfg,
            &Dump::default(),
            &sel,
            &ev("ifup", "VWAN1"),
        )
        .unwrap();
        assert_eq!(k.writes, ["replace pppoe-VWAN1,pppoe-VWAN2"]);
        assert!(o.line.contains("[gone: pppoe-wan]"));
    }

    #[test]
    fn kernel_refusal_is_an_error_and_nothing_else_is_written() {
        let (mut k, cfg, sel) = setup();
        k.fail = Some(1);
        let e = apply(
            &mut k,
            Family::V4,
            &cfg,
            &Dump::default(),
            &sel,
            &ev("ifup", "wan"),
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 5);
        assert!(
            e.to_string()
                .contains("Operation not permitted (errno 1): scripted"),
            "{e}"
        );
        assert!(k.routes.is_empty());
    }

    #[test]
    fn no_members_deletes_ours_only() {
        let (mut k, cfg, sel) = setup();
        apply(
            &mut k,
            Family::V4,
            &cfg,
            &Dump::default(),
            &sel,
            &ev("ifup", "wan"),
        )
        .unwrap();
        let foreign = Route {
            protocol: 4,
            metric: 0,
            nexthops: vec![Nexthop {
                gateway: None,
                ifindex: 5,
                dev: "pppoe-wan".into(),
                weight: 1,
            }],
            ..k.routes[0].clone()
        };
        k.routes.push(foreign.clone());
        let o = apply(
            &mut k,
            Family::V4,
            &cfg,
            &Dump::default(),
            &Selection::default(),
            &ev("ifdown", "wan"),
        )
        .unwrap();
        assert_eq!(
            o.line,
            "ifdown wan: no live links, default metric 1 deleted"
        );
        assert_eq!(k.routes, vec![foreign]);
        let o = apply(
            &mut k,
            Family::V4,
            &cfg,
            &Dump::default(),
            &Selection::default(),
            &ev("ifdown", "wan"),
        )
        .unwrap();
        assert_eq!(o.line, "ifdown wan: no live links, no route of ours");
    }

    #[test]
    fn metric_change_removes_our_old_route() {
        let (mut k, mut cfg, sel) = setup();
        apply(
            &mut k,
            Family::V4,
            &cfg,
            &Dump::default(),
            &sel,
            &ev("ifup", "wan"),
        )
        .unwrap();
        cfg.metric = 3;
        let o = apply(
            &mut k,
            Family::V4,
            &cfg,
            &Dump::default(),
            &sel,
            &ev("ifup", "wan"),
        )
        .unwrap();
        assert!(o.line.ends_with("[removed ours at metric 1]"), "{}", o.line);
        assert_eq!(k.routes.len(), 1);
        assert_eq!(k.routes[0].metric, 3);
    }

    #[test]
    fn warnings_for_shadowing_metric_collision_and_hash_policy() {
        let (mut k, cfg, sel) = setup();
        k.policy = Some(0);
        k.routes.push(Route {
            family: Family::V4,
            table: 254,
            metric: 0,
            protocol: 4,
            src_len: 0,
            kind: 1,
            nexthops: vec![Nexthop {
                gateway: Some("100.64.0.1".parse().unwrap()),
                ifindex: 5,
                dev: "pppoe-wan".into(),
                weight: 1,
            }],
        });
        let dump = Dump::parse(br#"{"interface":[{"interface":"VWAN1","up":true,"metric":1,"route":[{"target":"0.0.0.0","mask":0,"nexthop":"100.64.1.1"}]},
            {"interface":"VWAN2","up":true,"metric":1,"inactive":{"route":[{"target":"0.0.0.0","mask":0,"nexthop":"100.64.2.1"}]}}]}"#).unwrap();
        let o = apply(&mut k, Family::V4, &cfg, &dump, &sel, &ev("ifup", "wan")).unwrap();
        assert_eq!(o.warnings.len(), 3, "{:?}", o.warnings);
        assert!(o.warnings[0]
            .starts_with("default route via pppoe-wan metric 0 (proto 4) shadows ours"));
        assert!(o.warnings[1].starts_with("interface VWAN1 has metric 1, the same as ours"));
        assert!(o.warnings[2].starts_with("net.ipv4.fib_multipath_hash_policy is 0"));
    }
}
