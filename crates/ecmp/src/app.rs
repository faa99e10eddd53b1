//! One event, start to finish: env + config -> dump -> members -> desired
//! route -> diff with the kernel -> one netlink write -> one log line.

use crate::cli::{Args, Cmd};
use crate::config::{self, Config};
use crate::dump::{Dump, MAX_DUMP};
use crate::event::Event;
use crate::lock::Lock;
use crate::log::{Level, Log};
use crate::members::{self, Selection};
use crate::nexthop::Mode;
use crate::program::{self, Fail, State};
use crate::route::{self, Action, Route};
use crate::system::{Kernel, Netlink};
use crate::{proc, Error, Family};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
            crate::complain!("{}: usage: arguments must be valid UTF-8", family.program());
            return 2;
        }
    };
    let cmd = argv
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a))
        .unwrap_or(family.program());
    let rest = crate::cli::globals_first(argv.iter().skip(1).map(String::as_str).collect());
    let args = match <Args as argh::FromArgs>::from_args(&[cmd], &rest) {
        Ok(a) => a,
        Err(early) => {
            return match early.status {
                Ok(()) => {
                    crate::say!("{}", early.output);
                    0
                }
                Err(()) => {
                    crate::complain!("{}: usage: {}", family.program(), early.output.trim());
                    2
                }
            };
        }
    };
    if args.version {
        crate::say!("{} {}", family.program(), env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let mut log = Log::new(
        family,
        args.syslog_socket.as_deref(),
        args.verbose || args.dry_run,
    );
    match &args.cmd {
        Some(Cmd::Status(c)) => return status_cmd(family, &args, c.json, &mut log),
        Some(Cmd::Check(c)) => return check_cmd(family, &args, &c.root),
        None => {}
    }
    if args.flush {
        return match flush(family, &args) {
            Ok(line) => {
                log.line(Level::Info, &line);
                0
            }
            Err(e) => {
                log.line(Level::Error, &format!("flush: {e}"));
                e.exit_code()
            }
        };
    }
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
        log.line(
            Level::Debug,
            &format!(
                "{}: action '{}' changes no link; nothing to do",
                event.label(),
                event.action_name
            ),
        );
        return 0;
    }
    let _lock = if args.dry_run {
        None
    } else {
        match lock(&args) {
            Ok(l) => Some(l),
            Err(e) => {
                log.line(Level::Error, &format!("{}: {e}", event.label()));
                return e.exit_code();
            }
        }
    };
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

fn lock(args: &Args) -> Result<Lock, Error> {
    let path = args
        .lock_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(crate::lock::DEFAULT_LOCK));
    let wait = args
        .lock_wait
        .map(Duration::from_secs)
        .unwrap_or(crate::lock::DEFAULT_WAIT);
    Lock::acquire(&path, wait)
}

/// The selection of a sync (no event): what the members call for now.
fn sync_event() -> Event {
    Event {
        action_name: "status".into(),
        action: crate::event::Action::parse("ifupdate"),
        interface: String::new(),
    }
}

/// Does any firewall zone masquerade IPv6 (`option masq6 '1'`)? None when
/// uci cannot tell.
fn nat66(args: &Args) -> Option<bool> {
    let uci = args
        .uci
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_UCI));
    let out = proc::run(
        &uci,
        &["-q", "show", "firewall"],
        Duration::from_secs(5),
        1 << 20,
    )
    .ok()?;
    let text = String::from_utf8_lossy(&out);
    Some(text.lines().any(|l| l.ends_with(".masq6='1'")))
}

fn status_cmd(family: Family, args: &Args, json: bool, log: &mut Log) -> i32 {
    let run = || -> Result<crate::status::Report, Error> {
        let cfg = load_config(family, args)?;
        let dump = read_dump(&cfg, args.dump_file.as_deref())?;
        let sel = members::select(family, &dump, &cfg, &sync_event())?;
        let mut nl = Netlink::open()?;
        let st = State::read(&mut nl, family, cfg.table)?;
        let mut w = warnings(
            family,
            &cfg,
            &dump,
            &st.routes,
            sel.members.len(),
            nl.hash_policy(family),
        );
        // Shown as differences, with their fix, by the report.
        let shadows = shadow_warnings(&cfg, &st.routes);
        w.retain(|x| !shadows.contains(x));
        if family == Family::V6 && sel.members.len() >= 2 && nat66(args) == Some(false) {
            w.push("no firewall zone has masq6 '1': with several IPv6 uplinks, LAN addresses from one prefix leave through the others and are dropped; set option masq6 '1' on the wan zone (NAT66)".into());
        }
        Ok(crate::status::report(
            family,
            &cfg,
            &dump,
            &sel,
            &st.links,
            &st.routes,
            st.objs.as_deref(),
            w,
        ))
    };
    match run() {
        Ok(r) => {
            if json {
                crate::say!("{}", crate::status::to_json(&r));
            } else {
                use std::io::IsTerminal;
                let colour = std::io::stdout().is_terminal();
                crate::say!(
                    "{}",
                    crate::status::render(&r, family.program(), colour).trim_end()
                );
            }
            if r.in_sync {
                0
            } else {
                1
            }
        }
        Err(e) => {
            log.line(Level::Error, &format!("status: {e}"));
            e.exit_code()
        }
    }
}

/// What the resilient-group probe found.
#[derive(Debug, PartialEq, Eq)]
enum Probe {
    Yes,
    No,
    /// Our probe IDs are held by someone else's objects.
    Taken,
    /// EPERM: not root (or no CAP_NET_ADMIN).
    NotRoot,
}

/// Probe for resilient groups with a blackhole and a group of it, both
/// ours and gone again at once.
fn probe_resilient(nl: &mut Netlink, objs: &[crate::nexthop::NhObject]) -> Probe {
    use crate::nexthop::{NhKind, NhObject, Resilient, MEMBER_LAST};
    let (bh, grp) = (MEMBER_LAST - 1, MEMBER_LAST);
    if objs.iter().any(|o| o.id == bh || o.id == grp) {
        return Probe::Taken;
    }
    let b = NhObject {
        id: bh,
        family: Some(Family::V4),
        protocol: crate::RTPROT_ECMP,
        kind: NhKind::Blackhole,
    };
    match nl.new_nexthop(&b, false) {
        Ok(()) => {}
        Err(e) if e.errno == libc::EPERM => return Probe::NotRoot,
        Err(_) => return Probe::No,
    }
    let g = NhObject {
        id: grp,
        family: None,
        protocol: crate::RTPROT_ECMP,
        kind: NhKind::Group {
            entries: vec![(bh, 1)],
            resilient: Some(Resilient {
                buckets: 2,
                ..Resilient::default()
            }),
        },
    };
    let ok = nl.new_nexthop(&g, false).is_ok();
    if ok {
        let _ = nl.del_nexthop(grp);
    }
    let _ = nl.del_nexthop(bh);
    if ok {
        Probe::Yes
    } else {
        Probe::No
    }
}

/// Hooks in `dir` other than ours that write a default route: the seed's
/// 97-ECMPv4/98-ECMPv6, or a copy of them, fight ours on every event.
fn foreign_hooks(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name == "97-ecmp4" || name == "98-ecmp6" {
                return false;
            }
            let mut text = Vec::new();
            let read =
                std::fs::File::open(p).and_then(|f| f.take(256 << 10).read_to_end(&mut text));
            let text = String::from_utf8_lossy(&text);
            read.is_ok()
                && (text.contains("route replace default")
                    || text.contains("route add default")
                    || text.contains("nexthop via"))
        })
        .collect();
    found.sort();
    found
}

fn check_cmd(family: Family, args: &Args, root: &Path) -> i32 {
    use crate::status::Finding;
    let p = family.program();
    let v = if family == Family::V4 { 4 } else { 6 };
    let mut f = Vec::new();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let release = release.trim();
    match Netlink::open().and_then(|mut nl| Ok((nl.nexthops()?, nl))) {
        Err(e) => f.push(Finding::fail(
            format!("rtnetlink: {e}"),
            "run as root on the router",
        )),
        Ok((None, _)) => {
            f.push(Finding::ok(format!("kernel {release}: multipath routes")));
            f.push(Finding::fail(
                format!("kernel {release} has no nexthop objects: on IPv4 a redial deletes the whole route until the next event"),
                "upgrade to OpenWrt 21.02 or later (Linux 5.3+); until then mode multipath is used",
            ));
        }
        Ok((Some(objs), mut nl)) => {
            f.push(Finding::ok(format!(
                "kernel {release}: nexthop objects (the route survives a redial)"
            )));
            match probe_resilient(&mut nl, &objs) {
                Probe::Yes => f.push(Finding::ok("kernel: resilient nexthop groups (a redial moves only its own flows)")),
                Probe::No => f.push(Finding::fail(
                    "kernel: no resilient nexthop groups (hash-threshold groups re-hash flows on every change)",
                    "upgrade to OpenWrt 23.05 or later (Linux 5.13+); until then mode group is used",
                )),
                Probe::Taken => f.push(Finding::fail(
                    "kernel: cannot probe for resilient groups (nexthop IDs 3967811582-3967811583 are taken)",
                    "ip nexthop show id 3967811583; remove what holds them",
                )),
                Probe::NotRoot => f.push(Finding::fail(
                    "kernel: cannot probe for resilient groups: the kernel refused a nexthop object (EPERM, not root)",
                    "run ecmp4 check as root",
                )),
            }
        }
    }
    let sysctl = format!("net.ipv{v}.fib_multipath_hash_policy");
    match std::fs::read_to_string(format!("/proc/sys/net/ipv{v}/fib_multipath_hash_policy")) {
        Ok(x) if x.trim() == "1" => f.push(Finding::ok(format!(
            "{sysctl} = 1 (flows hash on ports too)"
        ))),
        Ok(x) => f.push(Finding::fail(
            format!("{sysctl} = {}: one download uses one link", x.trim()),
            format!("sysctl -w {sysctl}=1; keep it in /etc/sysctl.d/60-ecmp-hotplug.conf"),
        )),
        Err(e) => f.push(Finding::fail(
            format!("{sysctl}: {e}"),
            "a kernel with CONFIG_IP_ROUTE_MULTIPATH",
        )),
    }
    // The config checked is the one under --root, unless named.
    let cfg_file = args
        .config
        .clone()
        .unwrap_or_else(|| root.join(config::DEFAULT_CONFIG.trim_start_matches('/')));
    let cfg = match load_config_at(family, args, &cfg_file, args.config.is_some()) {
        Ok(c) => {
            let path = cfg_file.clone();
            f.push(Finding::ok(if path.exists() {
                format!(
                    "config {}: valid (mode {}, metric {})",
                    path.display(),
                    c.mode.name(),
                    c.metric
                )
            } else {
                format!("config {}: absent, defaults apply", path.display())
            }));
            Some(c)
        }
        Err(e) => {
            f.push(Finding::fail(
                format!("{e}"),
                format!("fix {} (see README: Configuration)", cfg_file.display()),
            ));
            None
        }
    };
    let hooks = root.join("etc/hotplug.d/iface");
    let other = foreign_hooks(&hooks);
    if other.is_empty() {
        f.push(Finding::ok(format!(
            "no other hook in {} writes a default route",
            hooks.display()
        )));
    }
    for h in other {
        f.push(Finding::fail(
            format!(
                "{} writes a default route too (the seed's ECMP script?): it fights ours on every event",
                h.display()
            ),
            format!("rm {}; then run {p} (a sync)", h.display()),
        ));
    }
    let hook = root.join(format!(
        "etc/hotplug.d/iface/{}-{p}",
        if v == 4 { 97 } else { 98 }
    ));
    let bin = root.join(format!("usr/sbin/{p}"));
    match std::fs::read_to_string(&hook) {
        Ok(t) if t.contains(&format!("/usr/sbin/{p}")) => f.push(Finding::ok(format!(
            "hotplug hook {} runs /usr/sbin/{p}",
            hook.display()
        ))),
        Ok(_) => f.push(Finding::fail(
            format!("hotplug hook {} does not run /usr/sbin/{p}", hook.display()),
            "reinstall the package (opkg install --force-reinstall ecmp-hotplug)",
        )),
        Err(e) => f.push(Finding::fail(
            format!("hotplug hook {}: {e}", hook.display()),
            "install the package: no event will ever run us",
        )),
    }
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(&bin) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => {
            f.push(Finding::ok(format!("{} is executable", bin.display())))
        }
        Ok(_) => f.push(Finding::fail(
            format!("{} is not executable", bin.display()),
            format!("chmod 0755 {}", bin.display()),
        )),
        Err(e) => f.push(Finding::fail(
            format!("{}: {e}", bin.display()),
            "install the package",
        )),
    }
    if let Some(cfg) = cfg {
        match read_dump(&cfg, args.dump_file.as_deref())
            .and_then(|d| Ok((members::select(family, &d, &cfg, &sync_event())?, d)))
        {
            Ok((sel, d)) => f.push(Finding::ok(format!(
                "{} {} interfaces, {} member{} up",
                match &args.dump_file {
                    Some(p) => format!("dump {}:", p.display()),
                    None => "ubus: netifd answered,".into(),
                },
                d.interface.len(),
                sel.members.len(),
                if sel.members.len() == 1 { "" } else { "s" }
            ))),
            Err(e) => f.push(Finding::fail(
                format!("{e}"),
                format!(
                    "ubus call network.interface dump  (is ubusd running? is {} right?)",
                    cfg.ubus.display()
                ),
            )),
        }
        // Routes of others that win over ours, or hold our metric (the
        // seed's `default metric 1` multipath route).
        let dump = read_dump(&cfg, args.dump_file.as_deref()).unwrap_or_default();
        if let Ok(routes) = Netlink::open().and_then(|mut nl| nl.default_routes(family, cfg.table))
        {
            let found = crate::status::rivals(&cfg, &dump, &routes);
            if found.is_empty() {
                f.push(Finding::ok(format!(
                    "no other default route at or below metric {} in table {}",
                    cfg.metric, cfg.table
                )));
            }
            for (problem, fix) in found {
                f.push(Finding::fail(problem, fix));
            }
        }
    }
    let uci = args
        .uci
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_UCI));
    // Dials multidial made sit on macvlan devices: the kernel needs them.
    if let Some(f_) = macvlan_finding(&uci, root) {
        f.push(f_);
    }
    match std::fs::metadata(&uci) {
        Ok(m) if m.permissions().mode() & 0o111 != 0 => {
            f.push(Finding::ok(format!("uci: {} is there", uci.display())))
        }
        _ if !cfg_file.exists() => f.push(Finding::ok(format!(
            "uci: {} is missing, not needed without {}",
            uci.display(),
            cfg_file.display()
        ))),
        _ => f.push(Finding::fail(
            format!(
                "uci: {} cannot be run, so /etc/config/ecmp cannot be read",
                uci.display()
            ),
            "opkg install uci (or pass --uci)",
        )),
    }
    use std::io::IsTerminal;
    crate::say!(
        "{}",
        crate::status::render_check(&f, std::io::stdout().is_terminal()).trim_end()
    );
    if f.iter().all(|x| x.ok) {
        0
    } else {
        1
    }
}

/// When ROOT/etc/config/network holds macvlan devices multidial made:
/// whether this kernel has macvlan. None: no such devices (or no uci).
fn macvlan_finding(uci: &Path, root: &Path) -> Option<crate::status::Finding> {
    use crate::status::Finding;
    let dir = root.join("etc/config");
    let out = proc::run(
        uci,
        &["-c", &dir.to_string_lossy(), "show", "network"],
        Duration::from_secs(5),
        8 << 20,
    )
    .ok()?;
    let secs = crate::uci::parse_show(&String::from_utf8_lossy(&out)).ok()?;
    let one = |s: &crate::uci::Section, k: &str| s.options.get(k).and_then(|v| v.first()).cloned();
    let n = secs
        .iter()
        .filter(|s| {
            one(s, "multidial").as_deref() == Some("1")
                && one(s, "type").as_deref() == Some("macvlan")
        })
        .count();
    if n == 0 {
        return None;
    }
    Some(
        match Netlink::open().map(|mut nl| nl.has_link_kind("macvlan")) {
            Ok(Ok(true)) => Finding::ok(format!(
                "kernel: macvlan, for the {n} devices multidial made"
            )),
            Ok(Ok(false)) => Finding::fail(
                format!("kernel: no macvlan, so the {n} devices multidial made cannot exist"),
                "apk add kmod-macvlan (24.10: opkg install kmod-macvlan)",
            ),
            Ok(Err(e)) => Finding::fail(
                format!("kernel: cannot probe for macvlan: {e}"),
                "run check as root",
            ),
            Err(e) => Finding::fail(
                format!("kernel: cannot probe for macvlan: {e}"),
                "run check as root",
            ),
        },
    )
}

/// `--flush`: our routes and nexthop objects go, whatever the event.
fn flush(family: Family, args: &Args) -> Result<String, Error> {
    let _lock = lock(args)?;
    let cfg = load_config(family, args)?;
    let mut nl = Netlink::open()?;
    let (routes, objects) = program::flush(&mut nl, family, cfg.table)?;
    Ok(format!(
        "flush: removed {routes} route{} and {objects} nexthop object{} of ours",
        if routes == 1 { "" } else { "s" },
        if objects == 1 { "" } else { "s" }
    ))
}

/// Config from file (via uci), then flags.
pub fn load_config(family: Family, args: &Args) -> Result<Config, Error> {
    let path = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_CONFIG));
    load_config_at(family, args, &path, args.config.is_some())
}

/// Config from `path`, then flags. Only the default file may be absent
/// (defaults apply): a `--config` the user named and mistyped (`explicit`)
/// must not silently mean "defaults".
fn load_config_at(
    family: Family,
    args: &Args,
    path: &Path,
    explicit: bool,
) -> Result<Config, Error> {
    if explicit {
        if let Err(e) = std::fs::metadata(path) {
            return Err(Error::Config(format!("--config {}: {e}", path.display())));
        }
    }
    let uci = args
        .uci
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_UCI));
    let mut cfg = Config::load(family, path, &uci)?;
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
    if let Some(m) = &args.mode {
        cfg.mode = Mode::parse(m).map_err(|e| usage("--mode", e))?;
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
        // The first mode a real run would try on a kernel with objects.
        let mode = modes(&cfg, true)?[0];
        for l in program::dry_run(mode, family, &cfg, &sel.members) {
            crate::say!("{l}");
        }
        let line = match route::Route::desired(family, cfg.table, cfg.metric, &sel.members) {
            Some(r) => format!(
                "{}: dry run: {} {}",
                event.label(),
                mode.name(),
                summary(&r)
            ),
            None => format!(
                "{}: dry run: no live links, default metric {} would be deleted",
                event.label(),
                cfg.metric
            ),
        };
        return Ok(Outcome {
            line,
            warnings: vec![],
        });
    }
    let mut nl = Netlink::open()?;
    apply(&mut nl, family, &cfg, &dump, &sel, event)
}

fn summary(r: &Route) -> String {
    let mut devs = r.devices();
    devs.sort_by(|a, b| natural(a, b));
    devs.dedup();
    let shown = devs.join(",");
    let n = devs.len();
    format!(
        "default metric {} via {n} link{} {shown}",
        r.metric,
        if n == 1 { "" } else { "s" }
    )
}

/// Names in natural order: pppoe-VWAN2 before pppoe-VWAN10.
pub fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    fn split(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (x, y) = (split(a), split(b));
    for (p, q) in x.iter().zip(&y) {
        let o = match (p, q) {
            ((true, m), (true, n)) => {
                let (m, n) = (m.trim_start_matches('0'), n.trim_start_matches('0'));
                m.len().cmp(&n.len()).then(m.cmp(n))
            }
            ((_, m), (_, n)) => m.cmp(n),
        };
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    x.len().cmp(&y.len()).then(a.cmp(b))
}

/// Routes of others below our metric, as an event logs them (`status`
/// shows them as differences, with their fix).
fn shadow_warnings(cfg: &Config, kernel: &[Route]) -> Vec<String> {
    kernel
        .iter()
        .filter(|r| !r.is_ours() && r.src_len == 0 && r.metric < cfg.metric)
        .map(|r| format!(
            "default route via {} metric {} (proto {}) shadows ours (metric {}): give that interface a higher metric or set defaultroute 0",
            r.devices().join(","),
            r.metric,
            r.protocol,
            cfg.metric
        ))
        .collect()
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
    let mut w = shadow_warnings(cfg, kernel);
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

/// The modes to try, in order, for this config on a kernel with (or
/// without) nexthop objects. Group IDs encode the table, so a table above
/// [`GROUP_TABLE_MAX`] can only have a multipath route: auto takes it, a
/// forced group mode is a config error. `--dry-run` asks the same.
pub fn modes(cfg: &Config, have_objs: bool) -> Result<&'static [Mode], Error> {
    use crate::nexthop::GROUP_TABLE_MAX;
    let fits = cfg.table <= GROUP_TABLE_MAX;
    Ok(match (cfg.mode, have_objs && fits) {
        (Mode::Multipath, _) | (Mode::Auto, false) => &[Mode::Multipath],
        (Mode::Auto, true) => &[Mode::Resilient, Mode::Group, Mode::Multipath],
        (Mode::Resilient, true) => &[Mode::Resilient],
        (Mode::Group, true) => &[Mode::Group],
        (m, false) if !fits => {
            return Err(Error::Config(format!(
                "mode {}: table {} is above {GROUP_TABLE_MAX}, which nexthop group IDs cannot encode; use mode auto or multipath, or a smaller table",
                m.name(),
                cfg.table
            )))
        }
        (m, false) => {
            return Err(Error::Kernel(format!(
                "mode {} needs nexthop objects (Linux 5.3+), which this kernel lacks; set mode auto or multipath",
                m.name()
            )))
        }
    })
}

/// Bring the kernel to the desired state: one route write in multipath
/// mode, the member objects and one group write in the group modes. In
/// auto mode, a mode the kernel refuses falls back to the next one.
pub fn apply<K: Kernel>(
    k: &mut K,
    family: Family,
    cfg: &Config,
    dump: &Dump,
    sel: &Selection,
    event: &Event,
) -> Result<Outcome, Error> {
    let label = event.label();
    let mut st = State::read(k, family, cfg.table)?;
    let modes = modes(cfg, st.objs.is_some())?;
    let mut out = Outcome {
        warnings: warnings(
            family,
            cfg,
            dump,
            &st.routes,
            sel.members.len(),
            k.hash_policy(family),
        ),
        ..Outcome::default()
    };
    let mut refused = Vec::new();
    let mut retried = false;
    let mut i = 0;
    let (mode, done) = loop {
        let mode = modes[i];
        let r = match mode {
            Mode::Multipath => program::multipath(k, family, cfg, &sel.members, &st),
            m => program::group(k, m, family, cfg, &sel.members, &st),
        };
        match r {
            Ok(d) => break (mode, d),
            // A device vanished between our read and our write (pppd
            // exited): read the kernel again and try once more.
            Err(Fail::Vanished(_)) if !retried => {
                retried = true;
                st = State::read(k, family, cfg.table)?;
            }
            Err(Fail::Refused(e)) if i + 1 < modes.len() => {
                refused.push(e);
                i += 1;
            }
            Err(Fail::Refused(e)) | Err(Fail::Vanished(e)) => return Err(Error::Kernel(e)),
            Err(Fail::Error(e)) => return Err(e),
        }
    };
    let mut notes = String::new();
    if !done.gone.is_empty() {
        notes.push_str(&format!(" [gone: {}]", done.gone.join(",")));
    }
    if !done.no_carrier.is_empty() {
        notes.push_str(&format!(" [no carrier: {}]", done.no_carrier.join(",")));
    }
    if !sel.skipped.is_empty() {
        notes.push_str(&format!(" [left out: {}]", sel.skipped.join("; ")));
    }
    if !done.stale.is_empty() {
        let m: Vec<String> = done.stale.iter().map(u32::to_string).collect();
        notes.push_str(&format!(" [removed ours at metric {}]", m.join(",")));
    }
    if done.removed_objs > 0 {
        notes.push_str(&format!(
            " [removed {} unused nexthop object{}]",
            done.removed_objs,
            if done.removed_objs == 1 { "" } else { "s" }
        ));
    }
    if !refused.is_empty() {
        notes.push_str(&format!(" [refused: {}]", refused.join("; ")));
    }
    let m = mode.name();
    out.line = match (&done.action, &done.want) {
        (Some(Action::Replace(_)), Some(r)) => {
            format!("{label}: {m} {} (replaced){notes}", summary(r))
        }
        (Some(Action::Unchanged), Some(r)) => {
            format!("{label}: {m} {} (unchanged){notes}", summary(r))
        }
        (Some(Action::Delete(_)), _) => format!(
            "{label}: no live links, default metric {} deleted{notes}",
            cfg.metric
        ),
        _ => format!("{label}: no live links, no route of ours{notes}"),
    };
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::Action as Ev;
    use crate::members::Member;
    use crate::nexthop::{NhKind, NhObject};
    use crate::route::Nexthop;
    use crate::system::{KernelError, Link, EINVAL, ENODEV, EOPNOTSUPP};

    /// An in-memory kernel: links, routes, nexthop objects, and scripted
    /// failures, refusing what Linux refuses.
    #[derive(Default)]
    struct Fake {
        links: Vec<Link>,
        routes: Vec<Route>,
        /// None: a kernel without nexthop objects (before 5.3).
        objs: Option<Vec<NhObject>>,
        /// A 5.3-5.12 kernel: resilient groups are EINVAL.
        no_resilient: bool,
        /// Links after the first write attempt (a device vanishing).
        links_after_write: Option<Vec<Link>>,
        fail: Option<i32>,
        writes: Vec<String>,
        policy: Option<u32>,
    }

    impl Fake {
        fn vanish(&mut self) {
            if let Some(l) = self.links_after_write.take() {
                self.links = l;
                // Like the kernel: objects on a gone device are flushed.
                let idx: Vec<u32> = self.links.iter().map(|l| l.index).collect();
                if let Some(objs) = &mut self.objs {
                    objs.retain(|o| match o.kind {
                        NhKind::Gateway { ifindex, .. } => idx.contains(&ifindex),
                        _ => true,
                    });
                }
            }
        }
        fn err(errno: i32) -> Result<(), KernelError> {
            Err(KernelError {
                errno,
                text: "scripted".into(),
            })
        }
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
            self.vanish();
            if let Some(id) = r.nhid {
                if !self.objs.iter().flatten().any(|o| o.id == id) {
                    return Self::err(EINVAL);
                }
            } else if r
                .nexthops
                .iter()
                .any(|n| !self.links.iter().any(|l| l.index == n.ifindex))
            {
                self.writes.push("replace failed".into());
                return Self::err(ENODEV);
            }
            if let Some(errno) = self.fail.take() {
                return Self::err(errno);
            }
            self.writes.push(match r.nhid {
                Some(id) => format!("route nhid {id:x}"),
                None => format!("replace {}", r.devices().join(",")),
            });
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
        fn nexthops(&mut self) -> Result<Option<Vec<NhObject>>, Error> {
            Ok(self.objs.clone())
        }
        fn new_nexthop(&mut self, o: &NhObject, replace: bool) -> Result<(), KernelError> {
            self.vanish();
            let links = self.links.clone();
            let no_res = self.no_resilient;
            let Some(objs) = &mut self.objs else {
                return Self::err(EOPNOTSUPP);
            };
            match &o.kind {
                NhKind::Gateway { ifindex, .. } => {
                    if !links.iter().any(|l| l.index == *ifindex) {
                        return Self::err(ENODEV);
                    }
                }
                NhKind::Group { entries, resilient } => {
                    if no_res && resilient.is_some() {
                        return Self::err(EINVAL);
                    }
                    if entries
                        .iter()
                        .any(|(id, _)| !objs.iter().any(|x| x.id == *id))
                    {
                        return Self::err(EINVAL);
                    }
                }
                NhKind::Blackhole => {}
                NhKind::Other => return Self::err(EINVAL),
            }
            if let Some(errno) = self.fail.take() {
                return Self::err(errno);
            }
            match objs.iter_mut().find(|x| x.id == o.id) {
                Some(_) if !replace => return Self::err(17),
                Some(x) => *x = o.clone(),
                None => objs.push(o.clone()),
            }
            self.writes.push(format!(
                "{} {:x}",
                if replace { "nh replace" } else { "nh add" },
                o.id
            ));
            Ok(())
        }
        fn del_nexthop(&mut self, id: u32) -> Result<(), KernelError> {
            let Some(objs) = &mut self.objs else {
                return Self::err(EOPNOTSUPP);
            };
            objs.retain(|o| o.id != id);
            for o in objs.iter_mut() {
                if let NhKind::Group { entries, .. } = &mut o.kind {
                    entries.retain(|e| e.0 != id);
                }
            }
            // Routes using a deleted group go with it.
            self.routes.retain(|r| r.nhid != Some(id));
            self.writes.push(format!("nh del {id:x}"));
            Ok(())
        }
    }

    pub(crate) fn link(i: u32, n: &str) -> Link {
        Link {
            index: i,
            name: n.into(),
            carrier: true,
        }
    }

    pub(crate) fn member(i: &str, dev: &str, gw: &str) -> Member {
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
        let mut cfg = Config::defaults(Family::V4);
        cfg.mode = Mode::Multipath;
        (fake, cfg, sel)
    }

    #[test]
    fn replace_then_unchanged_with_no_write() {
        let (mut k, cfg, sel) = setup();
        let d = Dump::default();
        let o = apply(&mut k, Family::V4, &cfg, &d, &sel, &ev("ifup", "VWAN2")).unwrap();
        assert_eq!(
            o.line,
            "ifup VWAN2: multipath default metric 1 via 3 links pppoe-VWAN1,pppoe-VWAN2,pppoe-wan (replaced)"
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
        let e = run(&mut k, &cfg, &sel, "ifup").unwrap_err();
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
        run(&mut k, &cfg, &sel, "ifup").unwrap();
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
        let o = run(&mut k, &cfg, &Selection::default(), "ifdown").unwrap();
        assert_eq!(
            o.line,
            "ifdown wan: no live links, default metric 1 deleted"
        );
        assert_eq!(k.routes, vec![foreign]);
        let o = run(&mut k, &cfg, &Selection::default(), "ifdown").unwrap();
        assert_eq!(o.line, "ifdown wan: no live links, no route of ours");
    }

    #[test]
    fn metric_change_removes_our_old_route() {
        let (mut k, mut cfg, sel) = setup();
        run(&mut k, &cfg, &sel, "ifup").unwrap();
        cfg.metric = 3;
        let o = run(&mut k, &cfg, &sel, "ifup").unwrap();
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
            nhid: None,
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

    // ---- nexthop objects (the Fake models what Linux accepts) ----

    const M0: u32 = crate::nexthop::ID_BASE;
    const G0: u32 = 0xEC80_03F8; // group slot 0 for IPv4, table main

    fn group_setup(mode: Mode) -> (Fake, Config, Selection) {
        let (mut k, mut cfg, sel) = setup();
        k.objs = Some(vec![]);
        cfg.mode = mode;
        (k, cfg, sel)
    }

    fn run<K: Kernel>(k: &mut K, cfg: &Config, sel: &Selection, a: &str) -> Result<Outcome, Error> {
        apply(k, Family::V4, cfg, &Dump::default(), sel, &ev(a, "wan"))
    }

    fn group_of(k: &Fake, id: u32) -> Option<NhKind> {
        k.objs
            .iter()
            .flatten()
            .find(|o| o.id == id)
            .map(|o| o.kind.clone())
    }

    #[test]
    fn auto_builds_a_resilient_group_then_writes_only_the_group() {
        let (mut k, cfg, mut sel) = group_setup(Mode::Auto);
        let o = run(&mut k, &cfg, &sel, "ifup").unwrap();
        assert_eq!(
            o.line,
            "ifup wan: resilient default metric 1 via 3 links pppoe-VWAN1,pppoe-VWAN2,pppoe-wan (replaced)"
        );
        assert_eq!(
            k.writes,
            [
                format!("nh add {:x}", M0),
                format!("nh add {:x}", M0 + 1),
                format!("nh add {:x}", M0 + 2),
                format!("nh add {G0:x}"),
                format!("route nhid {G0:x}"),
            ]
        );
        match group_of(&k, G0) {
            Some(NhKind::Group { entries, resilient }) => {
                assert_eq!(entries, [(M0, 1), (M0 + 1, 1), (M0 + 2, 1)]);
                assert_eq!(resilient, Some(cfg.resilient));
            }
            other => panic!("{other:?}"),
        }
        k.writes.clear();
        let o = run(&mut k, &cfg, &sel, "ifupdate").unwrap();
        assert!(o.line.ends_with("(unchanged)"), "{}", o.line);
        assert!(k.writes.is_empty(), "{:?}", k.writes);
        // VWAN1 leaves: the group is replaced in place, the route is not
        // touched, and its member object goes.
        sel.members.remove(1);
        let o = run(&mut k, &cfg, &sel, "ifdown").unwrap();
        assert_eq!(
            k.writes,
            [format!("nh replace {G0:x}"), format!("nh del {:x}", M0 + 1)]
        );
        assert!(
            o.line
                .ends_with("(replaced) [removed 1 unused nexthop object]"),
            "{}",
            o.line
        );
        assert_eq!(k.routes.len(), 1);
    }

    #[test]
    fn auto_falls_back_to_group_then_to_multipath() {
        let (mut k, cfg, sel) = group_setup(Mode::Auto);
        k.no_resilient = true;
        let o = run(&mut k, &cfg, &sel, "ifup").unwrap();
        assert!(
            o.line.starts_with("ifup wan: group default metric 1"),
            "{}",
            o.line
        );
        assert!(
            o.line.contains("[refused: resilient write group"),
            "{}",
            o.line
        );
        assert!(matches!(
            group_of(&k, G0),
            Some(NhKind::Group {
                resilient: None,
                ..
            })
        ));
        assert_eq!(
            k.objs.as_ref().unwrap().len(),
            4,
            "no leftover from the refused try"
        );

        let (mut k, cfg, sel) = group_setup(Mode::Auto);
        k.objs = None;
        let o = run(&mut k, &cfg, &sel, "ifup").unwrap();
        assert!(
            o.line.starts_with("ifup wan: multipath default"),
            "{}",
            o.line
        );
        assert_eq!(k.writes, ["replace pppoe-wan,pppoe-VWAN1,pppoe-VWAN2"]);
    }

    #[test]
    fn forced_modes_the_kernel_lacks_are_errors_that_change_nothing() {
        let (mut k, cfg, sel) = group_setup(Mode::Resilient);
        k.no_resilient = true;
        let e = run(&mut k, &cfg, &sel, "ifup").unwrap_err();
        assert_eq!(e.exit_code(), 5);
        assert!(e.to_string().contains("resilient write group"), "{e}");
        assert_eq!(k.objs, Some(vec![]), "members created before were removed");
        assert!(k.routes.is_empty());

        let (mut k, cfg, sel) = group_setup(Mode::Group);
        k.objs = None;
        let e = run(&mut k, &cfg, &sel, "ifup").unwrap_err();
        assert!(e.to_string().contains("needs nexthop objects"), "{e}");
        assert!(k.writes.is_empty());
    }

    #[test]
    fn mode_switches_leave_exactly_one_route_and_no_stray_objects() {
        let (mut k, mut cfg, sel) = group_setup(Mode::Multipath);
        run(&mut k, &cfg, &sel, "ifup").unwrap();
        assert_eq!(k.routes[0].nhid, None);
        for (mode, nhid) in [
            (Mode::Resilient, Some(G0)),
            (Mode::Group, Some(G0 + 1)),
            (Mode::Resilient, Some(G0)),
            (Mode::Multipath, None),
        ] {
            cfg.mode = mode;
            run(&mut k, &cfg, &sel, "ifup").unwrap();
            assert_eq!(k.routes.len(), 1, "{mode:?}");
            assert_eq!(k.routes[0].nhid, nhid, "{mode:?}");
            let objs = k.objs.as_ref().unwrap();
            let want = if nhid.is_some() { 4 } else { 0 };
            assert_eq!(objs.len(), want, "{mode:?}: {objs:?}");
        }
    }

    #[test]
    fn a_failed_route_write_undoes_the_new_objects() {
        let (mut k, cfg, sel) = group_setup(Mode::Resilient);
        let foreign = NhObject {
            id: 7,
            family: Some(Family::V4),
            protocol: 4,
            kind: NhKind::Gateway {
                gateway: None,
                ifindex: 5,
            },
        };
        k.objs = Some(vec![foreign.clone()]);
        let before_routes = k.routes.clone();
        // Fail the route write: the group exists, the route is refused.
        struct FailRoute<'a>(&'a mut Fake);
        impl Kernel for FailRoute<'_> {
            fn links(&mut self) -> Result<Vec<Link>, Error> {
                self.0.links()
            }
            fn default_routes(&mut self, f: Family, t: u32) -> Result<Vec<Route>, Error> {
                self.0.default_routes(f, t)
            }
            fn replace(&mut self, _: &Route) -> Result<(), KernelError> {
                Fake::err(1)
            }
            fn delete(&mut self, r: &Route) -> Result<(), KernelError> {
                self.0.delete(r)
            }
            fn hash_policy(&self, f: Family) -> Option<u32> {
                self.0.hash_policy(f)
            }
            fn nexthops(&mut self) -> Result<Option<Vec<NhObject>>, Error> {
                self.0.nexthops()
            }
            fn new_nexthop(&mut self, o: &NhObject, r: bool) -> Result<(), KernelError> {
                self.0.new_nexthop(o, r)
            }
            fn del_nexthop(&mut self, id: u32) -> Result<(), KernelError> {
                self.0.del_nexthop(id)
            }
        }
        let e = run(&mut FailRoute(&mut k), &cfg, &sel, "ifup").unwrap_err();
        assert_eq!(e.exit_code(), 5);
        assert!(
            e.to_string().contains("point the route at the group"),
            "{e}"
        );
        assert_eq!(k.objs, Some(vec![foreign]), "exactly as before");
        assert_eq!(k.routes, before_routes);
    }

    #[test]
    fn a_device_vanishing_mid_way_is_retried_without_it() {
        let (mut k, cfg, sel) = group_setup(Mode::Resilient);
        k.links_after_write = Some(vec![
            link(1, "lo"),
            link(5, "pppoe-wan"),
            link(7, "pppoe-VWAN2"),
        ]);
        let o = run(&mut k, &cfg, &sel, "ifup").unwrap();
        assert!(
            o.line
                .contains("via 2 links pppoe-VWAN2,pppoe-wan (replaced) [gone: pppoe-VWAN1]"),
            "{}",
            o.line
        );
        match group_of(&k, G0) {
            Some(NhKind::Group { entries, .. }) => assert_eq!(entries.len(), 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(k.objs.as_ref().unwrap().len(), 3);
    }

    #[test]
    fn a_member_without_carrier_stays_out_of_the_group() {
        let (mut k, cfg, sel) = group_setup(Mode::Group);
        k.links[2].carrier = false;
        let o = run(&mut k, &cfg, &sel, "ifup").unwrap();
        assert!(
            o.line
                .contains("via 2 links pppoe-VWAN2,pppoe-wan (replaced) [no carrier: pppoe-VWAN1]"),
            "{}",
            o.line
        );
        // In multipath mode the kernel takes it (flagged linkdown).
        let (mut k, mut cfg, sel) = group_setup(Mode::Multipath);
        k.links[2].carrier = false;
        cfg.mode = Mode::Multipath;
        let o = run(&mut k, &cfg, &sel, "ifup").unwrap();
        assert!(o.line.contains("via 3 links"), "{}", o.line);
    }

    #[test]
    fn no_members_removes_route_group_and_members_but_not_foreign_objects() {
        let (mut k, cfg, sel) = group_setup(Mode::Auto);
        let foreign = NhObject {
            id: M0 + 100,
            family: Some(Family::V4),
            protocol: 4,
            kind: NhKind::Gateway {
                gateway: None,
                ifindex: 5,
            },
        };
        k.objs = Some(vec![foreign.clone()]);
        run(&mut k, &cfg, &sel, "ifup").unwrap();
        assert_eq!(k.objs.as_ref().unwrap().len(), 5);
        let o = run(&mut k, &cfg, &Selection::default(), "ifdown").unwrap();
        assert_eq!(
            o.line,
            "ifdown wan: no live links, default metric 1 deleted [removed 4 unused nexthop objects]"
        );
        assert_eq!(k.objs, Some(vec![foreign]));
        assert!(k.routes.is_empty());
    }

    #[test]
    fn dry_run_prints_the_commands_of_each_mode() {
        let (_, mut cfg, sel) = setup();
        cfg.resilient.buckets = 64;
        let lines = program::dry_run(Mode::Auto, Family::V4, &cfg, &sel.members);
        assert_eq!(lines.len(), 5);
        assert_eq!(
            lines[0],
            "ip nexthop add id 3959422976 via 100.64.0.1 dev pppoe-wan proto 236"
        );
        assert!(lines[3].starts_with("ip nexthop add id 3967812600 group 3959422976/3959422977/3959422978 type resilient buckets 64"), "{}", lines[3]);
        assert_eq!(
            lines[4],
            "ip route replace default proto 236 metric 1 nhid 3967812600"
        );
        let lines = program::dry_run(Mode::Multipath, Family::V4, &cfg, &sel.members);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("nexthop via 100.64.1.1 dev pppoe-VWAN1 weight 1"));
        let lines = program::dry_run(Mode::Group, Family::V4, &cfg, &[]);
        assert_eq!(lines, ["ip route del default proto 236 metric 1"]);
    }

    #[test]
    fn eexist_and_eperm_from_the_kernel_undo_everything() {
        for errno in [libc::EEXIST, libc::EPERM, libc::ENETUNREACH] {
            let (mut k, cfg, sel) = group_setup(Mode::Resilient);
            run(&mut k, &cfg, &sel, "ifup").unwrap();
            let (objs, routes) = (k.objs.clone(), k.routes.clone());
            // A new member: its object is the first write and fails.
            let mut sel2 = sel.clone();
            sel2.members
                .push(member("VWAN3", "pppoe-VWAN3", "100.64.3.1"));
            k.links.push(link(8, "pppoe-VWAN3"));
            k.fail = Some(errno);
            let e = run(&mut k, &cfg, &sel2, "ifup").unwrap_err();
            assert_eq!(e.exit_code(), 5, "{errno}: {e}");
            assert_eq!(
                (k.objs.clone(), k.routes.clone()),
                (objs, routes),
                "{errno}"
            );
        }
    }

    #[test]
    fn log_line_names_every_device_in_natural_order() {
        let members: Vec<Member> = [10, 2, 1, 11, 9, 3, 4, 5, 6, 7, 8]
            .iter()
            .map(|n| Member {
                interface: format!("VWAN{n}"),
                device: format!("pppoe-VWAN{n}"),
                gateway: None,
                weight: 1,
            })
            .collect();
        let r = Route::desired(Family::V4, 254, 1, &members).unwrap();
        assert_eq!(
            summary(&r),
            "default metric 1 via 11 links pppoe-VWAN1,pppoe-VWAN2,pppoe-VWAN3,pppoe-VWAN4,pppoe-VWAN5,pppoe-VWAN6,pppoe-VWAN7,pppoe-VWAN8,pppoe-VWAN9,pppoe-VWAN10,pppoe-VWAN11"
        );
        assert_eq!(natural("x2y10", "x2y9"), std::cmp::Ordering::Greater);
    }

    #[test]
    fn a_table_group_ids_cannot_encode_falls_back_in_auto_only() {
        let mut cfg = Config::defaults(Family::V4);
        cfg.table = crate::nexthop::GROUP_TABLE_MAX + 1;
        assert_eq!(modes(&cfg, true).unwrap(), [Mode::Multipath]);
        cfg.mode = Mode::Resilient;
        assert_eq!(modes(&cfg, true).unwrap_err().exit_code(), 3);
        cfg.table = 100;
        assert_eq!(modes(&cfg, true).unwrap(), [Mode::Resilient]);
    }
}
