//! ecmp6 against a real kernel, in private network namespaces: IPv6
//! multipath routes are sibling routes in the kernel, so after every event
//! the table must hold exactly the desired set, no stale sibling, and no
//! foreign route touched (odhcp6c's source-specific defaults above all).

use sim::{all_routes, default_routes, in_netns, ip_line, RouteWatch, Router};

fn ours() -> Vec<String> {
    sim::ours(true)
}

fn multipath(hops: &[(&str, &str)]) -> String {
    sim::multipath(true, hops)
}

#[test]
fn aliases_come_up_and_go_down_exact_sibling_set() {
    in_netns(|| {
        let mut r = Router::new(3);
        r.dial_up(0);
        let run = r.event("ecmp6", "ifup", "wan_6", &["-v"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(
            ours(),
            ["default via fe80::b:0 dev pppoe-wan proto 236 metric 1 pref medium"]
        );
        r.dial_up(1);
        r.dial_up(2);
        assert_eq!(r.event("ecmp6", "ifup", "VWAN2_6", &[]).code, 0);
        assert_eq!(
            ours(),
            [multipath(&[
                ("fe80::b:1", "pppoe-VWAN1"),
                ("fe80::b:2", "pppoe-VWAN2"),
                ("fe80::b:0", "pppoe-wan")
            ])]
        );
        // ifdown removes the nexthop (the write-up's script ignored ifdown).
        let run = r.event("ecmp6", "ifdown", "VWAN1_6", &["-v"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(
            ours(),
            [multipath(&[
                ("fe80::b:2", "pppoe-VWAN2"),
                ("fe80::b:0", "pppoe-wan")
            ])]
        );
        // Down to one: a plain route, no sibling left behind.
        r.set_up(1, false);
        r.set_up(2, false);
        assert_eq!(r.event("ecmp6", "ifdown", "VWAN2_6", &[]).code, 0);
        assert_eq!(
            ours(),
            ["default via fe80::b:0 dev pppoe-wan proto 236 metric 1 pref medium"]
        );
        // And none: deleted.
        let run = r.event("ecmp6", "ifdown", "wan_6", &["-v"]);
        assert!(
            run.stderr
                .contains("no live links, default metric 1 deleted"),
            "{}",
            run.stderr
        );
        assert!(ours().is_empty());
    });
}

#[test]
fn stale_siblings_of_ours_are_replaced_by_the_exact_set() {
    in_netns(|| {
        let mut r = Router::all_up(3);
        // Left over from an earlier run: ours, with a sibling on a link
        // that is no longer a member, appended as a separate route.
        ip_line("-6 route add default via fe80::b:9 dev pppoe-VWAN2 proto 236 metric 1");
        ip_line("-6 route append default via fe80::b:0 dev pppoe-wan proto 236 metric 1");
        r.set_up(2, false);
        let run = r.event("ecmp6", "ifup", "VWAN1_6", &["-v"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(
            ours(),
            [multipath(&[
                ("fe80::b:1", "pppoe-VWAN1"),
                ("fe80::b:0", "pppoe-wan")
            ])]
        );
    });
}

#[test]
fn foreign_routes_survive_including_source_specific_defaults() {
    in_netns(|| {
        let r = Router::all_up(2);
        // odhcp6c's defaults (source-specific), netifd's plain one at 1024,
        // someone's in table 100 at our metric, an unreachable in main.
        ip_line("-6 route add default from 2001:db8::/56 via fe80::b:0 dev pppoe-wan proto static metric 512");
        ip_line("-6 route add default from 2001:db8:100::/56 via fe80::b:1 dev pppoe-VWAN1 proto static metric 512");
        ip_line("-6 route add default via fe80::b:0 dev pppoe-wan proto static metric 1024");
        ip_line("-6 route add default via fe80::b:1 dev pppoe-VWAN1 table 100 metric 1");
        ip_line("-6 route add unreachable default metric 2000");
        let foreign = default_routes(true);
        assert_eq!(foreign.len(), 5);
        for (a, i) in [
            ("ifup", "wan_6"),
            ("ifup", "VWAN1_6"),
            ("ifdown", "VWAN1_6"),
            ("ifdown", "wan_6"),
            ("ifup", "VWAN1_6"),
        ] {
            let run = r.event("ecmp6", a, i, &[]);
            assert_eq!(run.code, 0, "{a} {i}: {}", run.stderr);
            let now = default_routes(true);
            for f in &foreign {
                assert!(now.contains(f), "{f} lost after {a} {i}: {now:?}");
            }
        }
        assert_eq!(ours().len(), 1);
    });
}

#[test]
fn foreign_route_at_our_metric_is_never_replaced() {
    in_netns(|| {
        let r = Router::all_up(2);
        ip_line("-6 route add default via fe80::b:0 dev pppoe-wan metric 1");
        let before = all_routes();
        let run = r.event("ecmp6", "ifup", "VWAN1_6", &[]);
        assert_eq!(run.code, 6, "{}", run.stderr);
        assert_eq!(all_routes(), before);
    });
}

#[test]
fn interfaces_without_a_live_default_are_left_out_and_ethernet_wans_join() {
    in_netns(|| {
        let mut r = Router::all_up(2);
        r.dials[1].ipv6 = false;
        // VWAN1_6 with only an expired default; a DHCPv6 WAN on Ethernet.
        ip_line("link add eth1 type veth peer name eth1p");
        ip_line("link set eth1 up");
        ip_line("link set eth1p up");
        r.extra.push(r#"{"interface":"VWAN1_6","up":true,"proto":"dhcpv6","l3_device":"pppoe-VWAN1","device":"pppoe-VWAN1","route":[{"target":"::","mask":0,"nexthop":"fe80::b:1","metric":512,"valid":0,"source":"2001:db8:100::/56"}]}"#.into());
        r.extra.push(r#"{"interface":"wan2","up":true,"proto":"dhcpv6","l3_device":"eth1","device":"eth1","route":[{"target":"::","mask":0,"nexthop":"fe80::1","metric":512,"valid":1800,"source":"2001:db8:9::/64"},{"target":"::","mask":0,"nexthop":"fe80::1","metric":512,"valid":1800,"source":"2001:db8:9::a/64"}]}"#.into());
        r.write_dump();
        let run = r.event("ecmp6", "ifup", "wan2", &["-v"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(
            ours(),
            [multipath(&[
                ("fe80::b:0", "pppoe-wan"),
                ("fe80::1", "eth1")
            ])]
        );
        assert!(run.stderr.contains("via 2 links eth1,pppoe-wan (replaced) [left out: VWAN1_6 has no live IPv6 default route]"), "{}", run.stderr);
    });
}

#[test]
fn unchanged_writes_nothing_and_bad_input_changes_nothing() {
    in_netns(|| {
        let r = Router::all_up(2);
        assert_eq!(r.event("ecmp6", "ifup", "wan_6", &[]).code, 0);
        let w = RouteWatch::new();
        let run = r.event("ecmp6", "ifupdate", "VWAN1_6", &["-v"]);
        assert!(run.stderr.contains("(unchanged)"), "{}", run.stderr);
        assert_eq!(w.count(), 0);
        let before = all_routes();
        for (dump, msg) in [
            ("{\"interface\":[{\"interface\":\"wan_6\"", "EOF"),
            (
                r#"{"interface":[{"interface":"wan_6","up":true,"proto":"dhcpv6","l3_device":"pppoe-wan","route":[{"target":"::","mask":0,"nexthop":"100.64.0.1"}]}]}"#,
                "not an IPv6 address",
            ),
        ] {
            std::fs::write(r.path("dump.json"), dump).unwrap();
            let run = r.event("ecmp6", "ifup", "wan_6", &[]);
            assert_eq!(run.code, 4, "{}", run.stderr);
            assert!(run.stderr.contains(msg), "{}", run.stderr);
            assert_eq!(all_routes(), before);
            assert_eq!(w.count(), 0);
        }
    });
}

#[test]
fn dry_run_for_ipv6() {
    in_netns(|| {
        let r = Router::all_up(2);
        let run = r.event("ecmp6", "ifup", "wan_6", &["--dry-run"]);
        assert_eq!(
            run.stdout.trim(),
            "ip -6 route replace default proto 236 metric 1 nexthop via fe80::b:1 dev pppoe-VWAN1 weight 1 nexthop via fe80::b:0 dev pppoe-wan weight 1"
        );
        assert!(ours().is_empty());
    });
}
