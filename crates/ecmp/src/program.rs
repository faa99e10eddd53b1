//! The write sequences that take the kernel from what it holds to the
//! desired state, one per mode, each all-or-nothing: a failed step undoes
//! the steps before it, so the kernel is left exactly as it was.
//!
//! multipath: one RTM_NEWROUTE (CREATE|REPLACE) with RTA_MULTIPATH.
//! resilient / group: member objects first (new ones only), then the group
//! (replaced in place when the kernel allows, else created in the free slot),
//! then the route pointing at it if it does not already. The group replace
//! is the moment the switch happens; nothing before it is visible to
//! forwarding. Last, objects of ours that nothing uses any more.

use crate::config::Config;
use crate::members::Member;
use crate::nexthop::{self, Mode, NhObject, Want};
use crate::route::{self, Action, Route};
use crate::system::{Kernel, KernelError, Link, EINVAL, ENETDOWN, ENODEV, EOPNOTSUPP};
use crate::{Error, Family};

/// What the kernel holds, read once per attempt.
pub struct State {
    pub links: Vec<Link>,
    pub routes: Vec<Route>,
    /// None: no nexthop objects in this kernel.
    pub objs: Option<Vec<NhObject>>,
}

impl State {
    pub fn read<K: Kernel>(k: &mut K, family: Family, table: u32) -> Result<State, Error> {
        Ok(State {
            links: k.links()?,
            routes: k.default_routes(family, table)?,
            objs: k.nexthops()?,
        })
    }
}

/// Why an attempt failed.
#[derive(Debug)]
pub enum Fail {
    /// The kernel refused this mode (no resilient groups, no nexthop
    /// objects): auto tries the next one. Nothing was left behind.
    Refused(String),
    /// A member's device vanished mid-way: read the kernel again and retry.
    Vanished(String),
    Error(Error),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::Error(e)
    }
}

/// What an attempt did, for the log line.
#[derive(Debug, Default)]
pub struct Done {
    pub action: Option<Action>,
    /// The route as wanted (its nexthops are the members, for the log).
    pub want: Option<Route>,
    /// Metrics of our routes removed after a configuration change.
    pub stale: Vec<u32>,
    /// Members whose device does not exist.
    pub gone: Vec<String>,
    /// Members left out of a group because their device has no carrier.
    pub no_carrier: Vec<String>,
    /// Nexthop objects of ours removed because nothing uses them.
    pub removed_objs: usize,
}

/// Members whose device exists, with ifindex filled in; the rest named.
pub fn resolve(members: &[Member], links: &[Link]) -> (Vec<(Member, u32)>, Vec<String>) {
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

/// Live members as the group plan takes them.
fn wants(live: &[(Member, u32)]) -> Vec<Want> {
    live.iter()
        .map(|(m, idx)| Want {
            gateway: m.gateway,
            ifindex: *idx,
            weight: m.weight,
        })
        .collect()
}

fn kerr(what: &str, e: KernelError) -> Fail {
    if e.errno == ENODEV {
        Fail::Vanished(format!("{what}: {e}"))
    } else {
        Fail::Error(Error::Kernel(format!("{what}: {e}")))
    }
}

/// Delete our routes at other metrics (left by an earlier configuration).
fn delete_stale<K: Kernel>(k: &mut K, stale: &[Route]) -> Result<Vec<u32>, Fail> {
    for s in stale {
        k.delete(s).map_err(|e| {
            Fail::Error(Error::Kernel(format!(
                "delete our old default metric {}: {e}",
                s.metric
            )))
        })?;
    }
    Ok(stale.iter().map(|s| s.metric).collect())
}

/// Delete `groups` (ours, no longer used by our route), then every member
/// object of ours that no group references any more. Best effort: a
/// leftover object forwards nothing and the next event removes it.
fn collect<K: Kernel>(
    k: &mut K,
    family: Family,
    groups: &[u32],
    wrote: bool,
    objs: &[NhObject],
) -> usize {
    let mut n = 0;
    for g in groups {
        if k.del_nexthop(*g).is_ok() {
            n += 1;
        }
    }
    let now = if wrote || !groups.is_empty() {
        match k.nexthops() {
            Ok(Some(o)) => o,
            _ => return n,
        }
    } else {
        objs.to_vec()
    };
    for id in nexthop::orphans(family, &now) {
        if k.del_nexthop(id).is_ok() {
            n += 1;
        }
    }
    n
}

/// Our group IDs for this family and table (both slots) present in `objs`.
fn our_slots(family: Family, table: u32, objs: &[NhObject]) -> Vec<u32> {
    (0..2)
        .filter_map(|s| nexthop::group_id(family, table, s))
        .filter(|id| objs.iter().any(|o| o.id == *id && o.is_ours()))
        .collect()
}

/// One RTA_MULTIPATH route (the classic way; every kernel).
pub fn multipath<K: Kernel>(
    k: &mut K,
    family: Family,
    cfg: &Config,
    members: &[Member],
    st: &State,
) -> Result<Done, Fail> {
    let (live, gone) = resolve(members, &st.links);
    let want = desired_route(family, cfg, &live);
    let plan = route::plan(want.as_ref(), &st.routes, cfg.table, cfg.metric)?;
    match &plan.action {
        Action::Replace(r) => k.replace(r).map_err(|e| kerr("replace route", e))?,
        Action::Delete(r) => k.delete(r).map_err(|e| kerr("delete route", e))?,
        Action::Unchanged | Action::Absent => {}
    }
    let stale = delete_stale(k, &plan.stale)?;
    // After a switch from a group mode: our groups and members go.
    let objs = st.objs.as_deref().unwrap_or(&[]);
    let groups = our_slots(family, cfg.table, objs);
    let removed_objs = collect(k, family, &groups, false, objs);
    Ok(Done {
        action: Some(plan.action),
        want,
        stale,
        gone,
        removed_objs,
        ..Done::default()
    })
}

/// A resilient (`mode` Resilient) or hash-threshold (Group) nexthop group.
pub fn group<K: Kernel>(
    k: &mut K,
    mode: Mode,
    family: Family,
    cfg: &Config,
    members: &[Member],
    st: &State,
) -> Result<Done, Fail> {
    let objs = st.objs.as_deref().unwrap_or(&[]);
    let (mut live, gone) = resolve(members, &st.links);
    let mut no_carrier = Vec::new();
    live.retain(|(m, idx)| {
        let up = st.links.iter().any(|l| l.index == *idx && l.carrier);
        if !up {
            no_carrier.push(m.device.clone());
        }
        up
    });
    let done = |action, want, stale, removed_objs| Done {
        action: Some(action),
        want,
        stale,
        gone: gone.clone(),
        no_carrier: no_carrier.clone(),
        removed_objs,
    };
    if live.is_empty() {
        let plan = route::plan(None, &st.routes, cfg.table, cfg.metric)?;
        if let Action::Delete(r) = &plan.action {
            k.delete(r).map_err(|e| kerr("delete route", e))?;
        }
        let stale = delete_stale(k, &plan.stale)?;
        let groups = our_slots(family, cfg.table, objs);
        let n = collect(k, family, &groups, false, objs);
        return Ok(done(plan.action, None, stale, n));
    }
    let want = wants(&live);
    let resilient = (mode == Mode::Resilient).then_some(cfg.resilient);
    let gp = nexthop::plan_group(family, cfg.table, &want, resilient, objs)
        .map_err(|e| Fail::Error(Error::Conflict(e)))?;
    let Some(group) = gp.group.clone() else {
        return Err(Fail::Error(Error::Kernel("no group planned".into())));
    };
    let mut route = desired_route(family, cfg, &live)
        .ok_or_else(|| Fail::Error(Error::Kernel("no route planned".into())))?;
    route.nhid = Some(group.id);
    let plan = route::plan(Some(&route), &st.routes, cfg.table, cfg.metric)?;

    // From here on every failure undoes what was done before it.
    let mut created: Vec<u32> = Vec::new();
    let undo = |k: &mut K, created: &[u32], old: Option<&NhObject>| {
        if let Some(o) = old {
            let _ = k.new_nexthop(o, true);
        }
        for id in created.iter().rev() {
            let _ = k.del_nexthop(*id);
        }
    };
    for o in &gp.create {
        if let Err(e) = k.new_nexthop(o, false) {
            undo(k, &created, None);
            return Err(refusal_or(mode, "create nexthop", o.id, e));
        }
        created.push(o.id);
    }
    let old = objs.iter().find(|o| o.id == group.id);
    match gp.group_write {
        None => {}
        Some(replace) => {
            if let Err(e) = k.new_nexthop(&group, replace) {
                undo(k, &created, None);
                // A member object the kernel flushed under us (its device
                // went) makes the group invalid: read again and retry.
                if e.errno == EINVAL && k.links().is_ok_and(|l| l != st.links) {
                    return Err(Fail::Vanished(format!("write group {}: {e}", group.id)));
                }
                return Err(refusal_or(mode, "write group", group.id, e));
            }
            if !replace {
                created.push(group.id);
            }
        }
    }
    match &plan.action {
        Action::Replace(r) => {
            if let Err(e) = k.replace(r) {
                undo(k, &created, old.filter(|_| gp.group_write == Some(true)));
                return Err(kerr("point the route at the group", e));
            }
        }
        Action::Unchanged => {}
        Action::Delete(_) | Action::Absent => {}
    }
    let stale = delete_stale(k, &plan.stale)?;
    let wrote = !created.is_empty() || gp.group_write.is_some();
    let n = collect(k, family, &gp.old_groups, wrote, objs);
    // A group rewritten under an unchanged route is still a change.
    let action = match plan.action {
        Action::Unchanged if gp.group_write.is_some() => Action::Replace(route.clone()),
        a => a,
    };
    Ok(done(action, Some(route), stale, n))
}

/// A refused nexthop write: in auto mode EINVAL/EOPNOTSUPP mean "this
/// kernel cannot do this mode"; ENODEV/ENETDOWN mean the device went.
fn refusal_or(mode: Mode, what: &str, id: u32, e: KernelError) -> Fail {
    let text = format!("{what} {id}: {e}");
    match e.errno {
        ENODEV | ENETDOWN => Fail::Vanished(text),
        EINVAL | EOPNOTSUPP => Fail::Refused(format!("{} {text}", mode.name())),
        _ => Fail::Error(Error::Kernel(text)),
    }
}

/// The `ip` commands a mode would run on a kernel with no objects of ours
/// (for --dry-run; IDs are provisional).
pub fn dry_run(mode: Mode, family: Family, cfg: &Config, members: &[Member]) -> Vec<String> {
    let live: Vec<(Member, u32)> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.clone(), i as u32 + 1))
        .collect();
    let Some(mut route) = desired_route(family, cfg, &live) else {
        return vec![format!(
            "{} del default{} proto {} metric {}",
            family.ip_cmd(),
            if cfg.table == 254 {
                String::new()
            } else {
                format!(" table {}", cfg.table)
            },
            crate::RTPROT_ECMP,
            cfg.metric
        )];
    };
    let resilient = match mode {
        Mode::Multipath => return vec![route.to_ip("replace")],
        Mode::Group => None,
        Mode::Auto | Mode::Resilient => Some(cfg.resilient),
    };
    let gp = match nexthop::plan_group(family, cfg.table, &wants(&live), resilient, &[]) {
        Ok(gp) => gp,
        Err(e) => return vec![format!("# {e}")],
    };
    let dev = |i: u32| {
        live.get(i.wrapping_sub(1) as usize)
            .map(|(m, _)| m.device.clone())
            .unwrap_or_default()
    };
    let mut out: Vec<String> = gp.create.iter().map(|o| o.to_ip("add", &dev)).collect();
    if let Some(g) = &gp.group {
        out.push(g.to_ip("add", &dev));
        route.nhid = Some(g.id);
    }
    out.push(route.to_ip("replace"));
    out
}

/// `--flush`: remove our default routes in `table` (every metric) and our
/// nexthop objects of `family`; nothing else. A member object of ours that
/// a foreign group uses is left to that group. Returns (routes, objects).
pub fn flush<K: Kernel>(k: &mut K, family: Family, table: u32) -> Result<(usize, usize), Error> {
    let mut routes = 0;
    for r in k.default_routes(family, table)? {
        if r.is_ours() && r.src_len == 0 {
            k.delete(&r).map_err(|e| {
                Error::Kernel(format!("delete our default metric {}: {e}", r.metric))
            })?;
            routes += 1;
        }
    }
    let Some(objs) = k.nexthops()? else {
        return Ok((routes, 0));
    };
    let mut objects = 0;
    let del = |k: &mut K, id: u32| {
        k.del_nexthop(id)
            .map_err(|e| Error::Kernel(format!("delete nexthop {id}: {e}")))
    };
    for g in nexthop::our_groups(family, &objs) {
        del(k, g)?;
        objects += 1;
    }
    let left = k.nexthops()?.unwrap_or_default();
    for id in nexthop::orphans(family, &left) {
        del(k, id)?;
        objects += 1;
    }
    Ok((routes, objects))
}
