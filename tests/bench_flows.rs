//! `make bench-flows`: what a redial does to established flows, per mode.
//!
//! For N = 2, 4, 8, 16 PPPoE dials (veth stand-ins, in a throwaway network
//! namespace, `fib_multipath_hash_policy=1`), 2,000 distinct TCP 5-tuples
//! are looked up with `ip route get ... ipproto tcp sport S dport D` (a
//! lookup only: no packet is sent). Then one dial redials the way pppd
//! does it: its device is unregistered, netifd's ifdown event runs ecmp4,
//! the device comes back and the ifup event runs ecmp4. Printed per mode:
//! - moved on leave: flows whose egress changed after the member left,
//!   against the departed member's share (the flows that had to move);
//! - moved on rejoin: flows whose egress changed when it came back (all
//!   2,000 flows were just looked up, so every one counts as active);
//! - route absent: how long no default route of ours existed during the
//!   redial, sampled by a thread dumping the table every ~50 us. Here the
//!   ifdown event runs at once; on a router it waits in netifd's queue.

use sim::{in_netns, Router};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const FLOWS: u16 = 2000;

/// Egress device of every flow, from one `ip -batch` run.
fn egress() -> Vec<String> {
    let mut c = Command::new("ip")
        .args(["-o", "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("ip");
    let mut input = String::new();
    for i in 0..FLOWS {
        // 198.51.100.0/24 is TEST-NET-2: only ever looked up.
        input.push_str(&format!(
            "route get 198.51.100.{} ipproto tcp sport {} dport 443\n",
            1 + i % 200,
            20000 + i
        ));
    }
    // Write from a thread: ip answers while we write, and its answers
    // outgrow the pipe.
    let mut stdin = c.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let o = c.wait_with_output().expect("ip");
    writer.join().expect("writer").expect("write");
    let out = String::from_utf8_lossy(&o.stdout);
    let devs: Vec<String> = out
        .lines()
        .filter(|l| l.starts_with("198.51.100."))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.iter()
                .position(|x| *x == "dev")
                .map(|i| w[i + 1].to_string())
                .unwrap_or_else(|| "unreachable".into())
        })
        .collect();
    assert_eq!(devs.len(), FLOWS as usize, "{out}");
    devs
}

/// Does table main hold an IPv4 default route of ours (proto 236)? One
/// RTM_GETROUTE dump over a raw rtnetlink socket.
fn present(fd: i32, buf: &mut [u8]) -> bool {
    // nlmsghdr (16) + rtmsg (12): AF_INET dump.
    let mut req = [0u8; 28];
    req[0..4].copy_from_slice(&28u32.to_ne_bytes());
    req[4..6].copy_from_slice(&libc::RTM_GETROUTE.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    req[6..8].copy_from_slice(&flags.to_ne_bytes());
    req[16] = libc::AF_INET as u8;
    // SAFETY: req and buf are valid for their lengths.
    unsafe { libc::send(fd, req.as_ptr() as *const _, req.len(), 0) };
    let mut found = false;
    loop {
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut _, buf.len(), 0) };
        if n <= 0 {
            return found;
        }
        let mut off = 0usize;
        while off + 16 <= n as usize {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
            let ty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
            if ty == libc::NLMSG_DONE as u16 || ty == libc::NLMSG_ERROR as u16 {
                return found;
            }
            let m = &buf[off + 16..];
            // rtm_dst_len, rtm_table, rtm_protocol
            if ty == libc::RTM_NEWROUTE && m[1] == 0 && m[4] == 254 && m[5] == 236 {
                found = true;
            }
            if len < 16 {
                return found;
            }
            off += (len + 3) & !3;
        }
    }
}

/// Sample presence until `stop`; returns (absent time, samples).
fn watch(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(Duration, u64)> {
    std::thread::spawn(move || {
        // SAFETY: plain socket call; the thread is in the caller's netns.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        assert!(fd >= 0);
        let mut buf = vec![0u8; 1 << 16];
        let mut absent = Duration::ZERO;
        let mut samples = 0;
        let mut last = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let ok = present(fd, &mut buf);
            let now = Instant::now();
            if !ok {
                absent += now - last;
            }
            last = now;
            samples += 1;
            std::thread::sleep(Duration::from_micros(50));
        }
        unsafe { libc::close(fd) };
        (absent, samples)
    })
}

fn moved(a: &[String], b: &[String]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

fn pct(n: usize) -> String {
    format!("{:5.1}%", n as f64 * 100.0 / f64::from(FLOWS))
}

fn main() {
    println!(
        "N   mode       moved on leave (departed share)   moved on rejoin   route absent during redial"
    );
    for n in [2u32, 4, 8, 16] {
        for mode in ["multipath", "group", "resilient"] {
            let row = in_netns(move || {
                let _ = std::fs::write("/proc/sys/net/ipv4/fib_multipath_hash_policy", "1");
                let mut r = Router::all_up(n);
                r.mode = mode;
                let ev = |r: &Router, a: &str, i: &str| {
                    let run = r.event("ecmp4", a, i, &[]);
                    assert_eq!(run.code, 0, "{}", run.stderr);
                };
                ev(&r, "ifup", "wan");
                let before = egress();
                let k = 1;
                let dev = r.dials[k].dev();
                let name = r.dials[k].name.clone();
                let share = before.iter().filter(|d| **d == dev).count();

                let stop = Arc::new(AtomicBool::new(false));
                let w = watch(stop.clone());
                std::thread::sleep(Duration::from_millis(5));
                r.device_gone(k);
                r.set_up(k, false);
                ev(&r, "ifdown", &name);
                let left = egress();
                r.dial_up(k);
                ev(&r, "ifup", &name);
                std::thread::sleep(Duration::from_millis(5));
                stop.store(true, Ordering::Relaxed);
                let (absent, samples) = w.join().expect("watcher");
                let back = egress();
                format!(
                    "{n:<3} {mode:<10} {} ({})                  {}            {:.2} ms ({samples} samples)",
                    pct(moved(&before, &left)),
                    pct(share),
                    pct(moved(&left, &back)),
                    absent.as_secs_f64() * 1e3
                )
            });
            println!("{row}");
        }
    }
}
