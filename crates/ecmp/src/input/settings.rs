//! The command line resolved once into what a run uses (ripgrep's
//! hiargs): default paths filled in, numbers and names parsed, the event
//! taken from the environment. Nothing after this looks at a flag again.

use crate::input::cli::{Args, Cmd};
use crate::input::config;
use crate::input::event::Event;
use crate::input::options::Mode;
use crate::lock::{DEFAULT_LOCK, DEFAULT_WAIT};
use crate::{Error, Family};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// What the run is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// A hotplug event, or a sync (no ACTION).
    Event(Event),
    /// `--flush`: remove our routes and objects.
    Flush,
    Status {
        json: bool,
    },
    Check {
        root: PathBuf,
    },
}

/// Flags that override /etc/config/ecmp.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub metric: Option<u32>,
    pub table: Option<u32>,
    pub protos: Vec<String>,
    pub exclude: Vec<String>,
    pub mode: Option<Mode>,
    pub ubus: Option<PathBuf>,
    pub ubus_socket: Option<PathBuf>,
    pub ubus_timeout: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub family: Family,
    pub command: Command,
    /// The config file, and whether it was named (only the default may be
    /// absent). For `check --root R` without --config: R/etc/config/ecmp.
    pub config: PathBuf,
    pub config_given: bool,
    pub overrides: Overrides,
    /// The dump from a file ('-': stdin) instead of ubus.
    pub dump_file: Option<PathBuf>,
    pub lock_file: PathBuf,
    pub lock_wait: Duration,
    pub dry_run: bool,
    pub verbose: bool,
    pub syslog_socket: Option<PathBuf>,
    /// ecmp-track's state directory (track.json).
    pub state_dir: PathBuf,
}

fn usage(flag: &str) -> impl Fn(String) -> Error + '_ {
    move |e| Error::Usage(format!("{flag}: {e}"))
}

impl Settings {
    /// Resolve `a` with the hotplug environment (ACTION, INTERFACE).
    pub fn resolve(
        family: Family,
        a: Args,
        env_action: Option<OsString>,
        env_interface: Option<OsString>,
    ) -> Result<Settings, Error> {
        let overrides = Overrides {
            metric: a
                .metric
                .as_deref()
                .map(config::parse_metric)
                .transpose()
                .map_err(usage("--metric"))?,
            table: a
                .table
                .as_deref()
                .map(config::parse_table)
                .transpose()
                .map_err(usage("--table"))?,
            protos: a.proto,
            exclude: a.exclude,
            mode: a
                .mode
                .as_deref()
                .map(Mode::parse)
                .transpose()
                .map_err(usage("--mode"))?,
            ubus: a.ubus,
            ubus_socket: a.ubus_socket,
            ubus_timeout: a
                .ubus_timeout
                .as_deref()
                .map(config::parse_timeout)
                .transpose()
                .map_err(usage("--ubus-timeout"))?,
        };
        let lock_wait = match a.lock_wait.as_deref() {
            None => DEFAULT_WAIT,
            Some(w) => Duration::from_secs(w.parse().map_err(|_| {
                Error::Usage(format!("--lock-wait: '{w}' is not a number of seconds"))
            })?),
        };
        let command = match a.cmd {
            Some(Cmd::Status { json }) => Command::Status { json },
            Some(Cmd::Check { root }) => Command::Check {
                root: root.unwrap_or_else(|| PathBuf::from("/")),
            },
            Some(Cmd::Sync) => Command::Event(Event::sync()),
            None if a.flush => Command::Flush,
            None => Command::Event(Event::new(
                a.action,
                a.interface,
                env_action,
                env_interface,
            )?),
        };
        let config_given = a.config.is_some();
        let config = match (a.config, &command) {
            (Some(c), _) => c,
            (None, Command::Check { root }) => {
                root.join(config::DEFAULT_CONFIG.trim_start_matches('/'))
            }
            (None, _) => PathBuf::from(config::DEFAULT_CONFIG),
        };
        Ok(Settings {
            family,
            command,
            config,
            config_given,
            overrides,
            dump_file: a.dump_file,
            lock_file: a.lock_file.unwrap_or_else(|| PathBuf::from(DEFAULT_LOCK)),
            lock_wait,
            dry_run: a.dry_run,
            verbose: a.verbose,
            syslog_socket: a.syslog_socket,
            state_dir: a
                .state_dir
                .unwrap_or_else(|| PathBuf::from(crate::input::track::DEFAULT_STATE_DIR)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::cli::{parse, Parsed};

    fn resolve(v: &[&str]) -> Result<Settings, Error> {
        let w: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        let Parsed::Run(a) = parse(&w)? else { panic!() };
        Settings::resolve(Family::V4, a, Some("ifup".into()), Some("wan".into()))
    }

    #[test]
    fn defaults_are_resolved_once() {
        let s = resolve(&[]).unwrap();
        assert_eq!(s.config, PathBuf::from("/etc/config/ecmp"));
        assert!(!s.config_given);
        assert_eq!(s.lock_file, PathBuf::from(DEFAULT_LOCK));
        assert_eq!(s.lock_wait, DEFAULT_WAIT);
        match s.command {
            Command::Event(e) => assert_eq!(e.label(), "ifup wan"),
            c => panic!("{c:?}"),
        }
        let s = resolve(&["check", "--root", "/r"]).unwrap();
        assert_eq!(s.config, PathBuf::from("/r/etc/config/ecmp"));
        assert_eq!(s.command, Command::Check { root: "/r".into() });
        let s = resolve(&["check", "--root", "/r", "--config", "/c"]).unwrap();
        assert_eq!((s.config, s.config_given), (PathBuf::from("/c"), true));
        assert_eq!(resolve(&["--flush"]).unwrap().command, Command::Flush);
        // `sync` ignores the hotplug environment (ifup wan here).
        match resolve(&["sync"]).unwrap().command {
            Command::Event(e) => assert_eq!(e.label(), "sync"),
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn flag_values_are_checked_here() {
        let s = resolve(&[
            "--table",
            "100",
            "--metric",
            "7",
            "--mode",
            "group",
            "--ubus-timeout",
            "0.5",
        ])
        .unwrap();
        assert_eq!(s.overrides.table, Some(100));
        assert_eq!(s.overrides.metric, Some(7));
        assert_eq!(s.overrides.mode, Some(Mode::Group));
        assert_eq!(s.overrides.ubus_timeout, Some(Duration::from_millis(500)));
        for (v, msg) in [
            (&["--table", "local"][..], "--table: "),
            (&["--metric", "x"], "--metric: "),
            (&["--mode", "fastest"], "--mode: "),
            (
                &["--ubus-timeout", "0"],
                "'0' is not a timeout (0.001-60 seconds)",
            ),
            (&["--lock-wait", "soon"], "--lock-wait: "),
        ] {
            let e = resolve(v).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{v:?}");
            assert!(e.to_string().contains(msg), "{v:?}: {e}");
        }
    }
}
