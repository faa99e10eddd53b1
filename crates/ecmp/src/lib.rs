//! Core of ecmp-hotplug: one pass per event, readable from the folder
//! list. Data flows one way, one folder a step:
//!
//! - `input/`: the event, the command line, /etc/config, netifd's dump
//!   (ubus and blobmsg), the network file.
//! - `plan/`: pure planners: members, the route, nexthop groups, the
//!   member tables and their rules, the port-forward marks.
//! - `kernel/`: the `Kernel` trait and `State` (the kernel read once),
//!   the one writer with undo (`program`), the netlink codec, the real
//!   kernel and the in-memory one.
//! - `report/`: `status`, `check`, and what fights our route.
//! - `pass`: one event: input, then the plan and the writes from one read.
//! - `app`: the command line to the exit status, one function per mode.
//! - `lock`, `log`, `error`, `proc`, `arena`: one run at a time, one line,
//!   one exit status, spawning with a timeout, the allocator.
//!
//! Shared data types live apart from the code that uses them, so no module
//! imports itself through others (tests/imports.rs). Only
//! `kernel::rtnetlink` (and `check`'s probes through it) talk to the
//! kernel, `proc` spawns programs (for `nft` too), and `input::read`,
//! `check`, `rtnetlink`, `track` (track.json) and `nft` (the text last
//! loaded) read or write files of the system, so everything else is
//! testable without root.

pub mod app;
pub mod arena;
pub mod error;
#[doc(hidden)]
pub mod fuzz;
pub mod input;
pub mod kernel;
pub mod lock;
pub mod log;
pub mod pass;
pub mod plan;
pub mod proc;
pub mod report;

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
