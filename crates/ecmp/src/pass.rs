//! One event, one pass: the kernel read once ([`State`]: one route dump,
//! one nexthop dump, one rule dump, the members' links), the route and its
//! groups brought to what the members call for ([`program::apply`]), then
//! the member tables, their rules and the port-forward marks
//! ([`tables`]), all planned from that one read. A dry run is the
//! same pass on the in-memory kernel and a [`crate::kernel::nft::DryNft`].

use crate::input::config::Config;
use crate::input::dump::Dump;
use crate::kernel::nft::Marker;
use crate::kernel::program::{self, Outcome};
use crate::kernel::{Kernel, State};
use crate::plan::members::Selection;
use crate::{plan::inbound, Error, Family};

/// What an event acts on, resolved before the pass.
pub struct Input<'a> {
    pub family: Family,
    pub cfg: &'a Config,
    pub dump: &'a Dump<'a>,
    pub sel: &'a Selection,
    /// The port-forward mark mask; None: not marked.
    pub mask: Option<u32>,
}

/// Read, plan, write; the outcome for the log line, which starts with
/// `label`.
pub fn run(
    k: &mut dyn Kernel,
    marks: Option<&mut dyn Marker>,
    input: &Input<'_>,
    label: &str,
) -> Result<Outcome, Error> {
    let Input {
        family,
        cfg,
        dump,
        sel,
        mask,
    } = *input;
    // The route's members, and those standing by for a rule's tier.
    let devs: Vec<&str> = sel
        .members
        .iter()
        .chain(&sel.standby)
        .map(|m| m.device.as_str())
        .collect();
    let mut st = State::read_for(k, family, cfg.table, &devs)?;
    let mut out = program::apply(k, family, cfg, dump, sel, label, &mut st)?;
    if let Some(line) = tables(k, marks, family, cfg, dump, sel, &st, mask)? {
        out.line = format!("{} [{line}]", out.line);
    }
    Ok(out)
}

/// Bring the member tables and rules to what `members` call for (or, with
/// `option inbound '0'`, remove ours), from the kernel as the event read
/// it: plan, then write. With `marks` (IPv4 port forwards), their nft
/// table first. The summary for the log line when anything changed.
#[allow(clippy::too_many_arguments)]
fn tables(
    k: &mut dyn Kernel,
    marks: Option<&mut dyn Marker>,
    family: Family,
    cfg: &crate::input::config::Config,
    dump: &crate::input::dump::Dump,
    sel: &Selection,
    st: &State,
    mask: Option<u32>,
) -> Result<Option<String>, Error> {
    let Some(cur) = inbound::Current::of(&st.tables, st.rules.as_deref(), &cfg.inbound) else {
        return Ok(cfg
            .inbound
            .enabled
            .then(|| "inbound: this kernel has no policy rules".into()));
    };
    let plan = inbound::wanted(family, cfg, dump, sel, &st.links, &cur, mask);
    // The marks first: a rule for a mark nobody sets yet does nothing.
    let nft = match (marks, mask) {
        (Some(m), Some(mask)) => {
            let text = crate::plan::nft::ruleset(family, mask, &plan.marked, &cfg.rules);
            m.load(family, &text).map_err(Error::Kernel)?
        }
        // Marks off: whatever an earlier run loaded goes.
        (Some(m), None) => m.load(family, "").map_err(Error::Kernel)?,
        (None, _) => false,
    };
    let line = crate::kernel::tables::apply(k, &plan)?;
    Ok(match (line, nft) {
        (Some(l), true) => Some(format!("{l}, marks loaded")),
        (None, true) => Some("inbound: marks loaded".into()),
        (l, false) => l,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::dummy::Dummy;
    use crate::kernel::program::tests::{link, member};

    /// An unchanged event reads each part of the kernel once and writes
    /// nothing; a changed one plans the route and the member tables from
    /// the same single read.
    #[test]
    fn one_read_per_event() {
        let mut k = Dummy {
            links: vec![link(5, "pppoe-wan"), link(6, "pppoe-VWAN1")],
            ..Dummy::empty()
        };
        let cfg = Config::defaults(Family::V4);
        let dump = Dump::parse(
            br#"{"interface":[{"interface":"wan","up":true,"proto":"pppoe","ipv4-address":[{"address":"100.66.0.1","mask":32}]},{"interface":"VWAN1","up":true,"proto":"pppoe","ipv4-address":[{"address":"100.66.0.2","mask":32}]}]}"#,
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
        let input = Input {
            family: Family::V4,
            cfg: &cfg,
            dump: &dump,
            sel: &sel,
            mask: None,
        };
        let out = run(&mut k, None, &input, "ifup wan").unwrap();
        assert!(
            out.line.contains("(replaced)") && out.line.contains("inbound"),
            "{}",
            out.line
        );
        // After writing a group, the sweep asks for the objects again.
        assert_eq!(
            k.reads[..4],
            ["route dump", "nexthop dump", "rule dump", "links"]
        );
        let (writes, reads) = (k.commands.len(), k.reads.len());
        let out = run(&mut k, None, &input, "ifup wan").unwrap();
        assert!(out.line.ends_with("(unchanged)"), "{}", out.line);
        assert_eq!(
            k.reads[reads..],
            ["route dump", "nexthop dump", "rule dump", "links"]
        );
        assert_eq!(k.commands.len(), writes, "{:?}", k.commands);
    }

    /// A kernel without policy routing (RTM_GETRULE refused): the route
    /// is still kept, inbound is named as missing, nothing fails.
    #[test]
    fn no_policy_routing_is_no_failure() {
        let mut k = Dummy {
            links: vec![link(5, "pppoe-a")],
            ..Dummy::empty()
        };
        k.no_rules = true;
        let cfg = crate::input::config::Config::defaults(Family::V4);
        let d = crate::input::dump::Dump::parse(
            br#"{"interface":[{"interface":"A","up":true,"proto":"pppoe"}]}"#,
        )
        .unwrap();
        let m = Selection {
            members: vec![member("A", "pppoe-a", "10.0.0.1")],
            ..Selection::default()
        };
        let st = State::read(&mut k, Family::V4, 254).unwrap();
        let line = tables(&mut k, None, Family::V4, &cfg, &d, &m, &st, None).unwrap();
        assert_eq!(
            line.as_deref(),
            Some("inbound: this kernel has no policy rules")
        );
        assert!(k.commands.is_empty());
    }
}
