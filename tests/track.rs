//! ecmp-track in network namespaces: every dial's far end is an "ISP"
//! namespace of its own holding the track targets (documentation
//! addresses) on its loopback; a link's upstream dies when its ISP
//! blackholes that link's addresses. interval 1, down 2, up 2, timeout 1.

use sim::{bin, in_netns, ip, json, nh_dev, route_devs, Dial, Isp, Router, Tracker};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const TRACK: &str = "config track 'track'
\toption enabled '1'
\tlist track_ip '192.0.2.1'
\tlist track_ip '192.0.2.2'
\tlist track_ip '2001:db8:eeee::1'
\tlist track_ip '2001:db8:eeee::2'
\toption interval '1'
\toption failure_interval '1'
\toption recovery_interval '1'
\toption timeout '1'
\toption down '2'
\toption up '2'
";

/// A router of `n` dials, each up behind its own ISP, with `config` (the
/// track section and anything else) in its config file.
struct Net {
    r: Router,
    isps: Vec<Isp>,
    config: PathBuf,
}

impl Net {
    fn new(n: u32, config: &str) -> Net {
        let r = Router::all_up(n);
        let isps = (0..n as usize).map(|i| r.isp(i)).collect();
        let config_path = r.path("ecmp.conf");
        std::fs::write(
            &config_path,
            format!("config ecmp 'ipv4'\n\toption mode 'resilient'\nconfig ecmp 'ipv6'\n\toption mode 'resilient'\n{config}"),
        )
        .unwrap();
        Net {
            r,
            isps,
            config: config_path,
        }
    }

    fn args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut a = vec![
            "--config",
            self.config.to_str().unwrap(),
            "--state-dir",
            self.r.dir.0.to_str().unwrap(),
            "--mode",
            "resilient",
        ];
        a.extend(extra);
        a
    }

    /// A hotplug event with this net's config and state directory.
    fn event(&self, bin: &str, action: &str, iface: &str) -> sim::Run {
        let run = self.r.event(bin, action, iface, &self.args(&[]));
        assert_eq!(run.code, 0, "{}", run.stderr);
        run
    }

    fn tracker(&self) -> Tracker {
        self.r.tracker(&self.config)
    }

    fn dial(&self, i: usize) -> &Dial {
        &self.r.dials[i]
    }

    fn cut(&self, i: usize, on: bool) {
        self.dial(i).blackhole(&self.isps[i], on);
    }
}

/// Bucket index to the device it sends to, of our route's resilient group.
fn buckets(v6: bool) -> Vec<(u64, String)> {
    let fam = if v6 { "-6" } else { "-4" };
    let r = json(&[fam, "route", "show", "default", "proto", "236"]);
    let id = r[0]["nhid"].as_u64().expect("a nexthop group");
    let mut devs = std::collections::HashMap::new();
    json(&["nexthop", "bucket", "show", "id", &id.to_string()])
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let nh = b["bucket"]["nhid"].as_u64().unwrap();
            let dev = devs.entry(nh).or_insert_with(|| nh_dev(nh)).clone();
            (b["bucket"]["index"].as_u64().unwrap(), dev)
        })
        .collect()
}

/// Wait until `f` holds, checking every 50 ms; how long it took.
fn until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    t.elapsed()
}

/// Samples whether our default route exists, every 20 ms, on a thread of
/// the test's namespace; `stop` returns (samples, samples without it).
struct Sampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    t: std::thread::JoinHandle<(usize, usize)>,
}

impl Sampler {
    fn start(v6: bool) -> Sampler {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let t = std::thread::spawn(move || {
            let (mut n, mut missing) = (0, 0);
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let fam = if v6 { "-6" } else { "-4" };
                if ip(&[fam, "route", "show", "default", "proto", "236"])
                    .trim()
                    .is_empty()
                {
                    missing += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            (n, missing)
        });
        Sampler { stop, t }
    }

    fn stop(self) -> (usize, usize) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.t.join().unwrap()
    }
}

fn state(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("track.json")).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

fn all_alive(dir: &Path, n: usize) -> bool {
    let st = state(dir);
    st["links"]
        .as_array()
        .is_some_and(|l| l.len() == n && l.iter().all(|x| x["state"] == "alive"))
}

/// A dead link leaves within down x interval + timeout + 1 s while the
/// route stays and no other link's bucket moves; it returns within
/// up x interval + timeout + 1 s. Both families, one tracker.
fn dead_link_leaves_and_returns(v6: bool) {
    let n = Net::new(3, TRACK);
    let (bin, iface) = if v6 {
        ("ecmp6", "VWAN1_6")
    } else {
        ("ecmp4", "VWAN1")
    };
    n.event(bin, "ifup", iface);
    let all = vec!["pppoe-VWAN1", "pppoe-VWAN2", "pppoe-wan"];
    assert_eq!(route_devs(v6), all);
    let t = n.tracker();
    until(Duration::from_secs(5), "every link alive", || {
        all_alive(&n.r.dir.0, 6)
    });
    let before = buckets(v6);
    let sampler = Sampler::start(v6);

    n.cut(1, true);
    let left = until(Duration::from_secs(8), "VWAN1 leaves", || {
        !route_devs(v6).contains(&"pppoe-VWAN1".to_string())
    });
    assert!(
        left <= Duration::from_secs(2 + 1 + 1),
        "left after {left:?}"
    );
    assert_eq!(route_devs(v6), ["pppoe-VWAN2", "pppoe-wan"]);
    // Only the dead link's buckets moved.
    let after = buckets(v6);
    for ((i, was), (j, now)) in before.iter().zip(&after) {
        assert_eq!(i, j);
        if was != "pppoe-VWAN1" {
            assert_eq!(was, now, "bucket {i} moved from {was} to {now}");
        }
    }
    let fam = if v6 { "ipv6" } else { "ipv4" };
    let line = format!(
        "VWAN1{} (pppoe-VWAN1) {fam} dead: 0 of 2 targets answered for 2 rounds; left the group",
        if v6 { "_6" } else { "" }
    );
    assert!(t.log().contains(&line), "log lacks {line:?}:\n{}", t.log());
    // Its inbound rule went with it (the tracker's apply is the event
    // path: tables and rules too); the others keep theirs.
    let fam_flag = if v6 { "-6" } else { "-4" };
    let d1 = &n.r.dials[1];
    let src = if v6 {
        format!("2001:db8:ff:{:x}::a", d1.idx)
    } else {
        d1.local4()
    };
    let rules = ip(&[fam_flag, "rule", "show"]);
    assert!(!rules.contains(&format!("from {src} ")), "{rules}");
    assert_eq!(
        rules.matches("proto 236").count(),
        2 * (1 + usize::from(!v6)) + 5,
        "{rules}: two members (from, and for IPv4 to their peer), five guards"
    );
    // status shows it held out.
    let st = n.r.event(bin, "", "", &n.args(&["status", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(v["tracking"], "running");
    let row = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["device"] == "pppoe-VWAN1")
        .unwrap()
        .clone();
    assert_eq!(row["used"], false);
    assert_eq!(row["track"]["state"], "dead");
    let text = n.r.event(bin, "", "", &n.args(&["status"])).stdout;
    assert!(text.contains("tracking: ecmp-track running\n"), "{text}");
    assert!(text.contains("(held out: dead)"), "{text}");
    eprintln!("{text}");

    n.cut(1, false);
    let back = until(Duration::from_secs(8), "VWAN1 returns", || {
        route_devs(v6) == all
    });
    assert!(
        back <= Duration::from_secs(2 + 1 + 1),
        "back after {back:?}"
    );
    let (samples, missing) = sampler.stop();
    assert!(samples > 50, "{samples} samples");
    assert_eq!(
        missing, 0,
        "the route was missing in {missing} of {samples} samples"
    );
    eprintln!(
        "{fam}: left after {left:?}, back after {back:?}, {samples} samples, 0 without the route"
    );
}

#[test]
fn a_dead_ipv4_link_leaves_and_returns() {
    in_netns(|| dead_link_leaves_and_returns(false));
}

#[test]
fn a_dead_ipv6_link_leaves_and_returns() {
    in_netns(|| dead_link_leaves_and_returns(true));
}

#[test]
fn every_link_dead_keeps_them_all() {
    in_netns(|| {
        let n = Net::new(2, TRACK);
        n.event("ecmp4", "ifup", "VWAN1");
        let t = n.tracker();
        until(Duration::from_secs(5), "every link alive", || {
            all_alive(&n.r.dir.0, 4)
        });
        n.cut(0, true);
        until(Duration::from_secs(5), "wan leaves", || {
            route_devs(false) == ["pppoe-VWAN1"]
        });
        n.cut(1, true);
        until(Duration::from_secs(6), "VWAN1 called dead", || {
            t.log().contains("VWAN1 (pppoe-VWAN1) ipv4 dead")
        });
        // Both dead: both carry traffic again, and the log says why.
        until(Duration::from_secs(3), "both kept", || {
            route_devs(false) == ["pppoe-VWAN1", "pppoe-wan"]
        });
        assert!(
            t.log().contains("every ipv4 member is dead: all kept"),
            "{}",
            t.log()
        );
        assert!(
            t.log()
                .contains("tracking calls every member dead (2); all kept"),
            "{}",
            t.log()
        );
        let st = n.r.event("ecmp4", "", "", &n.args(&["status"]));
        assert!(st.stdout.contains("dead"), "{}", st.stdout);
    });
}

#[test]
fn a_tier_2_link_carries_only_when_tier_1_is_dead() {
    in_netns(|| {
        let n = Net::new(
            3,
            &format!("{TRACK}config member 'VWAN2'\n\toption tier '2'\n"),
        );
        n.event("ecmp4", "ifup", "VWAN2");
        assert_eq!(route_devs(false), ["pppoe-VWAN1", "pppoe-wan"]);
        let t = n.tracker();
        until(Duration::from_secs(5), "every link alive", || {
            all_alive(&n.r.dir.0, 6)
        });
        n.cut(0, true);
        until(Duration::from_secs(5), "wan leaves", || {
            route_devs(false) == ["pppoe-VWAN1"]
        });
        n.cut(1, true);
        until(Duration::from_secs(5), "tier 2 takes over", || {
            route_devs(false) == ["pppoe-VWAN2"]
        });
        n.cut(1, false);
        until(Duration::from_secs(5), "tier 1 back, tier 2 out", || {
            route_devs(false) == ["pppoe-VWAN1"]
        });
        drop(t);
    });
}

/// Tiers hold without tracking: netifd's up and down alone.
#[test]
fn tiers_follow_netifd_without_tracking() {
    in_netns(|| {
        let mut r = Router::all_up(3);
        std::fs::write(
            r.path("tiers.conf"),
            "config member 'VWAN2'\n\toption tier '2'\n",
        )
        .unwrap();
        let cfg = r.path("tiers.conf");
        let args = ["--config", cfg.to_str().unwrap()];
        assert_eq!(r.event("ecmp4", "ifup", "VWAN2", &args).code, 0);
        assert_eq!(route_devs(false), ["pppoe-VWAN1", "pppoe-wan"]);
        r.set_up(0, false);
        r.set_up(1, false);
        let run = r.event("ecmp4", "ifdown", "VWAN1", &args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(route_devs(false), ["pppoe-VWAN2"]);
        r.set_up(1, true);
        assert_eq!(r.event("ecmp4", "ifup", "VWAN1", &args).code, 0);
        assert_eq!(route_devs(false), ["pppoe-VWAN1"]);
        let st = r.event("ecmp4", "", "", &[&args[..], &["status"]].concat());
        assert!(st.stdout.contains("standing by"), "{}", st.stdout);
    });
}

#[test]
fn redial_after_downs_and_ups_that_interface_once() {
    in_netns(|| {
        let n = Net::new(
            2,
            &TRACK.replace("option up '2'", "option up '2'\n\toption redial_after '2'"),
        );
        let sock = n.r.path("ubus.sock");
        let _ubusd = Kill(
            Command::new(bin("ecmp-fake-ubusd"))
                .arg(&sock)
                .arg(n.r.path("dump.json"))
                .spawn()
                .unwrap(),
        );
        until(Duration::from_secs(3), "fake ubusd", || sock.exists());
        n.event("ecmp4", "ifup", "VWAN1");
        let t = n.tracker();
        until(Duration::from_secs(5), "every link alive", || {
            all_alive(&n.r.dir.0, 4)
        });
        n.cut(1, true);
        let calls = PathBuf::from(format!("{}.calls", sock.display()));
        until(Duration::from_secs(8), "a redial", || calls.exists());
        // Dead for 2 s: one down/up; not again within redial_after.
        std::thread::sleep(Duration::from_millis(1500));
        let c = std::fs::read_to_string(&calls).unwrap();
        assert_eq!(
            c,
            "network.interface.VWAN1 down\nnetwork.interface.VWAN1 up\n"
        );
        assert!(
            t.log()
                .contains("redial VWAN1: dead for 2 s; network.interface.VWAN1 down, up"),
            "{}",
            t.log()
        );
    });
}

/// A hotplug event wakes the tracker (SIGHUP from ecmp4): a dial that
/// went down is no longer probed, one that came up is, at once rather
/// than at the 30 s re-read.
#[test]
fn an_event_wakes_the_tracker() {
    in_netns(|| {
        let mut n = Net::new(2, TRACK);
        n.event("ecmp4", "ifup", "VWAN1");
        let _t = n.tracker();
        until(Duration::from_secs(5), "every link alive", || {
            all_alive(&n.r.dir.0, 4)
        });
        n.r.set_up(1, false);
        n.event("ecmp4", "ifdown", "VWAN1");
        let links = |dir: &Path| state(dir)["links"].as_array().map_or(0, Vec::len);
        let gone = until(Duration::from_secs(5), "VWAN1 untracked", || {
            links(&n.r.dir.0) == 2
        });
        n.r.set_up(1, true);
        n.event("ecmp4", "ifup", "VWAN1");
        let back = until(Duration::from_secs(5), "VWAN1 tracked", || {
            links(&n.r.dir.0) == 4
        });
        assert!(
            gone < Duration::from_secs(3) && back < Duration::from_secs(3),
            "{gone:?} {back:?}"
        );
    });
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two dials with the tracker running, VWAN1's upstream cut and VWAN1
/// out of the route.
fn vwan1_dead() -> (Net, Tracker) {
    let n = Net::new(2, TRACK);
    n.event("ecmp4", "ifup", "VWAN1");
    let t = n.tracker();
    until(Duration::from_secs(5), "every link alive", || {
        all_alive(&n.r.dir.0, 4)
    });
    n.cut(1, true);
    until(Duration::from_secs(5), "VWAN1 leaves", || {
        route_devs(false) == ["pppoe-wan"]
    });
    (n, t)
}

/// SIGKILL leaves a state file behind that calls a link dead: ecmp4 must
/// not believe it once its writer is gone.
#[test]
fn a_killed_tracker_keeps_no_link_out() {
    in_netns(|| {
        let (n, mut t) = vwan1_dead();
        let check = || {
            n.r.event(
                "ecmp4",
                "",
                "",
                &n.args(&["check", "--root", "/nonexistent"]),
            )
            .stdout
        };
        let c = check();
        assert!(
            c.contains("[ok]   ecmp-track is running: 2 ipv4 links tracked, 1 dead"),
            "{c}"
        );
        t.child.kill().unwrap();
        t.child.wait().unwrap();
        assert!(n.r.dir.0.join("track.json").exists());
        let c = check();
        assert!(
            c.contains("[FAIL] ecmp-track's state is stale (its writer (pid"),
            "{c}"
        );
        assert!(c.contains("fix: /etc/init.d/ecmp-track restart"), "{c}");
        let run = n.r.event("ecmp4", "ifupdate", "wan", &n.args(&["-v"]));
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(route_devs(false), ["pppoe-VWAN1", "pppoe-wan"]);
        assert!(
            run.stderr
                .contains("tracking ignored: ecmp-track's state is stale (its writer (pid"),
            "{}",
            run.stderr
        );
        // A clean stop (SIGTERM) puts every link back by itself.
        let t = n.tracker();
        until(Duration::from_secs(5), "VWAN1 leaves again", || {
            route_devs(false) == ["pppoe-wan"]
        });
        // SAFETY: signalling our own child.
        unsafe { libc::kill(t.child.id() as i32, libc::SIGTERM) };
        until(Duration::from_secs(3), "VWAN1 back on SIGTERM", || {
            route_devs(false) == ["pppoe-VWAN1", "pppoe-wan"]
        });
        assert!(!n.r.dir.0.join("track.json").exists());
        let c = check();
        assert!(
            c.contains("[FAIL] tracking is enabled but ecmp-track is not running"),
            "{c}"
        );
    });
}

/// 20% of echo requests dropped by the ISP (a responder of the test's
/// own: this kernel has no netem), count 3, reliability 1: no link is
/// declared dead in 60 rounds.
#[test]
fn random_loss_of_20_percent_kills_no_link() {
    in_netns(|| {
        let conf = TRACK.replace("option count '1'", "").replace(
            "option down '2'",
            "option down '2'\n\toption count '3'\n\toption reliability '1'",
        );
        let n = Net::new(2, &conf);
        n.event("ecmp4", "ifup", "VWAN1");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut responders = Vec::new();
        for isp in &n.isps {
            isp.ip("link set lo up");
            let s = stop.clone();
            responders.push(isp.run(move || lossy_responder(20, &s)));
        }
        let t = n.tracker();
        std::thread::sleep(Duration::from_secs(61));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (mut got, mut dropped) = (0, 0);
        for r in responders {
            let (g, d) = r.join().unwrap();
            got += g;
            dropped += d;
        }
        let log = t.log();
        assert!(!log.contains(" dead:"), "{log}");
        let st = state(&n.r.dir.0);
        for l in st["links"].as_array().unwrap() {
            if l["family"] == "ipv4" {
                assert_eq!(l["state"], "alive", "{l}");
            }
        }
        let share = dropped * 100 / got.max(1);
        assert!((12..=28).contains(&share), "dropped {dropped} of {got}");
        eprintln!("{got} requests, {dropped} dropped ({share}%), no link dead");
    });
}

/// Answer IPv4 echo requests on this namespace's raw socket, dropping
/// `pct` percent at random; the kernel's own answers are switched off.
/// Returns (requests seen, dropped).
fn lossy_responder(pct: u32, stop: &std::sync::atomic::AtomicBool) -> (u32, u32) {
    let none = Shaping::default();
    echo_responder(pct, &none, stop)
}

/// What a test's echo responder does to the answers, changed while it
/// runs: the delay of each answer in ms, and how many of every 5
/// requests in a row it drops (a round of `count '5'` to one target
/// loses exactly that many).
#[derive(Default)]
struct Shaping {
    delay_ms: std::sync::atomic::AtomicU32,
    drop_of_5: std::sync::atomic::AtomicU32,
}

/// [`lossy_responder`] with the answers shaped by `shape`.
fn echo_responder(pct: u32, shape: &Shaping, stop: &std::sync::atomic::AtomicBool) -> (u32, u32) {
    use std::sync::atomic::Ordering::Relaxed;
    std::fs::write("/proc/sys/net/ipv4/icmp_echo_ignore_all", "1").unwrap();
    // Answers held back: (when due, the ICMP message, to, from).
    let mut held: Vec<(Instant, Vec<u8>, libc::sockaddr_in, [u8; 4])> = Vec::new();
    // SAFETY: raw socket calls on buffers we own.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP);
        assert!(fd >= 0);
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 5_000,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        );
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(libc::gettid() as u32);
        let (mut seen, mut dropped) = (0, 0);
        let mut buf = [0u8; 1500];
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let now = Instant::now();
            for (_, icmp, to, from) in held.iter().filter(|h| h.0 <= now) {
                send_echo_reply(icmp, to, *from);
            }
            held.retain(|h| h.0 > now);
            let mut from: libc::sockaddr_in = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::sockaddr_in>() as u32;
            let n = libc::recvfrom(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&mut from as *mut libc::sockaddr_in).cast(),
                &mut len,
            );
            if n < 28 {
                continue;
            }
            let ihl = usize::from(buf[0] & 15) * 4;
            let icmp = &mut buf[ihl..n as usize];
            if icmp[0] != 8 {
                continue;
            }
            seen += 1;
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if (seed % 100) < u64::from(pct) || (seen - 1) % 5 < shape.drop_of_5.load(Relaxed) {
                dropped += 1;
                continue;
            }
            // The reply from the address asked (a target on lo).
            let dst: [u8; 4] = buf[16..20].try_into().unwrap();
            let icmp = &mut buf[ihl..n as usize];
            icmp[0] = 0;
            icmp[2] = 0;
            icmp[3] = 0;
            let mut sum: u32 = icmp
                .chunks(2)
                .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
                .sum();
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            let c = (!(sum as u16)).to_be_bytes();
            icmp[2] = c[0];
            icmp[3] = c[1];
            let delay = Duration::from_millis(shape.delay_ms.load(Relaxed).into());
            if delay.is_zero() {
                send_echo_reply(icmp, &from, dst);
            } else {
                held.push((now + delay, icmp.to_vec(), from, dst));
            }
        }
        libc::close(fd);
        (seen, dropped)
    }
}

/// Send the echo reply `icmp` to `to` from `from` (a target on lo).
fn send_echo_reply(icmp: &[u8], to: &libc::sockaddr_in, from: [u8; 4]) {
    // SAFETY: socket calls on buffers we own.
    unsafe {
        let out = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP);
        let mut src: libc::sockaddr_in = std::mem::zeroed();
        src.sin_family = libc::AF_INET as u16;
        src.sin_addr.s_addr = u32::from_ne_bytes(from);
        libc::bind(
            out,
            (&src as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        );
        libc::sendto(
            out,
            icmp.as_ptr().cast(),
            icmp.len(),
            0,
            (to as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as u32,
        );
        libc::close(out);
    }
}

/// check_quality (this kernel has no netem: the ISPs' echo answers come
/// from a responder of the test's own). 300 ms of delay behind VWAN1
/// takes it out within down x interval + timeout + 1 s, over the
/// failure threshold of 200 ms; it comes back once the delay goes. Then
/// 3 of 5 probes lost (60 %, over 40 %): out, and back. The other links
/// stay throughout, and status --json carries the rounds behind it.
#[test]
fn quality_takes_a_slow_or_lossy_dial_out_and_back() {
    use std::sync::atomic::Ordering::Relaxed;
    in_netns(|| {
        let track = v4_only(TRACK)
            + "\n\toption count '5'\n\toption check_quality '1'\n\toption failure_latency '200'\n\toption recovery_latency '100'\n\toption failure_loss '40'\n\toption recovery_loss '10'\n";
        let n = Net::new(3, &track);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let shapes: Vec<std::sync::Arc<Shaping>> = (0..3)
            .map(|_| std::sync::Arc::new(Shaping::default()))
            .collect();
        let mut responders = Vec::new();
        for (isp, shape) in n.isps.iter().zip(&shapes) {
            let (s, shape) = (stop.clone(), shape.clone());
            responders.push(isp.run(move || echo_responder(0, &shape, &s)));
        }
        n.event("ecmp4", "ifup", "VWAN1");
        let t = n.tracker();
        until(Duration::from_secs(6), "every IPv4 link alive", || {
            all_alive(&n.r.dir.0, 3)
        });
        let vwan1 = || route_devs(false).contains(&"pppoe-VWAN1".to_string());
        let bound = Duration::from_secs(2 + 1 + 1);
        for (what, set) in [
            (
                "300 ms",
                &shapes[1].delay_ms as &std::sync::atomic::AtomicU32,
            ),
            ("60% loss", &shapes[1].drop_of_5),
        ] {
            set.store(if what == "300 ms" { 300 } else { 3 }, Relaxed);
            let left = until(Duration::from_secs(10), "VWAN1 leaves", || !vwan1());
            assert!(left <= bound, "{what}: left after {left:?}\n{}", t.log());
            assert_eq!(route_devs(false).len(), 2, "{what}: only VWAN1 left");
            set.store(0, Relaxed);
            let back = until(Duration::from_secs(10), "VWAN1 returns", vwan1);
            assert!(back <= bound, "{what}: back after {back:?}\n{}", t.log());
            eprintln!("{what}: left after {left:?}, back after {back:?}");
        }
        let log = t.log();
        for line in [
            "VWAN1 (pppoe-VWAN1) ipv4 dead: 0 of 2 targets answered under 200 ms and 40% loss for 2 rounds (rtt 30",
            "VWAN1 (pppoe-VWAN1) ipv4 alive: 2 of 2 targets answered within 100 ms and 10% loss for 2 rounds",
            "loss 60%); left the group",
        ] {
            assert!(log.contains(line), "{line}\n{log}");
        }
        assert_eq!(log.matches(" dead:").count(), 2, "{log}");
        // The rounds behind it, in status --json (the history file is
        // rewritten every 5 s): the slow ones and the lossy ones.
        let vwan1 = || {
            let st = n.r.event("ecmp4", "", "", &n.args(&["status", "--json"]));
            let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
            let m = v["members"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["interface"] == "VWAN1")
                .cloned();
            m.unwrap()["track"].clone()
        };
        let seen = |m: &serde_json::Value| {
            let rtts = m["rtt_history"].as_array().unwrap();
            let losses = m["loss_history"].as_array().unwrap();
            rtts.len() == losses.len()
                && rtts
                    .iter()
                    .any(|r| r.as_u64().is_some_and(|r| r >= 300_000))
                && losses.iter().any(|l| l == 60)
        };
        until(
            Duration::from_secs(8),
            "the slow and lossy rounds in status --json",
            || seen(&vwan1()),
        );
        let m = vwan1();
        let last = m["rtt_history"].as_array().unwrap().last().cloned();
        assert!(
            last.and_then(|r| r.as_u64()).is_some_and(|r| r < 100_000),
            "{m}"
        );
        stop.store(true, Relaxed);
        for r in responders {
            r.join().unwrap();
        }
    });
}

/// Disabled in the config while running (and signalled, as procd's
/// reload or an event does): every link back, no state file, the process
/// waiting; enabled again, it tracks again.
#[test]
fn disabled_while_running_it_waits_and_puts_every_link_back() {
    in_netns(|| {
        let (n, mut t) = vwan1_dead();
        let text = std::fs::read_to_string(&n.config).unwrap();
        std::fs::write(
            &n.config,
            text.replace("option enabled '1'", "option enabled '0'"),
        )
        .unwrap();
        let hup = |t: &Tracker| {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(t.child.id() as i32, libc::SIGHUP) };
        };
        hup(&t);
        until(Duration::from_secs(3), "VWAN1 back, no state file", || {
            route_devs(false) == ["pppoe-VWAN1", "pppoe-wan"]
                && !n.r.dir.0.join("track.json").exists()
        });
        std::thread::sleep(Duration::from_millis(1500));
        assert!(
            t.child.try_wait().unwrap().is_none(),
            "it exited: {}",
            t.log()
        );
        assert!(!n.r.dir.0.join("track.json").exists(), "{}", t.log());
        assert!(
            t.log()
                .contains("tracking disabled in config; waiting until it is enabled"),
            "{}",
            t.log()
        );
        std::fs::write(&n.config, text).unwrap();
        hup(&t);
        until(Duration::from_secs(6), "VWAN1 dead again", || {
            route_devs(false) == ["pppoe-wan"]
        });
    });
}

#[test]
fn tracking_with_no_target_or_too_few_exits_with_one_line_naming_the_option() {
    {
        for (config, said) in [
            ("config track 'track'\n\toption enabled '1'\n", "track.track_ip: tracking is enabled with no target"),
            (
                "config track 'track'\n\toption enabled '1'\n\tlist track_ip '192.0.2.1'\n\toption reliability '2'\n",
                "track.reliability: 2 is more than the 1 IPv4 target of track.track_ip",
            ),
        ] {
            in_netns(move || {
                let n = Net::new(1, config);
                let mut t = n.tracker();
                let st = t.child.wait().unwrap();
                assert_eq!(st.code(), Some(3), "{}", t.log());
                let log = t.log();
                assert_eq!(log.lines().count(), 1, "{log}");
                assert!(log.contains(said), "{log}");
            });
        }
    }
}

/// mwan3's defaults: failure_interval and recovery_interval follow
/// `interval` (here 1 s, with neither set), so a dead link leaves within
/// about down × interval + timeout, and comes back as fast (with 5 s it
/// took 6.4 s to leave).
#[test]
fn failure_and_recovery_intervals_follow_interval_when_unset() {
    in_netns(|| {
        let config: String = TRACK
            .lines()
            .filter(|l| !l.contains("failure_interval") && !l.contains("recovery_interval"))
            .map(|l| format!("{l}\n"))
            .collect();
        let n = Net::new(2, &config);
        n.event("ecmp4", "ifup", "wan");
        let t = n.tracker();
        until(Duration::from_secs(10), "both links alive", || {
            all_alive(&n.r.dir.0, 4)
        });
        n.cut(1, true);
        // down 2 × interval 1 + timeout 1, and a second of slack.
        let left = until(Duration::from_secs(10), "VWAN1 out", || {
            route_devs(false) == ["pppoe-wan"]
        });
        assert!(
            left < Duration::from_millis(4500),
            "left after {left:?}: {}",
            t.log()
        );
        n.cut(1, false);
        let back = until(Duration::from_secs(10), "VWAN1 back", || {
            route_devs(false) == ["pppoe-VWAN1", "pppoe-wan"]
        });
        assert!(
            back < Duration::from_millis(4500),
            "back after {back:?}: {}",
            t.log()
        );
    });
}

/// `track` without its IPv6 targets (the ICMP-dropping ISPs are IPv4's).
fn v4_only(track: &str) -> String {
    track
        .lines()
        .filter(|l| !l.contains("2001:db8"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// ICMP that lies: every ISP drops all ICMP (a rule in its namespace) but
/// forwards TCP. One target listens on 443, the other answers with a RST.
fn icmp_dropped(n: &Net) -> Vec<std::thread::JoinHandle<()>> {
    let mut listeners = Vec::new();
    for isp in &n.isps {
        isp.ip("rule add ipproto icmp blackhole prio 50");
        listeners.push(isp.run(|| {
            let l = std::net::TcpListener::bind(("192.0.2.1", 443)).expect("bind 192.0.2.1:443");
            // Accept and hold: the tracker's RST must end each one.
            let mut held = Vec::new();
            for c in l.incoming().flatten() {
                held.push(c);
            }
        }));
    }
    listeners
}

/// The connections of the ISP's listener (not the listener itself), as
/// `ss` prints them: state and both ends.
fn connections(isp: &sim::Isp) -> Vec<String> {
    let o = Command::new("nsenter")
        .arg(format!("--net={}", isp.ns))
        .args(["ss", "-Htan", "sport", "= :443"])
        .output()
        .expect("ss (iproute2)");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with("LISTEN"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// With ICMP dropped, `track_method 'tcp'` keeps every IPv4 link alive (a
/// SYN-ACK or a RST is an answer), leaves no connection behind, and still
/// takes a dead upstream out within down x interval + timeout + 1 s.
#[test]
fn tcp_probes_see_through_an_isp_that_drops_icmp() {
    in_netns(|| {
        let track = v4_only(TRACK) + "\n\toption track_method 'tcp'\n\toption track_port '443'\n";
        let n = Net::new(3, &track);
        let _listeners = icmp_dropped(&n);
        n.event("ecmp4", "ifup", "VWAN1");
        let t = n.tracker();
        until(
            Duration::from_secs(6),
            "every IPv4 link alive over TCP",
            || all_alive(&n.r.dir.0, 3),
        );
        // Nothing left open at the ISPs: each round's connections use new
        // ports, so one seen in two looks 1.5 s (a round and a half) apart
        // was left behind; one between its SYN-ACK and our RST is not.
        let first: Vec<Vec<String>> = n.isps.iter().map(connections).collect();
        std::thread::sleep(Duration::from_millis(1500));
        for (isp, before) in n.isps.iter().zip(&first) {
            let left: Vec<String> = connections(isp)
                .into_iter()
                .filter(|c| before.contains(c))
                .collect();
            assert!(left.is_empty(), "connections left at the ISP: {left:?}");
        }
        cut_leaves_and_returns(&n, &t, "tcp");
    });
}

/// VWAN1's upstream cut: it leaves within down x interval + timeout + 1 s
/// (interval 1, down 2, timeout 1), and returns as soon once restored.
fn cut_leaves_and_returns(n: &Net, t: &Tracker, method: &str) {
    n.cut(1, true);
    let left = until(Duration::from_secs(8), "VWAN1 leaves", || {
        !route_devs(false).contains(&"pppoe-VWAN1".to_string())
    });
    assert!(
        left <= Duration::from_secs(2 + 1 + 1),
        "{method}: left after {left:?}"
    );
    n.cut(1, false);
    let back = until(Duration::from_secs(8), "VWAN1 returns", || {
        route_devs(false).contains(&"pppoe-VWAN1".to_string())
    });
    assert!(
        back <= Duration::from_secs(2 + 1 + 1),
        "{method}: back after {back:?}"
    );
    eprintln!(
        "{method}: left after {left:?}, back after {back:?}\n{}",
        t.log()
    );
}

/// Each ISP's two targets answer DNS on port 53: a response with the
/// query's ID (NXDOMAIN: an answer all the same).
fn dns_answered(n: &Net) -> Vec<std::thread::JoinHandle<()>> {
    let mut servers = Vec::new();
    for isp in &n.isps {
        for t in sim::TARGETS4 {
            servers.push(isp.run(move || {
                let s = std::net::UdpSocket::bind((t, 53)).expect("bind :53");
                let mut b = [0u8; 512];
                while let Ok((len, from)) = s.recv_from(&mut b) {
                    if len >= 12 {
                        b[2] |= 0x80;
                        b[3] = 0x83;
                        let _ = s.send_to(&b[..len], from);
                    }
                }
            }));
        }
    }
    servers
}

/// With ICMP dropped, `track_method 'dns'` (mwan3's `nslookup`) keeps
/// every IPv4 link alive on the resolvers' answers, and still takes a dead
/// upstream out within the bound; `track_name` is the name asked for.
#[test]
fn dns_probes_see_through_an_isp_that_drops_icmp() {
    in_netns(|| {
        let track = v4_only(TRACK)
            + "\n\toption track_method 'nslookup'\n\toption track_name 'example.org'\n";
        let (n, t, _responders) = dns_alive(&track);
        cut_leaves_and_returns(&n, &t, "dns");
    });
}

/// Three dials behind ISPs that drop ICMP and answer DNS, tracked with
/// `track`, every link alive; the responders' threads with them.
fn dns_alive(track: &str) -> (Net, Tracker, Vec<std::thread::JoinHandle<()>>) {
    let n = Net::new(3, track);
    let mut responders = icmp_dropped(&n);
    responders.extend(dns_answered(&n));
    n.event("ecmp4", "ifup", "VWAN1");
    let t = n.tracker();
    until(
        Duration::from_secs(6),
        "every IPv4 link alive over DNS",
        || all_alive(&n.r.dir.0, 3),
    );
    (n, t, responders)
}

/// `track_method 'dns'` with no `track_ip`: each dial asks the resolver its
/// own session gave it (netifd's `dns-server`, 192.0.2.2 here), alive on
/// its answers, and a dead upstream still leaves within the bound.
#[test]
fn dns_probes_without_track_ip_ask_the_dials_own_resolvers() {
    in_netns(|| {
        let track = TRACK
            .lines()
            .filter(|l| !l.contains("track_ip"))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n\toption track_method 'dns'\n";
        let (n, t, _responders) = dns_alive(&track);
        for l in state(&n.r.dir.0)["links"].as_array().unwrap() {
            assert_eq!(l["targets"], serde_json::json!([sim::TARGETS4[1]]), "{l}");
        }
        cut_leaves_and_returns(&n, &t, "dns, own resolvers");
    });
}

/// The same ISPs with the default `ping`: every IPv4 link is called dead
/// (and all are kept, as when every link is dead), which is why `tcp`
/// exists.
#[test]
fn ping_calls_every_link_dead_where_icmp_is_dropped() {
    in_netns(|| {
        let track = v4_only(TRACK) + "\n";
        let n = Net::new(3, &track);
        let _listeners = icmp_dropped(&n);
        n.event("ecmp4", "ifup", "VWAN1");
        let _t = n.tracker();
        until(
            Duration::from_secs(8),
            "every IPv4 link dead over ICMP",
            || {
                state(&n.r.dir.0)["links"]
                    .as_array()
                    .is_some_and(|l| l.len() == 3 && l.iter().all(|x| x["state"] == "dead"))
            },
        );
        // Dead one after another: the route shrinks, then, once the last
        // is dead too, all are kept (the tracker writes its verdicts before
        // it reprograms the route: waited for, not assumed).
        until(Duration::from_secs(4), "all kept", || {
            route_devs(false).len() == 3
        });
    });
}

/// `track_method` takes mwan3's names where they mean the same, and
/// refuses the others with one line naming the option (exit 3, nothing
/// written).
#[test]
fn track_method_names() {
    in_netns(|| {
        let n = Net::new(1, TRACK);
        for (m, said) in [
            ("nping-tcp", None),
            ("nping-icmp", None),
            ("nslookup", None),
            ("gateway", None),
            ("httping", None),
            (
                "arping",
                Some("track.track_method: 'arping' is not supported (yet): ping, tcp, dns, http or gateway"),
            ),
            (
                "frob",
                Some("track.track_method: 'frob' is not a method: ping, tcp, dns, http or gateway"),
            ),
        ] {
            let track = format!("{TRACK}\toption track_method '{m}'\n");
            let head = "config ecmp 'ipv4'\n\toption mode 'resilient'\n";
            std::fs::write(&n.config, format!("{head}{track}")).unwrap();
            let run = n.r.event("ecmp4", "", "", &n.args(&[]));
            match said {
                None => assert_eq!(run.code, 0, "{m}: {}", run.stderr),
                Some(line) => {
                    assert_eq!(run.code, 3, "{m}: {}", run.stderr);
                    assert!(run.stderr.contains(line), "{m}: {}", run.stderr);
                    assert!(route_devs(false).len() == 1, "{m}: the route as it was");
                }
            }
        }
    });
}

/// A member's own `track_method` wins over the section's: with ICMP
/// dropped, VWAN1 (tcp) stays alive while the pinged links are dead.
#[test]
fn a_members_own_method_wins() {
    in_netns(|| {
        let track = v4_only(TRACK) + "\nconfig member 'VWAN1'\n\toption track_method 'nping-tcp'\n";
        let n = Net::new(3, &track);
        let _listeners = icmp_dropped(&n);
        n.event("ecmp4", "ifup", "VWAN1");
        let _t = n.tracker();
        let verdicts = || -> Vec<(String, String)> {
            let mut v: Vec<(String, String)> = state(&n.r.dir.0)["links"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .map(|x| {
                            (
                                x["interface"].as_str().unwrap_or("").to_string(),
                                x["state"].as_str().unwrap_or("").to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            v.sort();
            v
        };
        until(
            Duration::from_secs(8),
            "VWAN1 alive, the others dead",
            || {
                verdicts()
                    == [
                        ("VWAN1".to_string(), "alive".to_string()),
                        ("VWAN2".to_string(), "dead".to_string()),
                        ("wan".to_string(), "dead".to_string()),
                    ]
            },
        );
        // Only VWAN1 is alive: the route is VWAN1's alone.
        until(Duration::from_secs(4), "the route over VWAN1 only", || {
            route_devs(false) == ["pppoe-VWAN1"]
        });
    });
}

/// `track_method 'gateway'` needs no public target: each dial's own peer
/// (its gateway in netifd's dump) answers. A session whose peer stops
/// answering leaves within the bound; an upstream dead beyond a peer that
/// still answers is the method's known limit: the link stays.
#[test]
fn gateway_probes_need_no_target_and_miss_a_dead_upstream() {
    in_netns(|| {
        // No track_ip at all.
        let track = TRACK
            .lines()
            .filter(|l| !l.contains("track_ip"))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n\toption track_method 'gateway'\n";
        let n = Net::new(3, &track);
        n.event("ecmp4", "ifup", "VWAN1");
        let t = n.tracker();
        until(
            Duration::from_secs(6),
            "every link alive on its peer's answers",
            || all_alive(&n.r.dir.0, 6),
        );
        // The limit: VWAN1's ISP loses its upstream (the targets beyond
        // it), its peer still answers: VWAN1 stays, for longer than a
        // dead link takes to leave (down x interval + timeout = 3 s).
        let isp = &n.isps[1];
        isp.ip("rule add to 192.0.2.0/24 blackhole prio 50");
        let watch = Instant::now();
        while watch.elapsed() < Duration::from_secs(4) {
            assert!(all_alive(&n.r.dir.0, 6), "{}", t.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        isp.ip("rule del to 192.0.2.0/24 blackhole prio 50");
        // The session dead (nothing comes back to its address): it leaves.
        cut_leaves_and_returns(&n, &t, "gateway");
    });
}

/// With ICMP dropped, `track_method 'httping'` (ours: `http`) keeps every
/// IPv4 link alive on one target's status line (the other has no web
/// server: its RST is no answer here), and still takes a dead upstream
/// out within the bound.
#[test]
fn http_probes_see_through_an_isp_that_drops_icmp() {
    in_netns(|| {
        let track = v4_only(TRACK) + "\n\toption track_method 'httping'\n";
        let n = Net::new(3, &track);
        let _tcp = icmp_dropped(&n);
        let mut heads = Vec::new();
        let _web: Vec<_> = n
            .isps
            .iter()
            .map(|isp| {
                isp.run(|| {
                    let l = std::net::TcpListener::bind(("192.0.2.1", 80)).expect("bind :80");
                    for mut c in l.incoming().flatten() {
                        use std::io::{Read, Write};
                        let mut b = [0u8; 256];
                        let n = c.read(&mut b).unwrap_or(0);
                        if b[..n].starts_with(b"HEAD / HTTP/1.0\r\n") {
                            let _ = c.write_all(b"HTTP/1.0 204 No Content\r\n\r\n");
                        }
                    }
                })
            })
            .collect();
        n.event("ecmp4", "ifup", "VWAN1");
        let t = n.tracker();
        until(
            Duration::from_secs(6),
            "every IPv4 link alive over HTTP",
            || all_alive(&n.r.dir.0, 3),
        );
        // One target answered, the other (a RST) did not.
        let st = state(&n.r.dir.0);
        for l in st["links"].as_array().unwrap() {
            heads.push(l["answered"].clone());
        }
        assert!(
            heads.iter().all(|a| *a == serde_json::json!(["192.0.2.1"])),
            "{heads:?}"
        );
        cut_leaves_and_returns(&n, &t, "http");
    });
}
