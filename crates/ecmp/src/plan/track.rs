//! Link tracking as plain data: the `track` options, one link's rounds of
//! probes turned into alive or dead, and the state file that ecmp-track
//! writes and ecmp4/ecmp6 read on every event.
//!
//! The probing itself (sockets, the poll loop) lives in the ecmp-track
//! crate. The verdicts and the file's form are pure and tested without
//! root; [`read`] and [`write`] are the only functions here that touch the
//! file system (the state file, and /proc for the writer's pid).
//!
//! State file, `<state-dir>/track.json`, schema 1 (fields only added):
//! ```text
//! { "schema": 1, "pid": u32, "written": unix seconds,
//!   "stale_after": seconds (3 x the longest interval + timeout),
//!   "links": [{ "interface", "family": "ipv4"|"ipv6", "device",
//!               "state": "alive"|"dead"|"unknown", "since": unix seconds,
//!               "rtt_us": u32|null (last round's mean), "loss": percent over
//!               the last 10 rounds, "targets": [ip], "answered": [ip] }] }
//! ```
//! A reader ignores the file when the pid is not a running ecmp-track or
//! `written` is older than `stale_after`: a crashed tracker must never
//! keep a link out.

use crate::Family;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

pub use crate::input::track::{Track, DEFAULT_STATE_DIR};
pub const STATE_FILE: &str = "track.json";
/// Rounds the loss figure covers.
pub const LOSS_ROUNDS: usize = 10;

/// What tracking says about one link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Not yet probed to a verdict: counted alive.
    Unknown,
    Alive,
    Dead,
}

impl Health {
    pub fn name(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Alive => "alive",
            Health::Dead => "dead",
        }
    }

    fn parse(s: &str) -> Option<Health> {
        Some(match s {
            "unknown" => Health::Unknown,
            "alive" => Health::Alive,
            "dead" => Health::Dead,
            _ => return None,
        })
    }
}

/// One finished round of one link.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub sent: u32,
    pub received: u32,
    /// Targets with at least one answer.
    pub answered: Vec<IpAddr>,
    /// Mean round-trip time of the answers, microseconds.
    pub rtt_us: Option<u32>,
}

/// One link's tracking: the verdict and what led to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub interface: String,
    pub family: Family,
    pub device: String,
    pub health: Health,
    /// Unix seconds of the last change of `health`.
    pub since: u64,
    /// Failed (passed) rounds in a row.
    pub fails: u32,
    pub passes: u32,
    pub rtt_us: Option<u32>,
    /// (sent, received) of the last rounds, newest last.
    pub history: Vec<(u32, u32)>,
    pub targets: Vec<IpAddr>,
    pub answered: Vec<IpAddr>,
}

impl Link {
    pub fn new(interface: &str, family: Family, device: &str, now: u64) -> Link {
        Link {
            interface: interface.to_string(),
            family,
            device: device.to_string(),
            health: Health::Unknown,
            since: now,
            fails: 0,
            passes: 0,
            rtt_us: None,
            history: Vec::new(),
            targets: Vec::new(),
            answered: Vec::new(),
        }
    }

    /// Lost probes over the last rounds, in percent.
    pub fn loss(&self) -> u32 {
        let (s, r) = self
            .history
            .iter()
            .fold((0u32, 0u32), |(s, r), (a, b)| (s + a, r + b));
        if s == 0 {
            0
        } else {
            (s - r.min(s)) * 100 / s
        }
    }

    /// Count a finished round; the new health when it changed.
    /// Unknown becomes alive on the first passed round (nothing to wait
    /// for: it is counted alive already), dead after `down` failed ones.
    pub fn round(&mut self, t: &Track, r: &Round, now: u64) -> Option<Health> {
        self.history.push((r.sent, r.received));
        if self.history.len() > LOSS_ROUNDS {
            self.history.remove(0);
        }
        self.rtt_us = r.rtt_us;
        self.answered = r.answered.clone();
        // No more than it has: a gateway-tracked link has its one peer
        // (lists shorter than `reliability` are refused by `usable`).
        let need = match self.targets.len() as u32 {
            0 => t.reliability,
            n => t.reliability.min(n),
        };
        let passed = r.answered.len() as u32 >= need;
        let next = if passed {
            self.fails = 0;
            self.passes += 1;
            match self.health {
                Health::Unknown => Health::Alive,
                Health::Dead if self.passes >= t.up => Health::Alive,
                h => h,
            }
        } else {
            self.passes = 0;
            self.fails += 1;
            match self.health {
                Health::Unknown | Health::Alive if self.fails >= t.down => Health::Dead,
                h => h,
            }
        };
        if next == self.health {
            return None;
        }
        self.health = next;
        self.since = now;
        Some(next)
    }

    /// Seconds until this link's next round.
    pub fn interval(&self, t: &Track) -> u32 {
        match self.health {
            Health::Dead => t.recovery_interval,
            _ if self.fails > 0 => t.failure_interval,
            _ => t.interval,
        }
    }
}

/// The state file as written and as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    pub pid: u32,
    pub written: u64,
    pub stale_after: u64,
    pub links: Vec<Link>,
}

/// track.json as written, schema 1 (fields only added).
#[derive(serde::Serialize)]
struct File {
    schema: u32,
    pid: u32,
    written: u64,
    stale_after: u64,
    links: Vec<FileLink>,
}

#[derive(serde::Serialize)]
struct FileLink {
    interface: String,
    /// "ipv4" or "ipv6".
    family: String,
    device: String,
    /// "alive", "dead" or "unknown".
    state: String,
    since: u64,
    rtt_us: Option<u32>,
    /// Percent of probes lost over the last rounds.
    loss: u32,
    targets: Vec<IpAddr>,
    answered: Vec<IpAddr>,
}

impl State {
    pub fn to_json(&self) -> String {
        let file = File {
            schema: 1,
            pid: self.pid,
            written: self.written,
            stale_after: self.stale_after,
            links: self
                .links
                .iter()
                .map(|l| FileLink {
                    interface: l.interface.clone(),
                    family: l.family.section().to_string(),
                    device: l.device.clone(),
                    state: l.health.name().to_string(),
                    since: l.since,
                    rtt_us: l.rtt_us,
                    loss: l.loss(),
                    targets: l.targets.clone(),
                    answered: l.answered.clone(),
                })
                .collect(),
        };
        serde_json::to_string(&file).unwrap_or_default() + "\n"
    }

    /// Parse a state file; None for anything that is not one. Read into
    /// the dump's loose JSON tree rather than by a derived `Deserialize`:
    /// the derive cost ecmp4 10 KB (x86_64) for this one small file.
    pub fn parse(text: &[u8]) -> Option<State> {
        use crate::input::value::{parse_json, Value};
        let v = parse_json(text).ok()?;
        let num = |v: &Value, k: &str| match v.get(k)? {
            Value::Int(n) => u64::try_from(*n).ok(),
            _ => None,
        };
        let text = |v: &Value, k: &str| match v.get(k)? {
            Value::Str(s) => Some(s.to_string()),
            _ => None,
        };
        // An address list; absent is empty (added after schema 1 began).
        let ips = |v: &Value, k: &str| match v.get(k) {
            None => Some(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| match x {
                    Value::Str(s) => s.parse::<IpAddr>().ok(),
                    _ => None,
                })
                .collect(),
            Some(_) => None,
        };
        let Some(Value::Array(ls)) = v.get("links") else {
            return None;
        };
        let mut links = Vec::with_capacity(ls.len());
        for l in ls {
            let family = match text(l, "family")?.as_str() {
                "ipv4" => Family::V4,
                "ipv6" => Family::V6,
                _ => return None,
            };
            let rtt_us = match l.get("rtt_us")? {
                Value::Null => None,
                Value::Int(n) => Some(u32::try_from(*n).ok()?),
                _ => return None,
            };
            let loss = match l.get("loss") {
                None => 0,
                Some(_) => num(l, "loss")?.min(100) as u32,
            };
            links.push(Link {
                interface: text(l, "interface")?,
                family,
                device: text(l, "device")?,
                health: Health::parse(&text(l, "state")?)?,
                since: num(l, "since")?,
                fails: 0,
                passes: 0,
                rtt_us,
                // Loss as read: 100 probes of which `100 - loss` answered.
                history: vec![(100, 100 - loss)],
                targets: ips(l, "targets")?,
                answered: ips(l, "answered")?,
            });
        }
        num(&v, "schema")?;
        Some(State {
            pid: u32::try_from(num(&v, "pid")?).ok()?,
            written: num(&v, "written")?,
            stale_after: num(&v, "stale_after")?,
            links,
        })
    }

    /// This family's verdict on `iface`, if tracked.
    pub fn link(&self, family: Family, iface: &str) -> Option<&Link> {
        self.links
            .iter()
            .find(|l| l.family == family && l.interface == iface)
    }
}

/// What a reader made of the state file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// No file: tracking is off, or the tracker has not written yet.
    Missing,
    /// A file to ignore, and why (the tracker crashed or hangs).
    Stale(String),
    Fresh(State),
}

impl Seen {
    pub fn state(&self) -> Option<&State> {
        match self {
            Seen::Fresh(s) => Some(s),
            _ => None,
        }
    }
}

pub fn state_path(dir: &Path) -> PathBuf {
    dir.join(STATE_FILE)
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether `pid` is a running ecmp-track (a reused pid is not).
pub fn tracker_alive(pid: u32) -> bool {
    match std::fs::read(format!("/proc/{pid}/comm")) {
        Ok(c) => c.strip_suffix(b"\n").unwrap_or(&c) == b"ecmp-track",
        Err(_) => false,
    }
}

/// Read `<dir>/track.json` as of `now`, judging its writer with `alive`.
pub fn read(dir: &Path, now: u64, alive: impl Fn(u32) -> bool) -> Seen {
    let p = state_path(dir);
    let text = match std::fs::read(&p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Seen::Missing,
        Err(e) => return Seen::Stale(format!("{}: {e}", p.display())),
        Ok(t) => t,
    };
    let Some(st) = State::parse(&text) else {
        return Seen::Stale(format!("{}: not a tracker state file", p.display()));
    };
    if !alive(st.pid) {
        return Seen::Stale(format!("its writer (pid {}) is not running", st.pid));
    }
    let age = now.saturating_sub(st.written);
    if age > st.stale_after {
        return Seen::Stale(format!(
            "written {age} s ago, more than {} s",
            st.stale_after
        ));
    }
    Seen::Fresh(st)
}

/// Write the state file atomically (a temporary file renamed over it).
pub fn write(dir: &Path, st: &State) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(".track.json.tmp");
    std::fs::write(&tmp, st.to_json())?;
    std::fs::rename(&tmp, state_path(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::uci::Section;
    use crate::Error;

    fn t() -> Track {
        Track {
            down: 2,
            up: 2,
            ..Track::default()
        }
    }

    fn round(answered: usize) -> Round {
        Round {
            sent: 2,
            received: answered as u32,
            answered: (0..answered)
                .map(|i| IpAddr::from([192, 0, 2, i as u8 + 1]))
                .collect(),
            rtt_us: (answered > 0).then_some(1500),
        }
    }

    #[test]
    fn down_and_up_count_rounds_in_a_row() {
        let t = t();
        let mut l = Link::new("VWAN3", Family::V4, "pppoe-VWAN3", 100);
        assert_eq!(l.round(&t, &round(1), 101), Some(Health::Alive));
        assert_eq!(l.round(&t, &round(0), 102), None);
        assert_eq!(l.interval(&t), t.failure_interval);
        // A pass in between resets the count.
        assert_eq!(l.round(&t, &round(1), 103), None);
        assert_eq!(l.round(&t, &round(0), 104), None);
        assert_eq!(l.round(&t, &round(0), 105), Some(Health::Dead));
        assert_eq!(l.since, 105);
        assert_eq!(l.interval(&t), t.recovery_interval);
        assert_eq!(l.round(&t, &round(1), 106), None);
        assert_eq!(l.health, Health::Dead);
        assert_eq!(l.round(&t, &round(1), 107), Some(Health::Alive));
        // 14 probes sent, 4 answered (one of two in each passed round).
        assert_eq!(l.loss(), 10 * 100 / 14);
    }

    #[test]
    fn reliability_counts_targets_not_probes() {
        let t = Track {
            reliability: 2,
            down: 1,
            ..Track::default()
        };
        let mut l = Link::new("a", Family::V4, "d", 0);
        assert_eq!(l.round(&t, &round(2), 1), Some(Health::Alive));
        assert_eq!(l.round(&t, &round(1), 2), Some(Health::Dead));
        // A link with one target (its gateway) passes on that one.
        let mut g = Link::new("b", Family::V4, "d", 0);
        g.targets = vec![IpAddr::from([100, 64, 0, 1])];
        assert_eq!(g.round(&t, &round(1), 1), Some(Health::Alive));
        assert_eq!(g.round(&t, &round(0), 2), Some(Health::Dead));
    }

    #[test]
    fn unknown_goes_dead_after_down_rounds() {
        let t = t();
        let mut l = Link::new("a", Family::V6, "d", 0);
        assert_eq!(l.round(&t, &round(0), 1), None);
        assert_eq!(l.health, Health::Unknown);
        assert_eq!(l.round(&t, &round(0), 2), Some(Health::Dead));
    }

    #[test]
    fn state_file_round_trips_and_goes_stale() {
        let mut l = Link::new("VWAN\"3", Family::V6, "pppoe-VWAN3", 7);
        l.targets = vec!["2001:db8::1".parse().unwrap()];
        l.round(&t(), &round(1), 8);
        let st = State {
            pid: 42,
            written: 1000,
            stale_after: 16,
            links: vec![l],
        };
        let back = State::parse(st.to_json().as_bytes()).unwrap();
        assert_eq!(back.links[0].interface, "VWAN\"3");
        assert_eq!(back.links[0].health, Health::Alive);
        assert_eq!(back.links[0].rtt_us, Some(1500));
        assert_eq!(back.links[0].loss(), 50);
        assert_eq!(back.links[0].targets, st.links[0].targets);
        assert!(back.link(Family::V6, "VWAN\"3").is_some());
        assert!(back.link(Family::V4, "VWAN\"3").is_none());
        // An earlier writer's file: no loss, targets or answers yet.
        let old = br#"{"schema":1,"pid":9,"written":5,"stale_after":16,"links":[{"interface":"wan","family":"ipv4","device":"pppoe-wan","state":"dead","since":3,"rtt_us":null}]}"#;
        let back = State::parse(old).unwrap();
        assert_eq!(back.links[0].health, Health::Dead);
        assert_eq!((back.links[0].rtt_us, back.links[0].loss()), (None, 0));
        assert!(back.links[0].targets.is_empty());
        // Anything else is no state file.
        for bad in [&br#"{"schema":1,"pid":-1,"written":5,"stale_after":16,"links":[]}"#[..], br#"{"pid":9,"written":5,"stale_after":16,"links":[]}"#, br#"{"schema":1,"pid":9,"written":5,"stale_after":16,"links":[{"interface":"wan","family":"ipv5","device":"d","state":"dead","since":3,"rtt_us":null}]}"#, b"[]"] {
            assert_eq!(State::parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }

        let dir = std::env::temp_dir().join(format!("ecmp-track-{}", std::process::id()));
        write(&dir, &st).unwrap();
        assert!(matches!(read(&dir, 1016, |p| p == 42), Seen::Fresh(_)));
        match read(&dir, 1017, |_| true) {
            Seen::Stale(why) => assert_eq!(why, "written 17 s ago, more than 16 s"),
            s => panic!("{s:?}"),
        }
        match read(&dir, 1000, |_| false) {
            Seen::Stale(why) => assert!(why.contains("pid 42"), "{why}"),
            s => panic!("{s:?}"),
        }
        std::fs::write(state_path(&dir), "{}").unwrap();
        assert!(matches!(read(&dir, 1000, |_| true), Seen::Stale(_)));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read(&dir, 1000, |_| true), Seen::Missing);
    }

    #[test]
    fn options_by_mwan3_names() {
        let sec = |kind: &str, name: &str, kv: &[(&str, &[&str])]| Section {
            name: name.into(),
            kind: kind.into(),
            options: kv
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
        };
        let mut t = Track::default();
        t.section(&sec(
            "track",
            "track",
            &[
                ("enabled", &["1"]),
                ("track_ip", &["192.0.2.1", "2001:db8::1", "192.0.2.2"]),
                ("interval", &["1"]),
                ("recovery_interval", &["7"]),
                ("timeout", &["1"]),
                ("down", &["2"]),
            ],
        ))
        .unwrap();
        assert!(t.enabled);
        // mwan3's defaults: failure_interval follows interval when unset.
        assert_eq!(
            (t.interval, t.failure_interval, t.recovery_interval),
            (1, 1, 7)
        );
        assert_eq!(t.targets_for("wan", Family::V4).len(), 2);
        assert_eq!(t.targets_for("wan_6", Family::V6).len(), 1);
        assert_eq!(t.stale_after(), 3 * 7 + 1 + 1);
        t.member(
            "VWAN3",
            &sec(
                "member",
                "VWAN3",
                &[("track_ip", &["198.51.100.9"]), ("track", &["0"])],
            ),
        )
        .unwrap();
        assert_eq!(
            t.targets_for("VWAN3", Family::V4),
            ["198.51.100.9".parse::<IpAddr>().unwrap()]
        );
        assert!(t.targets_for("VWAN3_6", Family::V6).is_empty());
        assert!(!t.tracked("VWAN3") && !t.tracked("VWAN3_6") && t.tracked("VWAN4"));
        for (k, v) in [
            ("interval", "0"),
            ("track_ip", "host"),
            ("down", "x"),
            ("timeout", "61"),
        ] {
            let e = t.section(&sec("track", "track", &[(k, &[v])])).unwrap_err();
            assert_eq!(e.exit_code(), Error::Config(String::new()).exit_code());
            assert!(e.to_string().contains(&format!("track.{k}")), "{e}");
        }
    }

    #[test]
    fn tracking_that_cannot_work_is_refused_naming_the_option() {
        let ips = |v: &[&str]| {
            v.iter()
                .map(|x| x.parse().unwrap())
                .collect::<Vec<IpAddr>>()
        };
        let mut t = Track {
            enabled: true,
            ..Track::default()
        };
        let e = t.usable().unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(
            e.to_string()
                .contains("track.track_ip: tracking is enabled with no target"),
            "{e}"
        );
        t.targets = ips(&["192.0.2.1", "192.0.2.2", "2001:db8::1"]);
        t.reliability = 2;
        let e = t.usable().unwrap_err();
        assert!(
            e.to_string()
                .contains("track.reliability: 2 is more than the 1 IPv6 target of track.track_ip"),
            "{e}"
        );
        t.targets.push("2001:db8::2".parse().unwrap());
        assert!(t.usable().is_ok());
        t.member_targets
            .push(("VWAN1".into(), ips(&["198.51.100.1"])));
        assert!(t
            .usable()
            .unwrap_err()
            .to_string()
            .contains("of VWAN1.track_ip"));
        // Only a member's own targets: enough to track that member.
        t.targets.clear();
        t.reliability = 1;
        assert!(t.usable().is_ok());
        t.enabled = false;
        t.member_targets.clear();
        assert!(t.usable().is_ok(), "tracking off: nothing to check");
    }
}
