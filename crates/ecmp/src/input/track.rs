//! The `track` section and the members' tracking options of
//! /etc/config/ecmp, with mwan3's names and defaults: plain data, read by
//! the config reader, used by the tracker and the planners.

use crate::input::options::{parse_bool, parse_timeout};
use crate::input::uci::Section;
use crate::{Error, Family};
use std::net::IpAddr;
use std::time::Duration;

/// Where ecmp-track keeps its state file, and ecmp4/ecmp6 the nft text.
pub const DEFAULT_STATE_DIR: &str = "/var/run/ecmp-hotplug";

/// What a DNS probe asks for unless `track_name` says otherwise: a root
/// server's name, which every resolver knows.
pub const DEFAULT_NAME: &str = "a.root-servers.net";

/// How a link is probed (`option track_method`, mwan3's values where they
/// mean the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// ICMP echo (mwan3's `ping`, `nping-icmp`).
    Ping,
    /// A TCP connect to the target's `track_port` from the dial; a SYN-ACK
    /// or a RST is an answer (mwan3's `nping-tcp`).
    Tcp,
    /// An A query for `track_name` to the target's port 53 from the dial;
    /// any DNS response is an answer (mwan3's `nslookup`).
    Dns,
    /// A HEAD request to the target's `track_port` (default 80) from the
    /// dial; any HTTP status line is an answer (mwan3's `httping`).
    Http,
    /// ICMP echo to the dial's own peer or gateway from netifd's dump,
    /// needing no public target (the `track_gateway` of mwan3's forks). A
    /// BRAS that answers while its upstream is dead keeps the link alive.
    Gateway,
}

impl Method {
    pub fn parse(v: &str) -> Result<Method, String> {
        match v {
            "ping" | "nping-icmp" => Ok(Method::Ping),
            "tcp" | "nping-tcp" => Ok(Method::Tcp),
            "dns" | "nslookup" => Ok(Method::Dns),
            "gateway" => Ok(Method::Gateway),
            "http" | "httping" => Ok(Method::Http),
            "arping" | "nping-udp" | "nping-arp" => Err(format!(
                "'{v}' is not supported (yet): ping, tcp, dns, http or gateway (mwan3's nping-icmp, nping-tcp, nslookup, httping)"
            )),
            _ => Err(format!("'{v}' is not a method: ping, tcp, dns, http or gateway")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Ping => "ping",
            Method::Tcp => "tcp",
            Method::Dns => "dns",
            Method::Gateway => "gateway",
            Method::Http => "http",
        }
    }
}

/// The `track` section and the members' tracking options, with mwan3's
/// names and defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    pub enabled: bool,
    /// Targets of both families; each family probes its own.
    pub targets: Vec<IpAddr>,
    /// Targets that must answer for a round to pass.
    pub reliability: u32,
    /// Probes per target per round.
    pub count: u32,
    pub timeout: Duration,
    /// Seconds between rounds: healthy, failing, dead.
    pub interval: u32,
    pub failure_interval: u32,
    pub recovery_interval: u32,
    /// Failed rounds in a row before a link is dead; passed rounds before
    /// a dead link is alive again.
    pub down: u32,
    pub up: u32,
    /// Seconds dead before that interface alone is redialled; 0 never.
    pub redial_after: u32,
    /// A member's own targets (`config member` / `list track_ip`).
    /// A list, as `member_method`: a map type of its own cost 2 KB.
    pub member_targets: Vec<(String, Vec<IpAddr>)>,
    /// Members with `option track '0'`.
    pub untracked: Vec<String>,
    /// How links are probed, the port of a TCP or HTTP probe (None: 443
    /// for tcp, 80 for http), and the name a DNS probe asks for.
    pub method: Method,
    pub port: Option<u16>,
    pub name: String,
    /// A member's own method (`config member` / `option track_method`):
    /// a list, not a map (a second BTreeMap type costs the router binaries
    /// 4 KB).
    pub member_method: Vec<(String, Method)>,
    /// mwan3's `check_quality`: a target's answers count only when fast
    /// and complete enough. While a link is in use, a target fails at
    /// `failure_latency` ms (mean of its answers) or `failure_loss` % of
    /// its probes lost; while it is dead, a target passes only within
    /// `recovery_latency` ms and `recovery_loss` %. `max_rtt` and
    /// `max_loss` are the failure thresholds by another name, and turn it
    /// on.
    pub check_quality: bool,
    /// `max_rtt` / `max_loss` as set (60000 / 101: not set).
    pub max_rtt: u32,
    pub max_loss: u32,
    pub failure_latency: u32,
    pub failure_loss: u32,
    pub recovery_latency: u32,
    pub recovery_loss: u32,
}

impl Default for Track {
    fn default() -> Track {
        Track {
            enabled: false,
            targets: Vec::new(),
            reliability: 1,
            count: 1,
            timeout: Duration::from_secs(2),
            interval: 5,
            failure_interval: 5,
            recovery_interval: 5,
            down: 3,
            up: 3,
            redial_after: 0,
            member_targets: Vec::new(),
            untracked: Vec::new(),
            method: Method::Ping,
            port: None,
            name: DEFAULT_NAME.to_string(),
            member_method: Vec::new(),
            check_quality: false,
            max_rtt: 60000,
            max_loss: 101,
            failure_latency: 1000,
            failure_loss: 40,
            recovery_latency: 500,
            recovery_loss: 10,
        }
    }
}

fn parse_ips(what: &str, vs: &[String]) -> Result<Vec<IpAddr>, Error> {
    vs.iter()
        .map(|v| {
            v.parse::<IpAddr>()
                .map_err(|_| Error::Config(format!("{what}: '{v}' is not an IP address")))
        })
        .collect()
}

fn parse_range(what: &str, v: &str, lo: u32, hi: u32) -> Result<u32, Error> {
    match v.parse::<u32>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(Error::Config(format!(
            "{what}: '{v}' is not a number from {lo} to {hi}"
        ))),
    }
}

/// The section's parent for netifd's `<iface>_6` alias.
fn parent(iface: &str) -> Option<&str> {
    iface.strip_suffix("_6")
}

impl Track {
    /// `config track`: every option checked, named in the error.
    pub fn section(&mut self, s: &Section) -> Result<(), Error> {
        let opt = |k: &str| s.first(k);
        let name = |k: &str| format!("{}.{k}", s.name);
        if let Some(v) = opt("enabled") {
            self.enabled =
                parse_bool(v).map_err(|e| Error::Config(format!("{}: {e}", name("enabled"))))?;
        }
        if let Some(v) = s.options.get("track_ip") {
            self.targets = parse_ips(&name("track_ip"), v)?;
        }
        if let Some(v) = opt("timeout") {
            self.timeout =
                parse_timeout(v).map_err(|e| Error::Config(format!("{}: {e}", name("timeout"))))?;
        }
        // max_rtt and max_loss: the failure thresholds by the names of
        // the question asked, which also turn check_quality on.
        for (k, lo, hi, f) in [
            ("reliability", 1, 100, &mut self.reliability),
            ("count", 1, 100, &mut self.count),
            ("interval", 1, 3600, &mut self.interval),
            ("failure_interval", 1, 3600, &mut self.failure_interval),
            ("recovery_interval", 1, 3600, &mut self.recovery_interval),
            ("down", 1, 100, &mut self.down),
            ("up", 1, 100, &mut self.up),
            ("redial_after", 0, 86400, &mut self.redial_after),
            ("failure_latency", 1, 60000, &mut self.failure_latency),
            ("max_rtt", 1, 60000, &mut self.max_rtt),
            ("failure_loss", 0, 100, &mut self.failure_loss),
            ("max_loss", 0, 100, &mut self.max_loss),
            ("recovery_latency", 1, 60000, &mut self.recovery_latency),
            ("recovery_loss", 0, 100, &mut self.recovery_loss),
        ] {
            if let Some(v) = opt(k) {
                *f = parse_range(&name(k), v, lo, hi)?;
            }
        }
        if opt("max_rtt").is_some() || opt("max_loss").is_some() {
            self.check_quality = true;
            self.failure_latency = self.failure_latency.min(self.max_rtt);
            self.failure_loss = self.failure_loss.min(self.max_loss);
        }
        if let Some(v) = opt("check_quality") {
            self.check_quality = parse_bool(v)
                .map_err(|e| Error::Config(format!("{}: {e}", name("check_quality"))))?;
        }
        // Recovery never asks for worse than failure allows: by default
        // mwan3's 500 ms and 10 %, or the failure threshold if lower; set
        // above it, a link would come back worse than what took it out.
        let (rl, rs) = (self.recovery_latency, self.recovery_loss);
        self.recovery_latency = rl.min(self.failure_latency);
        self.recovery_loss = rs.min(self.failure_loss);
        let worse = match (rl > self.failure_latency, rs > self.failure_loss) {
            (true, _) if opt("recovery_latency").is_some() => Some(("latency", rl)),
            (_, true) if opt("recovery_loss").is_some() => Some(("loss", rs)),
            _ => None,
        };
        if let Some((k, v)) = worse.filter(|_| self.check_quality) {
            return Err(Error::Config(format!(
                "{}_{k}: {v} is more than failure_{k}: a link would come back worse than what takes it out",
                name("recovery")
            )));
        }
        if let Some(v) = opt("track_method") {
            self.method = Method::parse(v)
                .map_err(|e| Error::Config(format!("{}: {e}", name("track_method"))))?;
        }
        if let Some(v) = opt("track_port") {
            self.port = Some(parse_range(&name("track_port"), v, 1, 65535)? as u16);
        }
        if let Some(v) = opt("track_name") {
            // Labels of 1-63 letters, digits, - or _ (what a query can carry).
            let ok = v.len() <= 253
                && v.trim_end_matches('.').split('.').all(|l| {
                    (1..=63).contains(&l.len())
                        && l.bytes()
                            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
                });
            if !ok {
                return Err(Error::Config(format!(
                    "{}: '{v}' is not a DNS name",
                    name("track_name")
                )));
            }
            self.name = v.to_string();
        }
        // mwan3's defaults: both follow `interval` unless set.
        if opt("failure_interval").is_none() {
            self.failure_interval = self.interval;
        }
        if opt("recovery_interval").is_none() {
            self.recovery_interval = self.interval;
        }
        Ok(())
    }

    /// Tracking that can work: with tracking on, some target to probe,
    /// and no list of targets shorter than `reliability` (each family's
    /// round counts its own targets), else every round would fail. The
    /// tracker refuses to start on these (`check` names them too).
    pub fn usable(&self) -> Result<(), Error> {
        if !self.enabled {
            return Ok(());
        }
        // The gateway method's target is each dial's own peer; the dns
        // method's, without track_ip, the resolvers its session gave it.
        let own = matches!(self.method, Method::Gateway | Method::Dns);
        if self.targets.is_empty() && self.member_targets.is_empty() && !own {
            return Err(Error::Config(
                "track.track_ip: tracking is enabled with no target (list track_ip '<an address that answers>')".into(),
            ));
        }
        let lists = std::iter::once(("track.track_ip".to_string(), &self.targets)).chain(
            self.member_targets
                .iter()
                .map(|(m, t)| (format!("{m}.track_ip"), t)),
        );
        for (what, list) in lists {
            for (fam, v4) in [("IPv4", true), ("IPv6", false)] {
                let n = list.iter().filter(|ip| ip.is_ipv4() == v4).count();
                if n > 0 && self.reliability as usize > n {
                    return Err(Error::Config(format!(
                        "track.reliability: {} is more than the {n} {fam} target{} of {what}: every round would fail",
                        self.reliability,
                        crate::log::s(n)
                    )));
                }
            }
        }
        Ok(())
    }

    /// A `config member`'s tracking options.
    pub fn member(&mut self, iface: &str, s: &Section) -> Result<(), Error> {
        if let Some(v) = s.options.get("track_ip") {
            let ips = parse_ips(&format!("{}.track_ip", s.name), v)?;
            self.member_targets.retain(|(i, _)| i != iface);
            self.member_targets.push((iface.to_string(), ips));
        }
        if let Some(v) = s.options.get("track_method").and_then(|v| v.first()) {
            let m = Method::parse(v)
                .map_err(|e| Error::Config(format!("{}.track_method: {e}", s.name)))?;
            self.member_method.retain(|(i, _)| i != iface);
            self.member_method.push((iface.to_string(), m));
        }
        if let Some(v) = s.options.get("track").and_then(|v| v.first()) {
            let on = parse_bool(v).map_err(|e| Error::Config(format!("{}.track: {e}", s.name)))?;
            self.untracked.retain(|x| x != iface);
            if !on {
                self.untracked.push(iface.to_string());
            }
        }
        Ok(())
    }

    /// Whether `iface` is tracked at all (`option track '0'` opts out).
    pub fn tracked(&self, iface: &str) -> bool {
        let out = |i: &str| self.untracked.iter().any(|x| x == i);
        !out(iface) && !parent(iface).is_some_and(out)
    }

    /// The targets `iface` is probed with in `family`: its own, else
    /// (for `<iface>_6`) its parent's, else the section's.
    pub fn targets_for(&self, iface: &str, family: Family) -> Vec<IpAddr> {
        let of = |i: &str| {
            self.member_targets
                .iter()
                .find(|(m, _)| m == i)
                .map(|(_, t)| t)
        };
        let list = of(iface)
            .or_else(|| parent(iface).and_then(of))
            .unwrap_or(&self.targets);
        list.iter()
            .filter(|ip| ip.is_ipv4() == (family == Family::V4))
            .copied()
            .collect()
    }

    /// How `iface` is probed: its own method, else (for `<iface>_6`) its
    /// parent's, else the section's.
    pub fn method_for(&self, iface: &str) -> Method {
        let of = |i: &str| {
            self.member_method
                .iter()
                .find(|(m, _)| m == i)
                .map(|(_, x)| *x)
        };
        of(iface)
            .or_else(|| parent(iface).and_then(of))
            .unwrap_or(self.method)
    }

    /// Seconds after which a state file nobody rewrote is ignored.
    pub fn stale_after(&self) -> u64 {
        let longest = self
            .interval
            .max(self.failure_interval)
            .max(self.recovery_interval);
        3 * u64::from(longest) + self.timeout.as_secs() + 1
    }
}
