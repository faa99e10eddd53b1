//! Everything a run reads besides the kernel: /etc/config/ecmp with the
//! flags over it, netifd's dump (ubus, a file or stdin), and whether the
//! firewall masquerades IPv6.

use crate::config::Config;
use crate::dump::{Dump, MAX_DUMP};
use crate::settings::Settings;
use crate::{proc, Error};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// The config file (through uci) with the flags over it. Only the default
/// file may be absent (defaults apply): a `--config` the user named and
/// mistyped must not silently mean "defaults".
pub fn config(s: &Settings) -> Result<Config, Error> {
    if s.config_given {
        if let Err(e) = std::fs::metadata(&s.config) {
            return Err(Error::Config(format!(
                "--config {}: {e}",
                s.config.display()
            )));
        }
    }
    let mut cfg = Config::load(s.family, &s.config, &s.uci)?;
    let o = &s.overrides;
    if let Some(m) = o.metric {
        cfg.metric = m;
    }
    if let Some(t) = o.table {
        cfg.table = t;
    }
    if !o.protos.is_empty() {
        cfg.protos = o.protos.clone();
    }
    if !o.exclude.is_empty() {
        cfg.exclude = o.exclude.clone();
    }
    if let Some(u) = &o.ubus {
        cfg.ubus = u.clone();
    }
    if let Some(m) = o.mode {
        cfg.mode = m;
    }
    if let Some(t) = o.ubus_timeout {
        cfg.ubus_timeout = t;
    }
    Ok(cfg)
}

/// The netifd dump: one `ubus call network.interface dump`, or a file.
pub fn dump(cfg: &Config, s: &Settings) -> Result<Dump, Error> {
    let bytes = match s.dump_file.as_deref() {
        Some(p) if p == Path::new("-") => {
            let mut b = Vec::new();
            std::io::stdin()
                .take(MAX_DUMP as u64 + 1)
                .read_to_end(&mut b)
                .map_err(|e| Error::Input(format!("stdin: {e}")))?;
            b
        }
        Some(p) => std::fs::read(p).map_err(|e| Error::Input(format!("{}: {e}", p.display())))?,
        None => proc::run(
            &cfg.ubus,
            &crate::UBUS_DUMP,
            None,
            cfg.ubus_timeout,
            MAX_DUMP,
        )
        .map_err(|e| {
            Error::Input(format!(
                "{} {}: {e}",
                cfg.ubus.display(),
                crate::UBUS_DUMP.join(" ")
            ))
        })?,
    };
    Dump::parse(&bytes)
}

/// Does any firewall zone masquerade IPv6 (`option masq6 '1'`)? None when
/// uci cannot tell.
pub fn nat66(uci: &Path) -> Option<bool> {
    let out = proc::run(
        uci,
        &["-q", "show", "firewall"],
        None,
        Duration::from_secs(5),
        1 << 20,
    )
    .ok()?;
    let text = String::from_utf8_lossy(&out);
    Some(text.lines().any(|l| l.ends_with(".masq6='1'")))
}
