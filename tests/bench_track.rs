//! `make bench-track`: ecmp-track against a mwan3track-style model, side
//! by side on one simulated router: 64 dials, each behind an ISP namespace
//! of its own holding the target 192.0.2.1; interval 1 s, timeout 1 s,
//! down 2, up 2; 60 s each. For each it prints:
//! - CPU seconds (user + system, from wait4's rusage) and the share of one core;
//! - peak RSS (ecmp-track: VmHWM; the model: its processes' RSS summed at
//!   the sampled peak);
//! - probes sent and answered (the router's ICMP counters);
//! - processes spawned (ecmp-track: strace's count of execve/fork/clone
//!   after its own start; the model: one `ping` per link per round);
//! - detection latency over 10 trials: from the ISP blackholing a link's
//!   address to ecmp-track's route without it, or to the model's loop
//!   writing "dead".
//!
//! The model is one busybox `sh` loop per link running `ping -c 1 -W 1 -I
//! DEV` per round, as mwan3track does (it also runs more per round, which
//! the model leaves out). There is no ping on this machine and the kit's
//! busybox has none: the model's ping is this binary run as `ping`, a
//! static program like busybox's, one exec per probe as there.
//!
//! Needs root (or `unshare -rn`) and the kit's busybox. N=... changes 64.
//!
//! `ONLY=methods`: ecmp-track alone with each `track_method` in turn
//! (ping, tcp, dns, http, gateway), every ISP answering all of them (a TCP
//! listener on 443, a DNS responder on 53, a web server on 80, besides
//! ICMP): CPU, peak RSS, processes spawned and detection per method, and
//! each one's CPU against ping's.

use sim::{bin, in_netns, ip, route_devs, Isp, Router};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long each side runs (SECS= to change; the README's figures are 60).
fn phase() -> Duration {
    Duration::from_secs(
        std::env::var("SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(60),
    )
}
const TRIALS: usize = 10;

/// `ecmp-bench-track ping -c 1 -W S -I DEV TARGET`: one echo request;
/// exit 0 when it is answered within S seconds.
fn ping(args: &[String]) -> i32 {
    let mut dev = String::new();
    let mut wait = 1u64;
    let mut it = args.iter();
    let mut target = None;
    while let Some(a) = it.next() {
        match a.as_str() {
            "-I" => dev = it.next().cloned().unwrap_or_default(),
            "-W" => wait = it.next().and_then(|w| w.parse().ok()).unwrap_or(1),
            "-c" => {
                it.next();
            }
            t => target = t.parse::<std::net::IpAddr>().ok(),
        }
    }
    let Some(target) = target else { return 2 };
    let Ok(p) =
        ecmp_track::icmp::Pinger::open(target.is_ipv6(), &dev, None, std::process::id() as u16)
    else {
        return 2;
    };
    if p.send(target, 1).is_err() {
        return 1;
    }
    let end = Instant::now() + Duration::from_secs(wait);
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return 1;
        }
        let mut fd = libc::pollfd {
            fd: p.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd.
        unsafe { libc::poll(&mut fd, 1, left.as_millis() as i32 + 1) };
        if let Some((from, 1)) = p.recv() {
            if from == target {
                return 0;
            }
        }
    }
}

/// An Icmp counter of this thread's namespace (/proc/net is the
/// process's, not the thread's).
fn icmp(k: &str) -> u64 {
    let t = std::fs::read_to_string("/proc/thread-self/net/snmp").unwrap();
    let mut lines = t.lines().filter(|l| l.starts_with("Icmp:"));
    let (names, values) = (lines.next().unwrap(), lines.next().unwrap());
    let i = names.split_whitespace().position(|n| n == k).unwrap();
    values
        .split_whitespace()
        .nth(i)
        .unwrap()
        .parse::<u64>()
        .unwrap()
}

/// (requests the ISPs received, replies the router received).
fn icmp_counters(isps: &[Isp]) -> (u64, u64) {
    let sent = isps
        .iter()
        .map(|i| i.run(|| icmp("InEchos")).join().unwrap())
        .sum();
    (sent, icmp("InEchoReps"))
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Every descendant of `pid` (and itself).
fn family(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let p = all[i];
        for task in std::fs::read_dir(format!("/proc/{p}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let kids = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            all.extend(
                kids.split_whitespace()
                    .filter_map(|k| k.parse::<u32>().ok()),
            );
        }
        i += 1;
    }
    all
}

/// Wait for `pid`; (CPU seconds of it and what it reaped, max RSS KiB).
fn reap(pid: u32) -> (f64, u64) {
    let mut st = 0;
    // SAFETY: all-zero rusage is valid; waiting for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(pid as i32, &mut st, 0, &mut ru) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime) + secs(ru.ru_stime), ru.ru_maxrss as u64)
}

struct Figures {
    cpu: f64,
    rss_kib: u64,
    sent: u64,
    answered: u64,
    spawned: String,
    detect: Vec<f64>,
}

/// Blackhole link `i` in its ISP, wait until `detected(i)`, restore it,
/// wait until `back(i)`: the detection time.
fn trial(
    r: &Router,
    isps: &[Isp],
    i: usize,
    detected: &dyn Fn(usize) -> bool,
    back: &dyn Fn(usize) -> bool,
) -> f64 {
    let d = &r.dials[i];
    // Cut at a different point of the probe cycle each trial.
    std::thread::sleep(Duration::from_millis((i as u64 * 137) % 1000));
    let wait = |what: &str, until: &dyn Fn(usize) -> bool, step: u64| {
        let t = Instant::now();
        while !until(i) {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "{} never {what}",
                d.name
            );
            std::thread::sleep(Duration::from_millis(step));
        }
        t.elapsed().as_secs_f64()
    };
    isps[i].ip(&format!("rule add to {} blackhole prio 100", d.local4()));
    let took = wait("detected", detected, 10);
    isps[i].ip(&format!("rule del to {} blackhole prio 100", d.local4()));
    wait("back", back, 20);
    took
}

/// The links the trials cut, spread over the dials.
fn trial_links(n: usize) -> Vec<usize> {
    (0..TRIALS).map(|k| (1 + k * 7) % n).collect()
}

fn tracker(r: &Router, isps: &[Isp], n: usize) -> Figures {
    tracker_of(&bin("ecmp-track"), r, isps, n)
}

/// [`tracker`] with the binary `exe` (this build's, or BASE's).
fn tracker_of(exe: &Path, r: &Router, isps: &[Isp], n: usize) -> Figures {
    let conf = r.path("ecmp.conf");
    let state = r.path("state");
    let c0 = icmp_counters(isps);
    let trace = r.path("strace.txt");
    let strace = which("strace");
    let mut cmd = match &strace {
        Some(s) => {
            let mut c = Command::new(s);
            c.args([
                "-f",
                "--seccomp-bpf",
                "-qq",
                "-e",
                "trace=execve,fork,vfork,clone,clone3",
                "-o",
            ])
            .arg(&trace)
            .arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.arg("--config")
        .arg(&conf)
        .arg("--state-dir")
        .arg(&state);
    // ubusd's socket, as on a router (a --ubus program would be spawned).
    cmd.arg("--ubus-socket")
        .arg(r.path("ubus.sock"))
        .arg("--lock-file")
        .arg(r.path("lock"));
    cmd.arg("--syslog-socket").arg(r.path("no-syslog"));
    let child = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ecmp-track");
    let start = Instant::now();
    // The tracker's own pid (strace's child when under strace).
    let pid = loop {
        let fam = family(child.id());
        if let Some(p) = fam.iter().find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm"))
                .unwrap_or_default()
                .trim()
                == "ecmp-track"
        }) {
            break *p;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let name = |i: usize| format!("pppoe-{}", r.dials[i].name);
    let wait_all = || {
        let t = Instant::now();
        while route_devs(false).len() != n {
            assert!(t.elapsed() < Duration::from_secs(30));
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_all();
    // Every link alive before the first cut.
    std::thread::sleep(Duration::from_secs(3));
    let detected = |i: usize| !route_devs(false).contains(&name(i));
    let back = |i: usize| route_devs(false).contains(&name(i));
    let detect: Vec<f64> = trial_links(n)
        .into_iter()
        .map(|i| trial(r, isps, i, &detected, &back))
        .collect();
    if let Some(left) = phase().checked_sub(start.elapsed()) {
        std::thread::sleep(left);
    }
    let hwm = rss_kib(pid, "VmHWM:");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu = (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / tick;
    let c1 = icmp_counters(isps);
    // SAFETY: signalling our own tracker.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    reap(child.id());
    let spawned = match strace {
        Some(_) => {
            let t = std::fs::read_to_string(&trace).unwrap_or_default();
            // Its own start is the one execve; anything else is a spawn.
            let calls = ["execve(", "fork(", "vfork(", "clone(", "clone3("];
            let n = t
                .lines()
                .filter(|l| {
                    let call = l.split_whitespace().nth(1).unwrap_or("");
                    calls.iter().any(|c| call.starts_with(c))
                })
                .count();
            format!("{}", n.saturating_sub(1))
        }
        None => "n/a (no strace)".into(),
    };
    Figures {
        cpu,
        rss_kib: hwm,
        sent: c1.0 - c0.0,
        answered: c1.1 - c0.1,
        spawned,
        detect,
    }
}

fn which(p: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(p))
        .find(|c| c.exists())
}

fn model(r: &Router, isps: &[Isp], n: usize, busybox: &Path) -> Figures {
    let dir = r.path("model");
    std::fs::create_dir_all(&dir).unwrap();
    let me = std::env::current_exe().unwrap();
    let devs: Vec<String> = r.dials.iter().map(|d| d.dev()).collect();
    // mwan3track's loop, reduced to its probe and its verdict; every
    // command but the ping is a builtin of busybox's sh.
    let script = format!(
        "for dev in {devs}; do
  ( fails=0
    while :; do
      if {me} ping -c 1 -W 1 -I $dev 192.0.2.1 >/dev/null 2>&1; then
        fails=0; echo alive > {dir}/st.$dev
      else
        fails=$((fails+1)); [ $fails -ge 2 ] && echo dead > {dir}/st.$dev
      fi
      echo >> {dir}/rounds.$dev
      sleep 1
    done ) &
  echo $! >> {dir}/pids
done
wait",
        devs = devs.join(" "),
        me = me.display(),
        dir = dir.display()
    );
    let c0 = icmp_counters(isps);
    let child = Command::new(busybox)
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .expect("busybox sh");
    let start = Instant::now();
    let st =
        |i: usize| std::fs::read_to_string(dir.join(format!("st.{}", devs[i]))).unwrap_or_default();
    let t = Instant::now();
    while (0..n).any(|i| st(i).trim() != "alive") {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "model: not every link alive"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(3));
    let rss_peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peak, stop, top) = (rss_peak.clone(), stop.clone(), child.id());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let sum: u64 = family(top).iter().map(|p| rss_kib(*p, "VmRSS:")).sum();
                peak.fetch_max(sum, std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let detected = |i: usize| st(i).trim() == "dead";
    let back = |i: usize| st(i).trim() == "alive";
    let detect: Vec<f64> = trial_links(n)
        .into_iter()
        .map(|i| trial(r, isps, i, &detected, &back))
        .collect();
    if let Some(left) = phase().checked_sub(start.elapsed()) {
        std::thread::sleep(left);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    sampler.join().unwrap();
    let c1 = icmp_counters(isps);
    // Kill the loops; the top shell reaps them (their CPU and their
    // pings' reach it) and exits.
    for p in std::fs::read_to_string(dir.join("pids"))
        .unwrap()
        .split_whitespace()
    {
        // SAFETY: signalling the model's own processes.
        unsafe { libc::kill(p.parse().unwrap(), libc::SIGKILL) };
    }
    let (cpu, _) = reap(child.id());
    let rounds: usize = devs
        .iter()
        .map(|d| {
            std::fs::read_to_string(dir.join(format!("rounds.{d}")))
                .unwrap_or_default()
                .lines()
                .count()
        })
        .sum();
    Figures {
        cpu,
        rss_kib: rss_peak.load(std::sync::atomic::Ordering::Relaxed),
        sent: c1.0 - c0.0,
        answered: c1.1 - c0.1,
        spawned: format!("{rounds}"),
        detect,
    }
}

fn stats(v: &[f64]) -> String {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    format!(
        "{:.2} / {:.2} / {:.2} s",
        s[0],
        s[s.len() / 2],
        s[s.len() - 1]
    )
}

/// Every ISP answers every method on its target 192.0.2.1: TCP on 443
/// (accepted, then left to the prober's RST), DNS on 53, HTTP on 80.
fn responders(isps: &[Isp]) {
    for isp in isps {
        isp.run(|| {
            let l = std::net::TcpListener::bind(("192.0.2.1", 443)).unwrap();
            for c in l.incoming() {
                drop(c);
            }
        });
        isp.run(|| {
            let s = std::net::UdpSocket::bind(("192.0.2.1", 53)).unwrap();
            let mut b = [0u8; 512];
            while let Ok((len, from)) = s.recv_from(&mut b) {
                b[2] |= 0x80;
                let _ = s.send_to(&b[..len], from);
            }
        });
        isp.run(|| {
            use std::io::{Read, Write};
            let l = std::net::TcpListener::bind(("192.0.2.1", 80)).unwrap();
            for mut c in l.incoming().flatten() {
                let mut b = [0u8; 256];
                let _ = c.read(&mut b);
                let _ = c.write_all(b"HTTP/1.0 204 No Content\r\n\r\n");
            }
        });
    }
}

/// ecmp-track with each method in turn, one table; with BASE (make's
/// ECMP_BASE_DIR), that build's ecmp-track too, each method run by both
/// one after the other. "ping+q" is ping with check_quality on (count 5:
/// its loss figure needs probes; the same count for both builds).
fn methods(r: &Router, isps: &[Isp], n: usize, secs: f64) {
    responders(isps);
    let conf = r.path("ecmp.conf");
    let base = std::fs::read_to_string(&conf).unwrap();
    let before = std::env::var_os("ECMP_BASE_DIR").map(|d| PathBuf::from(d).join("ecmp-track"));
    let label = std::env::var("ECMP_BASE_LABEL").unwrap_or_else(|_| "BASE".into());
    println!("ecmp-track per track_method: {n} links, IPv4, interval 1 s, timeout 1 s, down 2, up 2; {secs:.0} s each; {TRIALS} blackhole trials each\n");
    println!(
        "{:<8} {:>14} {:>10} {:>12} {:>10} {:>9} {:>24}",
        "method",
        if before.is_some() {
            format!("CPU s {label}")
        } else {
            String::new()
        },
        "CPU s",
        "x ping",
        "peak RSS",
        "spawned",
        "detection min/med/max"
    );
    let mut ping_cpu = None;
    for m in ["ping", "ping+q", "tcp", "dns", "http", "gateway"] {
        let opts = match m {
            "ping+q" => {
                "\toption track_method 'ping'\n\toption count '5'\n\toption check_quality '1'\n"
                    .to_string()
            }
            _ => format!("\toption track_method '{m}'\n"),
        };
        // BASE predates check_quality: it reads the option and ignores
        // it, and probes the same count.
        std::fs::write(&conf, format!("{base}{opts}")).unwrap();
        let was = before.as_ref().map(|b| tracker_of(b, r, isps, n));
        let f = tracker(r, isps, n);
        let p = *ping_cpu.get_or_insert(f.cpu);
        println!(
            "{m:<8} {:>14} {:>10.2} {:>11.2}x {:>6.2} MiB {:>9} {:>24}",
            was.map_or(String::new(), |w| format!("{:.2}", w.cpu)),
            f.cpu,
            f.cpu / p.max(0.001),
            f.rss_kib as f64 / 1024.0,
            f.spawned,
            stats(&f.detect)
        );
    }
    std::fs::write(&conf, base).unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("ping") {
        std::process::exit(ping(&args[2..]));
    }
    let Some(kit) = sim::kit() else {
        eprintln!("bench-track: needs the kit's busybox (../shared/openwrt or OPENWRT_KIT)");
        std::process::exit(1);
    };
    let busybox = kit.join("bin/busybox");
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    in_netns(move || {
        let r = Router::all_up(n as u32);
        let isps: Vec<Isp> = (0..n).map(|i| r.isp(i)).collect();
        std::fs::write(
            r.path("ecmp.conf"),
            "config ecmp 'ipv4'\n\toption mode 'resilient'\nconfig track 'track'\n\toption enabled '1'\n\tlist track_ip '192.0.2.1'\n\toption interval '1'\n\toption failure_interval '1'\n\toption recovery_interval '1'\n\toption timeout '1'\n\toption down '2'\n\toption up '2'\n",
        )
        .unwrap();
        let sock = r.path("ubus.sock");
        let mut ubusd = Command::new(bin("ecmp-fake-ubusd"))
            .arg(&sock)
            .arg(r.path("dump.json"))
            .spawn()
            .expect("ecmp-fake-ubusd");
        while !sock.exists() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let run = r.event(
            "ecmp4",
            "ifup",
            "wan",
            &[
                "--config",
                r.path("ecmp.conf").to_str().unwrap(),
                "--mode",
                "resilient",
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        ip(&["route", "show", "default"]);
        let secs = phase().as_secs_f64();
        if std::env::var("ONLY").as_deref() == Ok("methods") {
            methods(&r, &isps, n, secs);
            let _ = ubusd.kill();
            return;
        }
        let a = tracker(&r, &isps, n);
        if std::env::var("ONLY").as_deref() == Ok("track") {
            println!("ecmp-track alone, {n} links, {secs:.0} s: CPU {:.2} s ({:.2}% of one core), peak RSS {:.2} MiB, probes {} / {}, spawned {}, detection {}",
                a.cpu, a.cpu / secs * 100.0, a.rss_kib as f64 / 1024.0, a.sent, a.answered, a.spawned, stats(&a.detect));
            let _ = ubusd.kill();
            return;
        }
        let b = model(&r, &isps, n, &busybox);
        let _ = ubusd.kill();
        let _ = ubusd.wait();
        println!(
            "ecmp-track against a mwan3track-style model (one sh loop per link, a ping per round):"
        );
        println!("{n} links, IPv4, interval 1 s, timeout 1 s, down 2, up 2; {secs:.0} s each; {TRIALS} blackhole trials each\n");
        println!(
            "{:<28} {:>22} {:>26} {:>9}",
            "", "ecmp-track", "model (sh + ping)", "model/us"
        );
        println!(
            "{:<28} {:>22} {:>26} {:>8.0}x",
            format!("CPU seconds in {secs:.0} s"),
            format!("{:.2}", a.cpu),
            format!("{:.2}", b.cpu),
            b.cpu / a.cpu.max(0.001)
        );
        println!(
            "{:<28} {:>22} {:>26}",
            "share of one core",
            format!("{:.2}%", a.cpu / secs * 100.0),
            format!("{:.1}%", b.cpu / secs * 100.0)
        );
        println!(
            "{:<28} {:>22} {:>26} {:>8.0}x",
            "peak RSS",
            format!("{:.2} MiB", a.rss_kib as f64 / 1024.0),
            format!("{:.1} MiB (all its processes)", b.rss_kib as f64 / 1024.0),
            b.rss_kib as f64 / a.rss_kib.max(1) as f64
        );
        println!(
            "{:<28} {:>22} {:>26}",
            "probes sent / answered",
            format!("{} / {}", a.sent, a.answered),
            format!("{} / {}", b.sent, b.answered)
        );
        println!(
            "{:<28} {:>22} {:>26}",
            "processes spawned", a.spawned, b.spawned
        );
        println!(
            "{:<28} {:>22} {:>26}",
            "detection min/median/max",
            stats(&a.detect),
            stats(&b.detect)
        );
        println!("\n(ecmp-track's detection ends with the route rewritten; the model's when its loop writes \"dead\".)");
    });
}
