//! The command line as given ("low" arguments, as ripgrep's lowargs):
//! words into fields, nothing resolved. Options go before or after the
//! subcommand (`ecmp4 status --json --metric 7`). `settings` turns them,
//! with the environment and the defaults, into what a run uses.

use crate::{Error, Family};
use std::path::PathBuf;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    pub action: Option<String>,
    pub interface: Option<String>,
    pub ubus: Option<PathBuf>,
    pub ubus_timeout: Option<String>,
    pub dump_file: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub ubus_socket: Option<PathBuf>,
    pub metric: Option<String>,
    pub table: Option<String>,
    pub proto: Vec<String>,
    pub exclude: Vec<String>,
    pub mode: Option<String>,
    pub flush: bool,
    pub lock_file: Option<PathBuf>,
    pub lock_wait: Option<String>,
    pub dry_run: bool,
    pub verbose: bool,
    pub syslog_socket: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub cmd: Option<Cmd>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    Status {
        json: bool,
    },
    Check {
        root: Option<PathBuf>,
    },
    /// Recompute the route now, whatever ACTION/INTERFACE the environment
    /// holds: the one exact command LuCI's ACL grants for applying a saved
    /// config (a bare `ecmp4` there would grant every flag too).
    Sync,
}

/// What the words ask for.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Help,
    Version,
    Run(Args),
}

/// The words as argh reads them: every option, wherever it stands, and
/// the words that are no option (the command, or a stray).
#[derive(argh::FromArgs, Debug)]
#[argh(
    help_triggers("-h", "--help", "help"),
    description = "Keep one multipath default route (ecmp4: IPv4, ecmp6: IPv6) over every live WAN link. Run by netifd's hotplug (/etc/hotplug.d/iface/97-ecmp4, 98-ecmp6) with ACTION, INTERFACE and DEVICE in the environment, or by hand: with no ACTION it recomputes the route now (a sync). Options go before or after the command.",
    note = "Commands:
  status              the members, the mode in use, the kernel's route against
                      the wanted one, every warning; exit 1 when they differ,
                      another default route wins over ours, or no member is
                      usable (--json: schema 2, see README)
  check               the installation and the kernel, each finding with its
                      fix; exit 1 when anything needs fixing (--root DIR: the
                      files of an installation under DIR)
  sync                recompute the route now, ignoring ACTION and INTERFACE
                      in the environment (what LuCI runs after Save & Apply)

Config: /etc/config/ecmp (UCI, the committed file); flags override it. An
event of an interface whose proto in the network file beside it (plainly
written, as uci does) is not a member proto asks no dump: nothing to do.
Routes and nexthop objects written carry protocol 236; only those are ever
replaced or deleted. Modes: resilient = a resilient nexthop group (Linux
5.13+), group = a hash-threshold group (5.3+), multipath = one RTA_MULTIPATH
route; auto takes the first the kernel accepts.

Exit status 0: route replaced, deleted or already right, or an action that
changes nothing.",
    error_code(2, "usage: bad flag, ACTION/INTERFACE unusable, or not root"),
    error_code(3, "config: /etc/config/ecmp or the lock file unusable, or a member proto no interface in netifd's dump has (a typo: nothing written)"),
    error_code(4, "input: ubus failing or hanging; not netifd's dump"),
    error_code(5, "kernel: netlink refused the change (table left as it was)"),
    error_code(6, "conflict: a route that is not ours holds our table and metric"),
    error_code(7, "busy: another run held the lock for --lock-wait seconds")
)]
struct Words {
    /// status [--json], check [--root DIR] or sync
    #[argh(positional, arg_name = "command")]
    command: Vec<String>,
    /// hotplug action (default $ACTION): ifup, ifupdate, ifdown, ifup-failed and free act, others are ignored
    #[argh(option)]
    action: Option<String>,
    /// interface the event is about (default $INTERFACE)
    #[argh(option)]
    interface: Option<String>,
    /// ubusd's socket, asked for netifd's dump (default /var/run/ubus/ubus.sock; over an `option ubus` program)
    #[argh(option)]
    ubus_socket: Option<PathBuf>,
    /// seconds to wait for ubus's answer (default 5)
    #[argh(option)]
    ubus_timeout: Option<String>,
    /// debugging: run PROGRAM `call network.interface dump` and read its JSON instead of the socket
    #[argh(option, arg_name = "program")]
    ubus: Option<PathBuf>,
    /// debugging: read the dump from FILE ('-' for stdin)
    #[argh(option, arg_name = "file")]
    dump_file: Option<PathBuf>,
    /// UCI config (default /etc/config/ecmp; only it may be absent)
    #[argh(option, arg_name = "file")]
    config: Option<PathBuf>,
    /// metric of our default route (default 1)
    #[argh(option)]
    metric: Option<String>,
    /// routing table: main, default or a number (default main)
    #[argh(option)]
    table: Option<String>,
    /// netifd proto whose interfaces are members (repeatable; default pppoe for ecmp4, dhcpv6 for ecmp6)
    #[argh(option)]
    proto: Vec<String>,
    /// interface never to use (repeatable)
    #[argh(option)]
    exclude: Vec<String>,
    /// auto (default), resilient, group or multipath
    #[argh(option)]
    mode: Option<String>,
    /// remove our routes (every metric, in the table), our nexthop objects, member tables and rules of this family (ecmp4: and nft's table ip ecmp4), then exit
    #[argh(switch)]
    flush: bool,
    /// lock serialising runs (default /var/run/ecmp-hotplug.lock)
    #[argh(option, arg_name = "file")]
    lock_file: Option<PathBuf>,
    /// seconds to wait for the lock (default 10)
    #[argh(option)]
    lock_wait: Option<String>,
    /// print the `ip nexthop`/`ip route` commands a run would make, and its log line; touch nothing (with --flush: what flush would delete)
    #[argh(switch)]
    dry_run: bool,
    /// also log to stderr
    #[argh(switch, short = 'v')]
    verbose: bool,
    /// syslog socket (default /dev/log)
    #[argh(option)]
    syslog_socket: Option<PathBuf>,
    /// where ecmp-track's track.json is read: members it calls dead are left out (default /var/run/ecmp-hotplug)
    #[argh(option, arg_name = "dir")]
    state_dir: Option<PathBuf>,
    /// status: print JSON (schema 2, see README)
    #[argh(switch)]
    json: bool,
    /// check: the files of an installation under DIR
    #[argh(option, arg_name = "dir")]
    root: Option<PathBuf>,
    /// print the version
    #[argh(switch)]
    version: bool,
}

/// The arguments after the program name, as UTF-8 (netifd and a shell
/// only ever pass UTF-8; anything else is a usage error, not a guess).
pub fn argv() -> Result<Vec<String>, Error> {
    std::env::args_os()
        .skip(1)
        .map(|a| {
            a.into_string()
                .map_err(|_| Error::Usage("arguments must be valid UTF-8".into()))
        })
        .collect()
}

/// argh's refusal as one of our usage errors, in our words: "unrecognized
/// argument: --x (see --help)", "--metric needs a value", "--metric given
/// twice". Every program of ours says them alike.
pub fn refused(output: &str) -> Error {
    let said = output.trim();
    let quoted = |s: &str| s.split('\'').nth(1).unwrap_or("").to_string();
    if said.starts_with("No value provided for option") {
        return Error::Usage(format!("{} needs a value", quoted(said)));
    }
    if said.contains("duplicate values provided") {
        return Error::Usage(format!("{} given twice", quoted(said)));
    }
    let mut c = said.chars();
    let said: String = match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    };
    Error::Usage(format!("{said} (see --help)"))
}

/// Words into [`Args`]; `help` is the help text for `program`.
pub fn parse(words: &[String]) -> Result<Parsed, Error> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let x = match <Words as argh::FromArgs>::from_args(&["ecmp"], &w) {
        Ok(x) => x,
        Err(e) if e.status.is_ok() => return Ok(Parsed::Help),
        Err(e) => return Err(refused(&e.output)),
    };
    if x.version {
        return Ok(Parsed::Version);
    }
    let stray = |w: &str| Error::Usage(format!("unrecognized argument: {w} (see --help)"));
    let sub = match x.command.as_slice() {
        [] => None,
        [c] if matches!(c.as_str(), "status" | "check" | "sync") => Some(c.as_str()),
        [c] => return Err(stray(c)),
        [_, c, ..] => return Err(stray(c)),
    };
    // What belongs to one command only, and comes after it (as argh
    // would have it with subcommands: `ecmp4 status --json`).
    let after = |flag: &str, cmd: &str| {
        let at = |w: &str| words.iter().position(|x| x == w);
        sub == Some(cmd) && at(flag) > at(cmd)
    };
    if x.json && !after("--json", "status") {
        return Err(stray("--json"));
    }
    if x.root.is_some() && !after("--root", "check") {
        return Err(stray("--root"));
    }
    let cmd = match sub {
        Some("status") => Some(Cmd::Status { json: x.json }),
        Some("check") => Some(Cmd::Check { root: x.root }),
        Some(_) => {
            if x.action.is_some() || x.interface.is_some() || x.flush {
                return Err(Error::Usage(
                    "sync takes no --action, --interface or --flush".into(),
                ));
            }
            Some(Cmd::Sync)
        }
        None => None,
    };
    Ok(Parsed::Run(Args {
        action: x.action,
        interface: x.interface,
        ubus: x.ubus,
        ubus_timeout: x.ubus_timeout,
        dump_file: x.dump_file,
        config: x.config,
        ubus_socket: x.ubus_socket,
        metric: x.metric,
        table: x.table,
        proto: x.proto,
        exclude: x.exclude,
        mode: x.mode,
        flush: x.flush,
        lock_file: x.lock_file,
        lock_wait: x.lock_wait,
        dry_run: x.dry_run,
        verbose: x.verbose,
        syslog_socket: x.syslog_socket,
        state_dir: x.state_dir,
        cmd,
    }))
}

/// `--help`: argh's, named for this family's program.
pub fn help(family: Family) -> String {
    let p = family.program();
    match <Words as argh::FromArgs>::from_args(&[p], &["--help"]) {
        Err(e) => e.output.trim_end().to_string(),
        Ok(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(v: &[&str]) -> Result<Args, Error> {
        let w: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        match parse(&w)? {
            Parsed::Run(a) => Ok(a),
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn global_options_before_or_after_the_subcommand() {
        let a = run(&["status", "--json", "--metric", "7", "-v"]).unwrap();
        assert_eq!(a.metric.as_deref(), Some("7"));
        assert!(a.verbose);
        assert_eq!(a.cmd, Some(Cmd::Status { json: true }));
        let a = run(&[
            "--config", "status", "check", "--root", "/r", "--table", "9",
        ])
        .unwrap();
        assert_eq!(a.config.as_deref(), Some(std::path::Path::new("status")));
        assert_eq!(a.table.as_deref(), Some("9"));
        assert_eq!(
            a.cmd,
            Some(Cmd::Check {
                root: Some("/r".into())
            })
        );
        // A value that looks like a subcommand stays a value.
        let a = run(&["--interface", "check"]).unwrap();
        assert_eq!(a.interface.as_deref(), Some("check"));
        assert!(a.cmd.is_none());
        let a = run(&["--proto", "pppoe", "--proto", "dhcp"]).unwrap();
        assert_eq!(a.proto, ["pppoe", "dhcp"]);
        let a = run(&["sync", "--config", "/c"]).unwrap();
        assert_eq!(a.cmd, Some(Cmd::Sync));
    }

    #[test]
    fn usage_errors() {
        for (v, msg) in [
            (&["status", "--nope"][..], "unrecognized argument: --nope"),
            (&["--json"], "unrecognized argument: --json"),
            (&["--json", "status"], "unrecognized argument: --json"),
            (&["--root", "/", "check"], "unrecognized argument: --root"),
            (&["check", "--json"], "unrecognized argument: --json"),
            (&["status", "--root", "/"], "unrecognized argument: --root"),
            (&["sync", "--json"], "unrecognized argument: --json"),
            (&["sync", "status"], "unrecognized argument: status"),
            (&["sync", "--action", "ifup"], "sync takes no --action"),
            (&["--flush", "sync"], "sync takes no --action"),
            (&["--metric"], "--metric needs a value"),
            (&["--metric", "1", "--metric", "2"], "--metric given twice"),
            (&["status", "status"], "unrecognized argument: status"),
            (&["stray"], "unrecognized argument: stray"),
        ] {
            let e = run(v).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains(msg), "{v:?}: {e}");
        }
        let w = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse(&w(&["--metric", "1", "--help"])).unwrap(),
            Parsed::Help
        );
        assert_eq!(parse(&w(&["help"])).unwrap(), Parsed::Help);
        assert_eq!(
            parse(&w(&["status", "--version"])).unwrap(),
            Parsed::Version
        );
    }

    #[test]
    fn help_names_every_flag_and_exit_code() {
        let h = help(Family::V4);
        for f in [
            "--action",
            "--interface",
            "--ubus ",
            "--ubus-timeout",
            "--dump-file",
            "--config",
            "--ubus-socket",
            "--metric",
            "--table",
            "--proto",
            "--exclude",
            "--mode",
            "--flush",
            "--lock-file",
            "--lock-wait",
            "--dry-run",
            "--verbose",
            "--syslog-socket",
            "--state-dir",
            "--version",
            "--json",
            "--root",
            "97-ecmp4",
            "Exit status 0",
            "6 conflict",
        ] {
            assert!(h.contains(f), "help lacks {f}");
        }
        assert!(help(Family::V6).starts_with("Usage: ecmp6 "));
    }
}
