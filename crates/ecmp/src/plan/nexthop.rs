//! Kernel nexthop objects (Linux 5.3+) as plain data, our ID scheme, and
//! the plan that moves a group from what the kernel holds to what the
//! members say.
//!
//! Why objects: a route that points at a group (`nhid`) outlives a member's
//! device. When pppd exits and `pppoe-X` is unregistered, the kernel drops
//! that member from the group and keeps the route; a plain RTA_MULTIPATH
//! IPv4 route is deleted whole. A resilient group (5.13+) also moves only
//! the departed member's hash buckets, and with its idle timer gives a
//! returning member only buckets that carried no traffic lately, so NAT'd
//! connections on healthy links survive both.
//!
//! ID scheme (decimal as `ip nexthop` prints it):
//! - members: 0xEC000000..=0xEC7FFFFF (3959422976..=3967811583), the lowest
//!   free ID, kept for as long as the (family, gateway, device) lives;
//! - groups: 0xEC800000 | table << 2 | v6 << 1 | slot, two slots per family
//!   and table so a group can be swapped for one of another type (resilient
//!   vs hash-threshold, or another bucket count) under a live route.
//!
//! An object is ours when its ID is in 0xEC000000..=0xECFFFFFF and it
//! carries protocol 236; no other object is ever replaced or deleted.

pub use crate::input::options::{Mode, Resilient};
use crate::plan::link::seek;
use crate::plan::route::Nexthop;
use crate::{Family, RTPROT_ECMP};
use std::net::IpAddr;

/// How a write treats an object that exists (NLM_F_EXCL or NLM_F_REPLACE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// Create it; refused (EEXIST) if it exists.
    Create,
    /// Create it, or replace the one with its ID in place.
    Replace,
}

pub const ID_BASE: u32 = 0xEC00_0000;
pub const MEMBER_LAST: u32 = 0xEC7F_FFFF;
pub const GROUP_BASE: u32 = 0xEC80_0000;
pub const ID_LAST: u32 = 0xECFF_FFFF;
/// Largest table a group ID can encode (20 bits).
pub const GROUP_TABLE_MAX: u32 = 0xF_FFFF;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NhKind {
    /// One nexthop: gateway (or none: device route) via a device.
    Gateway {
        gateway: Option<IpAddr>,
        ifindex: u32,
    },
    /// A group of (member id, weight 1-256).
    Group {
        entries: Vec<(u32, u16)>,
        resilient: Option<Resilient>,
    },
    /// A blackhole: only ever created for a moment by `check`, to probe
    /// the kernel for resilient groups without touching any device.
    Blackhole,
    /// FDB or anything else we never create.
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NhObject {
    pub id: u32,
    /// The member's family; None for groups (AF_UNSPEC in the kernel).
    pub family: Option<Family>,
    pub protocol: u8,
    pub kind: NhKind,
}

impl NhObject {
    pub fn is_ours(&self) -> bool {
        self.protocol == RTPROT_ECMP && (ID_BASE..=ID_LAST).contains(&self.id)
    }

    pub fn is_group(&self) -> bool {
        matches!(self.kind, NhKind::Group { .. })
    }

    fn entries(&self) -> &[(u32, u16)] {
        match &self.kind {
            NhKind::Group { entries, .. } => entries,
            _ => &[],
        }
    }

    /// `ip nexthop` syntax.
    pub fn to_ip(&self, verb: &str, dev: &dyn Fn(u32) -> String) -> String {
        let mut s = format!("ip nexthop {verb} id {}", self.id);
        match &self.kind {
            NhKind::Gateway { gateway, ifindex } => {
                if let Some(g) = gateway {
                    s.push_str(&format!(" via {g}"));
                }
                s.push_str(&format!(" dev {}", dev(*ifindex)));
            }
            NhKind::Group { entries, resilient } => {
                let g: Vec<String> = entries
                    .iter()
                    .map(|(id, w)| {
                        if *w == 1 {
                            id.to_string()
                        } else {
                            format!("{id},{w}")
                        }
                    })
                    .collect();
                s.push_str(&format!(" group {}", g.join("/")));
                if let Some(r) = resilient {
                    s.push_str(&format!(
                        " type resilient buckets {} idle_timer {} unbalanced_timer {}",
                        r.buckets, r.idle_timer, r.unbalanced_timer
                    ));
                }
            }
            NhKind::Blackhole => s.push_str(" blackhole"),
            NhKind::Other => {}
        }
        s.push_str(&format!(" proto {}", self.protocol));
        s
    }
}

/// ID of our group for (family, table) in slot 0 or 1; None when the table
/// is too large for the scheme.
pub fn group_id(family: Family, table: u32, slot: u32) -> Option<u32> {
    if table > GROUP_TABLE_MAX {
        return None;
    }
    let v6 = u32::from(family == Family::V6);
    Some(GROUP_BASE | table << 2 | v6 << 1 | (slot & 1))
}

/// What to do with the group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GroupWrite {
    /// It is already as it should be: write nothing.
    #[default]
    Keep,
    /// Create it in a free slot (CREATE|EXCL).
    Create,
    /// Replace ours in place (CREATE|REPLACE): the switch happens here.
    Replace,
}

/// The writes that take the kernel from `objs` to a group over the
/// members, in order. The route write itself is the caller's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupPlan {
    /// Member objects to create (CREATE|EXCL).
    pub create: Vec<NhObject>,
    /// The group as it should be.
    pub group: Option<NhObject>,
    pub write: GroupWrite,
    /// Our groups of this family and table other than `group`: deleted
    /// once the route points at `group`.
    pub old_groups: Vec<u32>,
}

/// Why no group can be planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// Group IDs encode the table: above [`GROUP_TABLE_MAX`] there is
    /// none (a configuration that only multipath mode can serve).
    TableTooLarge(u32),
    /// Every ID of our member range is in use.
    NoFreeId,
    /// Both group slots of (family, table) hold objects that are not ours.
    SlotsTaken(u32, u32),
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::TableTooLarge(t) => write!(
                f,
                "table {t} is above {GROUP_TABLE_MAX}, which nexthop group IDs cannot encode; use mode auto or multipath, or a smaller table"
            ),
            PlanError::NoFreeId => write!(f, "no free nexthop ID in our member range"),
            PlanError::SlotsTaken(a, b) => write!(
                f,
                "nexthop IDs {a} and {b} are both taken by objects that are not ours"
            ),
        }
    }
}

impl From<PlanError> for crate::Error {
    /// A table too large is the configuration's doing (exit 3); IDs held
    /// by objects of others are a conflict (exit 6).
    fn from(e: PlanError) -> crate::Error {
        match e {
            PlanError::TableTooLarge(_) => crate::Error::Config(e.to_string()),
            _ => crate::Error::Conflict(e.to_string()),
        }
    }
}

/// Our member objects of `family` that no group references: deleted last.
pub fn orphans(family: Family, objs: &[NhObject]) -> Vec<u32> {
    // Every id a group holds, sorted once: a scan of every group for each
    // member was 16,000 comparisons at 64 dials.
    let mut held: Vec<u32> = objs
        .iter()
        .flat_map(|g| g.entries().iter().map(|e| e.0))
        .collect();
    held.sort_unstable();
    objs.iter()
        .filter(|o| o.is_ours() && o.family == Some(family) && !o.is_group())
        .filter(|o| held.binary_search(&o.id).is_err())
        .map(|o| o.id)
        .collect()
}

/// Plan a group of the members `want` (resolved: ifindex set) for
/// (family, table); `resilient` None asks for a hash-threshold group.
pub fn plan_group(
    family: Family,
    table: u32,
    want: &[Nexthop],
    resilient: Option<Resilient>,
    objs: &[NhObject],
) -> Result<GroupPlan, PlanError> {
    let slots = [group_id(family, table, 0), group_id(family, table, 1)];
    let [Some(a), Some(b)] = slots else {
        return Err(PlanError::TableTooLarge(table));
    };
    let mut plan = GroupPlan::default();
    let mut taken: Vec<u32> = objs.iter().map(|o| o.id).collect();
    // Our member objects, each looked for from the last match on (they
    // were made, and are dumped, in the members' order). Of two alike
    // (never made by us), either serves; the other is swept as unused.
    let mine: Vec<&NhObject> = objs
        .iter()
        .filter(|o| o.is_ours() && o.family == Some(family) && !o.is_group())
        .collect();
    let mut at = 0;
    let mut entries = Vec::new();
    for w in want {
        let kind = NhKind::Gateway {
            gateway: w.gateway,
            ifindex: w.ifindex,
        };
        let found = seek(&mine, &mut at, |o| o.kind == kind).map(|k| mine[k]);
        let id = match found {
            Some(o) => o.id,
            None => {
                let id = (ID_BASE..=MEMBER_LAST)
                    .find(|i| !taken.contains(i))
                    .ok_or(PlanError::NoFreeId)?;
                taken.push(id);
                plan.create.push(NhObject {
                    id,
                    family: Some(family),
                    protocol: RTPROT_ECMP,
                    kind: NhKind::Gateway {
                        gateway: w.gateway,
                        ifindex: w.ifindex,
                    },
                });
                id
            }
        };
        if !entries.iter().any(|(e, _)| *e == id) {
            entries.push((id, w.weight.clamp(1, 256)));
        }
    }
    let ours_here = |id: u32| {
        objs.iter()
            .find(|o| o.id == id && o.is_ours() && o.is_group())
    };
    let (have_a, have_b) = (ours_here(a), ours_here(b));
    // The slot to keep: an existing group of ours whose type (and bucket
    // count) the kernel lets us replace in place.
    let compatible = |o: &NhObject| match (&o.kind, resilient) {
        (
            NhKind::Group {
                resilient: None, ..
            },
            None,
        ) => true,
        (
            NhKind::Group {
                resilient: Some(r), ..
            },
            Some(w),
        ) => r.buckets == w.buckets,
        _ => false,
    };
    let keep = [have_a, have_b]
        .into_iter()
        .flatten()
        .find(|o| compatible(o));
    let id = match keep {
        Some(o) => o.id,
        None if have_a.is_none() && !taken.contains(&a) => a,
        None if have_b.is_none() && !taken.contains(&b) => b,
        None => return Err(PlanError::SlotsTaken(a, b)),
    };
    let group = NhObject {
        id,
        family: None,
        protocol: RTPROT_ECMP,
        kind: NhKind::Group {
            entries: entries.clone(),
            resilient,
        },
    };
    plan.write = match keep {
        None => GroupWrite::Create,
        Some(o) if same_group(o, &group) => GroupWrite::Keep,
        Some(_) => GroupWrite::Replace,
    };
    plan.group = Some(group);
    plan.old_groups = [have_a, have_b]
        .into_iter()
        .flatten()
        .map(|o| o.id)
        .filter(|i| *i != id)
        .collect();
    Ok(plan)
}

/// Same members, weights and parameters, in any order.
fn same_group(a: &NhObject, b: &NhObject) -> bool {
    match (&a.kind, &b.kind) {
        (
            NhKind::Group {
                entries: ea,
                resilient: ra,
            },
            NhKind::Group {
                entries: eb,
                resilient: rb,
            },
        ) => {
            let (mut ea, mut eb) = (ea.clone(), eb.clone());
            ea.sort();
            eb.sort();
            // A group of one carries no meaningful weight.
            if ea.len() == 1 && eb.len() == 1 {
                ea[0].1 = 1;
                eb[0].1 = 1;
            }
            ea == eb && ra == rb
        }
        _ => false,
    }
}

/// Our groups of `family` in any table (for a mode switch to multipath).
pub fn our_groups(family: Family, objs: &[NhObject]) -> Vec<u32> {
    let v6 = u32::from(family == Family::V6);
    objs.iter()
        .filter(|o| o.is_ours() && o.is_group() && o.id >= GROUP_BASE && (o.id >> 1) & 1 == v6)
        .map(|o| o.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u32, gw: &str, ifindex: u32) -> NhObject {
        NhObject {
            id,
            family: Some(Family::V4),
            protocol: RTPROT_ECMP,
            kind: NhKind::Gateway {
                gateway: Some(gw.parse().unwrap()),
                ifindex,
            },
        }
    }

    fn want(gw: &str, ifindex: u32, weight: u16) -> Nexthop {
        Nexthop {
            gateway: Some(gw.parse().unwrap()),
            ifindex,
            dev: format!("if{ifindex}"),
            weight,
        }
    }

    fn group(id: u32, entries: Vec<(u32, u16)>, resilient: Option<Resilient>) -> NhObject {
        NhObject {
            id,
            family: None,
            protocol: RTPROT_ECMP,
            kind: NhKind::Group { entries, resilient },
        }
    }

    #[test]
    fn id_scheme() {
        assert_eq!(group_id(Family::V4, 254, 0), Some(0xEC80_03F8));
        assert_eq!(group_id(Family::V6, 254, 1), Some(0xEC80_03FB));
        assert_eq!(group_id(Family::V4, GROUP_TABLE_MAX, 1), Some(0xECBF_FFFD));
        assert_eq!(group_id(Family::V4, GROUP_TABLE_MAX + 1, 0), None);
        let g = group(0xEC80_03F8, vec![], None);
        assert!(g.is_ours());
        assert!(!NhObject {
            protocol: 4,
            ..g.clone()
        }
        .is_ours());
        assert!(!NhObject { id: 7, ..g }.is_ours());
    }

    #[test]
    fn fresh_kernel_gets_lowest_ids_and_slot_zero() {
        let foreign = NhObject {
            protocol: 4,
            ..member(ID_BASE, "10.0.0.1", 9)
        };
        let p = plan_group(
            Family::V4,
            254,
            &[want("100.64.0.1", 5, 1), want("100.64.1.1", 6, 3)],
            Some(Resilient::default()),
            &[foreign],
        )
        .unwrap();
        let ids: Vec<u32> = p.create.iter().map(|o| o.id).collect();
        assert_eq!(
            ids,
            [ID_BASE + 1, ID_BASE + 2],
            "a foreign object's ID is skipped"
        );
        assert_eq!(p.write, GroupWrite::Create);
        let g = p.group.unwrap();
        assert_eq!(g.id, 0xEC80_03F8);
        assert_eq!(
            g.kind,
            NhKind::Group {
                entries: vec![(ID_BASE + 1, 1), (ID_BASE + 2, 3)],
                resilient: Some(Resilient::default())
            }
        );
        assert!(p.old_groups.is_empty());
    }

    #[test]
    fn existing_members_are_reused_and_a_same_group_is_not_written() {
        let g = 0xEC80_03F8;
        let objs = vec![
            member(ID_BASE, "100.64.0.1", 5),
            member(ID_BASE + 1, "100.64.1.1", 6),
            group(g, vec![(ID_BASE + 1, 1), (ID_BASE, 1)], None),
        ];
        let w = [want("100.64.0.1", 5, 1), want("100.64.1.1", 6, 1)];
        let p = plan_group(Family::V4, 254, &w, None, &objs).unwrap();
        assert!(p.create.is_empty());
        assert_eq!(p.write, GroupWrite::Keep);
        // One member leaves: the group is replaced in place.
        let p = plan_group(Family::V4, 254, &w[..1], None, &objs).unwrap();
        assert_eq!(p.write, GroupWrite::Replace);
        assert_eq!(p.group.unwrap().id, g);
    }

    #[test]
    fn a_type_change_moves_to_the_other_slot() {
        let a = 0xEC80_03F8;
        let objs = vec![
            member(ID_BASE, "100.64.0.1", 5),
            group(a, vec![(ID_BASE, 1)], None),
        ];
        let w = [want("100.64.0.1", 5, 1)];
        let p = plan_group(Family::V4, 254, &w, Some(Resilient::default()), &objs).unwrap();
        assert_eq!(p.group.unwrap().id, a + 1);
        assert_eq!(p.write, GroupWrite::Create);
        assert_eq!(p.old_groups, [a]);
        // Another bucket count cannot be replaced in place either.
        let objs = vec![
            member(ID_BASE, "100.64.0.1", 5),
            group(a + 1, vec![(ID_BASE, 1)], Some(Resilient::default())),
        ];
        let r = Resilient {
            buckets: 64,
            ..Resilient::default()
        };
        let p = plan_group(Family::V4, 254, &w, Some(r), &objs).unwrap();
        assert_eq!(p.group.unwrap().id, a);
        assert_eq!(p.old_groups, [a + 1]);
        // Timers can.
        let r = Resilient {
            idle_timer: 5,
            ..Resilient::default()
        };
        let p = plan_group(Family::V4, 254, &w, Some(r), &objs).unwrap();
        assert_eq!((p.group.unwrap().id, p.write), (a + 1, GroupWrite::Replace));
    }

    #[test]
    fn foreign_objects_in_both_slots_are_refused_not_taken() {
        let a = 0xEC80_03F8;
        let f = |id| NhObject {
            protocol: 4,
            ..group(id, vec![], None)
        };
        let e = plan_group(
            Family::V4,
            254,
            &[want("1.1.1.1", 2, 1)],
            None,
            &[f(a), f(a + 1)],
        )
        .unwrap_err();
        assert!(e.to_string().contains("not ours"), "{e}");
        assert_eq!(crate::Error::from(e).exit_code(), 6);
        let e = plan_group(Family::V4, GROUP_TABLE_MAX + 1, &[], None, &[]).unwrap_err();
        assert_eq!(
            crate::Error::from(e).exit_code(),
            3,
            "a table too large is the config's"
        );
    }

    #[test]
    fn orphans_are_ours_unreferenced_and_of_our_family() {
        let objs = vec![
            member(ID_BASE, "100.64.0.1", 5),
            member(ID_BASE + 1, "100.64.1.1", 6),
            NhObject {
                family: Some(Family::V6),
                ..member(ID_BASE + 2, "100.64.1.1", 6)
            },
            NhObject {
                protocol: 4,
                ..member(ID_BASE + 3, "100.64.1.1", 6)
            },
            group(0xEC80_03F8, vec![(ID_BASE, 1)], None),
        ];
        assert_eq!(orphans(Family::V4, &objs), [ID_BASE + 1]);
        assert_eq!(our_groups(Family::V4, &objs), [0xEC80_03F8]);
        assert!(our_groups(Family::V6, &objs).is_empty());
    }

    #[test]
    fn ip_syntax() {
        let dev = |i: u32| format!("pppoe-{i}");
        assert_eq!(
            member(ID_BASE, "100.64.0.1", 5).to_ip("add", &dev),
            "ip nexthop add id 3959422976 via 100.64.0.1 dev pppoe-5 proto 236"
        );
        assert_eq!(
            group(1, vec![(2, 1), (3, 4)], Some(Resilient::default())).to_ip("replace", &dev),
            "ip nexthop replace id 1 group 2/3,4 type resilient buckets 512 idle_timer 300 unbalanced_timer 0 proto 236"
        );
    }
}
