//! Bringing the kernel to the desired state: the write sequence of each
//! mode, each all-or-nothing (a failed step undoes the steps before it, so
//! the kernel is left exactly as it was), and [`apply`], which drives them:
//! mode fallback in auto, one retry when a device vanishes, the warnings
//! and the one log line.
//!
//! multipath: one RTM_NEWROUTE (CREATE|REPLACE) with RTA_MULTIPATH.
//! resilient / group: member objects first (new ones only), then the group
//! (replaced in place when the kernel allows, else created in the free slot),
//! then the route pointing at it if it does not already. The group replace
//! is the moment the switch happens; nothing before it is visible to
//! forwarding. Last, objects of ours that nothing uses any more.

use crate::input::config::Config;
use crate::input::dump::Dump;
use crate::kernel::netlink::Write;
use crate::kernel::{
    ByName, Kernel, KernelError, Link, State, EINVAL, ENETDOWN, ENODEV, EOPNOTSUPP,
};
use crate::plan::members::{Member, Selection};
use crate::plan::nexthop::{self, GroupWrite, Mode, NhObject, GROUP_TABLE_MAX};
use crate::plan::route::{self, Change, Nexthop, Route};
use crate::{Error, Family};

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
    pub change: Option<Change>,
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

/// What the members call for against the kernel's links: the answer the
/// writers and `status` share.
#[derive(Debug, Default, PartialEq)]
pub struct Desired {
    /// The route's nexthops: each member whose device exists and, for a
    /// nexthop group, has carrier (the kernel refuses an object without).
    pub hops: Vec<Nexthop>,
    /// Members whose device does not exist.
    pub gone: Vec<String>,
    /// Members left out of a group for want of carrier.
    pub no_carrier: Vec<String>,
}

/// The nexthops `members` call for, for a group (`group`) or a multipath
/// route.
pub fn desired(members: &[Member], links: &[Link], group: bool) -> Desired {
    let (mut hops, gone) = resolve(members, links);
    let mut no_carrier = Vec::new();
    if group {
        hops.retain(|h| {
            let up = links.iter().any(|l| l.index == h.ifindex && l.carrier);
            if !up {
                no_carrier.push(h.dev.clone());
            }
            up
        });
    }
    Desired {
        hops,
        gone,
        no_carrier,
    }
}

/// Each member whose device exists, as a nexthop of the kernel's (its
/// ifindex found): the one shape both the multipath route and the group
/// plan take. The others are named in the second list.
pub fn resolve(members: &[Member], links: &[Link]) -> (Vec<Nexthop>, Vec<String>) {
    let mut live = Vec::with_capacity(members.len());
    let mut gone = Vec::new();
    let mut by_name = ByName::new(links);
    for m in members {
        match by_name.find(&m.device) {
            Some(l) => live.push(Nexthop {
                gateway: m.gateway,
                ifindex: l.index,
                dev: m.device.clone(),
                weight: m.weight,
            }),
            None => gone.push(m.device.clone()),
        }
    }
    (live, gone)
}

fn kerr(what: &str, e: KernelError) -> Fail {
    if e.errno() == ENODEV {
        Fail::Vanished(format!("{what}: {e}"))
    } else {
        Fail::Error(Error::Kernel(format!("{what}: {e}")))
    }
}

/// Delete our routes at other metrics (left by an earlier configuration).
fn delete_stale(k: &mut dyn Kernel, stale: &[Route]) -> Result<Vec<u32>, Fail> {
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

/// Sweep: delete `groups` (ours, no longer used by our route), then every
/// member object of ours that no group references any more (read again
/// after a write, when the kernel may hold more than `objs`). Best effort:
/// a leftover object forwards nothing and the next event removes it.
fn sweep(
    k: &mut dyn Kernel,
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
    let fresh;
    let now = if wrote || !groups.is_empty() {
        match k.nexthops() {
            Ok(Some(o)) => {
                fresh = o;
                &fresh[..]
            }
            _ => return n,
        }
    } else {
        objs
    };
    for id in nexthop::orphans(family, now) {
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
pub fn multipath(
    k: &mut dyn Kernel,
    family: Family,
    cfg: &Config,
    members: &[Member],
    st: &State,
) -> Result<Done, Fail> {
    let Desired { hops, gone, .. } = desired(members, &st.links, false);
    let want = Route::desired(family, cfg.table, cfg.metric, &hops);
    let plan = route::plan(want.as_ref(), &st.routes, cfg.table, cfg.metric)?;
    match &plan.change {
        Change::Replace(r) => k.replace(r).map_err(|e| kerr("replace route", e))?,
        Change::Delete(r) => k.delete(r).map_err(|e| kerr("delete route", e))?,
        Change::Unchanged | Change::Absent => {}
    }
    let stale = delete_stale(k, &plan.stale)?;
    // After a switch from a group mode: our groups and members go.
    let objs = st.objs.as_deref().unwrap_or(&[]);
    let groups = our_slots(family, cfg.table, objs);
    let removed_objs = sweep(k, family, &groups, false, objs);
    Ok(Done {
        change: Some(plan.change),
        want,
        stale,
        gone,
        removed_objs,
        ..Done::default()
    })
}

/// A resilient (`mode` Resilient) or hash-threshold (Group) nexthop group.
pub fn group(
    k: &mut dyn Kernel,
    mode: Mode,
    family: Family,
    cfg: &Config,
    members: &[Member],
    st: &State,
) -> Result<Done, Fail> {
    let objs = st.objs.as_deref().unwrap_or(&[]);
    let Desired {
        hops: live,
        gone,
        no_carrier,
    } = desired(members, &st.links, true);
    let done = |change, want, stale, removed_objs| Done {
        change: Some(change),
        want,
        stale,
        gone: gone.clone(),
        no_carrier: no_carrier.clone(),
        removed_objs,
    };
    let Some(mut route) = Route::desired(family, cfg.table, cfg.metric, &live) else {
        let plan = route::plan(None, &st.routes, cfg.table, cfg.metric)?;
        if let Change::Delete(r) = &plan.change {
            k.delete(r).map_err(|e| kerr("delete route", e))?;
        }
        let stale = delete_stale(k, &plan.stale)?;
        let groups = our_slots(family, cfg.table, objs);
        let n = sweep(k, family, &groups, false, objs);
        return Ok(done(plan.change, None, stale, n));
    };
    let resilient = (mode == Mode::Resilient).then_some(cfg.resilient);
    let gp = nexthop::plan_group(family, cfg.table, &live, resilient, objs)
        .map_err(|e| Fail::Error(e.into()))?;
    let Some(group) = gp.group.clone() else {
        return Err(Fail::Error(Error::Kernel("no group planned".into())));
    };
    route.nhid = Some(group.id);
    let plan = route::plan(Some(&route), &st.routes, cfg.table, cfg.metric)?;

    // From here on every failure undoes what was done before it.
    let mut created: Vec<u32> = Vec::new();
    let undo = |k: &mut dyn Kernel, created: &[u32], old: Option<&NhObject>| {
        if let Some(o) = old {
            let _ = k.write_nexthop(o, Write::Replace);
        }
        for id in created.iter().rev() {
            let _ = k.del_nexthop(*id);
        }
    };
    for o in &gp.create {
        if let Err(e) = k.write_nexthop(o, Write::Create) {
            undo(k, &created, None);
            return Err(refusal_or(mode, "create nexthop", o.id, e));
        }
        created.push(o.id);
    }
    let old = objs.iter().find(|o| o.id == group.id);
    let how = match gp.write {
        GroupWrite::Keep => None,
        GroupWrite::Create => Some(Write::Create),
        GroupWrite::Replace => Some(Write::Replace),
    };
    if let Some(how) = how {
        if let Err(e) = k.write_nexthop(&group, how) {
            undo(k, &created, None);
            // A member object the kernel flushed under us (its device
            // went) makes the group invalid: read again and retry.
            if e.errno() == EINVAL && st.links_changed(k) {
                return Err(Fail::Vanished(format!("write group {}: {e}", group.id)));
            }
            return Err(refusal_or(mode, "write group", group.id, e));
        }
        if how == Write::Create {
            created.push(group.id);
        }
    }
    if let Change::Replace(r) = &plan.change {
        if let Err(e) = k.replace(r) {
            undo(k, &created, old.filter(|_| gp.write == GroupWrite::Replace));
            return Err(kerr("point the route at the group", e));
        }
    }
    let stale = delete_stale(k, &plan.stale)?;
    let wrote = !created.is_empty() || gp.write != GroupWrite::Keep;
    let n = sweep(k, family, &gp.old_groups, wrote, objs);
    // A group rewritten under an unchanged route is still a change.
    let change = match plan.change {
        Change::Unchanged if gp.write != GroupWrite::Keep => Change::Replace(route.clone()),
        c => c,
    };
    Ok(done(change, Some(route), stale, n))
}

/// A refused nexthop write: in auto mode EINVAL/EOPNOTSUPP mean "this
/// kernel cannot do this mode"; ENODEV/ENETDOWN mean the device went.
fn refusal_or(mode: Mode, what: &str, id: u32, e: KernelError) -> Fail {
    let text = format!("{what} {id}: {e}");
    match e.errno() {
        ENODEV | ENETDOWN => Fail::Vanished(text),
        EINVAL | EOPNOTSUPP => Fail::Refused(format!("{} {text}", mode.name())),
        _ => Fail::Error(Error::Kernel(text)),
    }
}

/// `--flush`: remove our default routes in `table` (every metric) and our
/// nexthop objects of `family`; nothing else. A member object of ours that
/// a foreign group uses is left to that group. Returns (routes, objects).
pub fn flush(k: &mut dyn Kernel, family: Family, table: u32) -> Result<(usize, usize), Error> {
    let mut routes = 0;
    for r in k.default_routes(family)? {
        if r.is_ours() && r.src_len == 0 && r.table == table {
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
    let del = |k: &mut dyn Kernel, id: u32| {
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

/// What happened, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub line: String,
    pub warnings: Vec<String>,
}

/// The modes to try, in order, for this config on a kernel with (or
/// without) nexthop objects. Group IDs encode the table, so a table above
/// [`GROUP_TABLE_MAX`] can only have a multipath route: auto takes it, a
/// forced group mode is a config error.
pub fn modes(cfg: &Config, have_objs: bool) -> Result<&'static [Mode], Error> {
    let fits = cfg.table <= GROUP_TABLE_MAX;
    Ok(match (cfg.mode, have_objs && fits) {
        (Mode::Multipath, _) | (Mode::Auto, false) => &[Mode::Multipath],
        (Mode::Auto, true) => &[Mode::Resilient, Mode::Group, Mode::Multipath],
        (Mode::Resilient, true) => &[Mode::Resilient],
        (Mode::Group, true) => &[Mode::Group],
        (_, false) if !fits => {
            return Err(nexthop::PlanError::TableTooLarge(cfg.table).into());
        }
        (m, false) => {
            return Err(Error::Kernel(format!(
                "mode {} needs nexthop objects (Linux 5.3+), which this kernel lacks; set mode auto or multipath",
                m.name()
            )))
        }
    })
}

/// Names in natural order: pppoe-VWAN2 before pppoe-VWAN10. Runs of
/// digits compare as numbers (by length without leading zeros, then
/// digits), other runs as bytes, then the whole names. One pass over the
/// bytes, without iterators or library compares: the log line sorts 64
/// names with it, and the run iterator it had was a tenth of an event.
pub fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering::Equal;
    let (x, y) = (a.as_bytes(), b.as_bytes());
    // The end of the run that starts at `i`.
    let run = |s: &[u8], i: usize| {
        let digit = s[i].is_ascii_digit();
        let mut e = i + 1;
        while e < s.len() && s[e].is_ascii_digit() == digit {
            e += 1;
        }
        e
    };
    // Bytes compared one by one, then by length.
    let bytes = |m: &[u8], n: &[u8]| {
        let mut k = 0;
        while k < m.len() && k < n.len() {
            if m[k] != n[k] {
                return m[k].cmp(&n[k]);
            }
            k += 1;
        }
        m.len().cmp(&n.len())
    };
    let (mut i, mut j) = (0, 0);
    while i < x.len() && j < y.len() {
        let (ei, ej) = (run(x, i), run(y, j));
        let o = if x[i].is_ascii_digit() && y[j].is_ascii_digit() {
            let zeros = |s: &[u8], mut k: usize, e: usize| {
                while k < e && s[k] == b'0' {
                    k += 1;
                }
                k
            };
            let (m, n) = (&x[zeros(x, i, ei)..ei], &y[zeros(y, j, ej)..ej]);
            m.len().cmp(&n.len()).then_with(|| bytes(m, n))
        } else {
            bytes(&x[i..ei], &y[j..ej])
        };
        if o != Equal {
            return o;
        }
        (i, j) = (ei, ej);
    }
    // The one with runs left is later; with none left, the bytes decide.
    (x.len() - i)
        .min(1)
        .cmp(&(y.len() - j).min(1))
        .then_with(|| bytes(x, y))
}

/// `default metric 1 via 3 links pppoe-VWAN1,pppoe-VWAN2,pppoe-wan`.
pub fn summary(r: &Route) -> String {
    let mut devs = r.devices();
    devs.sort_by(|a, b| natural(a, b));
    devs.dedup();
    let n = devs.len();
    format!(
        "default metric {} via {n} link{} {}",
        r.metric,
        crate::log::s(n),
        devs.join(",")
    )
}

/// Routes of others below our metric, as an event logs them (`status`
/// shows them as differences, with their fix).
pub fn shadow_warnings(cfg: &Config, kernel: &[Route]) -> Vec<String> {
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

/// Warnings that save users hours, except the shadowing routes; none of
/// them stops the event.
pub fn warnings(
    family: Family,
    cfg: &Config,
    dump: &Dump,
    nexthops: usize,
    policy: Option<u32>,
) -> Vec<String> {
    let mut w = Vec::new();
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
        w.push(format!(
            "{} is 0: flows hash on addresses only, so one download uses one link; set it to 1",
            family.hash_policy_name()
        ));
    }
    w
}

/// Bring the kernel from `st` (read once for the event) to the desired
/// state: one route write in multipath mode, the member objects and one
/// group write in the group modes. In auto mode, a mode the kernel refuses
/// falls back to the next one. A device that vanished mid-way makes it
/// read `st` again, once. `label` starts the log line (the event, and
/// whether this is a dry run).
pub fn apply(
    k: &mut dyn Kernel,
    family: Family,
    cfg: &Config,
    dump: &Dump,
    sel: &Selection,
    label: &str,
    st: &mut State,
) -> Result<Outcome, Error> {
    let devs: Vec<&str> = sel.members.iter().map(|m| m.device.as_str()).collect();
    let modes = modes(cfg, st.objs.is_some())?;
    let mut out = Outcome {
        warnings: shadow_warnings(cfg, &st.routes),
        ..Outcome::default()
    };
    out.warnings.extend(warnings(
        family,
        cfg,
        dump,
        sel.members.len(),
        k.hash_policy(family),
    ));
    let mut refused = Vec::new();
    let mut retried = false;
    let mut i = 0;
    let (mode, done) = loop {
        let mode = modes[i];
        let r = match mode {
            Mode::Multipath => multipath(k, family, cfg, &sel.members, st),
            m => group(k, m, family, cfg, &sel.members, st),
        };
        match r {
            Ok(d) => break (mode, d),
            // A device vanished between our read and our write (pppd
            // exited): read the kernel again and try once more.
            Err(Fail::Vanished(_)) if !retried => {
                retried = true;
                *st = State::read_for(k, family, cfg.table, &devs)?;
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
    let mut note = |what: &str, items: &[String], sep: &str| {
        if !items.is_empty() {
            notes.push_str(&format!(" [{what}: {}]", items.join(sep)));
        }
    };
    note("gone", &done.gone, ",");
    note("no carrier", &done.no_carrier, ",");
    note("left out", &sel.skipped, "; ");
    if !done.stale.is_empty() {
        let m: Vec<String> = done.stale.iter().map(u32::to_string).collect();
        notes.push_str(&format!(" [removed ours at metric {}]", m.join(",")));
    }
    if done.removed_objs > 0 {
        notes.push_str(&format!(
            " [removed {} unused nexthop object{}]",
            done.removed_objs,
            crate::log::s(done.removed_objs as usize)
        ));
    }
    if !refused.is_empty() {
        notes.push_str(&format!(" [refused: {}]", refused.join("; ")));
    }
    let m = mode.name();
    out.line = match (&done.change, &done.want) {
        (Some(Change::Replace(_)), Some(r)) => {
            format!("{label}: {m} {} (replaced){notes}", summary(r))
        }
        (Some(Change::Unchanged), Some(r)) => {
            format!("{label}: {m} {} (unchanged){notes}", summary(r))
        }
        (Some(Change::Delete(_)), _) => format!(
            "{label}: no live links, default metric {} deleted{notes}",
            cfg.metric
        ),
        _ => format!("{label}: no live links, no route of ours{notes}"),
    };
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests;
