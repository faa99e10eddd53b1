//! The command line: ecmp4's global options that apply to tracking,
//! resolved into one `Settings` per family (the same ones the hooks use).

use crate::tracker::Tracker;
use ecmp::input::cli::Args;
use ecmp::input::settings::Settings;
use ecmp::log::{Level, Log};
use ecmp::{Error, Family};
use std::path::PathBuf;

/// Probe every ecmp4/ecmp6 member from its own device and address, with
/// ICMP echo, or by track_method: tcp connects, dns queries, http HEAD
/// requests, or ICMP to each dial's own gateway (mwan3track's options,
/// from `config track` in /etc/config/ecmp).
/// A member that fails `down` rounds in a row is dead and leaves the
/// route; after `up` passed rounds it returns. Never empties a route: when
/// every member of a family is dead, all are kept. Tiers: only the lowest
/// tier with a live member carries traffic. `redial_after` redials a dead
/// PPPoE interface alone. State: STATE-DIR/track.json, read by ecmp4/ecmp6
/// on every event and ignored once this process is gone. SIGHUP
/// (ecmp4/ecmp6 send one after every event) re-reads the config and
/// netifd's dump, as every 30 s; SIGTERM removes the state file and puts
/// every link back.
#[derive(argh::FromArgs, Debug)]
#[argh(
    help_triggers("-h", "--help"),
    note = "Disabled in the config while running, it puts every link back and waits until enabled again.
Exit status 0: stopped, or tracking disabled at start.",
    error_code(2, "usage"),
    error_code(3, "config unusable"),
    error_code(5, "no raw ICMP socket (not root)")
)]
struct Words {
    /// UCI config (default /etc/config/ecmp)
    #[argh(option, arg_name = "file")]
    config: Option<PathBuf>,
    /// ubusd's socket (default /var/run/ubus/ubus.sock)
    #[argh(option)]
    ubus_socket: Option<PathBuf>,
    /// seconds to wait for ubus (default 5)
    #[argh(option)]
    ubus_timeout: Option<String>,
    /// debugging: read the dump from PROGRAM's JSON
    #[argh(option, arg_name = "program")]
    ubus: Option<PathBuf>,
    /// where track.json goes (default /var/run/ecmp-hotplug)
    #[argh(option, arg_name = "dir")]
    state_dir: Option<PathBuf>,
    /// lock shared with ecmp4/ecmp6 (default /var/run/ecmp-hotplug.lock)
    #[argh(option, arg_name = "file")]
    lock_file: Option<PathBuf>,
    /// seconds to wait for it (default 10)
    #[argh(option)]
    lock_wait: Option<String>,
    /// also log to stderr
    #[argh(switch, short = 'v')]
    verbose: bool,
    /// syslog socket (default /dev/log)
    #[argh(option)]
    syslog_socket: Option<PathBuf>,
    /// print the version
    #[argh(switch)]
    version: bool,
}

/// Words into ecmp4's [`Args`] (the options tracking shares); None: help
/// or the version was printed.
fn parse(words: &[String]) -> Result<Option<Args>, Error> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let x = match <Words as argh::FromArgs>::from_args(&["ecmp-track"], &w) {
        Ok(x) => x,
        Err(e) if e.status.is_ok() => {
            ecmp::say!("{}", e.output.trim_end());
            return Ok(None);
        }
        Err(e) => return Err(ecmp::input::cli::refused(&e.output)),
    };
    if x.version {
        ecmp::say!("ecmp-track {}", env!("CARGO_PKG_VERSION"));
        return Ok(None);
    }
    Ok(Some(Args {
        config: x.config,
        ubus_socket: x.ubus_socket,
        ubus_timeout: x.ubus_timeout,
        ubus: x.ubus,
        state_dir: x.state_dir,
        lock_file: x.lock_file,
        lock_wait: x.lock_wait,
        verbose: x.verbose,
        syslog_socket: x.syslog_socket,
        ..Args::default()
    }))
}

pub fn main() -> i32 {
    let words = match ecmp::input::cli::argv() {
        Ok(w) => w,
        Err(e) => {
            ecmp::complain!("ecmp-track: {e}");
            return e.exit_code();
        }
    };
    let args = match parse(&words) {
        Ok(Some(a)) => a,
        Ok(None) => return 0,
        Err(e) => {
            ecmp::complain!("ecmp-track: {e}");
            return e.exit_code();
        }
    };
    let mut log = Log::named("ecmp-track", args.syslog_socket.as_deref(), args.verbose);
    // No ACTION: each family's settings are those of a sync.
    let resolve = |f| Settings::resolve(f, args.clone(), None, None);
    let (s4, s6) = match (resolve(Family::V4), resolve(Family::V6)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            log.line(Level::Error, &e.to_string());
            return e.exit_code();
        }
    };
    Tracker::new(s4, s6, log).run()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_and_usage_errors() {
        let a = parse(&w(&["--state-dir", "/s", "-v", "--config", "/c"]))
            .unwrap()
            .unwrap();
        assert_eq!(a.state_dir.as_deref(), Some(std::path::Path::new("/s")));
        assert!(a.verbose);
        for (v, msg) in [
            (&["--metric", "1"][..], "unrecognized argument: --metric"),
            (&["--config"], "--config needs a value"),
            (&["--config", "a", "--config", "b"], "--config given twice"),
        ] {
            let e = parse(&w(v)).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains(msg), "{e}");
        }
    }
}
