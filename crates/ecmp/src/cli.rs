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
/// the members call for, and every warning. Exit 1 when they differ, when
/// another default route wins over ours, or when no member is usable.
/// Options of ecmp4/ecmp6 (--config, --ubus...) may go before or after it.
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

/// Switches of [`Args`]; every other `--flag` of it takes one value.
const GLOBAL_SWITCHES: &[&str] = &["--flush", "--dry-run", "-v", "--verbose", "--version"];
/// Options of [`Args`] (the rest of its flags take a value).
const GLOBAL_OPTIONS: &[&str] = &[
    "--action",
    "--interface",
    "--ubus",
    "--ubus-timeout",
    "--dump-file",
    "--config",
    "--uci",
    "--metric",
    "--table",
    "--proto",
    "--exclude",
    "--mode",
    "--lock-file",
    "--lock-wait",
    "--syslog-socket",
];

/// People type `ecmp4 status --json --metric 7`; argh only takes the
/// global options before the subcommand. Move them there, keeping their
/// order and every argument that belongs to the subcommand.
pub fn globals_first(argv: Vec<&str>) -> Vec<&str> {
    let mut i = 0;
    // Find the subcommand: the first word that is not a flag or a value.
    let sub = loop {
        let Some(a) = argv.get(i) else { return argv };
        if GLOBAL_OPTIONS.contains(a) {
            i += 2;
        } else if *a == "status" || *a == "check" {
            break i;
        } else {
            i += 1;
        }
    };
    let (mut head, mut tail) = (argv[..sub].to_vec(), vec![argv[sub]]);
    let mut j = sub + 1;
    while j < argv.len() {
        let a = argv[j];
        if GLOBAL_SWITCHES.contains(&a) {
            head.push(a);
        } else if GLOBAL_OPTIONS.contains(&a) && j + 1 < argv.len() {
            head.push(a);
            head.push(argv[j + 1]);
            j += 1;
        } else {
            tail.push(a);
        }
        j += 1;
    }
    head.extend(tail);
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Result<Args, String> {
        <Args as FromArgs>::from_args(&["ecmp4"], &globals_first(v.to_vec())).map_err(|e| e.output)
    }

    #[test]
    fn global_options_after_the_subcommand() {
        let a = parse(&["status", "--json", "--metric", "7", "-v"]).unwrap();
        assert_eq!(a.metric, Some(7));
        assert!(a.verbose);
        assert!(matches!(a.cmd, Some(Cmd::Status(StatusCmd { json: true }))));
        let a = parse(&[
            "--config", "status", "check", "--root", "/r", "--table", "9",
        ])
        .unwrap();
        assert_eq!(a.config.as_deref(), Some(std::path::Path::new("status")));
        assert_eq!(a.table.as_deref(), Some("9"));
        match a.cmd {
            Some(Cmd::Check(c)) => assert_eq!(c.root, PathBuf::from("/r")),
            c => panic!("{c:?}"),
        }
        // Nothing to move, and unknown flags still refused.
        assert_eq!(globals_first(vec!["--metric", "3"]), ["--metric", "3"]);
        assert!(parse(&["status", "--nope"]).is_err());
        // A value that looks like a subcommand stays a value.
        let a = parse(&["--interface", "check"]).unwrap();
        assert_eq!(a.interface.as_deref(), Some("check"));
        assert!(a.cmd.is_none());
    }

    #[test]
    fn every_global_flag_is_listed() {
        // The lists above must follow Args: a new flag missing from them
        // would be refused after the subcommand.
        let help = match <Args as FromArgs>::from_args(&["ecmp4"], &["--help"]) {
            Err(e) => e.output,
            Ok(_) => unreachable!(),
        };
        for line in help.lines().map(str::trim_start) {
            let Some(flag) = line.split_whitespace().next() else {
                continue;
            };
            let flag = flag.trim_end_matches(',');
            if flag.starts_with("--") && flag != "--help" {
                let flag = if flag == "--verbose" { "-v" } else { flag };
                assert!(
                    GLOBAL_SWITCHES.contains(&flag) || GLOBAL_OPTIONS.contains(&flag),
                    "{flag} is in --help but not in globals_first's lists"
                );
            }
        }
    }
}
