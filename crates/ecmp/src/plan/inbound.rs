//! Inbound connections on any dial: a reply leaves by the dial its
//! connection came in on. The ECMP route would send it out by whichever
//! dial the hash picks, with the wrong source for that session, and the
//! ISP drops it (the write-up's known problem). For every member we
//! keep a routing table of ours holding that member's default route, and
//! `ip rule from <member address> lookup <that table>`: whatever the router
//! sends from a dial's own address leaves by that dial.
//!
//! Tables are `table_base + 1 ..= table_base + 256`, all rules sit at
//! `rule_priority`; both carry protocol 236, so `--flush` and uninstall
//! remove exactly them. A member keeps its table while it stays (the
//! table of a device is read back from the kernel); a new one takes the
//! lowest table nobody else uses. Pure planning here; [`apply`] writes the
//! difference all or nothing.

use crate::input::dump::Interface;
pub use crate::input::options::{
    parse_rule_priority, parse_table_base, Inbound, DEFAULT_RULE_PRIORITY, DEFAULT_TABLE_BASE,
    PRIORITIES, SLOTS,
};
use crate::input::policy::PolicyRule;
use crate::plan::link::{seek, ByName, Link};
use crate::plan::members::Member;
use crate::plan::nft::Marked;
use crate::plan::route::{Nexthop, Route};
pub use crate::plan::rule::{Action, Rule};
use crate::Family;
use std::net::IpAddr;

/// Whether `r` is one of our guards (not a member's rule, nor the one
/// that refuses).
pub fn is_guard(r: &Rule) -> bool {
    r.is_ours()
        && r.action != Action::Unreachable
        && (r.action != Action::Lookup || r.suppress.is_some())
}

/// The rules around the member rules that keep forwarded traffic from
/// walking them. Every forwarded packet walks the rule list twice (its
/// lookup, and the reverse-path check of its source, which runs even
/// with rp_filter 0 once any rule exists): one `from` rule per member was
/// about 5 ns per rule per packet, 27-30% of small-packet forwarding at
/// 64 dials. With `p` the rule priority:
///
/// - `p`: `iif lo goto p+2`: the router's own traffic (and the
///   reverse-path check of what it receives) goes on to our rules;
/// - `p+1`: `fwmark 0/MASK goto p+5` (with port-forward marks; else
///   `goto p+5`): forwarded traffic that carries no mark of ours skips
///   them all, in both its lookups (a forwarded packet's reverse-path
///   check has the output device as its iif, never lo);
/// - `p+2`: `nop` (where that goto lands), and each member's `from ADDR
///   to PEER lookup TABLE`: dials share
///   their BRAS's one peer address, and main's peer route for it names
///   one dial's device; a reply to the peer from another dial's address
///   must leave by that dial (a strict BRAS drops it otherwise);
/// - `p+3`: `iif lo lookup main suppress_prefixlength 0`: the router's
///   own traffic takes any other route of main more specific than the
///   default, so a reply to a LAN host from a dial's address stays on
///   the LAN;
/// - `p+4`: the member rules (`from ADDR`, `fwmark MARK`);
/// - `p+5`: `nop`, where the goto lands: rules of others after ours are
///   walked as before, nothing is skipped but ours.
///
/// None without member rules (inbound off, no member): they would only
/// cost.
pub fn guards(family: Family, p: u32, mask: Option<u32>) -> [Rule; 5] {
    let lo = || Some("lo".to_string());
    [
        Rule {
            iif: lo(),
            ..Rule::doing(family, p, Action::Goto(p + 2))
        },
        Rule {
            fwmark: mask.map(|k| (0, k)),
            ..Rule::doing(family, p + 1, Action::Goto(p + 5))
        },
        // The first goto's landing point, which the peer rules beside it
        // may not give (IPv6 has none): a goto to a priority no rule holds
        // is skipped by the kernel.
        Rule::doing(family, p + 2, Action::Nop),
        Rule {
            iif: lo(),
            suppress: Some(0),
            ..Rule::lookup(family, p + 3, 254)
        },
        Rule::doing(family, p + 5, Action::Nop),
    ]
}

/// The sources a member's rules match: its addresses (IPv4: the PPPoE
/// /32; IPv6: each global address) and, for IPv6, the prefixes delegated
/// to it (the router answers from them, and without NAT66 so do the LAN
/// hosts numbered from them).
pub fn sources(family: Family, i: &Interface) -> Vec<(IpAddr, u8)> {
    let mut out = Vec::new();
    let host = if family == Family::V4 { 32 } else { 128 };
    let addrs = match family {
        Family::V4 => &i.ipv4_address,
        Family::V6 => &i.ipv6_address,
    };
    for a in addrs {
        if let Ok(ip) = a.address.parse::<IpAddr>() {
            let global = match ip {
                IpAddr::V4(v) => !v.is_unspecified() && !v.is_loopback(),
                IpAddr::V6(v) => (v.segments()[0] & 0xe000) == 0x2000,
            };
            if global && ip.is_ipv4() == (family == Family::V4) && !out.contains(&(ip, host)) {
                out.push((ip, host));
            }
        }
    }
    if family == Family::V6 {
        for p in &i.ipv6_prefix {
            if let (Ok(ip), Some(m)) = (p.address.parse::<IpAddr>(), p.mask) {
                if ip.is_ipv6() && m <= 128 && !out.contains(&(ip, m as u8)) {
                    out.push((ip, m as u8));
                }
            }
        }
    }
    out
}

/// The difference to write, in the order [`apply`] writes it.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Member tables' routes to write (CREATE|REPLACE), with what they
    /// replace (for the undo).
    pub routes: Vec<(Route, Option<Route>)>,
    pub add_rules: Vec<Rule>,
    pub del_rules: Vec<Rule>,
    /// Our table routes no member wants any more.
    pub del_routes: Vec<Route>,
    /// (interface, table) of each member, for status.
    pub tables: Vec<(String, u32)>,
    /// Each member with its mark, when marks are on: the nft table's
    /// members.
    pub marked: Vec<Marked>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
            && self.add_rules.is_empty()
            && self.del_rules.is_empty()
            && self.del_routes.is_empty()
    }
}

/// What the kernel holds that concerns us: our default routes in the
/// tables of our range, and every rule of the family.
pub struct Current {
    pub routes: Vec<Route>,
    pub rules: Vec<Rule>,
}

impl Current {
    /// What the kernel holds of ours, from its member tables' routes and
    /// its rules as an event read them (`kernel::State`): the routes in
    /// the tables of our range, and the rules. None: the kernel has no
    /// policy routing, so no rules to keep.
    pub fn of(tables: &[Route], rules: Option<&[Rule]>, cfg: &Inbound) -> Option<Current> {
        let rules = rules?.to_vec();
        let range = cfg.table_base + 1..=cfg.table_base + SLOTS;
        let routes = tables
            .iter()
            .filter(|r| range.contains(&r.table))
            .cloned()
            .collect();
        Some(Current { routes, rules })
    }
}

/// What `members` (each with its sources) call for against `cur`.
/// `members` without a device in `links` get no table (they have no route
/// either).
pub fn plan(
    family: Family,
    cfg: &Inbound,
    metric: u32,
    members: &[(&Member, Vec<(IpAddr, u8)>)],
    links: &[Link],
    cur: &Current,
    mask: Option<u32>,
    rules: &[PolicyRule],
) -> Plan {
    let range = cfg.table_base + 1..=cfg.table_base + SLOTS;
    let reserved = crate::plan::nft::reserved(rules);
    let ours: Vec<&Route> = cur.routes.iter().filter(|r| r.is_ours()).collect();
    // Tables someone else uses: a rule of theirs points there.
    let foreign = |t: u32| cur.rules.iter().any(|r| r.table == t && !r.is_ours());
    let dev_of = |r: &Route| r.nexthops.first().map(|n| n.ifindex);
    let mut plan = Plan::default();
    let mut used: Vec<u32> = Vec::new();
    let mut want_rules: Vec<Rule> = Vec::new();
    // Members keeping their table first, so a new one never takes it.
    let mut assigned: Vec<(&Member, &Vec<(IpAddr, u8)>, u32, u32)> = Vec::new();
    let mut new = Vec::new();
    let mut by_name = ByName::new(links);
    for (m, srcs) in members {
        let Some(link) = by_name.find(&m.device) else {
            continue;
        };
        match ours
            .iter()
            .find(|r| dev_of(r) == Some(link.index) && !used.contains(&r.table))
        {
            Some(r) => {
                used.push(r.table);
                assigned.push((m, srcs, r.table, link.index));
            }
            None => new.push((*m, srcs, link.index)),
        }
    }
    for (m, srcs, ifindex) in new {
        // A table holding only a stale route of ours is free: the write
        // replaces it.
        let Some(t) = range.clone().find(|t| !used.contains(t) && !foreign(*t)) else {
            continue; // 256 members hold every table
        };
        used.push(t);
        assigned.push((m, srcs, t, ifindex));
    }
    let mut held = vec![false; SLOTS as usize + 1];
    for (m, srcs, table, ifindex) in assigned {
        let old = ours.iter().find(|r| r.table == table && r.metric == metric);
        let same = old.is_some_and(|o| {
            o.nhid.is_none()
                && o.nexthops.len() == 1
                && o.nexthops[0].gateway == m.gateway
                && o.nexthops[0].ifindex == ifindex
        });
        if !same {
            let hop = Nexthop {
                gateway: m.gateway,
                ifindex,
                dev: m.device.clone(),
                weight: 1,
            };
            if let Some(want) = Route::desired(family, table, metric, &[hop]) {
                plan.routes.push((want, old.map(|r| (*r).clone())));
            }
        }
        if let Some(h) = table
            .checked_sub(cfg.table_base)
            .and_then(|i| held.get_mut(i as usize))
        {
            *h = true;
        }
        plan.tables.push((m.interface.clone(), table));
        let at = cfg.rule_priority + 4;
        if let Some(mark) =
            mask.and_then(|k| crate::plan::nft::mark(k, table - cfg.table_base, reserved))
        {
            plan.marked.push(Marked {
                iface: m.interface.clone(),
                dev: m.device.clone(),
                table,
                mark,
                tier: m.tier,
                weight: m.weight,
            });
            want_rules.push(Rule {
                fwmark: mask.map(|k| (mark, k)),
                ..Rule::lookup(family, at, table)
            });
        }
        for src in srcs {
            want_rules.push(Rule {
                src: Some(*src),
                ..Rule::lookup(family, at, table)
            });
        }
        // IPv4 dials' point-to-point peer: before main's route to it.
        if let (Some(gw @ IpAddr::V4(_)), Some(src)) = (m.gateway, srcs.first()) {
            want_rules.push(Rule {
                src: Some(*src),
                dst: Some((gw, 32)),
                ..Rule::lookup(family, cfg.rule_priority + 2, table)
            });
        }
    }
    // In table order, whatever order the members took their tables in: the
    // nft text is compared with the last one loaded, and a reordering is
    // no change.
    plan.marked.sort_by_key(|m| m.table);
    // A rule with `fallback '0'` refuses what its absent member would
    // carry: the refusing mark meets `unreachable`.
    if let Some(k) = mask.filter(|_| rules.iter().any(|r| !r.fallback)) {
        want_rules.push(Rule {
            fwmark: Some((crate::plan::nft::refuse_mark(k), k)),
            ..Rule::doing(family, cfg.rule_priority + 4, Action::Unreachable)
        });
    }
    // The guards after the member rules: a goto written before its
    // landing rule exists is skipped by the kernel, never wrong.
    if !want_rules.is_empty() {
        let [a, b, peers, c, land] = guards(family, cfg.rule_priority, mask);
        want_rules.extend([land, c, peers, a, b]);
    }
    // Each list searched from the last match on (rules are written, and
    // dumped, in the members' order): a scan of one list for each rule of
    // the other was 8,000 comparisons at 64 dials.
    let our_rules: Vec<&Rule> = cur.rules.iter().filter(|r| r.is_ours()).collect();
    let mut at = 0;
    for w in &want_rules {
        if seek(&our_rules, &mut at, |r| *r == w).is_none() && !plan.add_rules.contains(w) {
            plan.add_rules.push(w.clone());
        }
    }
    let mut at = 0;
    for r in our_rules {
        if seek(&want_rules, &mut at, |w| w == r).is_none() {
            plan.del_rules.push(r.clone());
        }
    }
    // A member's table keeps one route of ours, at our metric: one left
    // at an earlier metric (`--metric 7`, then back) goes too.
    for r in ours {
        let kept = r.metric == metric
            && r.table
                .checked_sub(cfg.table_base)
                .and_then(|i| held.get(i as usize))
                .is_some_and(|h| *h && range.contains(&r.table));
        if !kept {
            plan.del_routes.push(r.clone());
        }
    }
    plan
}

/// The plan for the selection's members (the route's, and those standing
/// by for a rule's tier) against `cur`: with `option inbound '0'`, the
/// removal of ours. Empty when the kernel is as it should be (`status`).
pub fn wanted(
    family: Family,
    cfg: &crate::input::config::Config,
    dump: &crate::input::dump::Dump,
    sel: &crate::plan::members::Selection,
    links: &[Link],
    cur: &Current,
    mask: Option<u32>,
) -> Plan {
    if cfg.inbound.enabled {
        // Members come in the dump's order: each one's interface is
        // looked for from the last one's on (a search from the start for
        // each was 4,000 string comparisons at 64 dials).
        let ifs = &dump.interface;
        let mut at = 0;
        // One list first: a map over the chain of both was its body twice.
        let all: Vec<&Member> = sel.members.iter().chain(&sel.standby).collect();
        let with: Vec<(&Member, Vec<(IpAddr, u8)>)> = all
            .into_iter()
            .map(|m| {
                let found = (at..ifs.len())
                    .chain(0..at)
                    .find(|k| ifs[*k].interface == m.interface);
                let srcs = match found {
                    Some(k) => {
                        at = k;
                        sources(family, &ifs[k])
                    }
                    None => Vec::new(),
                };
                (m, srcs)
            })
            .collect();
        plan(
            family,
            &cfg.inbound,
            cfg.metric,
            &with,
            links,
            cur,
            mask,
            &cfg.rules,
        )
    } else {
        flush_plan(cur)
    }
}

/// The differences `plan` would write, one line each (status, check).
pub fn differences(plan: &Plan) -> Vec<String> {
    let mut d = Vec::new();
    for (r, _) in &plan.routes {
        let dev = r.nexthops.first().map_or("", |n| n.dev.as_str());
        d.push(format!("+ table {} default via {dev} (inbound)", r.table));
    }
    for r in &plan.add_rules {
        d.push(format!("+ {} (inbound, missing)", r.to_ip("add")));
    }
    for r in &plan.del_rules {
        d.push(format!("- {} (inbound, left behind)", r.to_ip("del")));
    }
    for r in &plan.del_routes {
        d.push(format!(
            "- table {} default metric {} (inbound, left behind)",
            r.table, r.metric
        ));
    }
    d
}

/// Every rule and member-table route of ours, to remove (`--flush`).
pub fn flush_plan(cur: &Current) -> Plan {
    Plan {
        del_rules: cur.rules.iter().filter(|r| r.is_ours()).cloned().collect(),
        del_routes: cur.routes.iter().filter(|r| r.is_ours()).cloned().collect(),
        ..Plan::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::dummy::{Dummy, Op};
    use crate::kernel::program::tests::{link, member};
    use crate::kernel::tables::apply;
    use crate::kernel::State;
    use crate::Error;

    fn src(a: &str) -> Vec<(IpAddr, u8)> {
        vec![(a.parse().unwrap(), 32)]
    }

    fn kernel() -> Dummy {
        Dummy {
            links: vec![link(5, "pppoe-a"), link(6, "pppoe-b"), link(7, "pppoe-c")],
            ..Dummy::empty()
        }
    }

    fn sync(k: &mut Dummy, ms: &[(Member, &str)]) -> Result<Option<String>, Error> {
        let cfg = Inbound::default();
        let st = State::read(k, Family::V4, 254).unwrap();
        let cur = Current::of(&st.tables, st.rules.as_deref(), &cfg).unwrap();
        let with: Vec<(&Member, Vec<(IpAddr, u8)>)> = ms.iter().map(|(m, a)| (m, src(a))).collect();
        let links = k.links.clone();
        let p = plan(Family::V4, &cfg, 1, &with, &links, &cur, None, &[]);
        apply(k, &p)
    }

    /// A member coming back takes a free table below the others': the
    /// marks come in table order all the same, so the next event plans
    /// the same nft text.
    #[test]
    fn marks_come_in_table_order() {
        let mut k = kernel();
        let (a, b, c) = (
            member("A", "pppoe-a", "10.0.0.1"),
            member("B", "pppoe-b", "10.0.0.2"),
            member("C", "pppoe-c", "10.0.0.3"),
        );
        sync(
            &mut k,
            &[
                (a.clone(), "100.66.0.1"),
                (b.clone(), "100.66.0.2"),
                (c.clone(), "100.66.0.3"),
            ],
        )
        .unwrap();
        sync(
            &mut k,
            &[(b.clone(), "100.66.0.2"), (c.clone(), "100.66.0.3")],
        )
        .unwrap();
        let cfg = Inbound::default();
        let st = State::read(&mut k, Family::V4, 254).unwrap();
        let cur = Current::of(&st.tables, st.rules.as_deref(), &cfg).unwrap();
        let with = [
            (&a, src("100.66.0.1")),
            (&b, src("100.66.0.2")),
            (&c, src("100.66.0.3")),
        ];
        let p = plan(
            Family::V4,
            &cfg,
            1,
            &with,
            &k.links.clone(),
            &cur,
            Some(0x00ff_0000),
            &[],
        );
        let got: Vec<(&str, u32)> = p
            .marked
            .iter()
            .map(|m| (m.iface.as_str(), m.table))
            .collect();
        assert_eq!(got, [("A", 4201), ("B", 4202), ("C", 4203)]);
    }

    fn tables(k: &Dummy) -> Vec<(u32, String)> {
        let mut v: Vec<(u32, String)> = k
            .routes
            .iter()
            .map(|r| (r.table, r.nexthops[0].dev.clone()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn members_keep_their_tables_and_new_ones_take_the_lowest_free() {
        let mut k = kernel();
        let (a, b, c) = (
            member("A", "pppoe-a", "10.0.0.1"),
            member("B", "pppoe-b", "10.0.0.2"),
            member("C", "pppoe-c", "10.0.0.3"),
        );
        let s = sync(
            &mut k,
            &[(a.clone(), "100.66.0.1"), (b.clone(), "100.66.0.2")],
        )
        .unwrap();
        assert_eq!(
            s.as_deref(),
            Some("inbound: +9 rules, 2 table routes written")
        );
        assert_eq!(
            tables(&k),
            [(4201, "pppoe-a".into()), (4202, "pppoe-b".into())]
        );
        // Unchanged: nothing written.
        k.commands.clear();
        assert_eq!(
            sync(
                &mut k,
                &[(a.clone(), "100.66.0.1"), (b.clone(), "100.66.0.2")]
            )
            .unwrap(),
            None
        );
        assert!(k.commands.is_empty(), "{:?}", k.commands);
        // A leaves: its rule and table go; B keeps 4202.
        sync(&mut k, &[(b.clone(), "100.66.0.2")]).unwrap();
        assert_eq!(tables(&k), [(4202, "pppoe-b".into())]);
        assert_eq!(
            k.rules.len(),
            2 + 5,
            "its two rules (from, to its peer) and the guards"
        );
        // Someone else's rule points at 4201: C does not take it.
        k.rules.push(Rule {
            fwmark: Some((1, 1)),
            protocol: 4,
            ..Rule::lookup(Family::V4, 100, 4201)
        });
        sync(
            &mut k,
            &[(b.clone(), "100.66.0.2"), (c.clone(), "100.66.0.3")],
        )
        .unwrap();
        assert_eq!(
            tables(&k),
            [(4202, "pppoe-b".into()), (4203, "pppoe-c".into())]
        );
        // A changed address replaces its rule; the foreign rule stays.
        sync(&mut k, &[(b, "100.66.9.9"), (c, "100.66.0.3")]).unwrap();
        let srcs: Vec<String> = k
            .rules
            .iter()
            .filter(|r| r.is_ours() && r.dst.is_none())
            .filter_map(|r| Some(r.src?.0.to_string()))
            .collect();
        assert_eq!(srcs, ["100.66.0.3", "100.66.9.9"]);
        assert!(k.rules.iter().any(|r| r.protocol == 4));
        // Flush: ours go, the foreign rule stays.
        let st = State::read(&mut k, Family::V4, 254).unwrap();
        let cur = Current::of(&st.tables, st.rules.as_deref(), &Inbound::default()).unwrap();
        apply(&mut k, &flush_plan(&cur)).unwrap();
        assert!(k.routes.is_empty());
        assert_eq!(k.rules.len(), 1);
    }

    #[test]
    fn each_member_gets_its_own_interfaces_sources_in_any_order() {
        let d = crate::input::dump::Dump::parse(
            br#"{"interface":[
          {"interface":"A","ipv4-address":[{"address":"100.66.0.1","mask":32}]},
          {"interface":"lan","ipv4-address":[{"address":"192.168.1.1","mask":24}]},
          {"interface":"B","ipv4-address":[{"address":"100.66.0.2","mask":32}]},
          {"interface":"C","ipv4-address":[{"address":"100.66.0.3","mask":32}]}]}"#,
        )
        .unwrap();
        let mut cfg = crate::input::config::Config::defaults(Family::V4);
        cfg.inbound.enabled = true;
        let ms = crate::plan::members::Selection {
            members: vec![
                member("C", "pppoe-c", "10.0.0.3"),
                member("A", "pppoe-a", "10.0.0.1"),
                member("gone", "pppoe-a", "10.0.0.9"),
                member("B", "pppoe-b", "10.0.0.2"),
            ],
            ..Default::default()
        };
        let cur = Current {
            routes: vec![],
            rules: vec![],
        };
        let p = wanted(Family::V4, &cfg, &d, &ms, &kernel().links, &cur, None);
        let got: Vec<(u32, String)> = p
            .add_rules
            .iter()
            .filter(|r| r.dst.is_none())
            .filter_map(|r| Some((r.table, r.src?.0.to_string())))
            .collect();
        // Each member's rule to its peer, before main's route to it.
        let to_peer: Vec<String> = p
            .add_rules
            .iter()
            .filter(|r| r.dst.is_some())
            .map(|r| r.to_ip("add"))
            .collect();
        assert_eq!(
            to_peer,
            [
                "ip rule add priority 4202 from 100.66.0.3/32 to 10.0.0.3/32 lookup 4201 proto 236",
                "ip rule add priority 4202 from 100.66.0.1/32 to 10.0.0.1/32 lookup 4202 proto 236",
                "ip rule add priority 4202 from 100.66.0.2/32 to 10.0.0.2/32 lookup 4204 proto 236"
            ]
        );
        // Then the five guards, landing rules first, the gotos last.
        let [a, b, peers, c, land] = guards(Family::V4, 4200, None);
        assert_eq!(p.add_rules[6..], [land, c, peers, a, b]);
        // C, A, B take 4201, 4202, 4204 in that order ("gone" has no
        // interface in the dump, so no sources, but still its table).
        assert_eq!(
            got,
            [
                (4201, "100.66.0.3".to_string()),
                (4202, "100.66.0.1".to_string()),
                (4204, "100.66.0.2".to_string())
            ]
        );
        // Unchanged against what it planned: nothing to add or remove.
        let cur = Current {
            routes: p.routes.iter().map(|(r, _)| r.clone()).collect(),
            rules: p.add_rules.clone(),
        };
        let again = wanted(Family::V4, &cfg, &d, &ms, &kernel().links, &cur, None);
        assert!(again.add_rules.is_empty() && again.del_rules.is_empty());
        assert!(again.routes.is_empty() && again.del_routes.is_empty());
    }

    #[test]
    fn a_refused_step_leaves_the_kernel_as_it_was() {
        let a = member("A", "pppoe-a", "10.0.0.1");
        let b = member("B", "pppoe-b", "10.0.0.2");
        // A's place taken by B (its table reused): a route, a rule in, a
        // rule out. Then A and B down to B: a rule out, a table emptied.
        let ab = [(a.clone(), "100.66.0.1"), (b.clone(), "100.66.0.2")];
        let cases: [(&[(Member, &str)], &[(Member, &str)], &[Op]); 2] = [
            (&ab[..1], &ab[1..], &[Op::Replace, Op::AddRule, Op::DelRule]),
            (&ab[..], &ab[1..], &[Op::DelRule, Op::Delete]),
        ];
        for (before, after, ops) in cases {
            for op in ops {
                let mut k = kernel();
                sync(&mut k, before).unwrap();
                let (routes, rules) = (k.routes.clone(), k.rules.clone());
                k.refuse_once(*op, libc::EPERM);
                let e = sync(&mut k, after).unwrap_err();
                assert_eq!(e.exit_code(), 5, "{e}");
                assert!(
                    e.to_string().contains("inbound rules left as they were"),
                    "{e}"
                );
                // The same rules (their order among equals is no matter).
                let key = |r: &Rule| format!("{r:?}");
                let (mut got, mut want) = (k.rules.clone(), rules.clone());
                got.sort_by_key(key);
                want.sort_by_key(key);
                assert_eq!((&k.routes, &got), (&routes, &want), "{op:?}");
            }
        }
    }

    #[test]
    fn sources_and_options() {
        let d = crate::input::dump::Dump::parse(
            br#"{"interface":[{"interface":"w_6","up":true,"proto":"dhcpv6",
          "ipv6-address":[{"address":"2001:db8:ff:1::a","mask":64},{"address":"fe80::1","mask":64}],
          "ipv6-prefix":[{"address":"2001:db8:100::","mask":56}],
          "ipv4-address":[{"address":"100.66.0.1","mask":32}]}]}"#,
        )
        .unwrap();
        let i = &d.interface[0];
        let s6: Vec<String> = sources(Family::V6, i)
            .iter()
            .map(|(a, l)| format!("{a}/{l}"))
            .collect();
        assert_eq!(s6, ["2001:db8:ff:1::a/128", "2001:db8:100::/56"]);
        assert_eq!(sources(Family::V4, i), src("100.66.0.1"));
        assert_eq!(parse_table_base("4200"), Ok(4200));
        assert!(parse_table_base("1000").unwrap_err().contains("mwan3"));
        assert!(parse_table_base("100").unwrap_err().contains("main"));
        assert!(parse_table_base("4294967295").is_err());
        assert_eq!(parse_rule_priority("4200"), Ok(4200));
        assert!(parse_rule_priority("2001").unwrap_err().contains("mwan3"));
        assert!(parse_rule_priority("32766").is_err());
        assert!(parse_rule_priority("x").is_err());
        let r = Rule {
            src: Some(("2001:db8:100::".parse().unwrap(), 56)),
            ..Rule::lookup(Family::V6, 4203, 4201)
        };
        assert_eq!(
            r.to_ip("add"),
            "ip -6 rule add priority 4203 from 2001:db8:100::/56 lookup 4201 proto 236"
        );
        let m = crate::kernel::netlink::rule_msg(&r).unwrap();
        assert_eq!(
            crate::kernel::netlink::parse_rule(Family::V6, &m),
            Some(r.clone())
        );
        assert_eq!(crate::kernel::netlink::parse_rule(Family::V4, &m), None);
        // The guards, through the codec and as ip writes them.
        let g = guards(Family::V4, 4200, Some(0x00ff_0000));
        let said: Vec<String> = g.iter().map(|r| r.to_ip("add")).collect();
        assert_eq!(
            said,
            [
                "ip rule add priority 4200 iif lo goto 4202 proto 236",
                "ip rule add priority 4201 fwmark 0x0/0xff0000 goto 4205 proto 236",
                "ip rule add priority 4202 nop proto 236",
                "ip rule add priority 4203 iif lo lookup 254 suppress_prefixlength 0 proto 236",
                "ip rule add priority 4205 nop proto 236",
            ]
        );
        for r in g.iter().chain(&guards(Family::V6, 4200, None)) {
            let m = crate::kernel::netlink::rule_msg(r).unwrap();
            assert_eq!(
                crate::kernel::netlink::parse_rule(r.family, &m).as_ref(),
                Some(r)
            );
        }
        assert_eq!(
            guards(Family::V6, 100, None)[1].to_ip("add"),
            "ip -6 rule add priority 101 goto 105 proto 236"
        );
        // A rule with a destination, through the codec.
        let peer = Rule {
            src: Some(("100.66.0.1".parse().unwrap(), 32)),
            dst: Some(("100.64.0.1".parse().unwrap(), 32)),
            ..Rule::lookup(Family::V4, 4202, 4201)
        };
        let m = crate::kernel::netlink::rule_msg(&peer).unwrap();
        assert_eq!(
            crate::kernel::netlink::parse_rule(Family::V4, &m),
            Some(peer)
        );
        assert_eq!(parse_rule_priority("32760"), Ok(32760));
        assert!(parse_rule_priority("32761").is_err());
        assert!(parse_rule_priority("996")
            .unwrap_err()
            .contains("996-1001 overlaps mwan3's"));
    }
}
