//! ecmp4 against a real kernel, in private network namespaces.

use sim::{all_routes, default_routes, in_netns, ip_line, script, RouteWatch, Router};

fn ours() -> Vec<String> {
    sim::ours(false)
}

fn multipath(hops: &[(&str, &str)]) -> String {
    sim::multipath(false, hops)
}

#[test]
fn dials_come_up_one_by_one_then_go_down() {
    in_netns(|| {
        let mut r = Router::new(4);
        let mut expect: Vec<(String, String)> = Vec::new();
        for i in 0..4 {
            r.dial_up(i);
            let d = r.dials[i].clone();
            let run = r.event("ecmp4", "ifup", &d.name, &["-v"]);
            assert_eq!(run.code, 0, "{}", run.stderr);
            expect.push((d.peer4(), d.dev()));
            let want = if i == 0 {
                format!(
                    "default via {} dev {} proto 236 metric 1",
                    d.peer4(),
                    d.dev()
                )
            } else {
                // netifd dumps interfaces sorted by name: VWAN1.. before wan.
                let mut sorted = expect.clone();
                sorted.sort_by(|a, b| a.1.cmp(&b.1));
                multipath(
                    &sorted
                        .iter()
                        .map(|(g, d)| (g.as_str(), d.as_str()))
                        .collect::<Vec<_>>(),
                )
            };
            assert_eq!(ours(), [want], "after ifup {}", d.name);
            assert!(
                run.stderr.contains(&format!(
                    "ifup {}: multipath default metric 1 via {} link",
                    d.name,
                    i + 1
                )),
                "{}",
                run.stderr
            );
        }
        // ifdown: netifd may still dump the interface as up; it is out anyway.
        let run = r.event("ecmp4", "ifdown", "VWAN2", &["-v"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(
            ours(),
            [multipath(&[
                ("100.64.0.2", "pppoe-VWAN1"),
                ("100.64.0.4", "pppoe-VWAN3"),
                ("100.64.0.1", "pppoe-wan")
            ])]
        );
        assert!(run.stderr.contains("ifdown VWAN2: multipath default metric 1 via 3 links pppoe-VWAN1,pppoe-VWAN3,pppoe-wan (replaced)"), "{}", run.stderr);
    });
}

#[test]
fn redial_device_removed_and_recreated() {
    in_netns(|| {
        let mut r = Router::all_up(3);
        assert_eq!(r.event("ecmp4", "ifup", "VWAN2", &[]).code, 0);
        assert_eq!(ours().len(), 1);
        // pppd exits: the kernel drops the WHOLE IPv4 multipath route.
        r.device_gone(1);
        assert_eq!(
            ours(),
            Vec::<String>::new(),
            "kernel keeps no IPv4 multipath route over a removed device"
        );
        // netifd's ifdown for VWAN1 (dump may lag): route rebuilt over the rest.
        let run = r.event("ecmp4", "ifdown", "VWAN1", &["-v"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(
            ours(),
            [multipath(&[
                ("100.64.0.3", "pppoe-VWAN2"),
                ("100.64.0.1", "pppoe-wan")
            ])]
        );
        // pppd dials again.
        r.set_up(1, false);
        r.dial_up(1);
        assert_eq!(r.event("ecmp4", "ifup", "VWAN1", &[]).code, 0);
        assert_eq!(
            ours(),
            [multipath(&[
                ("100.64.0.2", "pppoe-VWAN1"),
                ("100.64.0.3", "pppoe-VWAN2"),
                ("100.64.0.1", "pppoe-wan")
            ])]
        );
    });
}

#[test]
fn a_device_gone_before_netifd_noticed_is_left_out() {
    in_netns(|| {
        let mut r = Router::all_up(3);
        r.device_gone(2); // the dump still says VWAN2 is up
        let run = r.event("ecmp4", "ifup", "wan", &["-v"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(
            ours(),
            [multipath(&[
                ("100.64.0.2", "pppoe-VWAN1"),
                ("100.64.0.1", "pppoe-wan")
            ])]
        );
        assert!(run.stderr.contains("[gone: pppoe-VWAN2]"), "{}", run.stderr);
    });
}

#[test]
fn zero_and_one_member() {
    in_netns(|| {
        let mut r = Router::all_up(2);
        assert_eq!(r.event("ecmp4", "ifup", "VWAN1", &[]).code, 0);
        assert_eq!(r.event("ecmp4", "ifdown", "VWAN1", &[]).code, 0);
        r.set_up(1, false);
        assert_eq!(
            ours(),
            ["default via 100.64.0.1 dev pppoe-wan proto 236 metric 1"]
        );
        let run = r.event("ecmp4", "ifdown", "wan", &["-v"]);
        assert_eq!(run.code, 0);
        assert!(
            run.stderr
                .contains("ifdown wan: no live links, default metric 1 deleted"),
            "{}",
            run.stderr
        );
        assert!(ours().is_empty());
        // Nothing of ours left and nothing live: still fine, nothing written.
        r.set_up(0, false);
        let w = RouteWatch::new();
        let run = r.event("ecmp4", "ifup-failed", "wan", &["-v"]);
        assert_eq!(run.code, 0);
        assert!(
            run.stderr.contains("no live links, no route of ours"),
            "{}",
            run.stderr
        );
        assert_eq!(w.count(), 0);
    });
}

#[test]
fn unchanged_state_writes_nothing_and_asks_ubus_once() {
    in_netns(|| {
        let mut r = Router::all_up(3);
        assert_eq!(r.event("ecmp4", "ifup", "VWAN2", &[]).code, 0);
        assert_eq!(r.ubus_calls(), 1);
        let w = RouteWatch::new();
        let run = r.event("ecmp4", "ifupdate", "VWAN1", &["-v"]);
        assert_eq!(run.code, 0);
        assert!(run.stderr.contains("(unchanged)"), "{}", run.stderr);
        assert_eq!(
            w.count(),
            0,
            "an unchanged state must not write to the kernel"
        );
        assert_eq!(r.ubus_calls(), 2, "exactly one ubus call per event");
        // And a change is seen by the same watcher (the check can fail).
        r.set_up(2, false);
        assert_eq!(r.event("ecmp4", "ifdown", "VWAN2", &[]).code, 0);
        assert_eq!(w.count(), 1);
    });
}

#[test]
fn ignored_actions_do_not_ask_ubus() {
    in_netns(|| {
        let r = Router::all_up(1);
        for a in ["reload", "create", "ifupdate-ignored"] {
            let run = r.event("ecmp4", a, "wan", &["-v"]);
            assert_eq!(
                (run.code, run.stderr.as_str()),
                (
                    0,
                    format!("ecmp4: {a} wan: action '{a}' changes no link; nothing to do\n")
                        .as_str()
                ),
                "{a}"
            );
            // Without -v nothing at all (netifd's boot runs many).
            let run = r.event("ecmp4", a, "wan", &[]);
            assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{a}");
        }
        assert_eq!(r.ubus_calls(), 0);
        assert!(ours().is_empty());
    });
}

#[test]
fn foreign_routes_survive_everything() {
    in_netns(|| {
        let r = Router::all_up(2);
        // netifd's own per-dial default (metric 40), one in another table,
        // a blackhole in table 200 at our metric.
        ip_line("route add default via 100.64.0.1 dev pppoe-wan proto static metric 40");
        ip_line("route add default via 100.64.0.2 dev pppoe-VWAN1 table 100 metric 1");
        ip_line("route add blackhole default table 200 metric 1");
        let foreign: Vec<String> = default_routes(false);
        for (a, i) in [
            ("ifup", "wan"),
            ("ifup", "VWAN1"),
            ("ifdown", "VWAN1"),
            ("ifdown", "wan"),
            ("ifup", "VWAN1"),
        ] {
            let run = r.event("ecmp4", a, i, &[]);
            assert_eq!(run.code, 0, "{a} {i}: {}", run.stderr);
            let now = default_routes(false);
            for f in &foreign {
                assert!(now.contains(f), "{f} lost after {a} {i}: {now:?}");
            }
        }
    });
}

#[test]
fn shadowing_route_and_hash_policy_are_warned_about() {
    in_netns(|| {
        let r = Router::all_up(2);
        ip_line("route add default via 100.64.0.1 dev pppoe-wan proto static metric 0");
        std::fs::write("/proc/sys/net/ipv4/fib_multipath_hash_policy", "0").unwrap();
        let run = r.event("ecmp4", "ifup", "wan", &["-v"]);
        assert_eq!(run.code, 0);
        assert!(
            run.stderr
                .contains("warning: default route via pppoe-wan metric 0 (proto 4) shadows ours"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("warning: net.ipv4.fib_multipath_hash_policy is 0"),
            "{}",
            run.stderr
        );
        std::fs::write("/proc/sys/net/ipv4/fib_multipath_hash_policy", "1").unwrap();
        let run = r.event("ecmp4", "ifup", "wan", &["-v"]);
        assert!(!run.stderr.contains("hash_policy"), "{}", run.stderr);
    });
}

#[test]
fn foreign_route_at_our_metric_is_a_conflict_and_untouched() {
    in_netns(|| {
        let r = Router::all_up(2);
        ip_line("route add default via 100.64.0.1 dev pppoe-wan metric 1");
        let before = all_routes();
        let run = r.event("ecmp4", "ifup", "VWAN1", &[]);
        assert_eq!(run.code, 6, "{}", run.stderr);
        assert!(
            run.stderr
                .contains("conflict: a default route in table 254 with metric 1"),
            "{}",
            run.stderr
        );
        assert_eq!(all_routes(), before);
        // Another metric works alongside it.
        assert_eq!(
            r.event("ecmp4", "ifup", "VWAN1", &["--metric", "5"]).code,
            0
        );
        assert!(default_routes(false)
            .iter()
            .any(|l| l.starts_with("default proto 236 metric 5")));
    });
}

#[test]
fn bad_input_leaves_the_table_exactly_as_it_was() {
    in_netns(|| {
        let r = Router::all_up(2);
        assert_eq!(r.event("ecmp4", "ifup", "VWAN1", &[]).code, 0);
        let before = all_routes();
        let good = r.dump_json();
        let stub = r.path("ubus");
        let cases: Vec<(&str, String, i32, &str)> = vec![
            ("truncated JSON", good[..good.len() / 2].to_string(), 4, "dump is not netifd JSON"),
            ("empty", String::new(), 4, "dump is empty"),
            ("wrong type", r#"{"interface":[{"interface":"wan","up":"true"}]}"#.into(), 4, "invalid type"),
            (
                "gateway not IPv4",
                r#"{"interface":[{"interface":"wan","up":true,"proto":"pppoe","l3_device":"pppoe-wan","route":[{"target":"0.0.0.0","mask":0,"nexthop":"fe80::1"}]}]}"#.into(),
                4,
                "gateway 'fe80::1' is not an IPv4 address",
            ),
            (
                "device name too long",
                r#"{"interface":[{"interface":"wan","up":true,"proto":"pppoe","l3_device":"pppoe-0123456789"}]}"#.into(),
                4,
                "longer than 15 bytes",
            ),
        ];
        for (what, dump, code, msg) in cases {
            std::fs::write(r.path("dump.json"), dump).unwrap();
            let w = RouteWatch::new();
            let run = r.event("ecmp4", "ifup", "wan", &[]);
            assert_eq!(run.code, code, "{what}: {}", run.stderr);
            assert!(run.stderr.contains(msg), "{what}: {}", run.stderr);
            assert_eq!(
                run.stderr.lines().count(),
                1,
                "{what}: one line: {}",
                run.stderr
            );
            assert_eq!(w.count(), 0, "{what}: nothing written");
            assert_eq!(all_routes(), before, "{what}");
        }
        // ubus failing, hanging, missing.
        r.write_dump();
        for (what, body, msg) in [
            (
                "ubus fails",
                "echo 'Command failed: Not found' >&2; exit 4",
                "exit status: 4: Command failed: Not found",
            ),
            ("ubus hangs", "exec sleep 30", "no answer within 0.3 s"),
        ] {
            script(&stub, body);
            let t = std::time::Instant::now();
            let run = r.event("ecmp4", "ifup", "wan", &["--ubus-timeout", "0.3"]);
            assert_eq!(run.code, 4, "{what}: {}", run.stderr);
            assert!(run.stderr.contains(msg), "{what}: {}", run.stderr);
            assert!(t.elapsed().as_secs() < 10, "{what}");
            assert_eq!(all_routes(), before, "{what}");
        }
        let run = r.event("ecmp4", "ifup", "wan", &["--ubus", "/nonexistent/ubus"]);
        assert_eq!(run.code, 4);
        assert!(
            run.stderr
                .contains("/nonexistent/ubus call network.interface dump: cannot run"),
            "{}",
            run.stderr
        );
        assert_eq!(all_routes(), before);
    });
}

#[test]
fn config_from_the_file_and_flags() {
    in_netns(|| {
        let r = Router::all_up(3);
        // Read by our own parser: no uci runs (the differential test in
        // tests/config.rs holds it to the real uci).
        std::fs::write(
            r.path("ecmp"),
            "config ecmp 'ipv4'\n\toption metric '7'\n\toption table \"100\"\n\tlist exclude VWAN2\n\nconfig member 'VWAN1'\n\toption weight '3'\n",
        )
        .unwrap();
        let cfg = r.path("ecmp");
        let args = ["--config", cfg.to_str().unwrap()];
        let mut c = sim::command("ecmp4");
        c.args(["--action", "ifup", "--interface", "wan", "--ubus"])
            .arg(r.path("ubus"))
            .args(args);
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let t100 = ip_line("route show table 100 default");
        assert!(t100.contains("proto 236 metric 7"), "{t100}");
        assert!(
            t100.contains("nexthop via 100.64.0.2 dev pppoe-VWAN1 weight 3"),
            "{t100}"
        );
        assert!(!t100.contains("VWAN2"), "{t100}");
        // Flags override the file.
        let o = sim::command("ecmp4")
            .args([
                "--action",
                "ifup",
                "--interface",
                "wan",
                "--metric",
                "8",
                "--exclude",
                "wan",
                "--ubus",
            ])
            .arg(r.path("ubus"))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success());
        let t100 = ip_line("route show table 100 default");
        assert!(
            t100.contains("metric 8")
                && t100.contains("pppoe-VWAN2")
                && !t100.contains("pppoe-wan"),
            "{t100}"
        );
        assert!(
            !t100.contains("metric 7"),
            "our route at the old metric is removed: {t100}"
        );
        // A config uci cannot read: exit 3 with uci's own parse error,
        // nothing touched.
        std::fs::write(
            r.path("ecmp"),
            "config ecmp 'ipv4'\n\toption metric '7'\nmetric 9\n",
        )
        .unwrap();
        let before = all_routes();
        let o = sim::command("ecmp4")
            .args(["--action", "ifup", "--interface", "wan", "--ubus"])
            .arg(r.path("ubus"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(3));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("parse error, line 3: invalid command"),
            "{err}"
        );
        assert_eq!(all_routes(), before);
        // A --config that does not exist is an error, not "defaults".
        let o = sim::command("ecmp4")
            .args(["--action", "ifup", "--interface", "wan", "--ubus"])
            .arg(r.path("ubus"))
            .args(["--config", "/nonexistent/ecmp"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(3));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("--config /nonexistent/ecmp: No such file"),
            "{err}"
        );
        assert_eq!(all_routes(), before);
    });
}

#[test]
fn dry_run_prints_ip_route_syntax_and_touches_nothing() {
    in_netns(|| {
        let r = Router::all_up(2);
        let before = all_routes();
        let run = r.event("ecmp4", "ifup", "wan", &["--dry-run"]);
        assert_eq!(run.code, 0);
        assert_eq!(
            run.stdout.trim(),
            "ip route replace default proto 236 metric 1 nexthop via 100.64.0.2 dev pppoe-VWAN1 weight 1 nexthop via 100.64.0.1 dev pppoe-wan weight 1"
        );
        assert_eq!(all_routes(), before);
        // The printed command is valid iproute2 syntax.
        let args: Vec<&str> = run.stdout.split_whitespace().skip(1).collect();
        sim::ip(&args);
        assert_eq!(ours().len(), 1);
    });
}

#[test]
fn syslog_line_with_daemon_facility() {
    in_netns(|| {
        let r = Router::all_up(1);
        let sock = std::os::unix::net::UnixDatagram::bind(r.path("log")).unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let log = r.path("log");
        let run = r.event(
            "ecmp4",
            "ifup",
            "wan",
            &["--syslog-socket", log.to_str().unwrap()],
        );
        assert_eq!(run.code, 0);
        assert_eq!(
            run.stderr, "",
            "quiet without -v when stderr is not a terminal"
        );
        let mut buf = [0u8; 2048];
        let n = sock.recv(&mut buf).unwrap();
        let line = String::from_utf8_lossy(&buf[..n]);
        // <30> = facility daemon (3) * 8 + info (6).
        assert!(line.starts_with("<30>"), "{line}");
        assert!(line.contains("ecmp4["), "{line}");
        assert!(
            line.ends_with("ifup wan: multipath default metric 1 via 1 link pppoe-wan (replaced)"),
            "{line}"
        );
    });
}

#[test]
fn hotplug_script_runs_the_binary_from_the_environment() {
    in_netns(|| {
        let r = Router::all_up(2);
        let src = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../hotplug.d/iface/97-ecmp4"
        ))
        .unwrap();
        assert!(src.contains("/usr/sbin/ecmp4"));
        // The installed path becomes the built binary; --ubus comes from
        // the config file on a router, here from a wrapper.
        let wrapper = r.path("ecmp4");
        script(
            &wrapper,
            &format!(
                "exec {} --ubus {} --config {} --lock-file {} \"$@\"",
                sim::bin("ecmp4").display(),
                r.path("ubus").display(),
                r.path("no-config").display(),
                r.path("lock").display()
            ),
        );
        std::fs::write(
            r.path("97-ecmp4"),
            src.replace("/usr/sbin/ecmp4", wrapper.to_str().unwrap()),
        )
        .unwrap();
        // As /sbin/hotplug-call does: sourced in a subshell.
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "( . {} ); echo rc=$?",
                r.path("97-ecmp4").display()
            ))
            .env("ACTION", "ifup")
            .env("INTERFACE", "VWAN1")
            .env("DEVICE", "pppoe-VWAN1")
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("rc=0"),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(ours().len(), 1);
        assert!(ours()[0].contains("pppoe-VWAN1") && ours()[0].contains("pppoe-wan"));
    });
}

#[test]
fn usage_errors_and_help() {
    let o = sim::command("ecmp4").arg("--help").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let help = String::from_utf8_lossy(&o.stdout);
    for s in [
        "Usage: ecmp4",
        "--dry-run",
        "--ubus-timeout",
        "Exit status 0",
        "6 conflict",
    ] {
        assert!(help.contains(s), "help lacks {s}:\n{help}");
    }
    let o = sim::command("ecmp4").arg("--bogus").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = sim::command("ecmp4")
        .args(["--table", "local", "--action", "ifup"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn dump_from_a_file_or_stdin_needs_no_router() {
    use std::io::Write;
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/netifd/dump-8dials-ipv6.json"
    );
    let want = "ip route replace default proto 236 metric 1 nexthop via 100.64.1.1 dev pppoe-VWAN1 weight 1";
    let o = sim::command("ecmp4")
        .args([
            "--dump-file",
            fixture,
            "--dry-run",
            "--mode",
            "multipath",
            "--config",
            "/dev/null",
            "--action",
            "ifup",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with(want) && out.matches("nexthop").count() == 8,
        "{out}"
    );
    let mut c = sim::command("ecmp4")
        .args([
            "--dump-file",
            "-",
            "--dry-run",
            "--mode",
            "multipath",
            "--config",
            "/dev/null",
            "--action",
            "ifdown",
            "--interface",
            "wan",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(fixture).unwrap())
        .unwrap();
    let o = c.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        out.starts_with(want) && out.matches("nexthop").count() == 7 && !out.contains("pppoe-wan"),
        "{out}"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("ecmp4: not a member: wan going down"), "{err}");
}

#[test]
fn events_of_interfaces_never_ours_ask_no_ubus() {
    in_netns(|| {
        let r = Router::all_up(2);
        assert_eq!(r.event("ecmp4", "ifup", "wan", &[]).code, 0);
        let before = ours();
        // /etc/config/network beside our config: lan is static, wan6 is
        // dhcpv6 (ecmp6's), wan and VWAN1 are ours; VWAN1_6 is not there.
        std::fs::write(
            r.path("ecmp"),
            "config ecmp 'ipv4'\n\toption mode 'multipath'\n\toption inbound '0'\n",
        )
        .unwrap();
        std::fs::write(
            r.path("network"),
            "config interface 'loopback'\n\toption device 'lo'\n\toption proto 'static'\n\nconfig interface 'lan'\n\toption proto 'static'\n\nconfig interface 'wan'\n\toption proto 'pppoe'\n\nconfig interface 'wan6'\n\toption proto 'dhcpv6'\n\nconfig interface 'VWAN1'\n\toption proto 'pppoe'\n",
        )
        .unwrap();
        let cfg = r.path("ecmp");
        let args = ["-v", "--config", cfg.to_str().unwrap()];
        for (action, iface) in [
            ("ifup", "lan"),
            ("ifdown", "loopback"),
            ("ifupdate", "wan6"),
        ] {
            let run = r.event("ecmp4", action, iface, &args);
            assert_eq!(run.code, 0, "{}", run.stderr);
            let proto = if iface == "wan6" { "dhcpv6" } else { "static" };
            assert!(
                run.stderr.contains(&format!(
                    "{action} {iface}: proto '{proto}' ({}) is not one of ours (pppoe); nothing to do",
                    r.path("network").display()
                )),
                "{}",
                run.stderr
            );
            // Without -v nothing is logged (netifd's boot runs many).
            let quiet = r.event("ecmp4", action, iface, &args[1..]);
            assert_eq!((quiet.code, quiet.stderr.as_str()), (0, ""));
        }
        assert_eq!(r.ubus_calls(), 1, "only the first event asked ubus");
        // Ours, and interfaces the file does not list, are events as ever.
        for iface in ["VWAN1", "VWAN1_6"] {
            let run = r.event("ecmp4", "ifupdate", iface, &args);
            assert_eq!(run.code, 0, "{}", run.stderr);
            assert!(run.stderr.contains("(unchanged)"), "{}", run.stderr);
        }
        assert_eq!(r.ubus_calls(), 3);
        // ecmp6 passes over the IPv4 dials (pppoe is not among its protos).
        std::fs::write(
            r.path("ecmp"),
            "config ecmp 'ipv6'\n\toption mode 'multipath'\n\toption inbound '0'\n",
        )
        .unwrap();
        let run = r.event("ecmp6", "ifup", "VWAN1", &args);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stderr.contains("proto 'pppoe'"), "{}", run.stderr);
        assert!(
            run.stderr.contains("is not one of ours (dhcpv6)"),
            "{}",
            run.stderr
        );
        assert_eq!(r.ubus_calls(), 3);
        assert_eq!(ours(), before);
    });
}

#[test]
fn disabled_in_config_does_nothing_and_asks_no_ubus() {
    in_netns(|| {
        let r = Router::all_up(2);
        // Our route is there; `enabled 0` leaves it as it is (it does not
        // remove it: --flush does).
        assert_eq!(r.event("ecmp4", "ifup", "wan", &[]).code, 0);
        let before = ours();
        assert_eq!(before.len(), 1);
        std::fs::write(r.path("ecmp"), "config ecmp 'ipv4'\n\toption enabled '0'\n").unwrap();
        let cfg = r.path("ecmp");
        let run = r.event(
            "ecmp4",
            "ifup",
            "wan",
            &["-v", "--config", cfg.to_str().unwrap()],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stderr
                .contains("ifup wan: disabled in config, nothing done"),
            "{}",
            run.stderr
        );
        assert_eq!(r.ubus_calls(), 1, "only the first event asked ubus");
        assert_eq!(ours(), before);
    });
}

#[test]
fn version() {
    for b in ["ecmp4", "ecmp6"] {
        let o = sim::command(b).arg("--version").output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            format!("{b} {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn flags_and_errors_say_what_they_mean() {
    in_netns(|| {
        let r = Router::all_up(2);
        // A table group IDs cannot encode: auto falls back to multipath,
        // and --dry-run prints what the real run then writes.
        let big = "2000000";
        let dry = r.event(
            "ecmp4",
            "ifup",
            "wan",
            &["--mode", "auto", "--table", big, "--dry-run", "-v"],
        );
        assert_eq!(dry.code, 0, "{}", dry.stderr);
        assert!(
            dry.stdout
                .starts_with("ip route replace default table 2000000 proto 236 metric 1 nexthop"),
            "{}",
            dry.stdout
        );
        assert!(!dry.stdout.contains("ip nexthop"), "{}", dry.stdout);
        // --dry-run -v says what it would do in one line, like a real run.
        assert!(
            dry.stderr.contains(
                "ifup wan: dry run: multipath default metric 1 via 2 links pppoe-VWAN1,pppoe-wan"
            ),
            "{}",
            dry.stderr
        );
        let run = r.event("ecmp4", "ifup", "wan", &["--mode", "auto", "--table", big]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let t = ip_line("route show table 2000000 default");
        assert!(
            t.contains("proto 236 metric 1") && t.contains("nexthop via"),
            "{t}"
        );
        // Forcing a group mode there is a config error, real or dry.
        for extra in [&["--dry-run"][..], &[]] {
            let mut a = vec!["--mode", "resilient", "--table", big];
            a.extend_from_slice(extra);
            r.event("ecmp4", "ifup", "wan", &a)
                .says(3, "which nexthop group IDs cannot encode");
        }
        // A lock file whose directory is missing: configuration, not busy.
        let before = all_routes();
        r.event(
            "ecmp4",
            "ifup",
            "wan",
            &["--lock-file", "/nonexistent/dir/lock"],
        )
        .says(3, "its directory must exist and be writable");
        assert_eq!(all_routes(), before);
        // --ubus-timeout 0 is refused with the range it takes.
        r.event("ecmp4", "ifup", "wan", &["--ubus-timeout", "0"])
            .says(2, "'0' is not a timeout (0.001-60 seconds)");
    });
}

#[test]
fn check_without_root_says_so() {
    in_netns(|| {
        let r = Router::all_up(1);
        let mut c = std::process::Command::new("setpriv");
        c.args(["--bounding-set=-net_admin", "--inh-caps=-all"])
            .arg(sim::bin("ecmp4"))
            .args(["--config", "/dev/null", "--ubus"])
            .arg(r.path("ubus"))
            .arg("check");
        let o = c.output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{out}");
        assert!(out.contains("EPERM, not root"), "{out}");
        assert!(!out.contains("are taken"), "{out}");
    });
}

/// One event reads the kernel once: one route dump (our table and the
/// member tables together), one nexthop dump, one rule dump, and the
/// members' links (batched RTM_GETLINK: the exact carrier), as strace
/// sees the requests sent.
#[test]
fn an_unchanged_event_reads_the_kernel_once() {
    in_netns(|| {
        let r = Router::all_up(4);
        let sync = |wrapper: &[&str]| {
            let run = r.event_under(wrapper, "ecmp4", "", "", &["--mode", "resilient", "-v"]);
            assert_eq!(run.code, 0, "{}", run.stderr);
            run
        };
        sync(&[]);
        let trace = r.path("strace");
        let trace = trace.to_str().unwrap();
        let run = sync(&[
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=sendto,sendmsg",
            "-o",
            trace,
        ]);
        assert!(run.stderr.contains("(unchanged)"), "{}", run.stderr);
        let text = std::fs::read_to_string(trace).expect("strace (apt install strace) is needed");
        let count = |t: &str| text.matches(&format!("nlmsg_type={t},")).count();
        assert_eq!(count("RTM_GETROUTE"), 1, "{text}");
        assert_eq!(count("RTM_GETNEXTHOP"), 1, "{text}");
        assert_eq!(count("RTM_GETRULE"), 1, "{text}");
        // Four members: one batch of link requests, and no write.
        assert_eq!(count("RTM_GETLINK"), 4, "{text}");
        for w in [
            "RTM_NEWROUTE",
            "RTM_DELROUTE",
            "RTM_NEWNEXTHOP",
            "RTM_DELNEXTHOP",
            "RTM_NEWRULE",
            "RTM_DELRULE",
        ] {
            assert_eq!(count(w), 0, "{w}: {text}");
        }
    });
}
