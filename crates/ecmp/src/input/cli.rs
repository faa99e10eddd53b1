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

/// Fill a flag's slot once (a flag given twice is a usage error).
pub fn set<T>(slot: &mut Option<T>, flag: &str, v: T) -> Result<(), Error> {
    if slot.is_some() {
        return Err(Error::Usage(format!("{flag} given twice")));
    }
    *slot = Some(v);
    Ok(())
}

/// Words into [`Args`].
pub fn parse(words: &[String]) -> Result<Parsed, Error> {
    let mut a = Args::default();
    let mut json = false;
    let mut root: Option<PathBuf> = None;
    let mut sub: Option<&str> = None;
    let mut it = words.iter();
    while let Some(w) = it.next() {
        let w = w.as_str();
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| Error::Usage(format!("{w} needs a value")))
        };
        match w {
            "--help" | "-h" => return Ok(Parsed::Help),
            "help" if sub.is_none() => return Ok(Parsed::Help),
            "--version" => return Ok(Parsed::Version),
            "--flush" => a.flush = true,
            "--dry-run" => a.dry_run = true,
            "-v" | "--verbose" => a.verbose = true,
            "--action" => set(&mut a.action, w, value()?)?,
            "--interface" => set(&mut a.interface, w, value()?)?,
            "--ubus" => set(&mut a.ubus, w, value()?.into())?,
            "--ubus-timeout" => set(&mut a.ubus_timeout, w, value()?)?,
            "--dump-file" => set(&mut a.dump_file, w, value()?.into())?,
            "--config" => set(&mut a.config, w, value()?.into())?,
            "--ubus-socket" => set(&mut a.ubus_socket, w, value()?.into())?,
            "--metric" => set(&mut a.metric, w, value()?)?,
            "--table" => set(&mut a.table, w, value()?)?,
            "--proto" => a.proto.push(value()?),
            "--exclude" => a.exclude.push(value()?),
            "--mode" => set(&mut a.mode, w, value()?)?,
            "--lock-file" => set(&mut a.lock_file, w, value()?.into())?,
            "--lock-wait" => set(&mut a.lock_wait, w, value()?)?,
            "--syslog-socket" => set(&mut a.syslog_socket, w, value()?.into())?,
            "--state-dir" => set(&mut a.state_dir, w, value()?.into())?,
            "--json" if sub == Some("status") => json = true,
            "--root" if sub == Some("check") => set(&mut root, w, value()?.into())?,
            "status" | "check" | "sync" if sub.is_none() => {
                sub = Some(match w {
                    "status" => "status",
                    "check" => "check",
                    _ => "sync",
                })
            }
            _ => {
                return Err(Error::Usage(format!(
                    "unrecognized argument: {w} (see --help)"
                )))
            }
        }
    }
    a.cmd = match sub {
        Some("status") => Some(Cmd::Status { json }),
        Some("sync") => {
            if a.action.is_some() || a.interface.is_some() || a.flush {
                return Err(Error::Usage(
                    "sync takes no --action, --interface or --flush".into(),
                ));
            }
            Some(Cmd::Sync)
        }
        Some(_) => Some(Cmd::Check { root }),
        None => None,
    };
    Ok(Parsed::Run(a))
}

/// `--help`.
pub fn help(family: Family) -> String {
    let p = family.program();
    let (v, proto) = match family {
        Family::V4 => ("IPv4", "pppoe"),
        Family::V6 => ("IPv6", "dhcpv6"),
    };
    format!(
        "Usage: {p} [options] [status [--json] | check [--root DIR] | sync]

Keep one multipath {v} default route over every live WAN link. Run by
netifd's hotplug (/etc/hotplug.d/iface/{hook}) with ACTION, INTERFACE and
DEVICE in the environment, or by hand: with no ACTION it recomputes the
route now (a sync).

Options (before or after the command):
  --action A          hotplug action (default $ACTION): ifup, ifupdate, ifdown,
                      ifup-failed and free act, others are ignored
  --interface I       interface the event is about (default $INTERFACE)
  --ubus-socket PATH  ubusd's socket, asked for netifd's dump (default
                      /var/run/ubus/ubus.sock; over an `option ubus` program)
  --ubus-timeout S    seconds to wait for ubus's answer (default 5)
  --ubus PROGRAM      debugging: run PROGRAM `call network.interface dump`
                      and read its JSON instead of the socket
  --dump-file FILE    debugging: read the dump from FILE ('-' for stdin)
  --config FILE       UCI config (default /etc/config/ecmp; only it may be absent)
  --metric N          metric of our default route (default 1)
  --table T           routing table: main, default or a number (default main)
  --proto P           netifd proto whose interfaces are members (repeatable;
                      default {proto})
  --exclude I         interface never to use (repeatable)
  --mode M            auto (default), resilient, group or multipath
  --flush             remove our routes (every metric, in the table), our
                      nexthop objects, member tables and rules of this family
                      (ecmp4: and nft's table ip ecmp4), then exit
  --lock-file FILE    lock serialising runs (default /var/run/ecmp-hotplug.lock)
  --lock-wait S       seconds to wait for the lock (default 10)
  --dry-run           print the `ip nexthop`/`ip route` commands a run would
                      make, and its log line; touch nothing (with --flush:
                      what flush would delete)
  -v, --verbose       also log to stderr
  --syslog-socket P   syslog socket (default /dev/log)
  --state-dir DIR     where ecmp-track's track.json is read: members it calls
                      dead are left out (default /var/run/ecmp-hotplug)
  --version           print the version
  --help              this text

Commands:
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
changes nothing. Error codes:
  2 usage: bad flag, ACTION/INTERFACE unusable, or not root
  3 config: /etc/config/ecmp or the lock file unusable, or a member proto
    no interface in netifd's dump has (a typo: nothing written)
  4 input: ubus failing or hanging; not netifd's dump
  5 kernel: netlink refused the change (table left as it was)
  6 conflict: a route that is not ours holds our table and metric
  7 busy: another run held the lock for --lock-wait seconds",
        hook = family.hook()
    )
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
