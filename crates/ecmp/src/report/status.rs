//! `status`: what the kernel holds against what it should hold, the
//! members, the mode in use and every warning; `check`: the installation
//! and the kernel's features, each finding with its one-line fix. Both are
//! plain data built from what the rest of the core reads, rendered as text
//! or (status) as JSON for LuCI and scripts.
//!
//! JSON schema, version 2 (`"schema": 2`; fields are only ever added;
//! 2 added each member's "tier", "used", "track", "inbound", "rx_bytes",
//! "tx_bytes", and the "tracking" and "down" fields):
//! ```text
//! { "schema": 2, "family": "ipv4"|"ipv6", "table": u32, "metric": u32,
//!   "mode": "auto"|"resilient"|"group"|"multipath"       (configured)
//!   "mode_in_use": "resilient"|"group"|"multipath"|"none" (the kernel's)
//!   "group_id": u32|null, "in_sync": bool,
//!   "members": [{ "interface", "device", "gateway": str|null, "weight",
//!                 "proto", "uptime": seconds|null, "in_kernel": bool,
//!                 "tier": 1-255, "used": bool (false: held out, dead or
//!                 standing by), "inbound": null | { "table": u32,
//!                 "rules": ["from ADDR/LEN"] }, "rx_bytes", "tx_bytes": the
//!                 device's counters (u64|null), "track": null | { "state": "alive"|"dead"|
//!                 "unknown", "since": unix seconds, "rtt_us": u32|null,
//!                 "loss": percent, "rtt_history": [u32|null], "loss_history":
//!                 [percent] (the last rounds, oldest first; empty but for
//!                 --json) } }],
//!   "kernel":  [{ "device", "gateway": str|null, "weight" }],
//!   "diff":    [str], "warnings": [str],
//!   "tracking": "off"|"running"|"not running"|"stale",
//!   "down": [interface]   (a member proto, not excluded, down in netifd),
//!   "guards": [str]   (the kernel's rules that keep forwarded traffic off
//!                      the member rules, as `ip rule` writes them),
//!   "rules": [{ "name", "target": interface|"balanced", "sticky": bool,
//!               "state": "pinned"|"route"|"refused"|"balanced",
//!               "connections", "bytes": u64|null (its new connections,
//!               the bytes of their first packets) }] }
//! ```

use crate::input::config::Config;
use crate::input::dump::Dump;
use crate::kernel::{Link, State};
use crate::plan::members::Selection;
use crate::plan::nexthop::{self, NhKind, NhObject};
use crate::plan::route::Route;
use crate::plan::track::{History, Seen};
use crate::Family;
use std::net::IpAddr;

#[derive(Debug, PartialEq, Eq)]
pub struct MemberRow {
    pub interface: String,
    pub device: String,
    pub gateway: Option<String>,
    pub weight: u16,
    pub proto: String,
    pub uptime: Option<u64>,
    pub in_kernel: bool,
    pub tier: u8,
    /// In the wanted route; false: held out (dead, or a standby tier).
    pub used: bool,
    /// ecmp-track's verdict, when it tracks this member.
    pub track: Option<TrackRow>,
    /// Its inbound table and the sources of its rules (kernel's view).
    pub inbound: Option<(u32, Vec<String>)>,
    /// The device's (received, sent) byte counters, for rates between
    /// two polls (LuCI's bars).
    pub bytes: Option<(u64, u64)>,
}

/// One member's tracking, from ecmp-track's state file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TrackRow {
    pub state: &'static str,
    pub since: u64,
    pub rtt_us: Option<u32>,
    pub loss: u32,
    /// The last rounds, oldest first (`--json` only): each round's mean
    /// round trip (null: no answer) and percent lost.
    pub rtt_history: Vec<Option<u32>>,
    pub loss_history: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Hop {
    pub device: String,
    pub gateway: Option<String>,
    pub weight: u16,
}

#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub schema: u32,
    pub family: &'static str,
    pub table: u32,
    pub metric: u32,
    pub mode: &'static str,
    pub mode_in_use: &'static str,
    pub group_id: Option<u32>,
    pub in_sync: bool,
    pub members: Vec<MemberRow>,
    pub kernel: Vec<Hop>,
    pub diff: Vec<String>,
    pub warnings: Vec<String>,
    /// "off", "running", "not running", or "stale".
    pub tracking: &'static str,
    /// Interfaces of a member proto, not excluded, that netifd has down
    /// (a dial still connecting, or failed): with the members, the "M" of
    /// LuCI's "N of M dials online".
    pub down: Vec<String>,
    /// Our guard rules as the kernel holds them (`inbound::guards`).
    pub guards: Vec<String>,
    /// The policy rules, in order.
    pub rules: Vec<RuleRow>,
}

/// A policy rule as status shows it.
#[derive(Debug, PartialEq, Eq, serde::Serialize)]
pub struct RuleRow {
    pub name: String,
    /// A member's interface, or "balanced".
    pub target: String,
    pub sticky: bool,
    /// "pinned" (its member is in the route), "route" (it is not: the
    /// route carries what it matches), "refused" (it is not, and
    /// `fallback '0'`), "balanced".
    pub state: &'static str,
    /// The connections it matched and the bytes of their first packets,
    /// from its nft counter (null: not loaded).
    pub connections: Option<u64>,
    pub bytes: Option<u64>,
}

/// A rule's target as status names it: an interface, `tier:N`, or
/// "balanced".
pub fn target(u: &crate::input::policy::Use) -> String {
    use crate::input::policy::Use;
    match u {
        Use::Balanced => "balanced".into(),
        Use::Member(m) => m.clone(),
        Use::Tier(t) => format!("tier:{t}"),
    }
}

/// Each rule with what it does now, given the members with a mark, and
/// its counter (`counter(n)`: the packets and bytes of counter rN).
pub fn rules(
    r: &mut Report,
    rules: &[crate::input::policy::PolicyRule],
    marked: &[crate::plan::nft::Marked],
    counter: impl Fn(usize) -> Option<(u64, u64)>,
) {
    use crate::input::policy::Use;
    r.rules = rules
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let present = marked.iter().any(|k| match &x.target {
                Use::Member(m) => crate::input::policy::names(m, &k.iface),
                Use::Tier(t) => k.tier == *t,
                Use::Balanced => true,
            });
            let state = match (&x.target, present, x.fallback) {
                (Use::Balanced, _, _) => "balanced",
                (_, true, _) => "pinned",
                (_, false, true) => "route",
                (_, false, false) => "refused",
            };
            let target = target(&x.target);
            let c = counter(i + 1);
            RuleRow {
                name: x.name.clone(),
                target,
                sticky: crate::plan::nft::is_sticky(x),
                state,
                connections: c.map(|c| c.0),
                bytes: c.map(|c| c.1),
            }
        })
        .collect();
}

/// The counters of `nft list counters` output: (name, packets, bytes).
pub fn parse_counters(text: &str) -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    let mut name = None;
    for l in text.lines().map(str::trim) {
        if let Some(n) = l
            .strip_prefix("counter ")
            .and_then(|n| n.strip_suffix(" {"))
        {
            name = Some(n.to_string());
        } else if let (Some(n), Some(rest)) = (name.take(), l.strip_prefix("packets ")) {
            let mut w = rest.split(' ');
            let p = w.next().and_then(|v| v.parse().ok());
            let b = w.nth(1).and_then(|v| v.parse().ok());
            if let (Some(p), Some(b)) = (p, b) {
                out.push((n, p, b));
            }
        }
    }
    out
}

/// What the kernel holds for our route: (mode, group id, hops).
fn kernel_hops(
    ours: Option<&Route>,
    objs: &[NhObject],
    links: &[Link],
) -> (&'static str, Option<u32>, Vec<Hop>) {
    let name = |i: u32| Link::name_of(links, i);
    let Some(r) = ours else {
        return ("none", None, Vec::new());
    };
    let Some(id) = r.nhid else {
        let hops = r
            .nexthops
            .iter()
            .map(|n| Hop {
                device: n.dev.clone(),
                gateway: n.gateway.map(|g| g.to_string()),
                weight: if r.nexthops.len() == 1 { 1 } else { n.weight },
            })
            .collect();
        return ("multipath", None, hops);
    };
    let Some(NhKind::Group { entries, resilient }) =
        objs.iter().find(|o| o.id == id).map(|o| &o.kind)
    else {
        return ("group", Some(id), Vec::new());
    };
    let mut hops = Vec::new();
    for (m, w) in entries {
        if let Some(NhKind::Gateway { gateway, ifindex }) =
            objs.iter().find(|o| o.id == *m).map(|o| &o.kind)
        {
            hops.push(Hop {
                device: name(*ifindex),
                gateway: gateway.map(|g| g.to_string()),
                weight: if entries.len() == 1 { 1 } else { *w },
            });
        }
    }
    let mode = if resilient.is_some() {
        "resilient"
    } else {
        "group"
    };
    (mode, Some(id), hops)
}

/// rtm_protocol as `ip route` names it.
pub fn proto_name(p: u8) -> String {
    match p {
        2 => "kernel".into(),
        3 => "boot".into(),
        4 => "static".into(),
        9 => "ra".into(),
        16 => "dhcp".into(),
        crate::RTPROT_ECMP => "236 (ours)".into(),
        p => p.to_string(),
    }
}

/// Default routes in our table that are not ours and win over ours (or
/// would, once ours exists): a lower metric, or our very metric (the
/// kernel keeps the older of two routes at one metric; every event then
/// exits 6). Each as (problem, fix), for `status` and `check`. A route
/// with a source prefix (odhcp6c's `from`) only wins for its own source.
pub fn rivals(cfg: &Config, dump: &Dump, routes: &[Route]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for r in routes {
        if r.is_ours() || r.src_len != 0 || r.metric > cfg.metric {
            continue;
        }
        let devs = r.devices();
        let via = if devs.is_empty() {
            format!("type {}", route_type(r.kind))
        } else {
            format!("dev {}", devs.join(","))
        };
        // The netifd interface that installed it, for the fix (netifd's
        // are single-hop; a multipath route is a script's, the write-up's).
        let owner = dump
            .interface
            .iter()
            .find(|i| devs.len() == 1 && i.l3_device.as_deref() == Some(devs[0]))
            .map(|i| i.interface.clone());
        let on = match &owner {
            Some(i) => format!("interface '{i}'"),
            None => "that interface".into(),
        };
        let what = format!(
            "default {via} metric {} proto {}",
            r.metric,
            proto_name(r.protocol)
        );
        if r.metric < cfg.metric {
            out.push((
                format!("{what} shadows ours (metric {}): traffic leaves through it, not through the members", cfg.metric),
                format!("set option defaultroute '0' (or a metric above {}) on {on}; /etc/init.d/network reload", cfg.metric),
            ));
        } else {
            out.push((
                format!("{what} is not ours and holds our metric {}: every event exits 6 (conflict)", cfg.metric),
                match owner {
                    Some(_) => format!("set option defaultroute '0' (or another metric) on {on}"),
                    None => format!(
                        "remove it (ip route del default metric {}; left by the write-up's 97-ECMPv4/98-ECMPv6?) or set another metric in /etc/config/ecmp",
                        cfg.metric
                    ),
                },
            ));
        }
    }
    out
}

fn route_type(kind: u8) -> &'static str {
    match kind {
        1 => "unicast",
        6 => "blackhole",
        7 => "unreachable",
        8 => "prohibit",
        _ => "other",
    }
}

/// Everything `status` shows. `sel` is the selection for a sync (no
/// event), `st` the kernel as read, `warnings` those a run would log.
pub fn report(
    family: Family,
    cfg: &Config,
    dump: &Dump,
    sel: &Selection,
    st: &State,
    mut warnings: Vec<String>,
) -> Report {
    let (links, routes, objs) = (&st.links[..], &st.routes[..], st.objs.as_deref());
    let ours = routes
        .iter()
        .find(|r| r.is_ours() && r.metric == cfg.metric && r.src_len == 0);
    let objs_list = objs.unwrap_or(&[]);
    let (mode_in_use, group_id, kernel) = kernel_hops(ours, objs_list, links);
    let group_mode = matches!(mode_in_use, "resilient" | "group");
    // The route an event would write: the writers' own answer.
    let d = crate::kernel::program::desired(&sel.members, links, group_mode);
    let hop = |device: &str, gateway: Option<IpAddr>, weight: u16, n: usize| Hop {
        device: device.to_string(),
        gateway: gateway.map(|g| g.to_string()),
        // A single nexthop carries no weight in the kernel.
        weight: if n == 1 { 1 } else { weight },
    };
    let want: Vec<Hop> = d
        .hops
        .iter()
        .map(|h| hop(&h.dev, h.gateway, h.weight, d.hops.len()))
        .collect();
    let mut members = Vec::new();
    let mut diff = Vec::new();
    for m in &sel.members {
        let iface = dump.interface.iter().find(|i| i.interface == m.interface);
        let gateway = m.gateway.map(|g| g.to_string());
        let in_kernel = kernel.contains(&hop(&m.device, m.gateway, m.weight, kernel.len()));
        if d.gone.contains(&m.device) {
            warnings.push(format!(
                "{}: device {} does not exist (pppd not running?)",
                m.interface, m.device
            ));
        } else if d.no_carrier.contains(&m.device) {
            warnings.push(format!(
                "{}: {} has no carrier, so it cannot be in a nexthop group",
                m.interface, m.device
            ));
        }
        members.push(MemberRow {
            interface: m.interface.clone(),
            device: m.device.clone(),
            gateway,
            weight: m.weight,
            proto: iface.map(|i| i.proto.to_string()).unwrap_or_default(),
            uptime: iface.and_then(|i| i.uptime),
            in_kernel,
            tier: m.tier,
            used: true,
            track: None,
            inbound: None,
            bytes: None,
        });
    }
    let table = if cfg.table == 254 {
        "main".to_string()
    } else {
        cfg.table.to_string()
    };
    // netifd calls them up, but none can carry traffic: say why, and do
    // not call an empty kernel "in sync".
    if !sel.members.is_empty() && want.is_empty() {
        let why: Vec<String> = sel
            .members
            .iter()
            .map(|m| match d.gone.contains(&m.device) {
                true => format!("{} has no device {}", m.interface, m.device),
                false => format!("{}: {} has no carrier", m.interface, m.device),
            })
            .collect();
        diff.push(format!("no member is usable: {}", why.join("; ")));
    }
    for (problem, fix) in rivals(cfg, dump, routes) {
        diff.push(format!("{problem}; fix: {fix}"));
    }
    if ours.is_none() && !want.is_empty() {
        diff.push(format!(
            "no default route of ours at metric {} in table {table}",
            cfg.metric
        ));
    }
    if ours.is_some() && want.is_empty() {
        diff.push(format!(
            "our default route at metric {} should be gone: no live member",
            cfg.metric
        ));
    }
    if ours.is_some() {
        for h in &want {
            if !kernel.contains(h) {
                diff.push(format!("+ {} (missing from the kernel)", show(h)));
            }
        }
        for h in &kernel {
            if !want.contains(h) {
                diff.push(format!("- {} (in the kernel, not a live member)", show(h)));
            }
        }
    }
    let forced = match cfg.mode {
        nexthop::Mode::Auto => None,
        m => Some(m.name()),
    };
    if let (Some(f), true) = (forced, ours.is_some()) {
        if f != mode_in_use {
            diff.push(format!(
                "mode: the kernel has {mode_in_use}, the config says {f}"
            ));
        }
    }
    if cfg.mode == nexthop::Mode::Auto && mode_in_use == "multipath" && objs.is_some() {
        warnings.push(
            "the route is a multipath route although this kernel has nexthop objects: run a sync (no ACTION) to move it to a group".into(),
        );
    }
    // Objects of ours that nothing of ours uses.
    let mut left: Vec<u32> = nexthop::orphans(family, objs_list);
    left.extend(
        nexthop::our_groups(family, objs_list)
            .into_iter()
            .filter(|g| Some(*g) != group_id),
    );
    if !left.is_empty() {
        left.sort();
        let ids: Vec<String> = left.iter().map(u32::to_string).collect();
        warnings.push(format!(
            "nexthop objects of ours left behind: {}; a sync (no ACTION) removes them",
            ids.join(",")
        ));
    }
    Report {
        schema: 2,
        family: family.section(),
        table: cfg.table,
        metric: cfg.metric,
        mode: cfg.mode.name(),
        mode_in_use,
        group_id,
        in_sync: diff.is_empty(),
        members,
        kernel,
        diff,
        warnings,
        tracking: "off",
        down: dump
            .interface
            .iter()
            .filter(|i| {
                !i.up
                    && cfg.protos.iter().any(|p| *p == i.proto)
                    && !cfg.exclude.iter().any(|x| *x == i.interface)
            })
            .map(|i| i.interface.to_string())
            .collect(),
        guards: Vec::new(),
        rules: Vec::new(),
    }
}

/// Add each member's device byte counters, as `read` gives them for a
/// device name.
pub fn counters(r: &mut Report, read: impl Fn(&str) -> Option<(u64, u64)>) {
    for m in &mut r.members {
        m.bytes = read(&m.device);
    }
}

/// Add each member's inbound table and rules as the kernel holds them, and
/// what differs from what the members call for.
pub fn inbound(
    r: &mut Report,
    plan: &crate::plan::inbound::Plan,
    cur: &crate::plan::inbound::Current,
) {
    for row in r.members.iter_mut().filter(|m| m.used) {
        if let Some((_, t)) = plan.tables.iter().find(|(i, _)| *i == row.interface) {
            let rules = cur
                .rules
                .iter()
                .filter(|x| x.is_ours() && x.table == *t)
                .filter_map(|x| x.src.map(|(a, l)| format!("from {a}/{l}")))
                .collect();
            row.inbound = Some((*t, rules));
        }
    }
    r.guards = cur
        .rules
        .iter()
        .filter(|x| crate::plan::inbound::is_guard(x))
        .map(|x| x.to_ip("add").replacen(" rule add", " rule", 1))
        .collect();
    r.diff.extend(crate::plan::inbound::differences(plan));
    r.in_sync = r.diff.is_empty();
}

/// Add what tracking says: each member's verdict, the members held out
/// (dead, or standing by in a higher tier), and whether the tracker that
/// the config asks for is running.
pub fn tracking(
    r: &mut Report,
    family: Family,
    cfg: &Config,
    dump: &Dump,
    sel: &Selection,
    seen: &Seen,
    history: &[History],
) {
    for m in &sel.held {
        let iface = dump.interface.iter().find(|i| i.interface == m.interface);
        r.members.push(MemberRow {
            interface: m.interface.clone(),
            device: m.device.clone(),
            gateway: m.gateway.map(|g| g.to_string()),
            weight: m.weight,
            proto: iface.map(|i| i.proto.to_string()).unwrap_or_default(),
            uptime: iface.and_then(|i| i.uptime),
            in_kernel: false,
            tier: m.tier,
            used: false,
            track: None,
            inbound: None,
            bytes: None,
        });
    }
    let hist = |i: &str| {
        history
            .iter()
            .find(|h| h.family == family.section() && h.interface == i)
    };
    if let Some(st) = seen.state() {
        for row in &mut r.members {
            row.track = st.link(family, &row.interface).map(|l| TrackRow {
                state: l.health.name(),
                since: l.since,
                rtt_us: l.rtt_us,
                loss: l.loss(),
                rtt_history: hist(&row.interface)
                    .map(|h| h.rtt_us.clone())
                    .unwrap_or_default(),
                loss_history: hist(&row.interface)
                    .map(|h| h.loss.clone())
                    .unwrap_or_default(),
            });
        }
    }
    r.tracking = match (cfg.track.enabled, seen) {
        (false, _) => "off",
        (true, Seen::Fresh(_)) => "running",
        (true, Seen::Missing) => "not running",
        (true, Seen::Stale(_)) => "stale",
    };
    if let (true, Seen::Missing | Seen::Stale(_)) = (cfg.track.enabled, seen) {
        r.warnings.push(format!(
            "tracking is enabled but ecmp-track is {}: /etc/init.d/ecmp-track start",
            r.tracking
        ));
    }
}

/// A member as `status --json` shows it: its inbound table as
/// `{"table", "rules"}`, its counters as `rx_bytes` and `tx_bytes`.
impl serde::Serialize for MemberRow {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        #[derive(serde::Serialize)]
        struct Inbound<'a> {
            table: u32,
            rules: &'a [String],
        }
        let mut m = ser.serialize_struct("member", 13)?;
        m.serialize_field("interface", &self.interface)?;
        m.serialize_field("device", &self.device)?;
        m.serialize_field("gateway", &self.gateway)?;
        m.serialize_field("weight", &self.weight)?;
        m.serialize_field("proto", &self.proto)?;
        m.serialize_field("uptime", &self.uptime)?;
        m.serialize_field("in_kernel", &self.in_kernel)?;
        m.serialize_field("tier", &self.tier)?;
        m.serialize_field("used", &self.used)?;
        let inbound = self.inbound.as_ref().map(|(table, rules)| Inbound {
            table: *table,
            rules,
        });
        m.serialize_field("inbound", &inbound)?;
        m.serialize_field("track", &self.track)?;
        m.serialize_field("rx_bytes", &self.bytes.map(|b| b.0))?;
        m.serialize_field("tx_bytes", &self.bytes.map(|b| b.1))?;
        m.end()
    }
}

/// The JSON form, schema 2.
pub fn to_json(r: &Report) -> String {
    serde_json::to_string_pretty(r).unwrap_or_default()
}

fn show(h: &Hop) -> String {
    let mut s = h.device.clone();
    if let Some(g) = &h.gateway {
        s = format!("{s} via {g}");
    }
    if h.weight != 1 {
        s = format!("{s} weight {}", h.weight);
    }
    s
}

fn uptime(s: Option<u64>) -> String {
    match s {
        None => "-".into(),
        Some(s) if s < 120 => format!("{s}s"),
        Some(s) if s < 7200 => format!("{}m", s / 60),
        Some(s) if s < 172_800 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        Some(s) => format!("{}d{}h", s / 86400, s % 86400 / 3600),
    }
}

/// The text form; ANSI colour only when `colour` (a terminal).
pub fn render(r: &Report, program: &str, colour: bool) -> String {
    let paint = |code: &str, s: &str| {
        if colour {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    };
    let table = if r.table == 254 {
        "main".to_string()
    } else {
        r.table.to_string()
    };
    let state = if r.in_sync {
        paint("32", "in sync")
    } else {
        paint("31", "DIFFERS from the members")
    };
    let group = r
        .group_id
        .map(|g| format!(" (nhid {g})"))
        .unwrap_or_default();
    let mut out = format!(
        "{program}: default metric {} in table {table}, mode {} (configured {}){group}: {state}\n",
        r.metric, r.mode_in_use, r.mode
    );
    if r.tracking != "off" {
        out.push_str(&format!("tracking: ecmp-track {}\n", r.tracking));
    }
    if r.members.is_empty() {
        out.push_str("members: none up\n");
    } else {
        let now = crate::plan::track::now();
        let rows: Vec<[String; 8]> = r
            .members
            .iter()
            .map(|m| {
                [
                    m.interface.clone(),
                    m.device.clone(),
                    m.gateway.clone().unwrap_or_else(|| "-".into()),
                    m.weight.to_string(),
                    m.tier.to_string(),
                    m.proto.clone(),
                    match &m.track {
                        None => "-".into(),
                        Some(t) => format!(
                            "{} {} {}% loss{}",
                            t.state,
                            t.rtt_us.map_or("-".into(), |u| format!(
                                "{}.{}ms",
                                u / 1000,
                                u % 1000 / 100
                            )),
                            t.loss,
                            if t.state == "dead" {
                                format!(" for {}", uptime(Some(now.saturating_sub(t.since))))
                            } else {
                                String::new()
                            }
                        ),
                    },
                    format!(
                        "{}{}",
                        uptime(m.uptime),
                        match (m.used, m.in_kernel) {
                            (false, _) if m.track.as_ref().is_some_and(|t| t.state == "dead") =>
                                "  (held out: dead)",
                            (false, _) => "  (standing by: a lower tier is up)",
                            (true, true) => "",
                            (true, false) => "  (not in the kernel)",
                        }
                    ),
                ]
            })
            .collect();
        let head = [
            "interface",
            "device",
            "gateway",
            "weight",
            "tier",
            "proto",
            "track",
            "up",
        ];
        let mut width = head.map(str::len);
        for row in &rows {
            for (w, c) in width.iter_mut().zip(row) {
                *w = (*w).max(c.len());
            }
        }
        // The tier and track columns only when they say something.
        let show = [
            true,
            true,
            true,
            true,
            r.members.iter().any(|m| m.tier != 1),
            true,
            r.members.iter().any(|m| m.track.is_some()),
            true,
        ];
        let line = |cells: &[String]| {
            let mut l = String::new();
            for ((c, w), on) in cells.iter().zip(width).zip(show) {
                if on {
                    l.push_str(&format!("  {c:<w$}"));
                }
            }
            l.trim_end().to_string() + "\n"
        };
        out.push_str("members:\n");
        out.push_str(&line(&head.map(String::from)));
        for row in &rows {
            out.push_str(&line(row));
        }
    }
    let tables: Vec<String> = r
        .members
        .iter()
        .filter_map(|m| {
            m.inbound
                .as_ref()
                .map(|(t, _)| format!("{} {t}", m.interface))
        })
        .collect();
    if !tables.is_empty() {
        out.push_str(&format!(
            "inbound tables (replies leave by the dial they came in on): {}\n",
            tables.join(", ")
        ));
    }
    if !r.guards.is_empty() {
        out.push_str(&format!(
            "inbound guards (forwarded traffic skips the member rules): {} rules\n",
            r.guards.len()
        ));
    }
    if !r.rules.is_empty() {
        out.push_str("rules (first match wins):\n");
        for x in &r.rules {
            let why = match x.state {
                "route" => " (not in the route: by the route meanwhile)",
                "refused" => " (not in the route: refused meanwhile)",
                _ if x.sticky => ", sticky",
                _ => "",
            };
            out.push_str(&format!(
                "  {} -> {}{why}, {} connections\n",
                x.name,
                x.target,
                x.connections.unwrap_or(0)
            ));
        }
    }
    if !r.diff.is_empty() {
        out.push_str("differences (kernel -> wanted):\n");
        for d in &r.diff {
            let c = if d.starts_with('+') { "32" } else { "31" };
            out.push_str(&format!("  {}\n", paint(c, d)));
        }
    }
    for w in &r.warnings {
        out.push_str(&format!("{}: {w}\n", paint("33", "warning")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::route::{Nexthop, RTN_UNICAST};
    use crate::RTPROT_ECMP;

    use crate::kernel::program::tests::{link, member};

    fn multipath(hops: &[(&str, u32, &str)]) -> Route {
        Route {
            family: Family::V4,
            table: 254,
            metric: 1,
            protocol: RTPROT_ECMP,
            src_len: 0,
            kind: RTN_UNICAST,
            nhid: None,
            nexthops: hops
                .iter()
                .map(|(gw, i, d)| Nexthop {
                    gateway: Some(gw.parse().unwrap()),
                    ifindex: *i,
                    dev: d.to_string(),
                    weight: 1,
                })
                .collect(),
        }
    }

    fn st(links: &[Link], routes: &[Route], objs: Option<&Vec<NhObject>>) -> State {
        State {
            links: links.to_vec(),
            routes: routes.to_vec(),
            objs: objs.cloned(),
            tables: Vec::new(),
            rules: Some(Vec::new()),
        }
    }

    fn setup() -> (Config, Dump<'static>, Selection, Vec<Link>) {
        let dump = Dump::parse(
            br#"{"interface":[{"interface":"wan","up":true,"proto":"pppoe","uptime":7300},{"interface":"VWAN1","up":true,"proto":"pppoe","uptime":65},{"interface":"VWAN2","up":false,"proto":"pppoe"},{"interface":"lan","up":false,"proto":"static"}]}"#,
        )
        .unwrap();
        let sel = Selection {
            members: vec![
                member("wan", "pppoe-wan", "100.64.0.1"),
                member("VWAN1", "pppoe-VWAN1", "100.64.0.2"),
            ],
            skipped: vec![],
            held: vec![],
            standby: vec![],
        };
        let links = vec![link(5, "pppoe-wan"), link(6, "pppoe-VWAN1")];
        (Config::defaults(Family::V4), dump, sel, links)
    }

    #[test]
    fn in_sync_multipath() {
        let (cfg, dump, sel, links) = setup();
        let routes = vec![multipath(&[
            ("100.64.0.1", 5, "pppoe-wan"),
            ("100.64.0.2", 6, "pppoe-VWAN1"),
        ])];
        let r = report(
            Family::V4,
            &cfg,
            &dump,
            &sel,
            &st(&links, &routes, None),
            vec![],
        );
        assert!(r.in_sync, "{:?}", r.diff);
        assert_eq!(r.mode_in_use, "multipath");
        let text = render(&r, "ecmp4", false);
        assert!(text.starts_with("ecmp4: default metric 1 in table main, mode multipath (configured auto): in sync\n"), "{text}");
        assert!(
            text.contains("  wan        pppoe-wan    100.64.0.1  1       pppoe  2h1m\n"),
            "{text}"
        );
        assert!(
            text.contains("  VWAN1      pppoe-VWAN1  100.64.0.2  1       pppoe  65s\n"),
            "{text}"
        );
        assert!(!text.contains('\x1b'));
        assert!(render(&r, "ecmp4", true).contains("\x1b[32min sync\x1b[0m"));
    }

    #[test]
    fn differences_are_listed_both_ways() {
        let (cfg, dump, sel, links) = setup();
        let routes = vec![multipath(&[
            ("100.64.0.1", 5, "pppoe-wan"),
            ("100.64.0.9", 7, "pppoe-old"),
        ])];
        let r = report(
            Family::V4,
            &cfg,
            &dump,
            &sel,
            &st(&links, &routes, None),
            vec![],
        );
        assert!(!r.in_sync);
        assert_eq!(
            r.diff,
            [
                "+ pppoe-VWAN1 via 100.64.0.2 (missing from the kernel)",
                "- pppoe-old via 100.64.0.9 (in the kernel, not a live member)"
            ]
        );
        let r = report(
            Family::V4,
            &cfg,
            &dump,
            &sel,
            &st(&links, &[], None),
            vec![],
        );
        assert_eq!(
            r.diff,
            ["no default route of ours at metric 1 in table main"]
        );
        assert_eq!(r.mode_in_use, "none");
    }

    #[test]
    fn group_state_and_left_behind_objects() {
        let (mut cfg, dump, sel, links) = setup();
        let g = nexthop::group_id(Family::V4, 254, 0).unwrap();
        let m = |id: u32, gw: &str, i: u32| NhObject {
            id,
            family: Some(Family::V4),
            protocol: RTPROT_ECMP,
            kind: NhKind::Gateway {
                gateway: Some(gw.parse().unwrap()),
                ifindex: i,
            },
        };
        let objs = vec![
            m(nexthop::ID_BASE, "100.64.0.1", 5),
            m(nexthop::ID_BASE + 1, "100.64.0.2", 6),
            m(nexthop::ID_BASE + 2, "100.64.0.3", 9),
            NhObject {
                id: g,
                family: None,
                protocol: RTPROT_ECMP,
                kind: NhKind::Group {
                    entries: vec![(nexthop::ID_BASE, 1), (nexthop::ID_BASE + 1, 1)],
                    resilient: Some(nexthop::Resilient::default()),
                },
            },
        ];
        let mut route = multipath(&[]);
        route.nhid = Some(g);
        let r = report(
            Family::V4,
            &cfg,
            &dump,
            &sel,
            &st(&links, &[route.clone()], Some(&objs)),
            vec![],
        );
        assert!(r.in_sync, "{:?}", r.diff);
        assert_eq!((r.mode_in_use, r.group_id), ("resilient", Some(g)));
        assert_eq!(
            r.warnings,
            [format!(
                "nexthop objects of ours left behind: {}; a sync (no ACTION) removes them",
                nexthop::ID_BASE + 2
            )]
        );
        cfg.mode = nexthop::Mode::Group;
        let r = report(
            Family::V4,
            &cfg,
            &dump,
            &sel,
            &st(&links, &[route], Some(&objs)),
            vec![],
        );
        assert_eq!(
            r.diff,
            ["mode: the kernel has resilient, the config says group"]
        );
    }

    #[test]
    fn json_schema_2() {
        let (cfg, dump, sel, links) = setup();
        let r = report(
            Family::V4,
            &cfg,
            &dump,
            &sel,
            &st(&links, &[], None),
            vec!["w \"quoted\"\n\\ \u{1}".into()],
        );
        let v: serde_json::Value = serde_json::from_str(&to_json(&r)).unwrap();
        assert_eq!(v["schema"], 2);
        assert_eq!(v["family"], "ipv4");
        assert_eq!(v["mode"], "auto");
        assert_eq!(v["mode_in_use"], "none");
        assert_eq!(v["in_sync"], false);
        assert_eq!(v["group_id"], serde_json::Value::Null);
        assert_eq!(v["members"][0]["interface"], "wan");
        assert_eq!(v["members"][0]["uptime"], 7300);
        assert_eq!(v["members"][0]["in_kernel"], false);
        assert_eq!(v["members"][0]["tier"], 1);
        assert_eq!(v["members"][0]["used"], true);
        assert_eq!(v["members"][0]["track"], serde_json::Value::Null);
        assert_eq!(v["members"][0]["rx_bytes"], serde_json::Value::Null);
        let mut r = r;
        counters(&mut r, |dev| (dev == "pppoe-wan").then_some((123, 456)));
        let v: serde_json::Value = serde_json::from_str(&to_json(&r)).unwrap();
        assert_eq!(
            (
                v["members"][0]["rx_bytes"].clone(),
                v["members"][0]["tx_bytes"].clone()
            ),
            (123.into(), 456.into())
        );
        assert_eq!(v["members"][1]["rx_bytes"], serde_json::Value::Null);
        assert_eq!(v["tracking"], "off");
        assert_eq!(v["kernel"].as_array().unwrap().len(), 0);
        assert_eq!(v["warnings"][0], "w \"quoted\"\n\\ \u{1}");
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        // Down dials of a member proto, for "N of M dials online".
        assert_eq!(v["down"], serde_json::json!(["VWAN2"]));
        // The inbound guard rules in the kernel (none in this report).
        assert_eq!(v["guards"], serde_json::json!([]));
        // The policy rules (none in this report).
        assert_eq!(v["rules"], serde_json::json!([]));
        assert_eq!(keys.len(), 16, "{keys:?}");
    }

    /// A member tracking calls dead is held out, shown with its verdict;
    /// a tracker the config asks for but that is not running is named.
    #[test]
    fn tracking_rows_and_a_missing_tracker() {
        use crate::plan::track::{Health, Link as TLink, State as TState};
        let (mut cfg, dump, mut sel, links) = setup();
        cfg.track.enabled = true;
        let mut dead = TLink::new("VWAN1", Family::V4, "pppoe-VWAN1", 1000);
        dead.health = Health::Dead;
        dead.history = vec![crate::plan::track::Sample {
            sent: 3,
            received: 0,
            rtt_us: None,
        }];
        let mut alive = TLink::new("wan", Family::V4, "pppoe-wan", 900);
        alive.health = Health::Alive;
        alive.rtt_us = Some(12_345);
        let seen = Seen::Fresh(TState {
            pid: 1,
            written: 1000,
            stale_after: 16,
            links: vec![dead, alive],
        });
        let w = crate::plan::members::narrow(&mut sel, |m| m.interface == "VWAN1");
        assert!(w.is_none());
        let routes = vec![multipath(&[("100.64.0.1", 5, "pppoe-wan")])];
        let mut r = report(
            Family::V4,
            &cfg,
            &dump,
            &sel,
            &st(&links, &routes, None),
            vec![],
        );
        tracking(&mut r, Family::V4, &cfg, &dump, &sel, &seen, &[]);
        assert!(r.in_sync, "{:?}", r.diff);
        assert_eq!(r.tracking, "running");
        let text = render(&r, "ecmp4", false);
        assert!(text.contains("tracking: ecmp-track running\n"), "{text}");
        assert!(text.contains("alive 12.3ms 0% loss"), "{text}");
        assert!(text.contains("dead - 100% loss for "), "{text}");
        assert!(text.contains("(held out: dead)"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&to_json(&r)).unwrap();
        assert_eq!(v["members"][1]["interface"], "VWAN1");
        assert_eq!(v["members"][1]["used"], false);
        assert_eq!(v["members"][1]["track"]["state"], "dead");
        assert_eq!(v["members"][1]["track"]["loss"], 100);
        assert_eq!(v["members"][0]["track"]["rtt_us"], 12345);

        let mut r = report(
            Family::V4,
            &cfg,
            &dump,
            &sel,
            &st(&links, &routes, None),
            vec![],
        );
        tracking(&mut r, Family::V4, &cfg, &dump, &sel, &Seen::Missing, &[]);
        assert_eq!(r.tracking, "not running");
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("ecmp-track is not running")),
            "{:?}",
            r.warnings
        );
    }
}
