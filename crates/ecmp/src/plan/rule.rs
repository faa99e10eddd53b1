//! A policy rule as data (`ip rule`): what the kernel trait, the codec
//! and the inbound planner share.

use crate::{Family, RTPROT_ECMP};
use std::net::IpAddr;

/// What a rule does when it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Look the packet up in the rule's table.
    Lookup,
    /// Go on at the first rule of this priority.
    Goto(u32),
    /// Nothing: a landing point for a goto.
    Nop,
    /// Refuse: what a policy rule with `fallback '0'` marks when its
    /// member is not in the route.
    Unreachable,
}

/// One policy rule: its selectors (`from SRC`, `iif DEV`, `fwmark
/// M/MASK`) and what it does at its priority (`lookup TABLE`, with
/// `suppress_prefixlength N`; `goto PRIORITY`; `nop`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub family: Family,
    pub priority: u32,
    pub action: Action,
    /// The table of a lookup (0 otherwise).
    pub table: u32,
    pub src: Option<(IpAddr, u8)>,
    pub dst: Option<(IpAddr, u8)>,
    pub iif: Option<String>,
    pub fwmark: Option<(u32, u32)>,
    /// A lookup's result is refused when its prefix is this long or
    /// shorter (0: every default route).
    pub suppress: Option<u32>,
    pub protocol: u8,
}

impl Rule {
    /// A `lookup TABLE` rule of ours with no selector.
    pub fn lookup(family: Family, priority: u32, table: u32) -> Rule {
        Rule {
            family,
            priority,
            action: Action::Lookup,
            table,
            src: None,
            dst: None,
            iif: None,
            fwmark: None,
            suppress: None,
            protocol: RTPROT_ECMP,
        }
    }

    /// A rule of ours doing `action`, with no selector.
    pub fn doing(family: Family, priority: u32, action: Action) -> Rule {
        Rule {
            action,
            ..Rule::lookup(family, priority, 0)
        }
    }

    pub fn is_ours(&self) -> bool {
        self.protocol == RTPROT_ECMP
    }

    /// As the `ip rule` command that makes it (`verb`: add, del).
    pub fn to_ip(&self, verb: &str) -> String {
        let fam = if self.family == Family::V6 {
            "ip -6"
        } else {
            "ip"
        };
        let mut s = format!("{fam} rule {verb} priority {}", self.priority);
        if let Some((ip, len)) = self.src {
            s.push_str(&format!(" from {ip}/{len}"));
        }
        if let Some((ip, len)) = self.dst {
            s.push_str(&format!(" to {ip}/{len}"));
        }
        if let Some(dev) = &self.iif {
            s.push_str(&format!(" iif {dev}"));
        }
        if let Some((m, k)) = self.fwmark {
            s.push_str(&format!(" fwmark {m:#x}/{k:#x}"));
        }
        match self.action {
            Action::Lookup => s.push_str(&format!(" lookup {}", self.table)),
            Action::Goto(p) => s.push_str(&format!(" goto {p}")),
            Action::Nop => s.push_str(" nop"),
            Action::Unreachable => s.push_str(" unreachable"),
        }
        if let Some(n) = self.suppress {
            s.push_str(&format!(" suppress_prefixlength {n}"));
        }
        s.push_str(&format!(" proto {}", self.protocol));
        s
    }
}
