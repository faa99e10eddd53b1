//! The poll loop: every tracked member of both families probed from one
//! process; a finished round counted by the core (`track::Link::round`);
//! on a change of verdict, track.json written and that family reprogrammed
//! in-process through ecmp4/ecmp6's own event path, under the same lock.

use crate::dns::DnsProbe;
use crate::icmp::Prober;
use crate::tcp::{HttpProbe, Outcome, TcpProbe};
use ecmp::input::event::{Action, Event};
use ecmp::input::settings::Settings;
use ecmp::input::track::Method;
use ecmp::log::{Level, Log};
use ecmp::plan::track::{self, Health, Link, Round, State, Track};
use ecmp::{input::read, plan::members, Error, Family};
use std::net::IpAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);
/// Netifd's dump and the config are read again this often at least (and
/// at once on SIGHUP, which ecmp4/ecmp6 send after every event).
const REFRESH: Duration = Duration::from_secs(30);
static RELOAD: AtomicBool = AtomicBool::new(false);
const HISTORY_EVERY: Duration = Duration::from_secs(5);

extern "C" fn on_signal(sig: libc::c_int) {
    if sig == libc::SIGHUP {
        RELOAD.store(true, Ordering::Relaxed);
    } else {
        STOP.store(true, Ordering::Relaxed);
    }
}

fn signals() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: the handler only stores to atomics.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

struct Probe {
    target: IpAddr,
    seq: u16,
    sent: Instant,
    rtt: Option<Duration>,
    /// A TCP probe's connect or a DNS probe's query, until it answers or
    /// the round ends.
    conn: Option<Conn>,
}

/// A probe of ours on a socket of its own.
enum Conn {
    Tcp(TcpProbe),
    Dns(DnsProbe),
    Http(HttpProbe),
}

impl Conn {
    fn fd(&self) -> RawFd {
        match self {
            Conn::Tcp(c) => c.fd(),
            Conn::Dns(d) => d.fd(),
            Conn::Http(h) => h.fd(),
        }
    }

    /// What poll waits for: a connect's end, or a datagram.
    fn events(&self) -> libc::c_short {
        match self {
            Conn::Tcp(_) => libc::POLLOUT,
            Conn::Dns(_) => libc::POLLIN,
            Conn::Http(h) => h.events(),
        }
    }

    fn outcome(&mut self) -> Outcome {
        match self {
            Conn::Tcp(c) => c.outcome(),
            Conn::Dns(d) => d.outcome(),
            Conn::Http(h) => h.outcome(),
        }
    }
}

/// One link being tracked.
struct Tracked {
    link: Link,
    proto: String,
    source: Option<IpAddr>,
    /// Echo identifier: its replies among the family's socket's.
    ident: u16,
    /// The device's index, where its probes go out: a redial makes a new
    /// device of the same name.
    ifindex: u32,
    next: Instant,
    deadline: Option<Instant>,
    flight: Vec<Probe>,
    seq: u16,
    /// Still in netifd's dump at the last refresh.
    seen: bool,
}

pub struct Tracker {
    s4: Settings,
    s6: Settings,
    log: Log,
    track: Track,
    links: Vec<Tracked>,
    /// Members per family at the last refresh (tracked or not).
    members: [usize; 2],
    next_ident: u16,
    refresh_at: Instant,
    written: Option<Instant>,
    /// When track-history.json was last written: at most every
    /// [`HISTORY_EVERY`] (LuCI polls every 5 s; at 64 dials it is 50 KB).
    history_at: Option<Instant>,
    /// Disabled in the config while running: no probes, no state file.
    paused: bool,
    /// One raw socket per family (None: that family cannot be probed).
    probers: [Option<Prober>; 2],
    /// (interface, when) of the last redial of each interface.
    redials: Vec<(String, Instant)>,
    dump_failing: bool,
}

fn ifindex(dev: &str) -> u32 {
    let Ok(c) = std::ffi::CString::new(dev) else {
        return 0;
    };
    // SAFETY: c is a valid C string.
    unsafe { libc::if_nametoindex(c.as_ptr()) }
}

fn fam_name(f: Family) -> &'static str {
    f.section()
}

fn idx(f: Family) -> usize {
    usize::from(f == Family::V6)
}

impl Tracker {
    pub fn new(s4: Settings, s6: Settings, log: Log) -> Tracker {
        Tracker {
            s4,
            s6,
            log,
            track: Track::default(),
            links: Vec::new(),
            members: [0, 0],
            next_ident: std::process::id() as u16,
            refresh_at: Instant::now(),
            written: None,
            history_at: None,
            probers: [None, None],
            paused: false,
            redials: Vec::new(),
            dump_failing: false,
        }
    }

    fn settings(&self, f: Family) -> &Settings {
        match f {
            Family::V4 => &self.s4,
            Family::V6 => &self.s6,
        }
    }

    /// Read the config and netifd's dump again: links come and go with
    /// their interfaces. Err only for a config that cannot be used.
    fn refresh(&mut self, now: Instant) -> Result<bool, Error> {
        let cfg4 = read::config(&self.s4)?;
        let cfg6 = read::config(&self.s6)?;
        self.track = cfg4.track.clone();
        if !self.track.enabled {
            return Ok(false);
        }
        self.track.usable()?;
        let raw = read::dump(&cfg4, &self.s4);
        let dump = match read::Raw::parsed(&raw) {
            Ok(d) => {
                if self.dump_failing {
                    self.log.line(Level::Info, "netifd's dump readable again");
                }
                self.dump_failing = false;
                d
            }
            Err(e) => {
                if !self.dump_failing {
                    self.log.line(
                        Level::Warning,
                        &format!("keeping the links as they were: {e}"),
                    );
                }
                self.dump_failing = true;
                return Ok(true);
            }
        };
        for t in &mut self.links {
            t.seen = false;
        }
        for (f, cfg) in [(Family::V4, &cfg4), (Family::V6, &cfg6)] {
            let sel = match members::select(f, &dump, cfg, &Event::sync()) {
                Ok(s) => s,
                Err(e) => {
                    self.log
                        .line(Level::Warning, &format!("{}: {e}", fam_name(f)));
                    continue;
                }
            };
            self.members[idx(f)] = sel.members.len();
            for m in &sel.members {
                let iface = dump.interface.iter().find(|i| i.interface == m.interface);
                let targets = match self.track.method_for(&m.interface) {
                    // Its own peer, one target: a round passes on its answer.
                    Method::Gateway => m.gateway.into_iter().collect(),
                    // No track_ip: the resolvers the session gave it.
                    Method::Dns if self.track.targets_for(&m.interface, f).is_empty() => raw
                        .as_ref()
                        .map(|r| r.dns_servers(&m.interface))
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|d| d.parse::<IpAddr>().ok())
                        .filter(|ip| ip.is_ipv4() == (f == Family::V4))
                        .collect(),
                    _ => self.track.targets_for(&m.interface, f),
                };
                if !self.track.tracked(&m.interface) || targets.is_empty() {
                    continue;
                }
                let addrs = iface.map(|i| match f {
                    Family::V4 => &i.ipv4_address,
                    Family::V6 => &i.ipv6_address,
                });
                let source =
                    addrs.and_then(|a| a.iter().find_map(|a| a.address.parse::<IpAddr>().ok()));
                let proto = iface.map(|i| i.proto.clone()).unwrap_or_default();
                let pos = self
                    .links
                    .iter()
                    .position(|t| t.link.family == f && t.link.interface == m.interface);
                let ifindex = ifindex(&m.device);
                let pos = match pos {
                    Some(p)
                        if self.links[p].link.device == m.device
                            && self.links[p].source == source =>
                    {
                        // The same session (a device made again by a
                        // redial with the same address keeps its verdict).
                        self.links[p].ifindex = ifindex;
                        p
                    }
                    found => {
                        // New, or its device or address changed: a fresh
                        // verdict (a redial is a new session).
                        if let Some(p) = found {
                            self.links.remove(p);
                        }
                        self.next_ident = self.next_ident.wrapping_add(1);
                        let mut link = Link::new(&m.interface, f, &m.device, track::now());
                        link.targets = targets.clone();
                        self.links.push(Tracked {
                            link,
                            proto: proto.to_string(),
                            source,
                            ident: self.next_ident,
                            ifindex,
                            next: now,
                            deadline: None,
                            flight: Vec::new(),
                            seq: 0,
                            seen: true,
                        });
                        self.links.len() - 1
                    }
                };
                let t = &mut self.links[pos];
                t.seen = true;
                t.proto = proto.into_owned();
                t.link.targets = targets;
            }
        }
        self.links.retain(|t| t.seen);
        // Spread new links' first rounds over the interval.
        let n = self.links.len().max(1) as u32;
        let step = Duration::from_secs(u64::from(self.track.interval)) / n;
        for (i, t) in self.links.iter_mut().enumerate() {
            if t.link.history.is_empty() && t.flight.is_empty() && t.next <= now {
                t.next = now + step * i as u32;
            }
        }
        Ok(true)
    }

    fn start_round(t: &mut Tracked, p: Option<&Prober>, track: &Track, now: Instant) {
        t.flight.clear();
        t.deadline = Some(now + track.timeout);
        let method = track.method_for(&t.link.interface);
        if matches!(method, Method::Tcp | Method::Dns | Method::Http) {
            for target in &t.link.targets {
                for _ in 0..track.count {
                    t.seq = t.seq.wrapping_add(1);
                    // Refused at once (no route, device gone): no answer.
                    let (conn, rtt) = if method == Method::Tcp {
                        let to = std::net::SocketAddr::new(*target, track.port.unwrap_or(443));
                        match TcpProbe::start(&t.link.device, t.source, to) {
                            Ok((c, Outcome::Pending)) => (Some(Conn::Tcp(c)), None),
                            Ok((_, Outcome::Answered)) => (None, Some(Duration::ZERO)),
                            Ok((_, Outcome::Failed)) | Err(_) => (None, None),
                        }
                    } else if method == Method::Http {
                        let to = std::net::SocketAddr::new(*target, track.port.unwrap_or(80));
                        let h = HttpProbe::start(&t.link.device, t.source, to);
                        (h.ok().map(Conn::Http), None)
                    } else {
                        let to = std::net::SocketAddr::new(*target, 53);
                        let id = t.ident ^ t.seq.rotate_left(8);
                        let q = DnsProbe::start(&t.link.device, t.source, to, id, &track.name);
                        (q.ok().map(Conn::Dns), None)
                    };
                    t.flight.push(Probe {
                        target: *target,
                        seq: t.seq,
                        sent: now,
                        rtt,
                        conn,
                    });
                }
            }
            return;
        }
        let Some(p) = p else { return };
        for target in &t.link.targets {
            for _ in 0..track.count {
                t.seq = t.seq.wrapping_add(1);
                // A send the kernel refuses (no route, device down) is a
                // probe without an answer.
                let _ = p.send(t.ifindex, t.source, *target, t.ident, t.seq);
                t.flight.push(Probe {
                    target: *target,
                    seq: t.seq,
                    sent: now,
                    rtt: None,
                    conn: None,
                });
            }
        }
    }

    fn finish_round(t: &mut Tracked, track: &Track, started: Instant) -> (Round, Option<Health>) {
        let us = |r: Duration| r.as_micros().min(u128::from(u32::MAX)) as u32;
        let round = Round {
            probes: t.flight.iter().map(|p| (p.target, p.rtt.map(us))).collect(),
        };
        let change = t.link.round(track, &round, track::now());
        t.flight.clear();
        t.deadline = None;
        let next = started + Duration::from_secs(u64::from(t.link.interval(track)));
        t.next = next.max(Instant::now());
        (round, change)
    }

    /// track.json, and the history with it when `history` (a verdict
    /// changed) or every [`HISTORY_EVERY`].
    fn write_state(&mut self, history: bool) {
        let st = State {
            pid: std::process::id(),
            written: track::now(),
            stale_after: self.track.stale_after(),
            links: self.links.iter().map(|t| t.link.clone()).collect(),
        };
        let history = history || self.history_at.is_none_or(|h| h.elapsed() >= HISTORY_EVERY);
        if history {
            self.history_at = Some(Instant::now());
        }
        if let Err(e) = track::write(&self.s4.state_dir, &st, history) {
            self.log.line(
                Level::Error,
                &format!("{}: {e}", track::state_path(&self.s4.state_dir).display()),
            );
        }
        self.written = Some(Instant::now());
    }

    /// Reprogram `f` through ecmp4/ecmp6's event path, as a sync.
    fn apply(&mut self, f: Family) {
        let s = self.settings(f).clone();
        let mut log = Log::new(f, s.syslog_socket.as_deref(), s.verbose);
        let ev = Event {
            action_name: "track".into(),
            action: Action::Ifupdate,
            interface: String::new(),
        };
        ecmp::app::event(&s, &ev, &mut log);
    }

    fn changed(&mut self, i: usize, round: &Round, was: Health, h: Health) {
        let t = &self.links[i];
        let f = t.link.family;
        let dead_now = self
            .links
            .iter()
            .filter(|x| x.link.family == f && x.link.health == Health::Dead)
            .count();
        let effect = match h {
            Health::Dead if dead_now >= self.members[idx(f)] => {
                format!("every {} member is dead: all kept", fam_name(f))
            }
            Health::Dead => "left the group".into(),
            _ => "back in the group".into(),
        };
        let rounds = if h == Health::Dead {
            t.link.fails
        } else {
            t.link.passes
        };
        // With check_quality, the thresholds the round was judged by
        // (recovery's for a link coming back) and what it measured.
        let q = &self.track;
        let quality = match (q.check_quality, was) {
            (false, _) => String::new(),
            (true, Health::Dead) => format!(
                " within {} ms and {}% loss",
                q.recovery_latency, q.recovery_loss
            ),
            (true, _) => {
                format!(
                    " under {} ms and {}% loss",
                    q.failure_latency, q.failure_loss
                )
            }
        };
        let measured = match (q.check_quality, round.rtt_us()) {
            (false, _) => String::new(),
            (true, rtt) => format!(
                " (rtt {}, loss {}%)",
                rtt.map_or("-".into(), |r| format!("{} ms", r / 1000)),
                t.link.history.last().map_or(0, |x| x.loss())
            ),
        };
        let line = format!(
            "{} ({}) {} {}: {} of {} targets answered{quality} for {rounds} round{}{measured}; {effect}",
            t.link.interface,
            t.link.device,
            fam_name(f),
            h.name(),
            t.link.answered.len(),
            t.link.targets.len(),
            ecmp::log::s(rounds as usize),
        );
        let level = if h == Health::Dead {
            Level::Warning
        } else {
            Level::Info
        };
        self.log.line(level, &line);
    }

    /// A PPPoE member dead for `redial_after` seconds is redialled alone
    /// (netifd's `down` then `up`); one interface per pass, at most once
    /// per `redial_after` each.
    fn redial(&mut self, now: Instant) {
        let after = self.track.redial_after;
        if after == 0 {
            return;
        }
        let wait = Duration::from_secs(u64::from(after));
        let unix = track::now();
        let due = self.links.iter().find_map(|t| {
            if t.link.health != Health::Dead || unix.saturating_sub(t.link.since) < u64::from(after)
            {
                return None;
            }
            // netifd's `<iface>_6` rides on the PPPoE interface.
            let iface = if t.proto == "pppoe" {
                t.link.interface.clone()
            } else {
                let parent = t.link.interface.strip_suffix("_6")?;
                self.links
                    .iter()
                    .any(|x| x.link.interface == parent && x.proto == "pppoe")
                    .then(|| parent.to_string())?
            };
            let recent = self
                .redials
                .iter()
                .any(|(i, at)| *i == iface && now.duration_since(*at) < wait);
            (!recent).then_some((iface, unix - t.link.since))
        });
        let Some((iface, dead_for)) = due else { return };
        self.redials.retain(|(i, _)| *i != iface);
        self.redials.push((iface.clone(), now));
        let cfg = match read::config(&self.s4) {
            Ok(c) => c,
            Err(e) => {
                self.log.line(Level::Error, &format!("redial {iface}: {e}"));
                return;
            }
        };
        let sock = ecmp::input::ubus::socket_path(cfg.ubus_socket.as_deref());
        let object = format!("network.interface.{iface}");
        let r = ecmp::input::ubus::call(&sock, &object, "down", cfg.ubus_timeout)
            .and_then(|_| ecmp::input::ubus::call(&sock, &object, "up", cfg.ubus_timeout));
        // Dead for redial_after again before the next redial: a new
        // session gets its time to prove itself.
        for t in &mut self.links {
            let own = t.link.interface == iface
                || t.link.interface.strip_suffix("_6") == Some(iface.as_str());
            if own && t.link.health == Health::Dead {
                t.link.since = unix;
            }
        }
        self.refresh_at = now;
        match r {
            Ok(_) => self.log.line(
                Level::Warning,
                &format!("redial {iface}: dead for {dead_for} s; {object} down, up"),
            ),
            Err(e) => self.log.line(
                Level::Error,
                &format!("redial {iface}: ubus {}: {e}", sock.display()),
            ),
        }
    }

    /// Run until SIGTERM (or tracking is disabled). The exit status.
    pub fn run(&mut self) -> i32 {
        signals();
        for (i, v6) in [false, true].into_iter().enumerate() {
            match Prober::open(v6) {
                Ok(p) => self.probers[i] = Some(p),
                Err(e) => self.log.line(
                    Level::Warning,
                    &format!("ipv{}: no raw ICMP socket: {e}", if v6 { 6 } else { 4 }),
                ),
            }
        }
        if self.probers.iter().all(Option::is_none) {
            let e = Error::Kernel("no raw ICMP socket for either family (not root?)".into());
            self.log.line(Level::Error, &e.to_string());
            return e.exit_code();
        }
        loop {
            let now = Instant::now();
            if STOP.load(Ordering::Relaxed) {
                return self.stop("stopped");
            }
            if RELOAD.swap(false, Ordering::Relaxed) {
                self.refresh_at = now;
            }
            if now >= self.refresh_at {
                match self.refresh(now) {
                    Ok(true) => self.paused = false,
                    // Disabled while running: idle until enabled again
                    // (exiting would only have procd start us again).
                    Ok(false) if self.written.is_some() => {
                        if !self.paused {
                            self.pause("tracking disabled in config; waiting until it is enabled");
                        }
                    }
                    Ok(false) => return self.stop("tracking disabled in config"),
                    Err(e) => {
                        // One line at start; links held out go back.
                        self.log.line(Level::Error, &e.to_string());
                        if self.written.is_some() {
                            self.stop("config unusable");
                        }
                        return e.exit_code();
                    }
                }
                // ecmp4/ecmp6 send SIGHUP after every hotplug event, so
                // links come and go at once; this is the fallback.
                self.refresh_at = now + REFRESH;
            }
            // Rounds due and rounds over. Rounds due within an eighth of
            // the interval start now too: a few probes per wake-up, still
            // spread over the interval.
            let slack = Duration::from_secs(u64::from(self.track.interval)) / 8;
            let mut changes = Vec::new();
            for i in 0..self.links.len() {
                let t = &mut self.links[i];
                if let Some(d) = t.deadline {
                    let all = !t.flight.is_empty() && t.flight.iter().all(|p| p.rtt.is_some());
                    if now >= d || all {
                        let started = d - self.track.timeout;
                        let was = t.link.health;
                        let (round, change) = Self::finish_round(t, &self.track, started);
                        if let Some(h) = change {
                            changes.push((i, round, was, h));
                        }
                    }
                }
                let t = &mut self.links[i];
                if t.deadline.is_none() && now + slack >= t.next {
                    let p = self.probers[idx(t.link.family)].as_ref();
                    Self::start_round(t, p, &self.track, now);
                }
            }
            if !changes.is_empty() {
                self.write_state(true);
                let mut fams = Vec::new();
                for (i, round, was, h) in changes {
                    self.changed(i, &round, was, h);
                    let f = self.links[i].link.family;
                    if !fams.contains(&f) {
                        fams.push(f);
                    }
                }
                for f in fams {
                    self.apply(f);
                }
            }
            // The state file: at once on a change (above), else every
            // third of the time after which readers call it stale.
            let period = Duration::from_secs((self.track.stale_after() / 3).clamp(1, 5));
            if !self.paused && self.written.is_none_or(|w| now.duration_since(w) >= period) {
                self.write_state(false);
            }
            self.redial(now);
            // Sleep until the next thing to do, woken by replies.
            let mut wake = self
                .refresh_at
                .min(self.written.map_or(now, |w| w + period));
            for t in &self.links {
                wake = wake.min(t.deadline.unwrap_or(t.next));
            }
            let mut fds: Vec<libc::pollfd> = self
                .probers
                .iter()
                .flatten()
                .map(|p| libc::pollfd {
                    fd: p.fd(),
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            // TCP and DNS probes in flight: a connect's end, an answer.
            let icmp = fds.len();
            fds.extend(
                self.links
                    .iter()
                    .flat_map(|t| &t.flight)
                    .filter_map(|p| p.conn.as_ref())
                    .map(|c| libc::pollfd {
                        fd: c.fd(),
                        events: c.events(),
                        revents: 0,
                    }),
            );
            let ms = wake
                .saturating_duration_since(Instant::now())
                .as_millis()
                .min(60_000) as i32;
            // SAFETY: fds is a live array of pollfd of the given length.
            let n =
                unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms.max(0) + 1) };
            if n <= 0 {
                continue;
            }
            let now = Instant::now();
            let ready: Vec<RawFd> = fds[icmp..]
                .iter()
                .filter(|x| x.revents != 0)
                .map(|x| x.fd)
                .collect();
            for pr in self.links.iter_mut().flat_map(|t| t.flight.iter_mut()) {
                let Some(c) = pr.conn.as_mut().filter(|c| ready.contains(&c.fd())) else {
                    continue;
                };
                match c.outcome() {
                    Outcome::Pending => continue,
                    Outcome::Answered => pr.rtt = Some(now.duration_since(pr.sent)),
                    Outcome::Failed => {}
                }
                // Closed at once: a RST to the target, nothing half-open.
                pr.conn = None;
            }
            for (f, p) in [Family::V4, Family::V6]
                .into_iter()
                .zip(&self.probers)
                .filter_map(|(f, p)| Some((f, p.as_ref()?)))
            {
                if !fds.iter().any(|x| x.fd == p.fd() && x.revents != 0) {
                    continue;
                }
                while let Some((from, id, seq)) = p.recv() {
                    let Some(t) = self
                        .links
                        .iter_mut()
                        .find(|t| t.ident == id && t.link.family == f)
                    else {
                        continue;
                    };
                    if let Some(pr) = t
                        .flight
                        .iter_mut()
                        .find(|pr| pr.seq == seq && pr.target == from && pr.rtt.is_none())
                    {
                        pr.rtt = Some(now.duration_since(pr.sent));
                    }
                }
            }
        }
    }

    /// Leave cleanly: no state file (every link counts alive again), and
    /// both families reprogrammed so the links held out return at once.
    fn stop(&mut self, why: &str) -> i32 {
        self.pause(why);
        0
    }

    /// No state file and no links: every link counts alive again, and both
    /// families are reprogrammed if one was held out.
    fn pause(&mut self, why: &str) {
        let held = self.links.iter().any(|t| t.link.health == Health::Dead);
        let _ = std::fs::remove_file(track::state_path(&self.s4.state_dir));
        self.links.clear();
        self.paused = true;
        self.log.line(
            Level::Info,
            &format!("{why}; every link counts alive again"),
        );
        if held {
            self.apply(Family::V4);
            self.apply(Family::V6);
        }
    }
}
