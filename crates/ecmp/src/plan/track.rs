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
/// Rounds each link's history keeps (`track-history.json`, LuCI's chart).
pub const HISTORY_ROUNDS: usize = 60;
pub const HISTORY_FILE: &str = "track-history.json";

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

/// One finished round of one link: each probe's target and round-trip
/// time in microseconds (None: no answer in time).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub probes: Vec<(IpAddr, Option<u32>)>,
}

/// Mean of the answers' round-trip times.
fn mean<'a>(rtts: impl Iterator<Item = &'a Option<u32>>) -> Option<u32> {
    let (n, sum) = rtts
        .flatten()
        .fold((0u64, 0u64), |(n, s), r| (n + 1, s + u64::from(*r)));
    (n > 0).then(|| (sum / n) as u32)
}

impl Round {
    pub fn sent(&self) -> u32 {
        self.probes.len() as u32
    }

    pub fn received(&self) -> u32 {
        self.probes.iter().filter(|p| p.1.is_some()).count() as u32
    }

    pub fn rtt_us(&self) -> Option<u32> {
        mean(self.probes.iter().map(|p| &p.1))
    }

    /// Each target (in the order first probed) with the percent of its
    /// probes lost and the mean round trip of its answers.
    pub fn targets(&self) -> Vec<(IpAddr, u32, Option<u32>)> {
        let mut out: Vec<(IpAddr, u32, Option<u32>)> = Vec::new();
        for (ip, _) in &self.probes {
            if out.iter().any(|t| t.0 == *ip) {
                continue;
            }
            let mine = || self.probes.iter().filter(|p| p.0 == *ip).map(|p| &p.1);
            let (n, got) = (mine().count() as u32, mine().flatten().count() as u32);
            out.push((*ip, (n - got) * 100 / n, mean(mine())));
        }
        out
    }
}

/// One round in a link's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub sent: u32,
    pub received: u32,
    pub rtt_us: Option<u32>,
}

impl Sample {
    /// Percent of this round's probes lost.
    pub fn loss(&self) -> u32 {
        match self.sent {
            0 => 0,
            s => (s - self.received.min(s)) * 100 / s,
        }
    }
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
    /// The last rounds, newest last (at most [`HISTORY_ROUNDS`]).
    pub history: Vec<Sample>,
    pub targets: Vec<IpAddr>,
    /// Targets whose answers counted in the last round (with
    /// `check_quality`: fast and complete enough).
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

    /// Lost probes over the last [`LOSS_ROUNDS`] rounds, in percent.
    pub fn loss(&self) -> u32 {
        let last = &self.history[self.history.len().saturating_sub(LOSS_ROUNDS)..];
        let (sent, received) = last
            .iter()
            .fold((0, 0), |(s, r), x| (s + x.sent, r + x.received));
        Sample {
            sent,
            received,
            rtt_us: None,
        }
        .loss()
    }

    /// Whether a target's answers in a round count: any answer, or with
    /// `check_quality`, under the failure thresholds while the link is in
    /// use and within the recovery ones while it is dead (mwan3's
    /// thresholds; the band between them is the hysteresis, where a link
    /// stays as it is).
    fn good(&self, t: &Track, loss: u32, rtt_us: Option<u32>) -> bool {
        let Some(rtt) = rtt_us else { return false };
        let ms = rtt / 1000;
        match (t.check_quality, self.health) {
            (false, _) => true,
            (true, Health::Dead) => loss <= t.recovery_loss && ms <= t.recovery_latency,
            (true, _) => loss < t.failure_loss && ms < t.failure_latency,
        }
    }

    /// Count a finished round; the new health when it changed.
    /// Unknown becomes alive on the first passed round (nothing to wait
    /// for: it is counted alive already), dead after `down` failed ones.
    pub fn round(&mut self, t: &Track, r: &Round, now: u64) -> Option<Health> {
        self.history.push(Sample {
            sent: r.sent(),
            received: r.received(),
            rtt_us: r.rtt_us(),
        });
        if self.history.len() > HISTORY_ROUNDS {
            self.history.remove(0);
        }
        self.rtt_us = r.rtt_us();
        self.answered = r
            .targets()
            .into_iter()
            .filter(|(_, loss, rtt)| self.good(t, *loss, *rtt))
            .map(|x| x.0)
            .collect();
        // No more than it has: a gateway-tracked link has its one peer
        // (lists shorter than `reliability` are refused by `usable`).
        let need = match self.targets.len() as u32 {
            0 => t.reliability,
            n => t.reliability.min(n),
        };
        let passed = self.answered.len() as u32 >= need;
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
                history: vec![Sample {
                    sent: 100,
                    received: 100 - loss,
                    rtt_us,
                }],
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

/// Write the state file and (with `history`) the history, each
/// atomically (a temporary file renamed over it).
pub fn write(dir: &Path, st: &State, history: bool) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let put = |name: &str, text: String| {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, dir.join(name))
    };
    put(STATE_FILE, st.to_json())?;
    if history {
        put(HISTORY_FILE, st.history_json())?;
    }
    Ok(())
}

/// track-history.json as written, schema 1: each link's last rounds,
/// oldest first. A file of its own: at 64 dials it is 50 times the size of
/// track.json, which every hotplug event reads.
#[derive(serde::Serialize)]
struct HistoryFile<'a> {
    schema: u32,
    written: u64,
    links: Vec<History<'a>>,
}

/// One link's last rounds, oldest first: the mean round trip of each
/// round's answers (None: no answer) and the percent of its probes lost.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct History<'a> {
    pub interface: std::borrow::Cow<'a, str>,
    pub family: &'static str,
    pub rtt_us: Vec<Option<u32>>,
    pub loss: Vec<u32>,
}

impl State {
    pub fn history_json(&self) -> String {
        let file = HistoryFile {
            schema: 1,
            written: self.written,
            links: self
                .links
                .iter()
                .map(|l| History {
                    interface: l.interface.as_str().into(),
                    family: l.family.section(),
                    rtt_us: l.history.iter().map(|h| h.rtt_us).collect(),
                    loss: l.history.iter().map(Sample::loss).collect(),
                })
                .collect(),
        };
        serde_json::to_string(&file).unwrap_or_default() + "\n"
    }
}

/// `<dir>/track-history.json`'s links (none when it is missing or not
/// one); read by `status --json` only, never by an event.
pub fn read_history(dir: &Path) -> Vec<History<'static>> {
    use crate::input::value::{parse_json, Value};
    let text = std::fs::read(dir.join(HISTORY_FILE)).unwrap_or_default();
    let Ok(v) = parse_json(&text) else {
        return Vec::new();
    };
    let Some(Value::Array(ls)) = v.get("links") else {
        return Vec::new();
    };
    let nums = |l: &Value, k: &str| match l.get(k) {
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::Int(n) => u32::try_from(*n).ok(),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    ls.iter()
        .filter_map(|l| {
            let (Some(Value::Str(i)), Some(Value::Str(f))) = (l.get("interface"), l.get("family"))
            else {
                return None;
            };
            Some(History {
                interface: i.to_string().into(),
                family: if f == "ipv6" { "ipv6" } else { "ipv4" },
                rtt_us: nums(l, "rtt_us"),
                loss: nums(l, "loss")
                    .into_iter()
                    .map(Option::unwrap_or_default)
                    .collect(),
            })
        })
        .collect()
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
        // Two targets, one probe each, the first `answered` answering.
        Round {
            probes: (0..2)
                .map(|i| {
                    (
                        IpAddr::from([192, 0, 2, i as u8 + 1]),
                        (i < answered).then_some(1500),
                    )
                })
                .collect(),
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

    /// A round of one target's `count` probes, `lost` of them unanswered,
    /// the others after `ms`.
    fn probes(count: usize, lost: usize, ms: u32) -> Round {
        Round {
            probes: (0..count)
                .map(|i| {
                    (
                        IpAddr::from([192, 0, 2, 1]),
                        (i >= lost).then_some(ms * 1000),
                    )
                })
                .collect(),
        }
    }

    /// check_quality: an answer too slow or a round too lossy fails while
    /// the link is in use; back only within the recovery thresholds; in
    /// between, the link stays as it is (both ways).
    #[test]
    fn quality_takes_a_slow_or_lossy_link_out_and_back_with_hysteresis() {
        let mut sec = Track {
            down: 2,
            up: 2,
            ..Track::default()
        };
        sec.section(&Section {
            name: "track".into(),
            kind: "track".into(),
            options: [
                ("max_rtt", "200"),
                ("recovery_latency", "100"),
                ("max_loss", "40"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
            .collect(),
        })
        .unwrap();
        let t = sec;
        assert!(t.check_quality);
        assert_eq!((t.failure_latency, t.recovery_latency), (200, 100));
        // recovery_loss: mwan3's 10 %, under failure's 40 %.
        assert_eq!((t.failure_loss, t.recovery_loss), (40, 10));
        let mut l = Link::new("a", Family::V4, "d", 0);
        assert_eq!(l.round(&t, &probes(5, 0, 150), 1), Some(Health::Alive));
        // 199 ms: under failure's 200, an alive link stays.
        assert_eq!(l.round(&t, &probes(5, 0, 199), 2), None);
        assert_eq!(l.round(&t, &probes(5, 0, 300), 3), None);
        assert!(l.answered.is_empty(), "300 ms does not count");
        assert_eq!(l.round(&t, &probes(5, 0, 300), 4), Some(Health::Dead));
        // Dead: 150 ms is not good enough to come back, 100 ms is.
        assert_eq!(l.round(&t, &probes(5, 0, 150), 5), None);
        assert_eq!(l.round(&t, &probes(5, 0, 150), 6), None);
        assert_eq!(l.round(&t, &probes(5, 0, 100), 7), None);
        assert_eq!(l.round(&t, &probes(5, 0, 90), 8), Some(Health::Alive));
        // Loss: 2 of 5 lost is 40 %: out; 1 of 10 (10 %) brings it back.
        assert_eq!(l.round(&t, &probes(5, 1, 10), 9), None);
        assert_eq!(l.round(&t, &probes(5, 2, 10), 10), None);
        assert_eq!(l.round(&t, &probes(5, 2, 10), 11), Some(Health::Dead));
        assert_eq!(l.round(&t, &probes(5, 1, 10), 12), None);
        assert_eq!(l.round(&t, &probes(10, 1, 10), 13), None);
        assert_eq!(l.round(&t, &probes(10, 1, 10), 14), Some(Health::Alive));
        // Without check_quality, any answer counts.
        let plain = Track {
            down: 1,
            ..Track::default()
        };
        let mut l = Link::new("b", Family::V4, "d", 0);
        assert_eq!(l.round(&plain, &probes(5, 4, 5000), 1), Some(Health::Alive));
        // The history: a sample per round, the newest HISTORY_ROUNDS.
        for i in 0..70 {
            l.round(&plain, &probes(4, i % 2, 10 + i as u32), 2 + i as u64);
        }
        assert_eq!(l.history.len(), HISTORY_ROUNDS);
        assert_eq!(l.history[59].rtt_us, Some(79_000));
        assert_eq!(l.history[59].loss(), 25);
        // The last 10 rounds: 5 of 40 probes lost.
        assert_eq!(l.loss(), 12);
    }

    #[test]
    fn quality_options_refused_naming_the_option() {
        let sec = |kv: &[(&str, &str)]| Section {
            name: "track".into(),
            kind: "track".into(),
            options: kv
                .iter()
                .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
                .collect(),
        };
        for (kv, want) in [
            (
                &[
                    ("check_quality", "1"),
                    ("failure_latency", "300"),
                    ("recovery_latency", "400"),
                ][..],
                "track.recovery_latency: 400 is more than failure_latency:",
            ),
            (
                &[("max_loss", "20"), ("recovery_loss", "30")][..],
                "track.recovery_loss: 30 is more than failure_loss:",
            ),
            (
                &[("max_rtt", "0")][..],
                "track.max_rtt: '0' is not a number from 1 to 60000",
            ),
            (
                &[("failure_loss", "101")][..],
                "track.failure_loss: '101' is not a number from 0 to 100",
            ),
            (&[("check_quality", "maybe")][..], "track.check_quality"),
        ] {
            let e = Track::default().section(&sec(kv)).unwrap_err();
            assert_eq!(e.exit_code(), 3);
            assert!(e.to_string().contains(want), "{e}");
        }
        // mwan3's names without check_quality: read, not used.
        let mut t = Track::default();
        t.section(&sec(&[
            ("failure_latency", "300"),
            ("recovery_latency", "400"),
        ]))
        .unwrap();
        assert!(!t.check_quality);
        // max_rtt turns it on unless it is switched off.
        let mut t = Track::default();
        t.section(&sec(&[("max_rtt", "300"), ("check_quality", "0")]))
            .unwrap();
        assert!(!t.check_quality);
    }

    #[test]
    fn history_file_round_trips() {
        let mut l = Link::new("VWAN1", Family::V6, "pppoe-VWAN1", 0);
        l.round(&t(), &round(2), 1);
        l.round(&t(), &round(0), 2);
        l.round(&t(), &round(1), 3);
        let st = State {
            pid: 1,
            written: 3,
            stale_after: 16,
            links: vec![l],
        };
        let dir = std::env::temp_dir().join(format!("ecmp-history-{}", std::process::id()));
        assert!(read_history(&dir).is_empty(), "no file: no history");
        write(&dir, &st, true).unwrap();
        let h = read_history(&dir);
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].interface.as_ref(), h[0].family), ("VWAN1", "ipv6"));
        assert_eq!(h[0].rtt_us, [Some(1500), None, Some(1500)]);
        assert_eq!(h[0].loss, [0, 100, 50]);
        std::fs::remove_dir_all(&dir).unwrap();
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
        write(&dir, &st, false).unwrap();
        assert!(!dir.join(HISTORY_FILE).exists());
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
