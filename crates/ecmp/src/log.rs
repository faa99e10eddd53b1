//! One line per event to syslog (ident ecmp4/ecmp6, facility daemon, so
//! `logread -e ecmp` finds it), and the same on stderr with -v or when
//! stderr is a terminal.

use crate::Family;
use std::io::IsTerminal;
use std::path::Path;
use syslog::{Facility, LogFormat, Logger, LoggerBackend, Severity};

/// `<PRI>ident[pid]: message`, without the RFC 3164 timestamp: OpenWrt's
/// logd and busybox syslogd stamp messages themselves, and syslog's own
/// Formatter3164 parses a time format at run time, 25 KB of a ~300 KB
/// router binary.
#[derive(Clone)]
struct Tag {
    ident: &'static str,
    pid: u32,
}

impl LogFormat<&str> for Tag {
    fn format<W: std::io::Write>(&self, w: &mut W, sev: Severity, msg: &str) -> syslog::Result<()> {
        let pri = Facility::LOG_DAEMON as u8 | sev as u8;
        write!(w, "<{pri}>{}[{}]: {msg}", self.ident, self.pid).map_err(syslog::Error::Write)
    }
}

/// The plural ending for a count: an `s` for any count but one.
pub fn s(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `1 route`, `2 routes`: a count with its noun, for the log lines.
pub fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", s(n))
}

pub struct Log {
    ident: &'static str,
    syslog: Option<Logger<LoggerBackend, Tag>>,
    stderr: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Only on stderr with -v (or a terminal): an event we ignore is not
    /// worth a syslog line on every boot.
    Debug,
    Info,
    Warning,
    Error,
}

impl Log {
    /// `socket`: the syslog socket (default /dev/log). A router without a
    /// running logd still gets the stderr copy.
    pub fn new(family: Family, socket: Option<&Path>, verbose: bool) -> Log {
        Log::named(family.program(), socket, verbose)
    }

    /// A log under another ident (ecmp-track).
    pub fn named(ident: &'static str, socket: Option<&Path>, verbose: bool) -> Log {
        let f = Tag {
            ident,
            pid: std::process::id(),
        };
        let syslog = match socket {
            Some(p) => syslog::unix_custom(f, p).ok(),
            None => syslog::unix(f).ok(),
        };
        Log {
            ident,
            syslog,
            stderr: verbose || std::io::stderr().is_terminal(),
        }
    }

    pub fn line(&mut self, level: Level, msg: &str) {
        if let Some(s) = self.syslog.as_mut() {
            let _ = match level {
                Level::Debug => Ok(()),
                Level::Info => s.info(msg),
                Level::Warning => s.warning(msg),
                Level::Error => s.err(msg),
            };
        }
        // Errors always reach stderr: a manual run must see why it failed.
        if self.stderr || level == Level::Error {
            let tag = match level {
                Level::Debug | Level::Info => "",
                Level::Warning => "warning: ",
                Level::Error => "error: ",
            };
            crate::complain!("{}: {tag}{msg}", self.ident);
        }
    }
}
