//! The member tables' writer: their routes and rules, as
//! [`crate::plan::inbound`] planned them, all or nothing. A refused step
//! undoes the steps before it.

use crate::kernel::{Kernel, KernelError};
use crate::plan::inbound::Plan;
use crate::plan::route::Route;
use crate::plan::rule::Rule;
use crate::Error;

/// A step done, to undo.
enum Done {
    Route(Route, Option<Route>),
    AddedRule(Rule),
    DeletedRule(Rule),
    DeletedRoute(Route),
}

fn undo(k: &mut dyn Kernel, done: Vec<Done>) {
    for d in done.into_iter().rev() {
        let _ = match d {
            Done::Route(new, Some(old)) => k.replace(&old).or_else(|_| k.delete(&new)),
            Done::Route(new, None) => k.delete(&new),
            Done::AddedRule(r) => k.del_rule(&r),
            Done::DeletedRule(r) => k.add_rule(&r),
            Done::DeletedRoute(r) => k.replace(&r),
        };
    }
}

/// Write `plan`: member routes, new rules, then what goes (rules before
/// the tables they point at). A refused step undoes the steps before it,
/// so the kernel is left as it was. The summary for the log line, when
/// anything was written.
pub fn apply(k: &mut dyn Kernel, plan: &Plan) -> Result<Option<String>, Error> {
    if plan.is_empty() {
        return Ok(None);
    }
    let mut done = Vec::new();
    let fail = |k: &mut dyn Kernel, done: Vec<Done>, what: String, e: KernelError| {
        undo(k, done);
        Err(Error::Kernel(format!(
            "{what}: {e}; inbound rules left as they were"
        )))
    };
    for (r, old) in &plan.routes {
        if let Err(e) = k.replace(r) {
            return fail(k, done, format!("table {} route", r.table), e);
        }
        done.push(Done::Route(r.clone(), old.clone()));
    }
    for r in &plan.add_rules {
        if let Err(e) = k.add_rule(r) {
            return fail(k, done, r.to_ip("add"), e);
        }
        done.push(Done::AddedRule(r.clone()));
    }
    for r in &plan.del_rules {
        if let Err(e) = k.del_rule(r) {
            return fail(k, done, r.to_ip("del"), e);
        }
        done.push(Done::DeletedRule(r.clone()));
    }
    for r in &plan.del_routes {
        if let Err(e) = k.delete(r) {
            return fail(k, done, format!("table {} route", r.table), e);
        }
        done.push(Done::DeletedRoute(r.clone()));
    }
    let mut parts = Vec::new();
    if !plan.add_rules.is_empty() {
        parts.push(format!(
            "+{} rule{}",
            plan.add_rules.len(),
            crate::log::s(plan.add_rules.len())
        ));
    }
    if !plan.del_rules.is_empty() {
        parts.push(format!(
            "-{} rule{}",
            plan.del_rules.len(),
            crate::log::s(plan.del_rules.len())
        ));
    }
    if !plan.routes.is_empty() {
        parts.push(format!(
            "{} table route{} written",
            plan.routes.len(),
            crate::log::s(plan.routes.len())
        ));
    }
    if !plan.del_routes.is_empty() {
        parts.push(format!(
            "{} table{} emptied",
            plan.del_routes.len(),
            crate::log::s(plan.del_routes.len())
        ));
    }
    Ok(Some(format!("inbound: {}", parts.join(", "))))
}
