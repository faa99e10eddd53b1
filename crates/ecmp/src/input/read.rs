//! Everything a run reads besides the kernel: /etc/config/ecmp with the
//! flags over it, netifd's dump (ubusd's socket; for debugging a program
//! or a file), and whether the firewall masquerades IPv6.

use crate::input::config::Config;
use crate::input::dump::{Dump, MAX_DUMP};
use crate::input::event::Event;
use crate::input::settings::Settings;
use crate::input::uci::Section;
use crate::{input::blob, input::ubus, input::ucifile, proc, Error};
use std::io::Read;
use std::path::Path;

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
    let mut cfg = Config::load(s.family, &s.config)?;
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
    // --ubus-socket asks for the socket, over an `option ubus` program in
    // the file; --ubus (debugging) wins over both.
    if let Some(u) = &o.ubus_socket {
        cfg.ubus_socket = Some(u.clone());
        cfg.ubus = None;
    }
    if let Some(u) = &o.ubus {
        cfg.ubus = Some(u.clone());
    }
    if let Some(m) = o.mode {
        cfg.mode = m;
    }
    if let Some(t) = o.ubus_timeout {
        cfg.ubus_timeout = t;
    }
    Ok(cfg)
}

/// When `ev`'s interface can never be a member of this family: its proto,
/// as /etc/config/network (beside our config) says it plainly, is not one
/// of ours (loopback and lan, and each dial's other family, whose events
/// run both hooks). Then the event needs no dump: it changes no member.
/// The text for the log; None when it may (a dynamic interface such as
/// `wan_6` is not in the file).
pub fn not_ours(s: &Settings, cfg: &Config, ev: &Event) -> Option<String> {
    // A proto that is no netifd proto (a typo) is for the dump to refuse
    // with a line, not for every event to pass over in silence.
    let real = |p: &String| crate::input::names::NETIFD_PROTOS.contains(&p.as_str());
    if ev.interface.is_empty() || !cfg.protos.iter().all(real) {
        return None;
    }
    let file = s.config.parent()?.join("network");
    let text = std::fs::read(&file).ok()?;
    let ours = |p: &[u8]| cfg.protos.iter().any(|x| x.as_bytes() == p);
    // A member's event, the usual one, runs: a quick look says so.
    if crate::input::netconf::quick_proto(&text, &ev.interface).is_some_and(ours) {
        return None;
    }
    let proto = crate::input::netconf::proto_of(&text, &ev.interface)?;
    if ours(proto) {
        return None;
    }
    Some(format!(
        "{}: proto '{}' ({}) is not one of ours ({}); nothing to do",
        ev.label(),
        String::from_utf8_lossy(proto),
        file.display(),
        cfg.protos.join(" ")
    ))
}

/// The netifd dump: one call over ubusd's socket; or (debugging) a
/// program's JSON, a file, stdin.
pub fn dump(cfg: &Config, s: &Settings) -> Result<Raw, Error> {
    let bytes = match (s.dump_file.as_deref(), &cfg.ubus) {
        (Some(p), _) if p == Path::new("-") => capped(std::io::stdin(), "stdin")?,
        (Some(p), _) => {
            let f = std::fs::File::open(p)
                .map_err(|e| Error::Input(format!("{}: {e}", p.display())))?;
            capped(f, &p.display().to_string())?
        }
        (None, Some(prog)) => proc::run(prog, &crate::UBUS_DUMP, None, cfg.ubus_timeout, MAX_DUMP)
            .map_err(|e| {
                Error::Input(format!(
                    "{} {}: {e}",
                    prog.display(),
                    crate::UBUS_DUMP.join(" ")
                ))
            })?,
        (None, None) => {
            let sock = ubus::socket_path(cfg.ubus_socket.as_deref());
            let raw = ubus::dump(&sock, cfg.ubus_timeout)
                .map_err(|e| Error::Input(format!("ubus {}: {e}", sock.display())))?;
            return Ok(Raw {
                data: raw,
                socket: Some(sock),
            });
        }
    };
    Ok(Raw {
        data: Dump::json_to_blob(&bytes)?.into(),
        socket: None,
    })
}

/// At most one byte past [`MAX_DUMP`] from `r`, whatever it is (a file,
/// stdin, /dev/zero, a FIFO): the cap holds while reading, and the dump's
/// reader refuses the byte past it.
fn capped(r: impl Read, name: &str) -> Result<Vec<u8>, Error> {
    let mut b = Vec::new();
    r.take(MAX_DUMP as u64 + 1)
        .read_to_end(&mut b)
        .map_err(|e| Error::Input(format!("{name}: {e}")))?;
    Ok(b)
}

/// netifd's dump as it arrived, as blobmsg (a JSON dump is encoded so),
/// kept while the event runs: the typed [`Dump`] borrows its strings from
/// it.
pub struct Raw {
    data: ubus::Data,
    /// ubusd's socket it came from, named in errors.
    socket: Option<std::path::PathBuf>,
}

impl Raw {
    pub fn parse(&self) -> Result<Dump<'_>, Error> {
        let node = blob::read(&self.data).map_err(|e| match &self.socket {
            Some(sock) => Error::Input(format!("ubus {}: {e}", sock.display())),
            None => Error::Input(e),
        })?;
        Dump::from_tree(node)
    }

    /// The resolvers netifd lists for `iface` (`dns-server`: pppd's IPCP,
    /// odhcp6c's), what ecmp-track's dns probes ask when no `track_ip` is
    /// set. Read here, not in [`Dump`]: only the tracker wants them, and
    /// a field of the typed dump cost each router binary 1.6 KB.
    pub fn dns_servers(&self, iface: &str) -> Vec<String> {
        use crate::input::value::Tree;
        let Ok(node) = blob::read(&self.data) else {
            return Vec::new();
        };
        let found = node
            .get("interface")
            .and_then(|l| l.items())
            .and_then(|mut l| {
                l.find(|i| i.get("interface").and_then(|x| x.str()).as_deref() == Some(iface))
            });
        let list = found
            .and_then(|i| i.get("dns-server"))
            .and_then(|d| d.items());
        list.map(|l| l.filter_map(|x| x.str().map(|s| s.to_string())).collect())
            .unwrap_or_default()
    }

    /// The typed dump of a fetch that may have failed (its error, then).
    pub fn parsed(fetched: &Result<Raw, Error>) -> Result<Dump<'_>, Error> {
        fetched.as_ref().map_err(Clone::clone).and_then(Raw::parse)
    }
}

/// /etc/config/firewall beside the config, read and parsed when first
/// asked for and then kept: `status` asks it three things.
pub struct Firewall<'s> {
    s: &'s Settings,
    secs: std::cell::OnceCell<Option<Vec<Section>>>,
}

impl<'s> Firewall<'s> {
    pub fn new(s: &'s Settings) -> Firewall<'s> {
        Firewall {
            s,
            secs: std::cell::OnceCell::new(),
        }
    }

    /// None: no such file, or not UCI.
    fn sections(&self) -> Option<&[Section]> {
        self.secs
            .get_or_init(|| {
                let f = self.s.config.parent()?.join("firewall");
                ucifile::parse(&std::fs::read(f).ok()?).ok()
            })
            .as_deref()
    }

    /// Whether it has an enabled DNAT `redirect` (a port forward).
    pub fn port_forwards(&self) -> bool {
        let opt = |x: &Section, k: &str| x.options.get(k).and_then(|v| v.first()).cloned();
        self.sections().into_iter().flatten().any(|x| {
            x.kind == "redirect"
                && opt(x, "target").is_none_or(|t| t == "DNAT")
                && opt(x, "enabled")
                    .is_none_or(|v| crate::input::config::parse_bool(&v) != Ok(false))
        })
    }

    /// Does any zone masquerade IPv6 (`option masq6 '1'`)? None when it
    /// cannot tell.
    pub fn nat66(&self) -> Option<bool> {
        Some(self.sections()?.iter().any(|x| {
            x.kind == "zone"
                && x.options
                    .get("masq6")
                    .and_then(|v| v.first())
                    .is_some_and(|v| crate::input::config::parse_bool(v) == Ok(true))
        }))
    }

    /// Zones (fw4's) that list two or more dials by network name: fw4's
    /// stock 20-firewall hotplug reloads the whole ruleset on the ifup of
    /// every network a zone lists by name, so each dial's ifup and redial
    /// costs a reload, where a device pattern covers them all with none.
    /// Each as (what, the exact commands that move them to a pattern).
    /// Nothing on a firewall3 router: names are all it has.
    pub fn zones_by_name(&self, cfg: &Config, dump: &Dump) -> Vec<(String, String)> {
        // fw4 on the system the config belongs to (ROOT/etc/config/ecmp:
        // ROOT/sbin/fw4).
        let root = self
            .s
            .config
            .parent()
            .and_then(|d| d.parent())
            .and_then(|d| d.parent());
        if !root.is_some_and(|r| r.join("sbin/fw4").is_file()) {
            return Vec::new();
        }
        self.sections()
            .map(|secs| zones_listing_dials(secs, cfg, dump))
            .unwrap_or_default()
    }
}

/// The mark mask this run, if any (with inbound on): `auto` means on
/// when there are policy rules, or (IPv4) the firewall has a port forward.
pub fn marks(s: &Settings, cfg: &Config, fw: &Firewall) -> Option<u32> {
    use crate::input::options::{Marks, DEFAULT_MASK};
    if !cfg.inbound.enabled {
        return None;
    }
    // Without nft (fw3) nothing can mark: left out (status warns when
    // the marks were asked for explicitly).
    crate::proc::on_path("nft")?;
    match cfg.inbound.marks {
        Marks::Off => None,
        Marks::Mask(m) => Some(m),
        // Port forwards are IPv4's (DNAT); policy rules are either's.
        Marks::Auto => (!cfg.rules.is_empty()
            || (s.family == crate::Family::V4 && fw.port_forwards()))
        .then_some(DEFAULT_MASK),
    }
}

/// The pure part of [`Firewall::zones_by_name`].
pub fn zones_listing_dials(secs: &[Section], cfg: &Config, dump: &Dump) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for z in secs.iter().filter(|x| x.kind == "zone") {
        // Dials: interfaces of a member proto whose device is numbered
        // (pppoe-VWAN3; the stock pppoe-wan stays listed by its name).
        let dials: Vec<(&str, &str)> = z
            .options
            .get("network")
            .into_iter()
            .flatten()
            .filter_map(|n| {
                let i = dump.interface.iter().find(|i| i.interface == n.as_str())?;
                let dev = i.l3_device.as_deref().filter(|d| !d.is_empty());
                let numbered = dev.unwrap_or(n).ends_with(|c: char| c.is_ascii_digit());
                (numbered && cfg.protos.iter().any(|p| *p == i.proto))
                    .then(|| (n.as_str(), dev.unwrap_or("")))
            })
            .collect();
        if dials.len() < 2 {
            continue;
        }
        let name = z
            .options
            .get("name")
            .and_then(|v| v.first())
            .map_or(z.name.as_str(), String::as_str);
        let key = format!("firewall.{}", z.name);
        let mut pats: Vec<String> = Vec::new();
        let mut fix = Vec::new();
        for (n, dev) in &dials {
            // pppoe-VWAN12 -> pppoe-VWAN+ (a device netifd has not named
            // yet: its interface's, as pppd names it).
            let dev = if dev.is_empty() {
                format!("pppoe-{n}")
            } else {
                dev.to_string()
            };
            let p = format!("{}+", dev.trim_end_matches(|c: char| c.is_ascii_digit()));
            if !pats.contains(&p) {
                pats.push(p);
            }
            fix.push(format!("uci del_list {key}.network='{n}'"));
        }
        for p in pats.iter().rev() {
            fix.insert(0, format!("uci add_list {key}.device='{p}'"));
        }
        fix.push("uci commit firewall; /etc/init.d/firewall reload".into());
        out.push((
            format!(
                "firewall zone {name} lists {} dials by name: the ifup of each (at boot, on every redial) reloads the whole firewall",
                dials.len()
            ),
            fix.join("; "),
        ));
    }
    out
}
