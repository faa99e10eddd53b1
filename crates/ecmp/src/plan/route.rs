//! The desired default route, the kernel's default routes as plain data,
//! and the plan that turns one into the other with a single write.

use crate::{Error, Family, RTPROT_ECMP};
use std::fmt::Write as _;
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nexthop {
    pub gateway: Option<IpAddr>,
    /// 0 until resolved against the kernel's links.
    pub ifindex: u32,
    pub dev: String,
    /// 1-256 (the kernel stores weight - 1 in rtnh_hops).
    pub weight: u16,
}

/// A default route (dst /0) as written to or read from the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub family: Family,
    pub table: u32,
    pub metric: u32,
    pub protocol: u8,
    /// Source prefix length: non-zero for IPv6 source-specific routes
    /// (odhcp6c's `default from PREFIX`), which are never ours.
    pub src_len: u8,
    /// rtm_type (1 = unicast; unreachable, blackhole etc. are others).
    pub kind: u8,
    /// RTA_NH_ID: the route points at a nexthop object (group). Its
    /// `nexthops` are then only what the kernel expands for old tools.
    pub nhid: Option<u32>,
    pub nexthops: Vec<Nexthop>,
}

/// rtm_type of a unicast route (others: blackhole, unreachable...).
pub const RTN_UNICAST: u8 = 1;

impl Route {
    /// The route we want over these members (resolved against the
    /// kernel's links), or None when there are none.
    pub fn desired(family: Family, table: u32, metric: u32, hops: &[Nexthop]) -> Option<Route> {
        if hops.is_empty() {
            return None;
        }
        Some(Route {
            family,
            table,
            metric,
            protocol: RTPROT_ECMP,
            src_len: 0,
            kind: RTN_UNICAST,
            nhid: None,
            nexthops: hops.to_vec(),
        })
    }

    pub fn is_ours(&self) -> bool {
        self.protocol == RTPROT_ECMP
    }

    /// Nexthops as the kernel compares them: a single nexthop carries no
    /// weight, and order does not matter.
    fn key(&self) -> Vec<(Option<IpAddr>, u32, u16)> {
        let single = self.nexthops.len() == 1;
        let mut k: Vec<_> = self
            .nexthops
            .iter()
            .map(|n| (n.gateway, n.ifindex, if single { 1 } else { n.weight }))
            .collect();
        k.sort();
        k
    }

    /// Same route as far as forwarding goes.
    pub fn same_as(&self, other: &Route) -> bool {
        self.table == other.table
            && self.metric == other.metric
            && self.protocol == other.protocol
            && self.kind == other.kind
            && self.src_len == other.src_len
            && self.nhid == other.nhid
            && (self.nhid.is_some() || self.key() == other.key())
    }

    pub fn devices(&self) -> Vec<&str> {
        self.nexthops.iter().map(|n| n.dev.as_str()).collect()
    }

    /// `ip route` syntax, e.g.
    /// `ip route replace default proto 236 metric 1 nexthop via A dev X weight 1 ...`
    pub fn to_ip(&self, verb: &str) -> String {
        let mut s = format!("{} {verb} default", self.family.ip_cmd());
        if self.table != 254 {
            let _ = write!(s, " table {}", self.table);
        }
        let _ = write!(s, " proto {} metric {}", self.protocol, self.metric);
        if let Some(id) = self.nhid {
            let _ = write!(s, " nhid {id}");
            return s;
        }
        let hop = |s: &mut String, n: &Nexthop| {
            if let Some(gw) = n.gateway {
                let _ = write!(s, " via {gw}");
            }
            let _ = write!(s, " dev {}", n.dev);
        };
        match self.nexthops.as_slice() {
            [] => {}
            [n] => hop(&mut s, n),
            hops => {
                for n in hops {
                    s.push_str(" nexthop");
                    hop(&mut s, n);
                    let _ = write!(s, " weight {}", n.weight);
                }
            }
        }
        s
    }
}

/// The change the route needs (the hotplug event's action is
/// `event::Action`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// It already holds exactly the desired route: write nothing.
    Unchanged,
    /// No members and no route of ours: nothing to write either.
    Absent,
    /// RTM_NEWROUTE with CREATE|REPLACE.
    Replace(Route),
    /// RTM_DELROUTE of our route (its protocol is in the request, so the
    /// kernel cannot match anything else).
    Delete(Route),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub change: Change,
    /// Routes of ours in the same table at another metric (left by an
    /// earlier configuration): deleted after the main write.
    pub stale: Vec<Route>,
}

/// Merge IPv6 sibling routes (one message per nexthop on old kernels) into
/// one route per (table, metric, protocol, src_len, kind).
pub fn merge_siblings(routes: Vec<Route>) -> Vec<Route> {
    let mut out: Vec<Route> = Vec::new();
    for r in routes {
        match out.iter_mut().find(|o| {
            o.family == Family::V6
                && (o.table, o.metric, o.protocol, o.src_len, o.kind)
                    == (r.table, r.metric, r.protocol, r.src_len, r.kind)
        }) {
            Some(o) => o.nexthops.extend(r.nexthops),
            None => out.push(r),
        }
    }
    out
}

/// Decide the single write that makes the kernel hold `desired` in
/// (`table`, `metric`). `kernel` is every default route of the family.
pub fn plan(
    desired: Option<&Route>,
    kernel: &[Route],
    table: u32,
    metric: u32,
) -> Result<Plan, Error> {
    let in_table = |r: &&Route| r.table == table && r.src_len == 0;
    let ours: Vec<&Route> = kernel
        .iter()
        .filter(in_table)
        .filter(|r| r.is_ours())
        .collect();
    let here = ours.iter().find(|r| r.metric == metric).copied();
    let stale = ours
        .iter()
        .filter(|r| r.metric != metric)
        .map(|r| (*r).clone())
        .collect();
    let change = match desired {
        Some(want) => {
            // REPLACE would overwrite whatever holds this slot, ours or not.
            if let Some(f) = kernel
                .iter()
                .filter(in_table)
                .find(|r| r.metric == metric && !r.is_ours())
            {
                return Err(Error::Conflict(format!(
                    "a default route in table {table} with metric {metric} (proto {}, via {}) is not ours; choose another metric",
                    f.protocol,
                    f.devices().join(",")
                )));
            }
            match here {
                Some(have) if have.same_as(want) => Change::Unchanged,
                _ => Change::Replace(want.clone()),
            }
        }
        None => match here {
            Some(have) => Change::Delete(have.clone()),
            None => Change::Absent,
        },
    };
    Ok(Plan { change, stale })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nh(gw: &str, ifindex: u32, weight: u16) -> Nexthop {
        Nexthop {
            gateway: Some(gw.parse().unwrap()),
            ifindex,
            dev: format!("pppoe-{ifindex}"),
            weight,
        }
    }

    fn route(metric: u32, protocol: u8, hops: Vec<Nexthop>) -> Route {
        Route {
            family: Family::V4,
            table: 254,
            metric,
            protocol,
            src_len: 0,
            kind: RTN_UNICAST,
            nhid: None,
            nexthops: hops,
        }
    }

    #[test]
    fn unchanged_ignores_order_and_single_weight() {
        let want = route(
            1,
            RTPROT_ECMP,
            vec![nh("10.0.0.1", 2, 1), nh("10.0.0.1", 3, 1)],
        );
        let have = route(
            1,
            RTPROT_ECMP,
            vec![nh("10.0.0.1", 3, 1), nh("10.0.0.1", 2, 1)],
        );
        assert_eq!(
            plan(Some(&want), &[have], 254, 1).unwrap().change,
            Change::Unchanged
        );
        let want = route(1, RTPROT_ECMP, vec![nh("10.0.0.1", 2, 5)]);
        let have = route(1, RTPROT_ECMP, vec![nh("10.0.0.1", 2, 1)]);
        assert_eq!(
            plan(Some(&want), &[have], 254, 1).unwrap().change,
            Change::Unchanged
        );
    }

    #[test]
    fn replace_when_different() {
        let want = route(
            1,
            RTPROT_ECMP,
            vec![nh("10.0.0.1", 2, 1), nh("10.0.0.1", 3, 2)],
        );
        for have in [
            vec![],
            vec![route(
                1,
                RTPROT_ECMP,
                vec![nh("10.0.0.1", 2, 1), nh("10.0.0.1", 3, 1)],
            )],
            vec![route(1, RTPROT_ECMP, vec![nh("10.0.0.1", 2, 1)])],
        ] {
            assert_eq!(
                plan(Some(&want), &have, 254, 1).unwrap().change,
                Change::Replace(want.clone())
            );
        }
    }

    #[test]
    fn foreign_routes_are_never_ours_to_write() {
        let want = route(1, RTPROT_ECMP, vec![nh("10.0.0.1", 2, 1)]);
        let foreign = route(1, 4, vec![nh("10.9.9.9", 7, 1)]);
        let e = plan(Some(&want), &[foreign.clone()], 254, 1).unwrap_err();
        assert_eq!(e.exit_code(), 6);
        assert!(e.to_string().contains("proto 4"), "{e}");
        // Foreign routes at other metrics or in other tables do not matter.
        let mut other_table = foreign.clone();
        other_table.table = 100;
        let other_metric = route(0, 4, vec![nh("10.9.9.9", 7, 1)]);
        let p = plan(Some(&want), &[other_table, other_metric], 254, 1).unwrap();
        assert_eq!(p.change, Change::Replace(want.clone()));
        // Nothing to install: a foreign route in our slot is left alone.
        assert_eq!(
            plan(None, &[foreign], 254, 1).unwrap().change,
            Change::Absent
        );
    }

    #[test]
    fn delete_only_ours_and_collect_stale() {
        let ours = route(1, RTPROT_ECMP, vec![nh("10.0.0.1", 2, 1)]);
        let old = route(5, RTPROT_ECMP, vec![nh("10.0.0.1", 2, 1)]);
        let p = plan(None, &[ours.clone(), old.clone()], 254, 1).unwrap();
        assert_eq!(p.change, Change::Delete(ours));
        assert_eq!(p.stale, vec![old]);
    }

    #[test]
    fn ip_syntax() {
        let mut r = route(
            1,
            RTPROT_ECMP,
            vec![nh("100.64.1.1", 2, 1), nh("100.64.2.1", 3, 2)],
        );
        assert_eq!(
            r.to_ip("replace"),
            "ip route replace default proto 236 metric 1 nexthop via 100.64.1.1 dev pppoe-2 weight 1 nexthop via 100.64.2.1 dev pppoe-3 weight 2"
        );
        r.nexthops.truncate(1);
        r.nexthops[0].gateway = None;
        r.table = 100;
        assert_eq!(
            r.to_ip("replace"),
            "ip route replace default table 100 proto 236 metric 1 dev pppoe-2"
        );
    }

    #[test]
    fn siblings_merge_for_v6_only() {
        let mut a = route(1, RTPROT_ECMP, vec![nh("fe80::1", 2, 1)]);
        a.family = Family::V6;
        let mut b = a.clone();
        b.nexthops = vec![nh("fe80::2", 3, 1)];
        let m = merge_siblings(vec![a.clone(), b]);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].nexthops.len(), 2);
        let v4 = route(1, RTPROT_ECMP, vec![nh("10.0.0.1", 2, 1)]);
        assert_eq!(merge_siblings(vec![v4.clone(), v4]).len(), 2);
    }
}
