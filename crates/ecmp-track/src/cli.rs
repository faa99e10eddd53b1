//! The command line: ecmp4's global options that apply to tracking,
//! resolved into one `Settings` per family (the same ones the hooks use).

use crate::tracker::Tracker;
use ecmp::input::cli::{set, Args};
use ecmp::input::settings::Settings;
use ecmp::log::{Level, Log};
use ecmp::{Error, Family};

const HELP: &str = "Usage: ecmp-track [options]

Probe every ecmp4/ecmp6 member with ICMP echo from its own device and
address (mwan3track's options, from `config track` in /etc/config/ecmp).
A member that fails `down` rounds in a row is dead and leaves the route;
after `up` passed rounds it returns. Never empties a route: when every
member of a family is dead, all are kept. Tiers: only the lowest tier with
a live member carries traffic. `redial_after` redials a dead PPPoE
interface alone. State: STATE-DIR/track.json, read by ecmp4/ecmp6 on every
event and ignored once this process is gone. SIGHUP (ecmp4/ecmp6 send one
after every event) re-reads the config and netifd's dump, as every 30 s;
SIGTERM removes the state file and puts every link back.

Options:
  --config FILE       UCI config (default /etc/config/ecmp)
  --ubus-socket PATH  ubusd's socket (default /var/run/ubus/ubus.sock)
  --ubus-timeout S    seconds to wait for ubus (default 5)
  --ubus PROGRAM      debugging: read the dump from PROGRAM's JSON
  --state-dir DIR     where track.json goes (default /var/run/ecmp-hotplug)
  --lock-file FILE    lock shared with ecmp4/ecmp6 (default /var/run/ecmp-hotplug.lock)
  --lock-wait S       seconds to wait for it (default 10)
  -v, --verbose       also log to stderr
  --syslog-socket P   syslog socket (default /dev/log)
  --version, --help

Disabled in the config while running, it puts every link back and waits
until enabled again.

Exit status: 0 stopped, or tracking disabled at start; 2 usage; 3 config
unusable; 5 no raw ICMP socket (not root).";

fn parse(words: &[String]) -> Result<Option<Args>, Error> {
    let mut a = Args::default();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        let w = w.as_str();
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| Error::Usage(format!("{w} needs a value")))
        };
        match w {
            "--help" | "-h" => {
                ecmp::say!("{HELP}");
                return Ok(None);
            }
            "--version" => {
                ecmp::say!("ecmp-track {}", env!("CARGO_PKG_VERSION"));
                return Ok(None);
            }
            "-v" | "--verbose" => a.verbose = true,
            "--config" => set(&mut a.config, w, value()?.into())?,
            "--ubus-socket" => set(&mut a.ubus_socket, w, value()?.into())?,
            "--ubus-timeout" => set(&mut a.ubus_timeout, w, value()?)?,
            "--ubus" => set(&mut a.ubus, w, value()?.into())?,
            "--state-dir" => set(&mut a.state_dir, w, value()?.into())?,
            "--lock-file" => set(&mut a.lock_file, w, value()?.into())?,
            "--lock-wait" => set(&mut a.lock_wait, w, value()?)?,
            "--syslog-socket" => set(&mut a.syslog_socket, w, value()?.into())?,
            _ => {
                return Err(Error::Usage(format!(
                    "unrecognized argument: {w} (see --help)"
                )))
            }
        }
    }
    Ok(Some(a))
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
