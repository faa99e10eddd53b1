//! Core of ecmp-hotplug.
//!
//! Plain data flows one way through these modules:
//! `event` (env + flags) -> `config` (UCI) -> `dump` (netifd state) ->
//! `members` (who carries traffic) -> `route` (the desired route, and the
//! diff against what the kernel holds) -> `system` (one netlink write) ->
//! `log` (one line). Only `system` talks to the kernel and only `proc`
//! spawns programs, so everything else is testable without root.

pub mod app;
pub mod cli;
pub mod config;
pub mod dump;
pub mod error;
pub mod event;
#[doc(hidden)]
pub mod fuzz;
pub mod lock;
pub mod log;
pub mod members;
pub mod nexthop;
pub mod proc;
pub mod program;
pub mod route;
pub mod status;
pub mod system;
pub mod uci;

pub use error::Error;

/// `println!` that never panics: `ecmp4 status | head -1` closes the pipe,
/// and with panic = abort a failed print would end in a trap.
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `eprintln!` that never panics (stderr may be closed under netifd).
#[macro_export]
macro_rules! complain {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// The address family one binary manages. `ecmp4` and `ecmp6` differ only
/// in this value; every difference between the families lives in the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// Program name, syslog ident and the name of the UCI section.
    pub fn program(self) -> &'static str {
        match self {
            Family::V4 => "ecmp4",
            Family::V6 => "ecmp6",
        }
    }

    /// UCI section of /etc/config/ecmp holding this family's options.
    pub fn section(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }

    /// netifd protos whose interfaces are members unless configured otherwise.
    pub fn default_protos(self) -> &'static [&'static str] {
        match self {
            Family::V4 => &["pppoe"],
            Family::V6 => &["dhcpv6"],
        }
    }

    /// The `ip` command prefix for this family (used in printed routes).
    pub fn ip_cmd(self) -> &'static str {
        match self {
            Family::V4 => "ip route",
            Family::V6 => "ip -6 route",
        }
    }

    /// The default route's destination as `ip route` and netifd spell it.
    pub fn any(self) -> &'static str {
        match self {
            Family::V4 => "0.0.0.0",
            Family::V6 => "::",
        }
    }
}

/// rtm_protocol value that marks a route as ours. ecmp4/ecmp6 only ever
/// replace or delete default routes carrying it, so a route written by
/// netifd (`static`), odhcp6c, a routing daemon or by hand is never touched.
/// 236 (0xEC) is unassigned in iproute2's rt_protos; add `236 ecmp` to
/// /etc/iproute2/rt_protos to see it by name.
pub const RTPROT_ECMP: u8 = 236;
