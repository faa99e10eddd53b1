//! `make demo`: a short story on a simulated router in a throwaway network
//! namespace. Four PPPoE dials (with IPv6) come up one by one, one redials,
//! one goes down; after each hotplug event, the kernel's default routes and
//! our nexthop objects. Then the same redial with `--mode multipath`, the
//! way the shell scripts did it, for contrast, its recovery, and a summary.

use sim::{default_routes, in_netns, ours_nh, Router};

fn show() {
    println!("  kernel now:");
    let v4 = default_routes(false);
    let v6 = default_routes(true);
    if v4.is_empty() {
        println!("    (no IPv4 default route)");
    }
    for l in v4.iter().chain(v6.iter()) {
        for (k, part) in l.split(" | ").enumerate() {
            println!("    {}{part}", if k > 0 { "  " } else { "" });
        }
    }
    let nh = ours_nh();
    if !nh.is_empty() {
        println!("  nexthop objects of ours (ip nexthop):");
        for l in nh {
            println!("    {l}");
        }
    }
    println!();
}

fn event(r: &Router, action: &str, iface: &str) {
    println!(
        "hotplug: ACTION={action} INTERFACE={iface}  (ecmp4; ecmp6 gets INTERFACE={iface}_6, netifd's IPv6 alias of {iface} on the same device)"
    );
    for (bin, i) in [
        ("ecmp4", iface.to_string()),
        ("ecmp6", format!("{iface}_6")),
    ] {
        let run = r.event(bin, action, &i, &["-v"]);
        for l in run.stderr.lines() {
            println!("  {l}");
        }
        if run.code != 0 {
            println!("  ({bin} exited {})", run.code);
        }
    }
}

fn main() {
    in_netns(|| {
        // What the package's /etc/sysctl.d entries set.
        for v in [4, 6] {
            let _ = std::fs::write(
                format!("/proc/sys/net/ipv{v}/fib_multipath_hash_policy"),
                "1",
            );
        }
        let mut r = Router::new(4);
        r.mode = "auto";
        println!(
            "== a router with 4 PPPoE dials (wan, VWAN1..3), each with netifd's <iface>_6 ==\n"
        );
        for i in 0..4 {
            r.dial_up(i);
            let n = r.dials[i].name.clone();
            event(&r, "ifup", &n);
            show();
        }
        println!("== VWAN2 redials: pppd exits, pppoe-VWAN2 is unregistered ==\n");
        r.device_gone(2);
        println!("(no hotplug event yet: the route stays, the kernel dropped only VWAN2 from the groups)");
        show();
        r.set_up(2, false);
        event(&r, "ifdown", "VWAN2");
        show();
        r.dial_up(2);
        event(&r, "ifup", "VWAN2");
        show();
        println!("== VWAN3 goes down for good ==\n");
        r.set_up(3, false);
        r.device_gone(3);
        println!(
            "(pppd exited first: pppoe-VWAN3 is gone, and with it VWAN3's nexthop object, so the"
        );
        println!(" kernel's groups already carry 3 links; the ifdown below finds them right: \"unchanged\")");
        show();
        event(&r, "ifdown", "VWAN3");
        show();
        println!("== contrast: the same redial with --mode multipath (what 97-ECMPv4 did) ==\n");
        r.mode = "multipath";
        event(&r, "ifup", "wan");
        show();
        r.device_gone(1);
        println!(
            "(VWAN1's pppoe device is gone, no hotplug event yet: the WHOLE IPv4 route is gone)"
        );
        show();
        println!("== recovery: netifd's ifdown for VWAN1 arrives, and the route is rebuilt ==\n");
        r.set_up(1, false);
        event(&r, "ifdown", "VWAN1");
        show();
        println!("== in short ==\n");
        println!("Each hotplug event ran ecmp4 and ecmp6 once: one ubus dump, one netlink write (or none");
        println!(
            "when the kernel was already right), one log line. With nexthop groups (the default on"
        );
        println!("Linux 5.3+, resilient on 5.13+) a redial never removed the route: the kernel dropped the");
        println!("dead dial's nexthop at once, and only that dial's flows moved. In multipath mode, the way");
        println!(
            "the write-up's scripts did it, the whole IPv4 route vanished until the next event."
        );
    });
}
