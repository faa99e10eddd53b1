//! Nexthop objects against a real kernel, in private network namespaces:
//! the route that outlives a member's device, the exact objects after
//! every event, every mode and every switch between modes, and foreign
//! objects and routes that nothing ever touches.

use sim::{all_routes, in_netns, ip_line, nexthops, ours, ours_nh, RouteWatch, Router};

fn id(line: &str) -> u32 {
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no id in {line}"))
}

fn dev(line: &str) -> String {
    let w: Vec<&str> = line.split_whitespace().collect();
    w.iter()
        .position(|x| *x == "dev")
        .map(|i| w[i + 1].to_string())
        .unwrap_or_default()
}

/// Our state for a family in one line, checked for consistency on the
/// way: `resilient: dev,dev` / `group: ...` (route -> our group -> our
/// member objects, none stray), `multipath: ...` (no objects of ours) or
/// `none`. Anything else comes back as `unexpected: ...`.
fn state(v6: bool) -> String {
    let nh = ours_nh();
    let members: Vec<(u32, String)> = nh
        .iter()
        .filter(|l| !l.contains(" group ") && l.contains(" via fe80") == v6)
        .map(|l| (id(l), dev(l)))
        .collect();
    let groups: Vec<&String> = nh
        .iter()
        .filter(|l| l.contains(" group ") && (id(l) >> 1) & 1 == u32::from(v6))
        .collect();
    let routes = ours(v6);
    let unexpected = || format!("unexpected: routes {routes:?} objects {nh:?}");
    match (routes.as_slice(), groups.as_slice()) {
        ([], []) if members.is_empty() => "none".into(),
        ([r], [g]) if r.starts_with(&format!("default nhid {} ", id(g))) => {
            let ids: Vec<u32> = g
                .split_whitespace()
                .nth(3)
                .unwrap_or_default()
                .split('/')
                .filter_map(|e| e.split(',').next()?.parse().ok())
                .collect();
            if ids.len() != members.len() {
                return unexpected();
            }
            let mut devs: Vec<String> = Vec::new();
            for i in ids {
                match members.iter().find(|m| m.0 == i) {
                    Some(m) => devs.push(m.1.clone()),
                    None => return unexpected(),
                }
            }
            devs.sort();
            let kind = if g.contains("type resilient") {
                "resilient"
            } else {
                "group"
            };
            format!("{kind}: {}", devs.join(","))
        }
        ([r], []) if members.is_empty() && !r.contains("nhid") => {
            let mut devs: Vec<String> = r.split(" | ").map(dev).filter(|d| !d.is_empty()).collect();
            devs.sort();
            format!("multipath: {}", devs.join(","))
        }
        _ => unexpected(),
    }
}

fn ok(r: &Router, bin: &str, action: &str, iface: &str) -> String {
    let run = r.event(bin, action, iface, &["-v"]);
    assert_eq!(run.code, 0, "{bin} {action} {iface}: {}", run.stderr);
    run.stderr
}

fn iface(name: &str, v6: bool) -> String {
    if v6 {
        format!("{name}_6")
    } else {
        name.to_string()
    }
}

#[test]
fn route_outlives_a_member_device_with_no_event_at_all() {
    for (mode, v6, kind) in [
        ("auto", false, "resilient"),
        ("group", false, "group"),
        ("auto", true, "resilient"),
        ("group", true, "group"),
    ] {
        in_netns(move || {
            let bin = if v6 { "ecmp6" } else { "ecmp4" };
            let mut r = Router::all_up(3);
            r.mode = mode;
            let line = ok(&r, bin, "ifup", &iface("wan", v6));
            assert!(
                line.contains(&format!(": {kind} default metric 1 via 3 links")),
                "{line}"
            );
            assert_eq!(
                state(v6),
                format!("{kind}: pppoe-VWAN1,pppoe-VWAN2,pppoe-wan")
            );
            // pppd exits: the device is unregistered, nobody runs us.
            r.device_gone(1);
            assert_eq!(
                state(v6),
                format!("{kind}: pppoe-VWAN2,pppoe-wan"),
                "{mode} v6={v6}: the route must survive"
            );
        });
    }
}

#[test]
fn multipath_route_dies_with_a_member_device_on_ipv4() {
    // The documented contrast: one RTA_MULTIPATH IPv4 route is deleted
    // whole when any member's device goes.
    in_netns(|| {
        let mut r = Router::all_up(3);
        ok(&r, "ecmp4", "ifup", "wan");
        assert_eq!(state(false), "multipath: pppoe-VWAN1,pppoe-VWAN2,pppoe-wan");
        r.device_gone(1);
        assert_eq!(state(false), "none");
    });
}

#[test]
fn members_join_leave_and_redial_with_exact_objects() {
    for v6 in [false, true] {
        in_netns(move || {
            let bin = if v6 { "ecmp6" } else { "ecmp4" };
            let mut r = Router::new(4);
            r.mode = "auto";
            for i in 0..4 {
                r.dial_up(i);
                let n = r.dials[i].name.clone();
                ok(&r, bin, "ifup", &iface(&n, v6));
            }
            let all = "resilient: pppoe-VWAN1,pppoe-VWAN2,pppoe-VWAN3,pppoe-wan";
            assert_eq!(state(v6), all);
            let group_id = id(ours_nh().iter().find(|l| l.contains(" group ")).unwrap());
            // VWAN2 redials: device gone, ifdown, device back, ifup.
            r.device_gone(2);
            r.set_up(2, false);
            ok(&r, bin, "ifdown", &iface("VWAN2", v6));
            assert_eq!(state(v6), "resilient: pppoe-VWAN1,pppoe-VWAN3,pppoe-wan");
            r.dial_up(2);
            let line = ok(&r, bin, "ifup", &iface("VWAN2", v6));
            assert!(line.contains("(replaced)"), "{line}");
            assert_eq!(state(v6), all);
            assert_eq!(ours_nh().len(), 5, "4 members + 1 group, no leak");
            // The group was replaced in place, never recreated.
            assert!(ours(v6)[0].starts_with(&format!("default nhid {group_id} ")));
            // VWAN3 goes down for good while its device stays.
            r.set_up(3, false);
            let line = ok(&r, bin, "ifdown", &iface("VWAN3", v6));
            assert!(line.contains("[removed 1 unused nexthop object]"), "{line}");
            assert_eq!(state(v6), "resilient: pppoe-VWAN1,pppoe-VWAN2,pppoe-wan");
            for i in 0..3 {
                r.set_up(i, false);
                let n = r.dials[i].name.clone();
                ok(&r, bin, "ifdown", &iface(&n, v6));
            }
            assert_eq!(state(v6), "none");
            assert!(ours_nh().is_empty());
        });
    }
}

#[test]
fn every_mode_and_every_switch_leaves_exactly_one_route() {
    for v6 in [false, true] {
        in_netns(move || {
            let bin = if v6 { "ecmp6" } else { "ecmp4" };
            let mut r = Router::all_up(2);
            let devs = "pppoe-VWAN1,pppoe-wan";
            for (mode, kind) in [
                ("multipath", "multipath"),
                ("resilient", "resilient"),
                ("group", "group"),
                ("auto", "resilient"),
                ("multipath", "multipath"),
                ("group", "group"),
                ("multipath", "multipath"),
            ] {
                r.mode = mode;
                let line = ok(&r, bin, "ifup", &iface("wan", v6));
                assert!(line.contains(&format!("{kind} default metric 1")), "{line}");
                assert_eq!(state(v6), format!("{kind}: {devs}"), "after {mode}");
                assert_eq!(ours(v6).len(), 1);
            }
            assert!(ours_nh().is_empty(), "multipath leaves no object of ours");
        });
    }
}

#[test]
fn both_families_share_the_id_space_without_touching_each_other() {
    in_netns(|| {
        let r = Router::all_up(2);
        let mut r = r;
        r.mode = "auto";
        ok(&r, "ecmp4", "ifup", "wan");
        ok(&r, "ecmp6", "ifup", "wan_6");
        assert_eq!(state(false), "resilient: pppoe-VWAN1,pppoe-wan");
        assert_eq!(state(true), "resilient: pppoe-VWAN1,pppoe-wan");
        r.mode = "multipath";
        ok(&r, "ecmp6", "ifup", "wan_6");
        assert_eq!(state(true), "multipath: pppoe-VWAN1,pppoe-wan");
        assert_eq!(state(false), "resilient: pppoe-VWAN1,pppoe-wan");
    });
}

#[test]
fn foreign_objects_and_routes_survive_everything() {
    in_netns(|| {
        let mut r = Router::all_up(3);
        // Someone else's objects: one inside our ID range but not ours
        // (no proto 236), a group of theirs, and routes using them.
        ip_line("nexthop add id 3959422976 via 100.64.0.2 dev pppoe-VWAN1");
        ip_line("nexthop add id 7 via 100.64.0.1 dev pppoe-wan proto static");
        ip_line("nexthop add id 8 group 7/3959422976");
        ip_line("route add default nhid 8 table 100");
        ip_line("route add 198.51.100.0/24 nhid 7");
        ip_line("route add default via 100.64.0.3 dev pppoe-VWAN2 metric 50");
        let theirs = |all: Vec<String>| -> Vec<String> {
            all.into_iter()
                .filter(|l| !l.ends_with("proto 236"))
                .collect()
        };
        let before_nh = theirs(nexthops());
        assert_eq!(before_nh.len(), 3);
        let foreign_routes = || -> Vec<String> {
            all_routes()
                .lines()
                .filter(|l| !l.contains("proto 236") && !l.starts_with(char::is_whitespace))
                .map(str::to_string)
                .collect()
        };
        let before_routes = foreign_routes();
        for mode in ["auto", "group", "resilient", "multipath", "auto"] {
            r.mode = mode;
            ok(&r, "ecmp4", "ifup", "wan");
            ok(&r, "ecmp4", "ifupdate", "VWAN1");
            assert_eq!(theirs(nexthops()), before_nh, "{mode}");
            assert_eq!(foreign_routes(), before_routes, "{mode}");
        }
        // Our member IDs skip the foreign one in our range.
        assert!(!ours_nh().iter().any(|l| id(l) == 3959422976));
        for i in 0..3 {
            r.set_up(i, false);
            let n = r.dials[i].name.clone();
            ok(&r, "ecmp4", "ifdown", &n);
        }
        assert!(ours_nh().is_empty());
        assert!(ours(false).is_empty());
        assert_eq!(theirs(nexthops()), before_nh);
        assert_eq!(foreign_routes(), before_routes);
    });
}

#[test]
fn an_unchanged_state_writes_nothing() {
    in_netns(|| {
        let mut r = Router::all_up(3);
        r.mode = "auto";
        ok(&r, "ecmp4", "ifup", "wan");
        let w = RouteWatch::new();
        let line = ok(&r, "ecmp4", "ifupdate", "VWAN2");
        assert!(
            line.contains("resilient default metric 1 via 3 links"),
            "{line}"
        );
        assert!(line.contains("(unchanged)"), "{line}");
        assert_eq!(w.count(), 0, "no route or nexthop message");
    });
}

#[test]
fn resilient_parameters_and_weights_come_from_the_config() {
    in_netns(|| {
        let r = Router::all_up(2);
        std::fs::write(
            r.path("ecmp"),
            "config ecmp 'ipv4'\n\toption mode 'resilient'\n\toption buckets '64'\n\toption idle_timer '30'\n\toption unbalanced_timer '600'\nconfig member 'VWAN1'\n\toption weight '3'\n",
        )
        .unwrap();
        let cfg = r.path("ecmp");
        let run = r.event(
            "ecmp4",
            "ifup",
            "wan",
            &["--config", cfg.to_str().unwrap(), "--mode", "auto"],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        // The flag overrides the config's mode; its parameters still hold.
        let g = ours_nh()
            .into_iter()
            .find(|l| l.contains(" group "))
            .expect("a group");
        assert!(
            g.contains("type resilient buckets 64 idle_timer 30 unbalanced_timer 600"),
            "{g}"
        );
        let vwan1 = ours_nh()
            .into_iter()
            .find(|l| l.contains("dev pppoe-VWAN1"))
            .map(|l| id(&l))
            .unwrap();
        assert!(g.contains(&format!("{vwan1},3")), "weight 3 for VWAN1: {g}");
    });
}

#[test]
fn a_member_without_carrier_is_left_out_of_the_group() {
    in_netns(|| {
        let mut r = Router::all_up(3);
        r.mode = "group";
        // pppoe-VWAN2's peer goes down: the veth loses carrier.
        ip_line("link set peer2 down");
        let line = ok(&r, "ecmp4", "ifup", "wan");
        assert!(line.contains("[no carrier: pppoe-VWAN2]"), "{line}");
        assert_eq!(state(false), "group: pppoe-VWAN1,pppoe-wan");
        ip_line("link set peer2 up");
        ok(&r, "ecmp4", "ifup", "VWAN2");
        assert_eq!(state(false), "group: pppoe-VWAN1,pppoe-VWAN2,pppoe-wan");
    });
}

#[test]
fn dry_run_prints_nexthop_commands_that_ip_accepts() {
    in_netns(|| {
        let mut r = Router::all_up(2);
        r.mode = "auto";
        let before = all_routes();
        let run = r.event("ecmp4", "ifup", "wan", &["--dry-run"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(all_routes(), before);
        assert!(nexthops().is_empty());
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.len(), 4, "{}", run.stdout);
        for l in &lines {
            let args: Vec<&str> = l.split_whitespace().skip(1).collect();
            sim::ip(&args);
        }
        assert_eq!(state(false), "resilient: pppoe-VWAN1,pppoe-wan");
    });
}

/// An event asks for its members' links one by one (RTM_GETLINK), not by a
/// dump: both must give the same index, name and carrier, for links up,
/// down, without carrier, missing, asked twice, or by index.
#[test]
fn links_asked_one_by_one_are_the_links_of_a_dump() {
    use ecmp::kernel::Kernel;
    in_netns(|| {
        ip_line("link add a0 type veth peer name a1");
        ip_line("link add b0 type veth peer name b1");
        ip_line("link add c0 type veth peer name c1");
        for l in ["a0", "a1", "b0", "c1"] {
            ip_line(&format!("link set {l} up"));
        }
        // a0: carrier; b0: up, its peer down (no carrier); c0: down.
        let mut nl = ecmp::kernel::rtnetlink::Netlink::open().expect("rtnetlink");
        let dump = nl.links().unwrap();
        let find = |n: &str| dump.iter().find(|l| l.name == n).unwrap().clone();
        let (a0, b0, c0, lo) = (find("a0"), find("b0"), find("c0"), find("lo"));
        assert!(a0.carrier && !b0.carrier && !c0.carrier, "{dump:?}");
        let names = [
            "a0",
            "b0",
            "c0",
            "a0",
            "missing",
            "",
            "a-name-too-long-for-the-kernel",
        ];
        let got = nl.links_of(&names, &[lo.index, a0.index, 9999]).unwrap();
        assert_eq!(got, vec![a0.clone(), b0, c0, lo], "{got:?}");
        // The carrier as the kernel holds it, the moment it changes: the
        // operstate (IFF_RUNNING) follows a second late at worst, and a
        // member with carrier must never be left out for that.
        for _ in 0..50 {
            ip_line("link set a1 down");
            assert!(!nl.links_of(&["a0"], &[]).unwrap()[0].carrier);
            ip_line("link set a1 up");
            assert!(nl.links_of(&["a0"], &[]).unwrap()[0].carrier);
        }
        // Many links at once: more than one datagram of requests.
        for i in 0..40 {
            ip_line(&format!("link add m{i} type veth peer name n{i}"));
        }
        let many: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let got = nl.links_of(&many, &[]).unwrap();
        assert_eq!(
            got.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
            many
        );
        // The change a retry looks for: a link that went.
        ip_line("link del a0");
        assert_eq!(nl.links_of(&["a0"], &[a0.index]).unwrap(), vec![]);
    });
}
