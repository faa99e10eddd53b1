//! Command line, shared by ecmp4 and ecmp6.

use argh::FromArgs;
use std::path::PathBuf;

/// Keep one multipath default route (IPv4 for ecmp4, IPv6 for ecmp6) over
/// every live WAN link. Run by netifd's hotplug (/etc/hotplug.d/iface) with
/// ACTION, INTERFACE and DEVICE in the environment, or by hand.
#[derive(FromArgs, Debug, Default)]
#[argh(
    note = "Config: /etc/config/ecmp (UCI, read with `uci -q show ecmp`); flags override it.
Routes and nexthop objects written carry protocol 236 (`proto 236`); only those are ever replaced or deleted.
Modes: resilient = a resilient nexthop group (Linux 5.13+), group = a hash-threshold group (5.3+), multipath = one RTA_MULTIPATH route; auto takes the first the kernel accepts. With a group the route outlives a member device's removal.
Exit status 0: route replaced, deleted or already right, or an action that changes nothing.",
    error_code(2, "usage: bad flag, or ACTION/INTERFACE unusable"),
    error_code(3, "config: /etc/config/ecmp or uci unusable"),
    error_code(
        4,
        "input: ubus missing, failing or hanging; dump not valid netifd JSON"
    ),
    error_code(5, "kernel: netlink refused the change (table left as it was)"),
    error_code(6, "conflict: a route that is not ours holds our table and metric"),
    error_code(7, "busy: another run held the lock for --lock-wait seconds")
)]
pub struct Args {
    /// hotplug action (default $ACTION; none = recompute now): ifup, ifupdate, ifdown, ifup-failed and free act, others are ignored
    #[argh(option)]
    pub action: Option<String>,
    /// interface the event is about (default $INTERFACE)
    #[argh(option)]
    pub interface: Option<String>,
    /// ubus program asked for `call network.interface dump` (default /bin/ubus)
    #[argh(option)]
    pub ubus: Option<PathBuf>,
    /// seconds to wait for ubus before killing it (default 5)
    #[argh(option)]
    pub ubus_timeout: Option<String>,
    /// read the netifd dump from this file ('-' for stdin) instead of ubus
    #[argh(option)]
    pub dump_file: Option<PathBuf>,
    /// UCI config file (default /etc/config/ecmp; absent = defaults)
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// uci program (default /sbin/uci)
    #[argh(option)]
    pub uci: Option<PathBuf>,
    /// metric of our default route (default 1)
    #[argh(option)]
    pub metric: Option<u32>,
    /// routing table: main, default or a number (default main)
    #[argh(option)]
    pub table: Option<String>,
    /// netifd proto whose interfaces are members (repeatable; default pppoe for ecmp4, dhcpv6 for ecmp6)
    #[argh(option)]
    pub proto: Vec<String>,
    /// interface never to use (repeatable)
    #[argh(option)]
    pub exclude: Vec<String>,
    /// auto (default), resilient, group or multipath: how the route is programmed
    #[argh(option)]
    pub mode: Option<String>,
    /// remove our route (every metric, in the table) and our nexthop objects of this family, then exit; for uninstalling
    #[argh(switch)]
    pub flush: bool,
    /// lock file serialising runs (default /var/run/ecmp-hotplug.lock)
    #[argh(option)]
    pub lock_file: Option<PathBuf>,
    /// seconds to wait for the lock before giving up (default 10)
    #[argh(option)]
    pub lock_wait: Option<u64>,
    /// print what would be installed as `ip nexthop`/`ip route` commands; touch nothing
    #[argh(switch)]
    pub dry_run: bool,
    /// also log to stderr
    #[argh(switch, short = 'v')]
    pub verbose: bool,
    /// syslog socket (default /dev/log)
    #[argh(option)]
    pub syslog_socket: Option<PathBuf>,
    /// print the version and exit
    #[argh(switch)]
    pub version: bool,
    #[argh(subcommand)]
    pub cmd: Option<Cmd>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Cmd {
    Status(StatusCmd),
    Check(CheckCmd),
}

/// Show the members, the mode in use, the kernel's route against the one
/// the members call for, and every warning. Exit 1 when they differ.
/// Options of ecmp4/ecmp6 (--config, --ubus...) go before `status`.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
pub struct StatusCmd {
    /// print JSON (schema 1, see README) instead of text
    #[argh(switch)]
    pub json: bool,
}

/// Check the installation and the kernel: nexthop objects and resilient
/// groups, the hash sysctl, the config, the hotplug hook and binary, ubus
/// and uci. Each finding with its fix. Exit 1 when anything needs fixing.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "check")]
pub struct CheckCmd {
    /// root of the installation whose files are checked (default /)
    #[argh(option, default = "PathBuf::from(\"/\")")]
    pub root: PathBuf,
}
