//! The fault suite: bad input, failing helpers, kernel refusals, races.
//! Every case runs a real binary in a private network namespace against a
//! router whose route and nexthop objects are already in place, checks the
//! documented exit status and log line, and compares the kernel's routes
//! and nexthop objects with what they must be: exactly as before, or
//! exactly the correct new state. A case that leaves anything else counts
//! as a route lost. The summary line goes to target/fault-suite.txt, which
//! `make test` prints last.

use sim::{all_routes, in_netns, ip_line, nexthops, script, Router, Run};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

static TRIED: AtomicUsize = AtomicUsize::new(0);
static LOST: AtomicUsize = AtomicUsize::new(0);
static DONE: AtomicUsize = AtomicUsize::new(0);
const TESTS: usize = 7;

/// Routes (both families, every table) and nexthop objects, without the
/// routes the kernel makes for addresses by itself (link-local ones appear
/// whenever a peer's DAD finishes).
fn kernel() -> String {
    let routes: Vec<&str> = Vec::new();
    let all = all_routes();
    let mut keep = routes;
    let mut skip = false;
    for l in all.lines() {
        if !l.starts_with(char::is_whitespace) {
            skip = l.contains("proto kernel");
        }
        if !skip {
            keep.push(l);
        }
    }
    format!("{}\n{}", keep.join("\n"), nexthops().join("\n"))
}

fn exec(c: &mut Command) -> Run {
    let o = c.stdin(Stdio::null()).output().expect("run binary");
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Check one case: exit status, a piece of the log line, and the kernel
/// against `want` (the state it must be in).
fn check(name: &str, r: &Run, codes: &[i32], line: &str, want: &str) {
    TRIED.fetch_add(1, Ordering::Relaxed);
    let now = kernel();
    if now != want {
        LOST.fetch_add(1, Ordering::Relaxed);
        panic!(
            "{name}: kernel state changed:\n--- want\n{want}\n--- have\n{now}\n{}",
            r.stderr
        );
    }
    assert!(
        codes.contains(&r.code),
        "{name}: exit {} (want {codes:?}): {}",
        r.code,
        r.stderr
    );
    assert!(
        r.stderr.contains(line),
        "{name}: log line lacks {line:?}: {}",
        r.stderr
    );
    // One line per problem: no backtraces, no multi-line dumps.
    if r.code != 0 {
        let errors: Vec<&str> = r.stderr.lines().filter(|l| l.contains("error:")).collect();
        assert_eq!(errors.len(), 1, "{name}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{name}: {}", r.stderr);
    }
}

fn finish() {
    if DONE.fetch_add(1, Ordering::SeqCst) + 1 == TESTS {
        let line = format!(
            "fault suite: {} bad inputs tried, {} routes lost\n",
            TRIED.load(Ordering::SeqCst),
            LOST.load(Ordering::SeqCst)
        );
        let out = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/fault-suite.txt");
        std::fs::write(out, line).expect("write summary");
    }
}

/// A router with 3 dials up and our resilient route over them.
fn router() -> Router {
    let mut r = Router::all_up(3);
    r.mode = "auto";
    let run = r.event("ecmp4", "ifup", "wan", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = r.event("ecmp6", "ifup", "wan_6", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(nexthops().len(), 8, "setup: 6 members, 2 groups");
    r
}

#[test]
fn ubus_failures() {
    in_netns(|| {
        let r = router();
        let before = kernel();
        let stub = r.path("bad-ubus");
        let cases: [(&str, &str, &[&str], &str); 5] = [
            (
                "ubus missing",
                "",
                &["--ubus", "/nonexistent/ubus"],
                "cannot run",
            ),
            (
                "ubus exits 1",
                "echo 'Command failed: Not found' >&2; exit 1",
                &[],
                "Command failed: Not found",
            ),
            ("ubus prints nothing", "exit 0", &[], "input: "),
            (
                "ubus prints 10 MB",
                "head -c 10485760 /dev/zero | tr '\\0' ' '",
                &[],
                "printed more than",
            ),
            (
                "ubus hangs",
                "exec sleep 30",
                &["--ubus-timeout", "0.3"],
                "no answer within 0.3 s",
            ),
        ];
        for (name, body, extra, line) in cases {
            script(&stub, body);
            for bin in ["ecmp4", "ecmp6"] {
                let mut args = vec!["-v"];
                if extra.first() != Some(&"--ubus") {
                    args.extend(["--ubus", stub.to_str().unwrap()]);
                }
                args.extend(extra.iter().copied());
                let iface = if bin == "ecmp4" { "VWAN1" } else { "VWAN1_6" };
                let run = r.event(bin, "ifdown", iface, &args);
                check(name, &run, &[4], line, &before);
            }
        }
        // The same through ubusd's socket (the default): no socket, a
        // ubusd that never says HELLO, one that speaks something else,
        // one that hangs up after HELLO.
        let silent = r.path("silent.sock");
        let _held = std::os::unix::net::UnixListener::bind(&silent).expect("bind");
        let serve = |name: &str, reply: &'static [u8]| {
            let p = r.path(name);
            let l = std::os::unix::net::UnixListener::bind(&p).expect("bind");
            std::thread::spawn(move || {
                use std::io::Write;
                for mut c in l.incoming().flatten() {
                    let _ = c.write_all(reply);
                }
            });
            p
        };
        let junk = serve("junk.sock", b"HTTP/1.1 400 Bad Request\r\n\r\n");
        // HELLO (version 0, type 0, seq 0, peer 0x1234, empty blob), then EOF.
        let hangup = serve("hangup.sock", b"\0\0\0\0\0\0\x12\x34\0\0\0\x04");
        let missing = r.path("no-such.sock");
        let sockets = [
            ("ubusd missing", &missing, "connect "),
            ("ubusd silent", &silent, "no answer within 0.3 s"),
            ("not ubusd", &junk, "ubus message version"),
            ("ubusd hangs up", &hangup, "ubusd closed the connection"),
        ];
        for (name, sock, line) in sockets {
            for bin in ["ecmp4", "ecmp6"] {
                let iface = if bin == "ecmp4" { "VWAN1" } else { "VWAN1_6" };
                let args = [
                    "-v",
                    "--ubus-timeout",
                    "0.3",
                    "--ubus-socket",
                    sock.to_str().unwrap(),
                ];
                let run = r.event(bin, "ifdown", iface, &args);
                check(name, &run, &[4], line, &before);
            }
        }
    });
    finish();
}

#[test]
fn truncated_json_at_every_byte_offset() {
    in_netns(|| {
        let r = router();
        let before = kernel();
        // The router's own dump: whole, it asks for exactly this state.
        let dump = r.dump_json().into_bytes();
        let file = r.path("cut.json");
        for cut in 0..dump.len() {
            std::fs::write(&file, &dump[..cut]).unwrap();
            let run = r.event(
                "ecmp4",
                "ifdown",
                "VWAN1",
                &["-v", "--dump-file", file.to_str().unwrap()],
            );
            check(
                &format!("JSON cut at byte {cut}"),
                &run,
                &[4],
                "input: ",
                &before,
            );
        }
    });
    finish();
}

#[test]
fn odd_dumps_give_the_right_route() {
    in_netns(|| {
        let mut r = router();
        let before = kernel();
        // Duplicate interface names, and a second interface on a member's
        // device: one member per device, the same route.
        let dup = r.dump_json().replace(
            "{\"interface\":[",
            "{\"interface\":[{\"interface\":\"wan\",\"up\":true,\"proto\":\"pppoe\",\"l3_device\":\"pppoe-wan\",\"ipv4-address\":[{\"address\":\"100.66.0.1\",\"mask\":32,\"ptpaddress\":\"100.64.0.1\"}],\"route\":[]},\
             {\"interface\":\"wan2\",\"up\":true,\"proto\":\"pppoe\",\"l3_device\":\"pppoe-VWAN1\",\"ipv4-address\":[{\"address\":\"100.66.0.2\",\"mask\":32,\"ptpaddress\":\"100.64.0.2\"}],\"route\":[]},",
        );
        let file = r.path("odd.json");
        std::fs::write(&file, dup).unwrap();
        let run = r.event(
            "ecmp4",
            "ifupdate",
            "wan",
            &["-v", "--dump-file", file.to_str().unwrap()],
        );
        check(
            "duplicate names, two on one device",
            &run,
            &[0],
            "(unchanged)",
            &before,
        );
        // 4,096 interfaces up whose devices do not exist: the same route,
        // and the log says they are gone.
        let mut extra = Vec::new();
        for i in 0..4096 {
            extra.push(format!(
                "{{\"interface\":\"x{i}\",\"up\":true,\"proto\":\"pppoe\",\"l3_device\":\"ppp-x{i}\",\"ipv4-address\":[{{\"address\":\"100.70.{}.{}\",\"mask\":32,\"ptpaddress\":\"100.71.{}.{}\"}}],\"route\":[]}}",
                i / 250, i % 250 + 1, i / 250, i % 250 + 1
            ));
        }
        r.extra = extra;
        r.write_dump();
        let run = r.event("ecmp4", "ifupdate", "wan", &["-v"]);
        check("4,096 interfaces", &run, &[0], "[gone: ppp-x0,", &before);
        r.extra.clear();
        r.write_dump();
        // JSON that is not netifd's dump, and a dump that does not list the
        // interface of an ifup: exit 4, the route kept (it used to be
        // deleted as "no live links").
        let ifstatus = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/netifd/status-VWAN1-pppoe.json"
        ))
        .unwrap();
        let file = r.path("notadump.json");
        for (name, body, action, iface, line) in [
            (
                "[] as the dump",
                "[]",
                "ifdown",
                "VWAN1",
                "not a JSON object",
            ),
            (
                "{} as the dump",
                "{}",
                "ifdown",
                "VWAN1",
                "missing field `interface`",
            ),
            (
                "an empty interface list",
                "{\"interface\":[]}",
                "ifdown",
                "VWAN1",
                "lists no interfaces",
            ),
            (
                "one interface's status (ifstatus)",
                ifstatus.as_str(),
                "ifdown",
                "VWAN1",
                "missing field `interface`",
            ),
            (
                "ifup of an interface the dump lacks",
                &r.dump_json(),
                "ifup",
                "VWAN9",
                "does not list VWAN9",
            ),
        ] {
            std::fs::write(&file, body).unwrap();
            for bin in ["ecmp4", "ecmp6"] {
                let run = r.event(
                    bin,
                    action,
                    iface,
                    &["-v", "--dump-file", file.to_str().unwrap()],
                );
                check(&format!("{bin}: {name}"), &run, &[4], line, &before);
                // The ubus program printing it: the same.
                let stub = r.path("ubus-odd");
                script(&stub, &format!("cat '{}'", file.display()));
                let run = r.event(
                    bin,
                    action,
                    iface,
                    &["-v", "--ubus", stub.to_str().unwrap()],
                );
                check(
                    &format!("{bin}: {name} from ubus"),
                    &run,
                    &[4],
                    line,
                    &before,
                );
            }
        }
        // Environment: not UTF-8, absurdly long, control characters.
        let long = "V".repeat(100_000);
        for (name, action, iface) in [
            (
                "INTERFACE not UTF-8",
                OsStr::new("ifup"),
                OsStr::from_bytes(b"wan\xff"),
            ),
            (
                "ACTION not UTF-8",
                OsStr::from_bytes(b"if\xffup"),
                OsStr::new("wan"),
            ),
            (
                "INTERFACE of 100 KB",
                OsStr::new("ifup"),
                OsStr::new(long.as_str()),
            ),
            (
                "INTERFACE with a newline",
                OsStr::new("ifup"),
                OsStr::new("wan\nifdown"),
            ),
        ] {
            let mut c = sim::command("ecmp4");
            c.env_clear()
                .env("ACTION", action)
                .env("INTERFACE", iface)
                .args([
                    "-v",
                    "--config",
                    "/dev/null",
                    "--syslog-socket",
                    "/nonexistent",
                    "--ubus",
                ])
                .arg(r.path("ubus"));
            check(name, &exec(&mut c), &[2], "usage: ", &before);
        }
        // A config file that is not UCI, and one with a bad value.
        let cfg = r.path("ecmp");
        for (name, body, line) in [
            (
                "malformed config",
                "config ecmp 'ipv4'\nmetric 9\n",
                "parse error, line 2: invalid command",
            ),
            (
                "config with a bad value",
                "config ecmp 'ipv4'\n\toption mode fastest\n",
                "ipv4.mode",
            ),
            (
                "config with an open quote",
                "config ecmp 'ipv4\n",
                "unterminated",
            ),
        ] {
            std::fs::write(&cfg, body).unwrap();
            let run = r.event(
                "ecmp4",
                "ifdown",
                "VWAN1",
                &["-v", "--config", cfg.to_str().unwrap()],
            );
            check(name, &run, &[3], line, &before);
        }
    });
    finish();
}

#[test]
fn kernel_refusals_leave_the_kernel_as_it_was() {
    in_netns(|| {
        let mut r = router();
        // VWAN2 goes down first, so bringing it back needs a new member
        // object: the write that fails comes after one that succeeded,
        // which the undo must take back.
        r.set_up(2, false);
        assert_eq!(r.event("ecmp4", "ifdown", "VWAN2", &[]).code, 0);
        r.set_up(2, true);
        // A member whose gateway is not reachable on its device: the
        // kernel answers ENETUNREACH, in every mode.
        ip_line("link add pppoe-x type veth peer name peerx");
        ip_line("link set pppoe-x up");
        ip_line("link set peerx up");
        let dump = r.dump_json();
        let bad = format!(
            "{},{{\"interface\":\"zVWAN9\",\"up\":true,\"proto\":\"pppoe\",\"l3_device\":\"pppoe-x\",\"ipv4-address\":[{{\"address\":\"100.66.9.9\",\"mask\":32,\"ptpaddress\":\"203.0.113.1\"}}],\"route\":[{{\"target\":\"0.0.0.0\",\"mask\":0,\"nexthop\":\"203.0.113.1\"}}]}}]}}",
            dump.strip_suffix("]}").expect("a dump")
        );
        let file = r.path("bad.json");
        std::fs::write(&file, bad).unwrap();
        let before = kernel();
        for mode in ["auto", "resilient", "group", "multipath"] {
            let run = r.event(
                "ecmp4",
                "ifup",
                "zVWAN9",
                &["-v", "--mode", mode, "--dump-file", file.to_str().unwrap()],
            );
            check(
                &format!("ENETUNREACH ({mode})"),
                &run,
                &[5],
                "kernel: ",
                &before,
            );
        }
        // EPERM: the same kind of write without CAP_NET_ADMIN (dropped
        // from the bounding set; works as root and in a user namespace).
        let dump = r.path("perm.json");
        let gone = r.dump_json().replace(
            "\"interface\":\"VWAN1\",\"up\":true",
            "\"interface\":\"VWAN1\",\"up\":false",
        );
        std::fs::write(&dump, gone).unwrap();
        for (bin, iface) in [("ecmp4", "VWAN1"), ("ecmp6", "VWAN1_6")] {
            let mut c = Command::new("setpriv");
            c.args(["--bounding-set=-net_admin"])
                .arg(sim::bin(bin))
                .args([
                    "-v",
                    "--action",
                    "ifdown",
                    "--interface",
                    iface,
                    "--config",
                    "/dev/null",
                ])
                .args(["--syslog-socket", "/nonexistent", "--dump-file"])
                .arg(&dump)
                .arg("--lock-file")
                .arg(r.path("lock"));
            check(
                &format!("EPERM ({bin})"),
                &exec(&mut c),
                &[5],
                "Operation not permitted",
                &before,
            );
        }
    });
    finish();
}

#[test]
fn a_run_waits_for_the_lock_and_racing_runs_end_right() {
    in_netns(|| {
        let mut r = router();
        let before = kernel();
        // Someone holds the lock (a manual run, stuck): bounded wait, exit 7.
        let lock = r.path("lock");
        // -o: flock itself holds the lock, not the sleep it runs.
        let mut holder = Command::new("flock")
            .arg("-o")
            .arg(&lock)
            .args(["sleep", "30"])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let t = std::time::Instant::now();
        let run = r.event("ecmp4", "ifdown", "VWAN1", &["-v", "--lock-wait", "1"]);
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        let _ = holder.kill();
        let _ = holder.wait();
        check("lock held by another run", &run, &[7], "busy: ", &before);
        // Twelve runs at once (ecmp4 and ecmp6 take IDs from one range):
        // all succeed and the end state is the right one.
        r.set_up(1, false);
        let mut kids = Vec::new();
        for k in 0..12 {
            let (bin, iface) = if k % 2 == 0 {
                ("ecmp4", "VWAN1")
            } else {
                ("ecmp6", "VWAN1_6")
            };
            let mut c = Command::new(sim::bin(bin));
            c.env_clear()
                .env("ACTION", "ifdown")
                .env("INTERFACE", iface)
                .arg("--config")
                .arg(r.path("no-config"))
                .args(["--syslog-socket", "/nonexistent", "--lock-file"])
                .arg(&lock)
                .arg("--ubus")
                .arg(r.path("ubus"))
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            kids.push(c.spawn().unwrap());
        }
        let codes: Vec<i32> = kids
            .into_iter()
            .map(|k| k.wait_with_output().unwrap().status.code().unwrap_or(-1))
            .collect();
        TRIED.fetch_add(1, Ordering::Relaxed);
        assert!(codes.iter().all(|c| *c == 0), "{codes:?}");
        let v4 = sim::ours(false);
        let v6 = sim::ours(true);
        let ok = v4.len() == 1
            && v6.len() == 1
            && !v4[0].contains("pppoe-VWAN1 ")
            && !v6[0].contains("pppoe-VWAN1 ")
            && sim::ours_nh().len() == 6;
        if !ok {
            LOST.fetch_add(1, Ordering::Relaxed);
        }
        assert!(ok, "{v4:?} {v6:?} {:?}", sim::ours_nh());
    });
    finish();
}

#[test]
fn flush_removes_exactly_ours() {
    in_netns(|| {
        // Foreign objects and routes first, so ours are built around them.
        let mut r = Router::all_up(3);
        r.mode = "auto";
        ip_line("nexthop add id 7 via 100.64.0.1 dev pppoe-wan");
        ip_line("nexthop add id 8 group 7");
        ip_line("route add default nhid 8 table 100");
        ip_line("route add default via 100.64.0.3 dev pppoe-VWAN2 metric 50");
        ip_line("-6 route add default via fe80::b:1 dev pppoe-VWAN1 metric 60");
        let foreign = kernel();
        for (bin, i) in [("ecmp4", "wan"), ("ecmp6", "wan_6")] {
            assert_eq!(r.event(bin, "ifup", i, &[]).code, 0);
        }
        // Our route also at an old metric.
        assert_eq!(
            r.event(
                "ecmp4",
                "ifup",
                "wan",
                &["--metric", "9", "--mode", "multipath"]
            )
            .code,
            0
        );
        assert_eq!(r.event("ecmp4", "ifup", "wan", &[]).code, 0);
        assert_ne!(kernel(), foreign);
        let run = r.event("ecmp4", "ifdown", "wan", &["-v", "--flush"]);
        assert!(
            run.stderr
                .contains("flush: removed 1 route, 4 nexthop objects, 0 rules and 0 member table routes of ours"),
            "{}",
            run.stderr
        );
        let run = r.event("ecmp6", "ifdown", "wan_6", &["-v", "--flush"]);
        check(
            "flush",
            &run,
            &[0],
            "flush: removed 1 route, 4 nexthop objects, 0 rules and 0 member table routes of ours",
            &foreign,
        );
        let run = r.event("ecmp6", "ifdown", "wan_6", &["-v", "--flush"]);
        check(
            "flush twice",
            &run,
            &[0],
            "flush: removed 0 routes, 0 nexthop objects, 0 rules and 0 member table routes of ours",
            &foreign,
        );
    });
    finish();
}

#[test]
fn a_device_gone_between_dump_and_write() {
    in_netns(|| {
        let mut r = router();
        // The dump still reports VWAN2 up, its device is gone, and its
        // nexthop objects went with it: the route keeps the other two.
        r.device_gone(2);
        let want = kernel();
        assert_eq!(sim::ours(false).len(), 1, "the route outlived the device");
        let run = r.event("ecmp4", "ifupdate", "VWAN1", &["-v"]);
        check(
            "device gone, event on another",
            &run,
            &[0],
            "(unchanged) [gone: pppoe-VWAN2]",
            &want,
        );
        assert_eq!(
            sim::ours_nh()
                .iter()
                .filter(|l| l.contains("100.64."))
                .count(),
            2
        );
    });
    finish();
}
