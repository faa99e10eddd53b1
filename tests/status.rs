//! `status` and `check` against a real kernel, in private network
//! namespaces: every finding, the exit statuses and the JSON schema.

use sim::{in_netns, ip_line, Router};

fn status(r: &Router, bin: &str, extra: &[&str]) -> sim::Run {
    let mut args: Vec<&str> = extra.to_vec();
    args.push("status");
    r.event(bin, "", "", &args)
}

fn hash_policy(v: u8, on: bool) {
    std::fs::write(
        format!("/proc/sys/net/ipv{v}/fib_multipath_hash_policy"),
        if on { "1" } else { "0" },
    )
    .unwrap();
}

#[test]
fn status_in_sync_then_differs_after_a_device_goes_in_multipath_mode() {
    in_netns(|| {
        hash_policy(4, true);
        let mut r = Router::all_up(3);
        assert_eq!(r.event("ecmp4", "ifup", "wan", &[]).code, 0);
        let s = status(&r, "ecmp4", &[]);
        assert_eq!(s.code, 0, "{}{}", s.stdout, s.stderr);
        assert!(
            s.stdout.starts_with("ecmp4: default metric 1 in table main, mode multipath (configured multipath): in sync\n"),
            "{}",
            s.stdout
        );
        assert!(
            s.stdout
                .contains("  VWAN1      pppoe-VWAN1  100.64.0.2  1       pppoe  5s\n"),
            "{}",
            s.stdout
        );
        assert!(!s.stdout.contains("warning"), "{}", s.stdout);
        assert!(!s.stdout.contains('\x1b'), "no colour off a terminal");
        // pppd exits, no event yet: the multipath route is gone.
        r.device_gone(1);
        let s = status(&r, "ecmp4", &[]);
        assert_eq!(s.code, 1);
        assert!(s.stdout.contains("DIFFERS"), "{}", s.stdout);
        assert!(
            s.stdout
                .contains("  no default route of ours at metric 1 in table main\n"),
            "{}",
            s.stdout
        );
        assert!(
            s.stdout
                .contains("warning: VWAN1: device pppoe-VWAN1 does not exist"),
            "{}",
            s.stdout
        );
    });
}

#[test]
fn status_json_schema_and_group_differences() {
    in_netns(|| {
        let mut r = Router::all_up(3);
        r.mode = "auto";
        assert_eq!(r.event("ecmp4", "ifup", "wan", &[]).code, 0);
        let s = status(&r, "ecmp4", &["--json"]);
        // --json belongs to the subcommand: after `status`.
        assert_eq!(s.code, 2, "{}", s.stderr);
        let mut args = vec!["status", "--json"];
        let s = r.event("ecmp4", "", "", &args);
        assert_eq!(s.code, 0, "{}", s.stderr);
        let v: serde_json::Value = serde_json::from_str(&s.stdout).unwrap();
        assert_eq!(v["schema"], 2);
        // The devices' byte counters, as the kernel counts them.
        for m in v["members"].as_array().unwrap() {
            let dev = m["device"].as_str().unwrap();
            // (/sys/class/net shows the host's namespace here, not ours.)
            let now = sim::json(&["-s", "link", "show", "dev", dev])[0]["stats64"]["tx"]["bytes"]
                .as_u64()
                .unwrap();
            assert!(m["tx_bytes"].as_u64().is_some_and(|b| b <= now), "{m}");
            assert!(m["rx_bytes"].is_u64(), "{m}");
        }
        assert_eq!(v["family"], "ipv4");
        assert_eq!(v["mode"], "auto");
        assert_eq!(v["mode_in_use"], "resilient");
        assert_eq!(v["group_id"], 3967812600u32);
        assert_eq!(v["in_sync"], true);
        assert_eq!(v["members"].as_array().unwrap().len(), 3);
        assert_eq!(v["kernel"].as_array().unwrap().len(), 3);
        assert_eq!(v["members"][2]["interface"], "wan");
        assert_eq!(v["members"][2]["gateway"], "100.64.0.1");
        assert_eq!(v["members"][2]["in_kernel"], true);
        // A member the kernel lacks, and an object of ours left behind.
        r.set_up(2, false);
        assert_eq!(r.event("ecmp4", "ifdown", "VWAN2", &[]).code, 0);
        r.set_up(2, true);
        ip_line("nexthop add id 3959423000 via 100.64.0.3 dev pppoe-VWAN2 proto 236");
        args.truncate(1);
        let s = r.event("ecmp4", "", "", &args);
        assert_eq!(s.code, 1, "{}", s.stdout);
        assert!(
            s.stdout
                .contains("  + pppoe-VWAN2 via 100.64.0.3 (missing from the kernel)\n"),
            "{}",
            s.stdout
        );
        assert!(
            s.stdout.contains("warning: nexthop objects of ours left behind: 3959423000; a sync (no ACTION) removes them"),
            "{}",
            s.stdout
        );
        assert!(
            s.stdout.contains("pppoe  5s  (not in the kernel)"),
            "{}",
            s.stdout
        );
        // A sync brings it back and removes the stray object.
        assert_eq!(r.event("ecmp4", "", "", &[]).code, 0);
        let s = r.event("ecmp4", "", "", &args);
        assert_eq!(s.code, 0, "{}", s.stdout);
        assert!(!s.stdout.contains("left behind"), "{}", s.stdout);
    });
}

#[test]
fn status_warnings_hash_policy_metric_and_nat66() {
    in_netns(|| {
        hash_policy(6, false);
        let mut r = Router::all_up(2);
        // netifd's own default at our metric on an extra interface.
        r.extra.push(r#"{"interface":"wanb","up":true,"proto":"dhcp","l3_device":"eth9","metric":1,"route":[{"target":"::","mask":0,"nexthop":"fe80::1"}]}"#.into());
        r.write_dump();
        assert_eq!(r.event("ecmp6", "ifup", "wan_6", &[]).code, 0);
        // /etc/config/firewall beside the config file.
        let fw = r.path("firewall");
        std::fs::write(&fw, "config zone\n\toption name 'wan'\n\toption masq '1'\n").unwrap();
        let s = r.event("ecmp6", "", "", &["status"]);
        assert_eq!(s.code, 0, "{}", s.stderr);
        for w in [
            "warning: net.ipv6.fib_multipath_hash_policy is 0",
            "warning: interface wanb has metric 1, the same as ours",
            "warning: no firewall zone has masq6 '1'",
        ] {
            assert!(s.stdout.contains(w), "{w}: {}", s.stdout);
        }
        hash_policy(6, true);
        std::fs::write(
            &fw,
            "config zone\n\toption name 'wan'\n\toption masq6 '1'\n",
        )
        .unwrap();
        let s = r.event("ecmp6", "", "", &["status"]);
        assert!(!s.stdout.contains("masq6"), "{}", s.stdout);
        assert!(!s.stdout.contains("hash_policy"), "{}", s.stdout);
    });
}

#[test]
fn check_every_finding_and_its_fix() {
    in_netns(|| {
        ip_line("link set lo up");
        let r = Router::all_up(2);
        let root = r.path("root");
        std::fs::create_dir_all(root.join("etc/hotplug.d/iface")).unwrap();
        std::fs::create_dir_all(root.join("usr/sbin")).unwrap();
        let hook = concat!(env!("CARGO_MANIFEST_DIR"), "/../hotplug.d/iface/97-ecmp4");
        std::fs::copy(hook, root.join("etc/hotplug.d/iface/97-ecmp4")).unwrap();
        std::fs::copy(sim::bin("ecmp4"), root.join("usr/sbin/ecmp4")).unwrap();
        hash_policy(4, true);
        // Not r.event: without --config, check reads ROOT/etc/config/ecmp.
        let check = |extra: &[&str]| {
            let mut c = sim::command("ecmp4");
            if !extra.contains(&"--ubus") {
                c.arg("--ubus").arg(r.path("ubus"));
            }
            c.env_clear()
                .arg("--syslog-socket")
                .arg(r.path("nolog"))
                .args(extra)
                .arg("check")
                .arg("--root")
                .arg(&root);
            let o = c.output().unwrap();
            sim::Run {
                code: o.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            }
        };
        // A sync with the defaults writes the member tables and rules too;
        // our main route goes again (this root has no route of ours).
        let run = r.event("ecmp4", "", "", &["--config", "/dev/null"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        ip_line("route del default proto 236 metric 1");
        let c = check(&[]);
        assert_eq!(c.code, 0, "{}", c.stdout);
        for l in [
            "[ok]   kernel ",
            "nexthop objects (the route survives a redial)",
            "[ok]   kernel: resilient nexthop groups",
            "[ok]   net.ipv4.fib_multipath_hash_policy = 1",
            &format!(
                "config {}/etc/config/ecmp: absent, defaults apply",
                root.display()
            ),
            "[ok]   no other hook in ",
            "97-ecmp4 runs /usr/sbin/ecmp4",
            "usr/sbin/ecmp4 is executable",
            "[ok]   ubus: netifd answered, 6 interfaces, 2 members up",
            "[ok]   no other default route at or below metric 1 in table 254",
            "[ok]   inbound: 2 member tables and their rules in place",
            "10 checks, 0 to fix",
        ] {
            assert!(c.stdout.contains(l), "{l}: {}", c.stdout);
        }
        // Migrating from the write-up: its hook and its `default metric 1`
        // route (not ours) are named, each with its fix.
        let seed = root.join("etc/hotplug.d/iface/97-ECMPv4");
        std::fs::write(
            &seed,
            "#!/bin/sh\nnexthops=\"nexthop via $gw dev $dev \"\nip route replace default metric 1 $nexthops\n",
        )
        .unwrap();
        std::fs::write(
            root.join("etc/hotplug.d/iface/20-firewall"),
            "#!/bin/sh\nfw3 reload\n",
        )
        .unwrap();
        ip_line("route add default metric 1 nexthop via 100.64.0.1 dev pppoe-wan nexthop via 100.64.0.2 dev pppoe-VWAN1");
        let c = check(&[]);
        assert_eq!(c.code, 1, "{}", c.stdout);
        for l in [
            &format!("[FAIL] {} writes a default route too", seed.display()),
            &format!("fix: rm {}; then run ecmp4 (a sync)", seed.display()),
            "[FAIL] default dev pppoe-wan,pppoe-VWAN1 metric 1 proto boot is not ours and holds our metric 1: every event exits 6",
            "2 to fix",
        ] {
            assert!(c.stdout.contains(l), "{l}: {}", c.stdout);
        }
        assert!(!c.stdout.contains("20-firewall"), "{}", c.stdout);
        ip_line("route del default metric 1");
        std::fs::remove_file(&seed).unwrap();
        assert!(
            sim::nexthops().is_empty(),
            "the probe leaves nothing behind"
        );
        // Break each thing in turn.
        hash_policy(4, false);
        std::fs::remove_file(root.join("etc/hotplug.d/iface/97-ecmp4")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            root.join("usr/sbin/ecmp4"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        std::fs::write(r.path("ecmp"), "config ecmp 'ipv4'\n\toption metric 'x'\n").unwrap();
        let cfg = r.path("ecmp");
        let c = check(&[
            "--config",
            cfg.to_str().unwrap(),
            "--ubus",
            "/nonexistent/ubus",
        ]);
        assert_eq!(c.code, 1, "{}", c.stdout);
        for l in [
            "[FAIL] net.ipv4.fib_multipath_hash_policy = 0: one download uses one link\n       fix: sysctl -w net.ipv4.fib_multipath_hash_policy=1",
            "[FAIL] config: ipv4.metric: 'x' is not a metric",
            "[FAIL] hotplug hook ",
            "fix: install the package: no event will ever run us",
            "usr/sbin/ecmp4 is not executable\n       fix: chmod 0755 ",
            &format!("fix: fix {} (see README", r.path("ecmp").display()),
            "4 to fix",
        ] {
            assert!(c.stdout.contains(l), "{l}: {}", c.stdout);
        }
        let c = check(&["--ubus", "/nonexistent/ubus"]);
        assert!(
            c.stdout.contains(
                "[FAIL] input: /nonexistent/ubus call network.interface dump: cannot run"
            ),
            "{}",
            c.stdout
        );
        assert!(
            c.stdout
                .contains("fix: ubus call network.interface dump  (is /nonexistent/ubus right?)"),
            "{}",
            c.stdout
        );
        // Through ubusd's socket (the default): no ubusd, says so.
        let mut c = sim::command("ecmp4");
        c.args(["--ubus-socket", "/nonexistent/ubus.sock", "check", "--root"])
            .arg(&root);
        let out = String::from_utf8_lossy(&c.output().unwrap().stdout).into_owned();
        assert!(
            out.contains("[FAIL] input: ubus /nonexistent/ubus.sock: connect /nonexistent/ubus.sock: No such file")
                && out.contains("fix: is ubusd running?"),
            "{out}"
        );
    });
}

#[test]
fn a_closed_pipe_is_no_crash() {
    in_netns(|| {
        let r = Router::all_up(2);
        assert_eq!(r.event("ecmp4", "ifup", "wan", &[]).code, 0);
        for args in [vec!["status"], vec!["check"], vec!["--help"]] {
            let mut c = sim::command("ecmp4");
            c.args([
                "--ubus",
                r.path("ubus").to_str().unwrap(),
                "--config",
                "/dev/null",
            ])
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
            let mut ch = c.spawn().unwrap();
            drop(ch.stdout.take()); // `| head -0`
            let st = ch.wait().unwrap();
            // 101 would be a panic (abort on a router), None a signal.
            assert!(matches!(st.code(), Some(0) | Some(1)), "{args:?}: {st:?}");
        }
    });
}

#[test]
fn status_names_a_route_that_wins_over_ours_and_unusable_members() {
    in_netns(|| {
        hash_policy(4, true);
        let mut r = Router::all_up(3);
        assert_eq!(r.event("ecmp4", "ifup", "wan", &[]).code, 0);
        // Stock `wan` without defaultroute 0 or a metric: netifd's own
        // default at metric 0 carries everything.
        ip_line("route add default via 100.64.0.1 dev pppoe-wan metric 0 proto static");
        // Options after the subcommand, as people type them.
        let s = status(&r, "ecmp4", &["--json"]);
        assert_eq!(s.code, 2, "--json belongs to status: {}", s.stderr);
        let s = r.event(
            "ecmp4",
            "",
            "",
            &["status", "--json", "--metric", "1", "-v"],
        );
        assert_eq!(s.code, 1, "{}{}", s.stdout, s.stderr);
        assert!(s.stdout.contains("\"in_sync\": false"), "{}", s.stdout);
        assert!(
            s.stdout.contains("default dev pppoe-wan metric 0 proto static shadows ours (metric 1): traffic leaves through it, not through the members; fix: set option defaultroute '0' (or a metric above 1) on interface 'wan'"),
            "{}",
            s.stdout
        );
        assert!(
            !s.stdout.contains("warning: default route via"),
            "shown once: {}",
            s.stdout
        );
        let s = status(&r, "ecmp4", &[]);
        assert_eq!(s.code, 1);
        assert!(s.stdout.contains("DIFFERS"), "{}", s.stdout);
        ip_line("route del default metric 0");
        assert_eq!(status(&r, "ecmp4", &[]).code, 0);
        // Every member's device gone (netifd not told yet): not "in sync".
        assert_eq!(r.event("ecmp4", "", "", &["--mode", "resilient"]).code, 0);
        for i in 0..3 {
            r.device_gone(i);
        }
        let s = status(&r, "ecmp4", &["--mode", "resilient"]);
        assert_eq!(s.code, 1, "{}", s.stdout);
        assert!(
            s.stdout.contains("no member is usable: VWAN1 has no device pppoe-VWAN1; VWAN2 has no device pppoe-VWAN2; wan has no device pppoe-wan"),
            "{}",
            s.stdout
        );
    });
}

#[test]
fn check_reports_macvlan_when_multidial_made_devices() {
    in_netns(move || {
        // The probe itself: a kind this kernel lacks, and macvlan.
        let mut nl = ecmp::kernel::rtnetlink::Netlink::open().unwrap();
        assert_eq!(nl.has_link_kind("nosuchkind"), Ok(false));
        assert_eq!(nl.has_link_kind("macvlan"), Ok(true));
        assert!(
            !ip_line("link show").contains("macvlan"),
            "the probe creates nothing"
        );
        let r = Router::all_up(1);
        let root = r.path("root");
        std::fs::create_dir_all(root.join("etc/config")).unwrap();
        let check = || {
            let o = sim::command("ecmp4")
                .arg("--ubus")
                .arg(r.path("ubus"))
                .args(["check", "--root"])
                .arg(&root)
                .output()
                .unwrap();
            String::from_utf8_lossy(&o.stdout).into_owned()
        };
        std::fs::write(
            root.join("etc/config/network"),
            "config interface 'lan'\n\toption proto 'static'\n",
        )
        .unwrap();
        assert!(
            !check().contains("macvlan"),
            "no multidial devices, no finding"
        );
        std::fs::write(
            root.join("etc/config/network"),
            "config device 'md_veth1'\n\toption type 'macvlan'\n\toption ifname 'eth0.2'\n\toption name 'veth1'\n\toption multidial '1'\n",
        )
        .unwrap();
        let out = check();
        assert!(
            out.contains("[ok]   kernel: macvlan, for the 1 devices multidial made"),
            "{out}"
        );
    });
}
