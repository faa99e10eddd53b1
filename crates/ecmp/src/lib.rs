//! Core of ecmp-hotplug: plain data flowing one way, one module a step.
//! Data modules hold what several steps share, apart from the code that
//! uses it, so no module imports itself through others (tests/imports.rs).
//!
//! Input:
//! - `cli`: the words of the command line (lowargs), and `--help`.
//! - `settings`: those words, the environment and the defaults resolved once.
//! - `event`: the hotplug event (ACTION, INTERFACE), or a sync.
//! - `options`: option values parsed and range-checked (data).
//! - `ucifile`, `config`: /etc/config/ecmp read as libuci reads it;
//!   `netconf`: a member's proto from /etc/config/network, quickly.
//! - `input`: the config with the flags over it, netifd's dump, NAT66.
//! - `blob`, `ubus`: ubusd's protocol as bytes, and the one call we make.
//! - `proc`: running a program with a timeout, a cap, and stdin (`--ubus`).
//! - `value`: JSON decoded to a loose tree, encoded to blobmsg for `dump`.
//! - `dump`: netifd's dump as typed data, read from blobmsg in place.
//! - `names`: netifd's protos, and the nearest known name to a typo.
//!
//! Plan (pure):
//! - `members`: which interfaces carry the route, through which gateway.
//! - `route`, `link`, `rule` (data): routes, links and policy rules.
//! - `route`: the desired route and the single change it needs.
//! - `nexthop`: nexthop objects as data, our ID scheme, the group plan.
//! - `inbound`: per-member tables, source rules and their guards, so
//!   replies leave by the dial they came in on; `nft`: the marks for port
//!   forwards (IPv4).
//! - `track`: link tracking as data: options, verdicts, the state file.
//!
//! Kernel:
//! - `kernel`: what the core needs from the kernel (the trait, `State`).
//! - `program`: the write sequence of each mode with its undo, and `apply`.
//! - `netlink`: the rtnetlink messages as bytes (a pure codec).
//! - `rtnetlink`: the real kernel, the only code that speaks to it.
//! - `dummy`: an in-memory kernel writing `ip` commands (--dry-run, tests).
//!
//! Report:
//! - `status`, `check`: what is balanced and what is wrong; `fights`:
//!   what else on the router fights our route (mwan3, syncdial, rc.local
//!   macvlans, sysctl.conf), each with its fix.
//! - `uci`: `uci show` output and batch quoting (multidial writes through uci).
//! - `lock`, `log`, `error`: one run at a time, one line, one exit status.
//! - `app`: the command line to the exit status, one function per mode.
//!
//! Only `rtnetlink` (and `check`'s probes through it) talk to the kernel,
//! `proc` spawns programs (for `nft` too), and `input`, `check`,
//! `rtnetlink`, `track` (track.json) and `nft` (the text last loaded) read
//! or write files of the system, so everything else is testable without
//! root.

pub mod app;
pub mod arena;

pub mod blob;
pub mod check;
pub mod cli;
pub mod config;
pub mod dummy;
pub mod dump;
pub mod error;
pub mod event;
pub mod fights;
#[doc(hidden)]
pub mod fuzz;
pub mod inbound;
pub mod input;
pub mod kernel;
pub mod link;
pub mod lock;
pub mod log;
pub mod members;
pub mod names;
pub mod netconf;
pub mod netlink;
pub mod nexthop;
pub mod nft;
pub mod options;
pub mod pass;
pub mod proc;
pub mod program;
pub mod route;
pub mod rtnetlink;
pub mod rule;
pub mod settings;
pub mod status;
pub mod track;
pub mod ubus;
pub mod uci;
pub mod ucifile;
pub mod value;

/// The unit tests run on the allocator the shipped binaries use (every
/// test, threads and all: a stress test of it).
#[cfg(test)]
#[global_allocator]
static TEST_ALLOC: arena::Arena = arena::Arena::new();

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

    /// 4 or 6.
    pub fn version(self) -> u8 {
        match self {
            Family::V4 => 4,
            Family::V6 => 6,
        }
    }

    /// The hotplug hook that runs this binary.
    pub fn hook(self) -> &'static str {
        match self {
            Family::V4 => "97-ecmp4",
            Family::V6 => "98-ecmp6",
        }
    }

    /// The multipath hash sysctl, by name.
    pub fn hash_policy_name(self) -> &'static str {
        match self {
            Family::V4 => "net.ipv4.fib_multipath_hash_policy",
            Family::V6 => "net.ipv6.fib_multipath_hash_policy",
        }
    }

    /// The multipath hash sysctl, as a file.
    pub fn hash_policy_sysctl(self) -> &'static str {
        match self {
            Family::V4 => "/proc/sys/net/ipv4/fib_multipath_hash_policy",
            Family::V6 => "/proc/sys/net/ipv6/fib_multipath_hash_policy",
        }
    }
}

/// What ecmp4/ecmp6 and multidial ask ubus: netifd's state of every
/// interface.
pub const UBUS_DUMP: [&str; 3] = ["call", "network.interface", "dump"];

/// rtm_protocol value that marks a route as ours. ecmp4/ecmp6 only ever
/// replace or delete default routes carrying it, so a route written by
/// netifd (`static`), odhcp6c, a routing daemon or by hand is never touched.
/// 236 (0xEC) is unassigned in iproute2's rt_protos; add `236 ecmp` to
/// /etc/iproute2/rt_protos to see it by name.
pub const RTPROT_ECMP: u8 = 236;
