//! One event, one pass: the kernel read once ([`State`]: one route dump,
//! one nexthop dump, one rule dump, the members' links), the route and its
//! groups brought to what the members call for ([`program::apply`]), then
//! the member tables, their rules and the port-forward marks
//! ([`inbound::sync`]), all planned from that one read. A dry run is the
//! same pass on the in-memory kernel and a [`crate::nft::DryNft`].

use crate::config::Config;
use crate::dump::Dump;
use crate::kernel::{Kernel, State};
use crate::members::Selection;
use crate::nft::Marker;
use crate::program::{self, Outcome};
use crate::{inbound, Error, Family};

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
    let devs: Vec<&str> = sel.members.iter().map(|m| m.device.as_str()).collect();
    let mut st = State::read_for(k, family, cfg.table, &devs)?;
    let mut out = program::apply(k, family, cfg, dump, sel, label, &mut st)?;
    if let Some(line) = inbound::sync(k, marks, family, cfg, dump, &sel.members, &st, mask)? {
        out.line = format!("{} [{line}]", out.line);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dummy::Dummy;
    use crate::program::tests::{link, member};

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
        };
        let input = Input {
            family: Family::V4,
            cfg: &cfg,
            dump: &dump,
            sel: &sel,
            mask: None,
        };
        let out = run(&mut k, None, &input, "ifup wan").unwrap();
        assert!(out.line.contains("(replaced)") && out.line.contains("inbound"), "{}", out.line);
        // After writing a group, the sweep asks for the objects again.
        assert_eq!(k.reads[..4], ["route dump", "nexthop dump", "rule dump", "links"]);
        let (writes, reads) = (k.commands.len(), k.reads.len());
        let out = run(&mut k, None, &input, "ifup wan").unwrap();
        assert!(out.line.ends_with("(unchanged)"), "{}", out.line);
        assert_eq!(k.reads[reads..], ["route dump", "nexthop dump", "rule dump", "links"]);
        assert_eq!(k.commands.len(), writes, "{:?}", k.commands);
    }
}
