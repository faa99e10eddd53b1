//! What a new user gets wrong, and what it must cost them: nothing. A
//! mistyped name, a flag combination, a device for a file: one clear
//! line, a documented exit status, and the kernel exactly as it was.

use sim::{all_routes, in_netns, ip, nexthops, Router};

/// Everything we could have touched: routes of every table, nexthop
/// objects and rules of both families.
fn kernel() -> (String, Vec<String>, String) {
    (
        all_routes(),
        nexthops(),
        ip(&["-4", "rule", "show"]) + &ip(&["-6", "rule", "show"]),
    )
}

/// A config file in the router's folder (beside it, `network` when the
/// test writes one), with inbound on: the member tables and rules too.
fn config(r: &Router, name: &str, body: &str) -> String {
    let p = r.path(name);
    std::fs::write(&p, body).unwrap();
    p.display().to_string()
}

#[test]
fn a_mistyped_proto_is_a_config_error_and_removes_nothing() {
    in_netns(|| {
        let mut r = Router::all_up(3);
        r.mode = "auto";
        let good = config(&r, "ecmp", "config ecmp 'ipv4'\n");
        let run = r.event("ecmp4", "", "", &["--config", &good, "-v"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let before = kernel();
        assert!(before.0.contains("proto 236"), "{}", before.0);
        assert!(before.2.contains("lookup 4201"), "{}", before.2);
        std::fs::create_dir_all(r.path("typo")).unwrap();
        let typo = config(&r, "typo/ecmp", "config ecmp 'ipv4'\n\tlist proto 'ppoe'\n");
        // netifd's network file beside it: the event is a pppoe dial's,
        // and a typo must not make it "not ours" in silence either.
        std::fs::write(
            r.path("typo/network"),
            "config interface 'wan'\n\toption proto 'pppoe'\nconfig interface 'VWAN1'\n\toption proto 'pppoe'\n",
        )
        .unwrap();
        for (what, args) in [
            ("--proto ppoe", vec!["--config", &good, "--proto", "ppoe"]),
            ("--proto ''", vec!["--config", &good, "--proto", ""]),
            ("list proto 'ppoe'", vec!["--config", &typo]),
        ] {
            for (action, iface) in [("ifdown", "VWAN1"), ("ifup", "wan"), ("", "")] {
                let run = r.event("ecmp4", action, iface, &args);
                assert_eq!(run.code, 3, "{what} {action}: {}", run.stderr);
                assert!(
                    run.stderr.contains(
                        "is the proto of no interface netifd has (theirs: dhcpv6, pppoe, static"
                    ),
                    "{what} {action}: {}",
                    run.stderr
                );
                assert_eq!(run.stderr.lines().count(), 1, "{what}: {}", run.stderr);
                assert_eq!(kernel(), before, "{what} {action}: nothing of ours deleted");
            }
        }
        let run = r.event("ecmp4", "", "", &["--config", &typo]);
        assert!(
            run.stderr.contains("proto 'ppoe'") && run.stderr.contains("did you mean 'pppoe'?"),
            "{}",
            run.stderr
        );
        // status and check say so too; check no longer counts 0 members.
        let st = r.event("ecmp4", "", "", &["--config", &typo, "status"]);
        st.says(3, "proto 'ppoe'");
        let ck = r.event(
            "ecmp4",
            "",
            "",
            &["--config", &typo, "check", "--root", "/nonexistent"],
        );
        assert_eq!(ck.code, 1, "{}", ck.stdout);
        assert!(
            ck.stdout
                .contains("[FAIL] config: proto 'ppoe' is the proto of no interface"),
            "{}",
            ck.stdout
        );
        assert!(
            !ck.stdout.contains("members up") && !ck.stdout.contains("member up"),
            "{}",
            ck.stdout
        );
        assert_eq!(kernel(), before);
    });
}

#[test]
fn ecmp6_on_a_router_without_ipv6_does_nothing_and_says_so() {
    in_netns(|| {
        let mut r = Router::new(2);
        for d in r.dials.iter_mut() {
            d.ipv6 = false;
        }
        r.dial_up(0);
        r.dial_up(1);
        let before = kernel();
        let run = r.event("ecmp6", "ifup", "wan", &["-v"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stderr
                .contains("no interface of proto dhcpv6 in netifd's dump (no IPv6 uplink now)"),
            "{}",
            run.stderr
        );
        assert_eq!(kernel(), before);
    });
}

#[test]
fn check_names_unknown_sections_and_options_with_the_nearest_known_name() {
    in_netns(|| {
        let r = Router::all_up(1);
        let cfg = config(
            &r,
            "ecmp",
            "config ecmp 'ipv4'\n\toption metrc '7'\nconfig ecmpp 'ipv6'\n\toption metric '1'\n",
        );
        let ck = r.event(
            "ecmp4",
            "",
            "",
            &["--config", &cfg, "check", "--root", "/nonexistent"],
        );
        assert_eq!(ck.code, 1, "{}", ck.stdout);
        for said in [
            "unknown option 'metrc' in config ecmp 'ipv4'; did you mean 'metric'?",
            "unknown section type 'ecmpp' (config ecmpp 'ipv6'); did you mean 'ecmp'?",
        ] {
            assert!(
                ck.stdout.contains(&format!("[FAIL] config {cfg}: {said}")),
                "{}",
                ck.stdout
            );
        }
        assert!(!ck.stdout.contains(": valid"), "{}", ck.stdout);
        // Runs ignore them, as UCI programs do: the event still balances.
        assert_eq!(r.event("ecmp4", "ifup", "wan", &["--config", &cfg]).code, 0);
    });
}

#[test]
fn a_metric_change_leaves_no_route_of_ours_behind() {
    in_netns(|| {
        let r = Router::all_up(3);
        let on = config(&r, "ecmp", "config ecmp 'ipv4'\n");
        let member_tables = || -> Vec<String> {
            ip(&["-4", "route", "show", "table", "all", "proto", "236"])
                .lines()
                .filter(|l| l.contains(" table 42"))
                .map(String::from)
                .collect()
        };
        let sync = |extra: &[&str]| {
            let mut a = vec!["--config", on.as_str()];
            a.extend_from_slice(extra);
            let run = r.event("ecmp4", "", "", &a);
            assert_eq!(run.code, 0, "{}", run.stderr);
        };
        sync(&[]);
        let at_1 = member_tables();
        assert_eq!(at_1.len(), 3, "{at_1:?}");
        sync(&["--metric", "7"]);
        let at_7 = member_tables();
        assert_eq!(at_7.len(), 3, "{at_7:?}");
        assert!(at_7.iter().all(|l| l.contains("metric 7")), "{at_7:?}");
        // status at metric 1 counts the metric-7 routes as differences.
        let st = r.event("ecmp4", "", "", &["--config", &on, "status"]);
        assert_eq!(st.code, 1, "{}", st.stdout);
        assert!(
            st.stdout
                .contains("- table 4201 default metric 7 (inbound, left behind)"),
            "{}",
            st.stdout
        );
        sync(&[]);
        assert_eq!(member_tables(), at_1);
        let st = r.event("ecmp4", "", "", &["--config", &on, "status"]);
        assert_eq!(st.code, 0, "{}", st.stdout);
        assert!(st.stdout.contains("in sync"), "{}", st.stdout);
        let ours = sim::ours(false);
        assert!(ours.iter().all(|l| !l.contains("metric 7")), "{ours:?}");
        assert_eq!(
            ours.len(),
            4,
            "the main route and 3 member tables: {ours:?}"
        );
    });
}

#[test]
fn an_endless_dump_source_is_capped_while_reading() {
    in_netns(|| {
        let r = Router::all_up(1);
        assert_eq!(r.event("ecmp4", "ifup", "wan", &[]).code, 0);
        let before = kernel();
        // A FIFO that a writer keeps filling, and /dev/zero: both end at
        // the cap, in 256 MB of address space at most (uncapped, the
        // kernel's OOM killer ended it at 24 GB).
        let fifo = r.path("fifo");
        let st = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(st.success());
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
                let block = vec![b' '; 1 << 16];
                // Until the reader hangs up (EPIPE), or 64 MiB.
                for _ in 0..1024 {
                    if f.write_all(&block).is_err() {
                        break;
                    }
                }
            })
        };
        for src in ["/dev/zero".to_string(), fifo.display().to_string()] {
            let o = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "ulimit -v 262144; exec {} --config {} --lock-file {} --syslog-socket {} --dump-file {src} sync",
                    sim::bin("ecmp4").display(),
                    r.path("no-config").display(),
                    r.path("lock").display(),
                    r.path("nolog").display(),
                ))
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(4), "{src}: {err}");
            assert!(
                err.contains("dump is more than 8388608 bytes (8 MiB)"),
                "{src}: {err}"
            );
            assert_eq!(kernel(), before, "{src}");
        }
        writer.join().unwrap();
    });
}

#[test]
fn not_root_and_no_ubusd_are_said_plainly() {
    in_netns(|| {
        let r = Router::all_up(1);
        // Not root: the lock file (in root's folder) is refused.
        let o = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(sim::bin("ecmp4"))
            .arg("--lock-file")
            .arg(r.path("lock"))
            .arg("--syslog-socket")
            .arg(r.path("nolog"))
            .arg("sync")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("usage: run as root: lock file"), "{err}");
        // status with no ubusd behind the socket gives check's hint.
        let st = r.event(
            "ecmp4",
            "",
            "",
            &[
                "--ubus-socket",
                r.path("no.sock").to_str().unwrap(),
                "status",
            ],
        );
        st.says(4, "(is ubusd running? ubus call network.interface dump)");
    });
}

/// A wan zone listing the dials by name (what multidial wrote before it
/// used device patterns, or a hand-made setup): status warns and check
/// fails, each with the commands that move them to a pattern; run with
/// the real uci, those leave check clean of it.
#[test]
fn a_zone_listing_dials_by_name_is_named_with_the_commands_that_fix_it() {
    let Some(uci) = sim::real_uci() else { return };
    in_netns(move || {
        let r = Router::all_up(3);
        // A firewall4 router's files: ROOT/etc/config and ROOT/sbin/fw4.
        let root = r.path("root");
        std::fs::create_dir_all(root.join("etc/config")).unwrap();
        std::fs::create_dir_all(root.join("sbin")).unwrap();
        let cfg = config(
            &r,
            "root/etc/config/ecmp",
            "config ecmp 'ipv4'\n\toption inbound '0'\n",
        );
        let fw3 = || {
            r.event("ecmp4", "", "", &["--config", &cfg, "status"])
                .stdout
        };
        std::fs::write(
            root.join("etc/config/firewall"),
            "config zone\n\toption name 'lan'\n\tlist network 'lan'\nconfig zone\n\toption name 'wan'\n\tlist network 'wan'\n\tlist network 'wan6'\n\tlist network 'VWAN1'\n\tlist network 'VWAN2'\n\toption masq '1'\n",
        )
        .unwrap();
        // firewall3 (no sbin/fw4): names are all it has, no warning.
        assert!(!fw3().contains("dials by name"), "{}", fw3());
        std::fs::write(root.join("sbin/fw4"), "#!/bin/sh\n").unwrap();
        let fix = "uci add_list firewall.@zone[1].device='pppoe-VWAN+'; uci del_list firewall.@zone[1].network='VWAN1'; uci del_list firewall.@zone[1].network='VWAN2'; uci commit firewall; /etc/init.d/firewall reload";
        let st = r.event("ecmp4", "", "", &["--config", &cfg, "status"]);
        assert!(
            st.stdout.contains(&format!("warning: firewall zone wan lists 2 dials by name: the ifup of each (at boot, on every redial) reloads the whole firewall; move them to a device pattern: {fix}")),
            "{}",
            st.stdout
        );
        let check = || {
            r.event(
                "ecmp4",
                "",
                "",
                &["--config", &cfg, "check", "--root", "/nonexistent"],
            )
            .stdout
        };
        let ck = check();
        assert!(
            ck.contains("[FAIL] firewall zone wan lists 2 dials by name")
                && ck.contains(&format!("       fix: {fix}\n")),
            "{ck}"
        );
        // The commands, with the real uci on this config directory (the
        // firewall reload is the router's).
        let dir = root.join("etc/config");
        for c in fix.split("; ").filter(|c| c.starts_with("uci ")) {
            let mut words: Vec<String> =
                c.split(' ').skip(1).map(|w| w.replace('\'', "")).collect();
            if words[0] == "commit" {
                words.truncate(2);
            }
            let o = std::process::Command::new(&uci)
                .arg("-c")
                .arg(&dir)
                .arg("-t")
                .arg(dir.join("uci-save"))
                .args(&words)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "{c}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let fw = std::fs::read_to_string(root.join("etc/config/firewall")).unwrap();
        assert!(
            fw.contains("list device 'pppoe-VWAN+'") && !fw.contains("'VWAN1'"),
            "{fw}"
        );
        assert!(!check().contains("dials by name"), "{}", check());
    });
}
