//! `check`: the installation and the kernel's features, each finding with
//! its one-line fix. It probes the real kernel (a blackhole nexthop and a
//! resilient group of it, created and deleted at once; a macvlan without a
//! parent, which the kernel refuses either way) and reads the files of the
//! installation under `--root`.

use crate::input::event::Event;
use crate::input::settings::Settings;
use crate::kernel::netlink::Write;
use crate::kernel::rtnetlink::Netlink;
use crate::kernel::{Kernel, State, EPERM};
use crate::{input::read, plan::members, Family};
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// One finding.
#[derive(Debug, PartialEq, Eq)]
pub struct Finding {
    pub ok: bool,
    pub what: String,
    /// One line that fixes it (empty when ok).
    pub fix: String,
}

impl Finding {
    pub fn ok(what: impl Into<String>) -> Finding {
        Finding {
            ok: true,
            what: what.into(),
            fix: String::new(),
        }
    }
    pub fn fail(what: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            ok: false,
            what: what.into(),
            fix: fix.into(),
        }
    }
}

pub fn render(findings: &[Finding], colour: bool) -> String {
    let mut out = String::new();
    for f in findings {
        let tag = match (f.ok, colour) {
            (true, false) => "[ok]  ",
            (false, false) => "[FAIL]",
            (true, true) => "\x1b[32m[ok]\x1b[0m  ",
            (false, true) => "\x1b[31m[FAIL]\x1b[0m",
        };
        out.push_str(&format!("{tag} {}\n", f.what));
        if !f.ok {
            out.push_str(&format!("       fix: {}\n", f.fix));
        }
    }
    let bad = findings.iter().filter(|f| !f.ok).count();
    out.push_str(&format!("{} checks, {bad} to fix\n", findings.len()));
    out
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
fn probe_resilient(nl: &mut Netlink, objs: &[crate::plan::nexthop::NhObject]) -> Probe {
    use crate::plan::nexthop::{NhKind, NhObject, Resilient, MEMBER_LAST};
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
    match nl.write_nexthop(&b, Write::Create) {
        Ok(()) => {}
        Err(e) if e.errno() == EPERM => return Probe::NotRoot,
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
    let ok = nl.write_nexthop(&g, Write::Create).is_ok();
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

/// Hooks in `dir` other than ours that write a default route: the write-up's
/// 97-ECMPv4/98-ECMPv6, or a copy of them, fight ours on every event.
fn foreign_hooks(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            if name == Family::V4.hook() || name == Family::V6.hook() {
                return false;
            }
            let mut text = Vec::new();
            let read = std::fs::File::open(e.path())
                .and_then(|f| f.take(256 << 10).read_to_end(&mut text));
            let text = String::from_utf8_lossy(&text);
            read.is_ok()
                && (text.contains("route replace default")
                    || text.contains("route add default")
                    || text.contains("nexthop via"))
        })
        .map(|e| e.path().display().to_string())
        .collect();
    found.sort();
    found
}

/// When ROOT/etc/config/network holds macvlan devices multidial made:
/// whether this kernel has macvlan. None: no such devices (or no file).
fn macvlan(root: &Path) -> Option<Finding> {
    let text = std::fs::read(root.join("etc/config/network")).ok()?;
    let secs = crate::input::ucifile::parse(&text).ok()?;
    let one =
        |s: &crate::input::uci::Section, k: &str| s.options.get(k).and_then(|v| v.first()).cloned();
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

/// Every finding, in the order they print.
pub fn run(s: &Settings, root: &Path) -> Vec<Finding> {
    let family = s.family;
    let p = family.program();
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
            f.push(match probe_resilient(&mut nl, &objs) {
                Probe::Yes => Finding::ok("kernel: resilient nexthop groups (a redial moves only its own flows)"),
                Probe::No => Finding::fail(
                    "kernel: no resilient nexthop groups (hash-threshold groups re-hash flows on every change)",
                    "upgrade to OpenWrt 23.05 or later (Linux 5.13+); until then mode group is used",
                ),
                Probe::Taken => Finding::fail(
                    "kernel: cannot probe for resilient groups (nexthop IDs 3967811582-3967811583 are taken)",
                    "ip nexthop show id 3967811583; remove what holds them",
                ),
                Probe::NotRoot => Finding::fail(
                    "kernel: cannot probe for resilient groups: the kernel refused a nexthop object (EPERM, not root)",
                    format!("run {p} check as root"),
                ),
            });
        }
    }
    let sysctl = family.hash_policy_name();
    f.push(match std::fs::read_to_string(family.hash_policy_sysctl()) {
        Ok(x) if x.trim() == "1" => Finding::ok(format!("{sysctl} = 1 (flows hash on ports too)")),
        Ok(x) => Finding::fail(
            format!("{sysctl} = {}: one download uses one link", x.trim()),
            format!("sysctl -w {sysctl}=1; keep it in /etc/sysctl.d/60-ecmp-hotplug.conf"),
        ),
        Err(e) => Finding::fail(
            format!("{sysctl}: {e}"),
            "a kernel with CONFIG_IP_ROUTE_MULTIPATH",
        ),
    });
    // Names nothing reads (a typo such as `option metrc`): runs ignore
    // them, as UCI programs do, so check is where they are named.
    let unknown = std::fs::read(&s.config)
        .ok()
        .and_then(|t| crate::input::ucifile::parse(&t).ok())
        .map(|secs| crate::input::config::unknown_names(&secs))
        .unwrap_or_default();
    let cfg = match read::config(s) {
        Ok(c) if !unknown.is_empty() => {
            for u in &unknown {
                f.push(Finding::fail(
                    format!("config {}: {u}", s.config.display()),
                    format!("correct it in {} (runs ignore it)", s.config.display()),
                ));
            }
            Some(c)
        }
        Ok(c) => {
            f.push(Finding::ok(if s.config.exists() {
                format!(
                    "config {}: valid (mode {}, metric {})",
                    s.config.display(),
                    c.mode.name(),
                    c.metric
                )
            } else {
                format!("config {}: absent, defaults apply", s.config.display())
            }));
            Some(c)
        }
        Err(e) => {
            f.push(Finding::fail(
                format!("{e}"),
                format!("fix {} (see README: Configuration)", s.config.display()),
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
            format!("{h} writes a default route too (the write-up's ECMP script?): it fights ours on every event"),
            format!("rm {h}; then run {p} (a sync)"),
        ));
    }
    let hook = hooks.join(family.hook());
    let bin = root.join(format!("usr/sbin/{p}"));
    f.push(match std::fs::read_to_string(&hook) {
        Ok(t) if t.contains(&format!("/usr/sbin/{p}")) => {
            Finding::ok(format!("hotplug hook {} runs /usr/sbin/{p}", hook.display()))
        }
        Ok(_) => Finding::fail(
            format!("hotplug hook {} does not run /usr/sbin/{p}", hook.display()),
            "reinstall the package (apk fix ecmp-hotplug; 24.10: opkg install --force-reinstall ecmp-hotplug)",
        ),
        Err(e) => Finding::fail(
            format!("hotplug hook {}: {e}", hook.display()),
            "install the package: no event will ever run us",
        ),
    });
    f.push(match std::fs::metadata(&bin) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => {
            Finding::ok(format!("{} is executable", bin.display()))
        }
        Ok(_) => Finding::fail(
            format!("{} is not executable", bin.display()),
            format!("chmod 0755 {}", bin.display()),
        ),
        Err(e) => Finding::fail(format!("{}: {e}", bin.display()), "install the package"),
    });
    if let Some(cfg) = cfg {
        let raw = read::dump(&cfg, s);
        let dump = read::Raw::parsed(&raw);
        match &dump {
            Ok(d) => match members::select(family, d, &cfg, &Event::sync()) {
                Ok(sel) => f.push(Finding::ok(format!(
                    "{} {} interfaces, {} member{} up",
                    match &s.dump_file {
                        Some(p) => format!("dump {}:", p.display()),
                        None => "ubus: netifd answered,".into(),
                    },
                    d.interface.len(),
                    sel.members.len(),
                    crate::log::s(sel.members.len())
                ))),
                Err(e) => f.push(Finding::fail(
                    format!("{e}"),
                    match e.exit_code() {
                        3 => format!(
                            "uci show network | grep proto; then correct list proto in {}",
                            s.config.display()
                        ),
                        _ => "see Troubleshooting in the README".into(),
                    },
                )),
            },
            Err(e) => f.push(Finding::fail(
                format!("{e}"),
                match &cfg.ubus {
                    Some(p) => format!(
                        "ubus call network.interface dump  (is {} right?)",
                        p.display()
                    ),
                    None => "is ubusd running? (ubus call network.interface dump)".into(),
                },
            )),
        }
        // Routes of others that win over ours, or hold our metric (the
        // write-up's `default metric 1` multipath route).
        let dump = dump.unwrap_or_default();
        if let Ok(st) = Netlink::open().and_then(|mut nl| State::read(&mut nl, family, cfg.table)) {
            let found = crate::report::status::rivals(&cfg, &dump, &st.routes);
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
        for (what, fix) in read::Firewall::new(s).zones_by_name(&cfg, &dump) {
            f.push(Finding::fail(what, fix));
        }
        let rules = Netlink::open()
            .and_then(|mut nl| nl.rules(family))
            .ok()
            .flatten()
            .unwrap_or_default();
        for (what, fix) in crate::report::fights::find(root, family, &rules) {
            f.push(Finding::fail(what, fix));
        }
        f.extend(inbound(s, &cfg, &dump));
        f.extend(policy(family, &cfg, &dump, |set| {
            set_filled(root, family, set)
        }));
        f.extend(tracker(s, &cfg.track));
    }
    // Dials multidial made sit on macvlan devices: the kernel needs them.
    f.extend(macvlan(root));
    f
}

/// Each member's table and rules in place, none of ours left behind, and
/// (port forwards marked) our nft table loaded.
fn inbound(
    s: &Settings,
    cfg: &crate::input::config::Config,
    dump: &crate::input::dump::Dump,
) -> Vec<Finding> {
    use crate::plan::inbound::{self, Current};
    let p = s.family.program();
    let run = || -> Result<(usize, Vec<String>, Vec<String>), crate::Error> {
        let mut nl = Netlink::open()?;
        let (sel, _, _) = members::for_event(s, cfg, dump, &Event::sync())?;
        let st = crate::kernel::State::read(&mut nl, s.family, cfg.table)?;
        let Some(cur) = Current::of(&st.tables, st.rules.as_deref(), &cfg.inbound) else {
            let why = "this kernel has no policy rules (CONFIG_IP_MULTIPLE_TABLES)";
            return Ok((
                0,
                cfg.inbound
                    .enabled
                    .then(|| why.to_string())
                    .into_iter()
                    .collect(),
                Vec::new(),
            ));
        };
        let mask = read::marks(s, cfg, &read::Firewall::new(s));
        let plan = inbound::wanted(s.family, cfg, dump, &sel, &st.links, &cur, mask);
        // Rules of others among our priorities: forwarded traffic jumps
        // over the member rules' priority, and what sits there with them.
        let first = cfg.inbound.rule_priority;
        let among: Vec<String> = cur
            .rules
            .iter()
            .filter(|r| !r.is_ours() && (first..first + inbound::PRIORITIES).contains(&r.priority))
            .map(|r| r.to_ip("add").replacen(" rule add", " rule", 1))
            .collect();
        Ok((plan.tables.len(), inbound::differences(&plan), among))
    };
    let mut f = Vec::new();
    let last = cfg.inbound.rule_priority + inbound::PRIORITIES - 1;
    match run() {
        Err(_) => {}
        Ok((_, d, _)) if !d.is_empty() => f.push(Finding::fail(
            format!("inbound tables and rules differ: {}", d.join("; ")),
            format!("run {p} (a sync)"),
        )),
        Ok((n, _, among)) if cfg.inbound.enabled => {
            f.push(Finding::ok(format!(
                "inbound: {n} member table{} and their rules in place (replies leave by their dial){}",
                crate::log::s(n),
                if n == 0 { "" } else { ", forwarded traffic kept off them by 5 guard rules" }
            )));
            for r in among {
                f.push(Finding::fail(
                    format!(
                        "{r}: a rule of others among ours ({}-{last}): forwarded traffic skips it",
                        cfg.inbound.rule_priority
                    ),
                    format!("give it a priority outside {}-{last}, or set option rule_priority in /etc/config/ecmp", cfg.inbound.rule_priority),
                ));
            }
        }
        Ok(_) => f.push(Finding::ok(
            "inbound: off (option inbound '0'), none of ours left",
        )),
    }
    if read::marks(s, cfg, &read::Firewall::new(s)).is_some() {
        let listed = crate::proc::run(
            Path::new("nft"),
            &[
                "list",
                "table",
                crate::plan::nft::nfamily(s.family),
                crate::plan::nft::table(s.family),
            ],
            None,
            std::time::Duration::from_secs(5),
            1 << 20,
        );
        f.push(match listed {
            Ok(_) => Finding::ok(format!(
                "marks: nft table {} {p} marks connections by their dial",
                crate::plan::nft::nfamily(s.family)
            )),
            Err(e) => Finding::fail(
                format!(
                    "connections are to be marked, but nft has no table {} {p} ({e})",
                    crate::plan::nft::nfamily(s.family)
                ),
                format!(
                    "rm {}; run {p} (a sync)",
                    crate::kernel::nft::cache(&s.state_dir, s.family).display()
                ),
            ),
        });
    }
    f
}

/// Whether a dnsmasq config under `root` fills our set `set`: an
/// `nftset` naming `<table>#<set>` in /etc/config/dhcp, /etc/dnsmasq.conf
/// or /etc/dnsmasq.d.
fn set_filled(root: &Path, family: Family, set: &str) -> bool {
    let needle = format!("#{}#{set}", crate::plan::nft::table(family));
    let etc = root.join("etc");
    let mut files = vec![etc.join("config/dhcp"), etc.join("dnsmasq.conf")];
    if let Ok(d) = std::fs::read_dir(etc.join("dnsmasq.d")) {
        files.extend(d.flatten().map(|e| e.path()));
    }
    files.iter().any(|p| {
        std::fs::read_to_string(p).is_ok_and(|t| {
            t.lines()
                .any(|l| l.contains("nftset") && l.contains(&needle))
        })
    })
}

/// The policy rules: each one's member a member, each set filled by
/// dnsmasq, no rule that an earlier one leaves nothing to match.
pub fn policy(
    family: Family,
    cfg: &crate::input::config::Config,
    dump: &crate::input::dump::Dump,
    filled: impl Fn(&str) -> bool,
) -> Vec<Finding> {
    use crate::input::policy::Use;
    let mut f = Vec::new();
    let conf = "/etc/config/ecmp";
    for (i, r) in cfg.rules.iter().enumerate() {
        // A member by its name, or any member of the tier.
        let named = |x: &crate::input::dump::Interface| match &r.target {
            Use::Member(m) => crate::input::policy::names(m, &x.interface),
            Use::Tier(t) => cfg.tier(&x.interface) == *t,
            Use::Balanced => true,
        };
        let member = matches!(r.target, Use::Balanced)
            || dump.interface.iter().any(|x| {
                named(x)
                    && cfg.protos.iter().any(|p| *p == x.proto)
                    && !cfg.exclude.iter().any(|e| *e == x.interface)
            });
        if !member {
            let (what, fix) = match &r.target {
                Use::Tier(t) => (format!("use 'tier:{t}' has no member in that tier"), format!("option tier '{t}' on a member, or another tier in option use")),
                _ => (format!("use '{}' is no member (not in netifd's dump, not a member proto, or excluded)", crate::report::status::target(&r.target)), "name a member's interface in option use".into()),
            };
            f.push(Finding::fail(
                format!("rule {}: {what}: it never pins", r.name),
                format!("{fix} of rule {} in {conf}", r.name),
            ));
        }
        if let Some(set) = r.ipset.as_deref().filter(|s| !filled(s)) {
            let t = crate::plan::nft::table(family);
            let fam = crate::plan::nft::nfamily(family);
            let v = if family == Family::V4 { 4 } else { 6 };
            f.push(Finding::fail(
                format!("rule {}: set '{set}' is filled by no dnsmasq nftset: the rule matches nothing", r.name),
                format!("uci add_list dhcp.@dnsmasq[0].nftset='/example.com/{v}#{fam}#{t}#{set}'; uci commit dhcp; /etc/init.d/dnsmasq restart (needs dnsmasq-full)"),
            ));
        }
        if let Some(e) = cfg.rules[..i].iter().find(|e| covers(e, r)) {
            f.push(Finding::fail(
                format!(
                    "rule {}: rule {} before it matches all it matches: it never applies",
                    r.name, e.name
                ),
                format!(
                    "move rule {} above rule {} in {conf}, or narrow rule {}",
                    r.name, e.name, e.name
                ),
            ));
        }
    }
    if !cfg.rules.is_empty() && f.is_empty() {
        f.push(Finding::ok(
            "policy rules: every member named exists, every set is filled, none shadowed",
        ));
    }
    f
}

/// Whether `ip` is in `net`/`len`, byte by byte (no u128: its shifts
/// cost 32-bit ARM dearly).
fn in_net(net: std::net::IpAddr, ip: std::net::IpAddr, len: u8) -> bool {
    use std::net::IpAddr::{V4, V6};
    let (a, b): (Vec<u8>, Vec<u8>) = match (net, ip) {
        (V4(n), V4(i)) => (n.octets().to_vec(), i.octets().to_vec()),
        (V6(n), V6(i)) => (n.octets().to_vec(), i.octets().to_vec()),
        _ => return false,
    };
    let len = usize::from(len);
    a.iter().zip(&b).enumerate().all(|(k, (x, y))| {
        let bits = len.saturating_sub(k * 8).min(8);
        let m = (0xff00u16 >> bits) as u8;
        (x ^ y) & m == 0
    })
}

/// Whether rule `a` matches every connection rule `b` matches.
fn covers(a: &crate::input::policy::PolicyRule, b: &crate::input::policy::PolicyRule) -> bool {
    use crate::input::policy::Proto;
    let nets = |a: &[(std::net::IpAddr, u8)], b: &[(std::net::IpAddr, u8)]| {
        a.is_empty()
            || (!b.is_empty()
                && b.iter()
                    .all(|(ip, len)| a.iter().any(|(net, l)| l <= len && in_net(*net, *ip, *l))))
    };
    let ports = |a: &[(u16, u16)], b: &[(u16, u16)]| {
        a.is_empty()
            || (!b.is_empty()
                && b.iter()
                    .all(|(x, y)| a.iter().any(|(p, q)| p <= x && y <= q)))
    };
    (a.proto == Proto::All || a.proto == b.proto)
        && (a.family.is_none() || a.family == b.family)
        && nets(&a.src, &b.src)
        && nets(&a.dest, &b.dest)
        && ports(&a.src_port, &b.src_port)
        && ports(&a.dest_port, &b.dest_port)
        && (a.ipset.is_none() || a.ipset == b.ipset)
}

/// With tracking enabled: targets that can pass a round, and a tracker
/// whose state is fresh.
fn tracker(s: &Settings, t: &crate::plan::track::Track) -> Vec<Finding> {
    use crate::plan::track::{self, Seen};
    if !t.enabled {
        return vec![];
    }
    let mut f = Vec::new();
    if let Err(e) = t.usable() {
        let fix = match e.to_string().contains("track.reliability") {
            true => {
                "uci set ecmp.track.reliability=<at most the number of targets>; uci commit ecmp"
            }
            false => {
                "uci add_list ecmp.track.track_ip=<an address that answers ping>; uci commit ecmp"
            }
        };
        f.push(Finding::fail(e.to_string(), fix));
    }
    f.push(
        match track::read(&s.state_dir, track::now(), track::tracker_alive) {
            Seen::Fresh(st) => {
                let mine = st.links.iter().filter(|l| l.family == s.family);
                let dead = mine
                    .clone()
                    .filter(|l| l.health == track::Health::Dead)
                    .count();
                Finding::ok(format!(
                    "ecmp-track is running: {} {} links tracked, {dead} dead",
                    mine.count(),
                    s.family.section()
                ))
            }
            Seen::Missing => Finding::fail(
                "tracking is enabled but ecmp-track is not running",
                "/etc/init.d/ecmp-track enable; /etc/init.d/ecmp-track start",
            ),
            Seen::Stale(why) => Finding::fail(
                format!("ecmp-track's state is stale ({why}): dead links count alive"),
                "/etc/init.d/ecmp-track restart; logread -e ecmp-track",
            ),
        },
    );
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IPv4's config from /etc/config/ecmp text.
    fn config_of(text: &[u8]) -> crate::input::config::Config {
        let secs = crate::input::ucifile::parse(text).unwrap();
        let mut cfg = crate::input::config::Config::defaults(Family::V4);
        cfg.apply(Family::V4, &secs).unwrap();
        cfg
    }

    #[test]
    fn policy_rules_naming_no_member_an_unfilled_set_or_shadowed() {
        let mut cfg = config_of(
            b"config rule 'all_tcp'\n\toption proto 'tcp'\n\toption use 'wan'\nconfig rule 'https'\n\toption proto 'tcp'\n\toption dest_port '443'\n\toption use 'VWAN1'\nconfig rule 'ghost'\n\toption src_ip '192.168.1.0/24'\n\toption use 'VWAN9'\nconfig rule 'lan'\n\toption use 'lan'\n\toption src_ip '192.168.1.7'\n\toption ipset 'bank'\nconfig rule 'host'\n\toption src_ip '192.168.1.8'\n\toption use 'balanced'\n",
        );
        let dump = crate::input::dump::Dump::parse(
            br#"{"interface":[{"interface":"wan","up":true,"proto":"pppoe"},{"interface":"VWAN1","up":true,"proto":"pppoe"},{"interface":"lan","up":true,"proto":"static"}]}"#,
        )
        .unwrap();
        let f = policy(Family::V4, &cfg, &dump, |set| set == "other");
        let what: Vec<&str> = f.iter().map(|x| x.what.as_str()).collect();
        assert!(f.iter().all(|x| !x.ok), "{what:?}");
        assert_eq!(what.len(), 6, "{what:?}");
        assert!(
            what[0].starts_with("rule https: rule all_tcp before it matches all it matches"),
            "{what:?}"
        );
        assert!(
            what[1].starts_with("rule ghost: use 'VWAN9' is no member"),
            "{what:?}"
        );
        assert!(
            what[2].starts_with("rule lan: use 'lan' is no member"),
            "{what:?}"
        );
        assert!(
            what[3].starts_with("rule lan: set 'bank' is filled by no dnsmasq nftset"),
            "{what:?}"
        );
        assert!(
            f[3].fix.contains("nftset='/example.com/4#ip#ecmp4#bank'"),
            "{}",
            f[3].fix
        );
        // 192.168.1.7 and .8 are inside ghost's 192.168.1.0/24.
        assert!(
            what[4].starts_with("rule lan: rule ghost before it matches all it matches"),
            "{what:?}"
        );
        assert!(
            what[5].starts_with("rule host: rule ghost before it matches all it matches"),
            "{what:?}"
        );
        // The set filled, the rules apart: all well.
        cfg.rules
            .retain(|r| r.name == "https" || r.name == "all_tcp");
        cfg.rules.reverse();
        let f = policy(Family::V4, &cfg, &dump, |_| true);
        assert!(
            f.len() == 1 && f[0].ok,
            "{:?}",
            f.iter().map(|x| &x.what).collect::<Vec<_>>()
        );
        // A tier: named when no member has it, not when one does.
        let cfg = config_of(
            b"config member 'VWAN1'\n\toption tier '2'\nconfig rule 'backup'\n\toption src_ip '192.168.1.8'\n\toption use 'tier:2'\nconfig rule 'none'\n\toption src_ip '192.168.1.9'\n\toption use 'tier:3'\n",
        );
        let f = policy(Family::V4, &cfg, &dump, |_| true);
        let what: Vec<&str> = f.iter().map(|x| x.what.as_str()).collect();
        assert_eq!(
            what,
            ["rule none: use 'tier:3' has no member in that tier: it never pins"],
            "{what:?}"
        );
        assert!(
            f[0].fix.starts_with("option tier '3' on a member"),
            "{}",
            f[0].fix
        );
    }

    #[test]
    fn unknown_names_with_the_nearest_known_one() {
        let secs = crate::input::ucifile::parse(
            b"config ecmp 'ipv4'\n\toption metrc '7'\n\toption metric '1'\nconfig ecmpp 'ipv9'\nconfig ecmp 'ipv5'\nconfig member\n\toption interface 'wan'\n\toption wieght '2'\n\toption multidial '1'\nconfig track 'track'\n\toption intervall '5'\n\toption zzzzzz '1'\n",
        )
        .unwrap();
        assert_eq!(
            crate::input::config::unknown_names(&secs),
            [
                "unknown option 'metrc' in config ecmp 'ipv4'; did you mean 'metric'?",
                "unknown section type 'ecmpp' (config ecmpp 'ipv9'); did you mean 'ecmp'?",
                "config ecmp 'ipv5': an ecmp section is named 'ipv4' or 'ipv6'; did you mean 'ipv4'?",
                "unknown option 'wieght' in config member; did you mean 'weight'?",
                "unknown option 'intervall' in config track 'track'; did you mean 'interval'?",
                "unknown option 'zzzzzz' in config track 'track'",
            ]
        );
        let good = crate::input::ucifile::parse(b"config ecmp 'ipv6'\n\tlist proto 'dhcpv6'\nconfig multidial 'multidial'\n\toption batch '4'\n\toption multidial '1'\n").unwrap();
        assert!(crate::input::config::unknown_names(&good).is_empty());
    }

    #[test]
    fn check_rendering() {
        let f = [Finding::ok("a"), Finding::fail("b is off", "turn b on")];
        assert_eq!(
            render(&f, false),
            "[ok]   a\n[FAIL] b is off\n       fix: turn b on\n2 checks, 1 to fix\n"
        );
    }
}
