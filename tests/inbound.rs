//! Inbound connections on any dial: a client in an "internet" namespace
//! (documentation addresses) connects to a service on the router through
//! each of 4 dials in turn. The internet drops a packet that arrives on a
//! link other than the one its source address belongs to, as an ISP does
//! with a session's foreign source. Without the per-member tables and
//! rules, replies follow the ECMP route and many are lost; with them,
//! every reply leaves by the dial its SYN came in on.

use sim::{in_netns, ip, ip_line, Isp, Router, CLIENT4, CLIENT6};
use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::time::Duration;

const DIALS: usize = 4;
const PER_DIAL: usize = 100;
const PORT: u16 = 8080;

/// The router's dials with their far ends in one internet namespace.
fn internet(r: &Router) -> Isp {
    let net = r.internet();
    // A packet from dial K's address arriving on another dial's link is
    // dropped, as the ISP does: blackhole rules before the local table's
    // (moved from priority 0 to 200 for that).
    for fam in ["-4", "-6"] {
        net.ip(&format!("{fam} rule add pref 200 lookup local"));
        net.ip(&format!("{fam} rule del pref 0 lookup local"));
    }
    for k in &r.dials {
        for j in r.dials.iter().filter(|j| j.idx != k.idx) {
            net.ip(&format!(
                "rule add from {} iif peer{} blackhole prio 100",
                k.local4(),
                j.idx
            ));
            net.ip(&format!(
                "-6 rule add from 2001:db8:ff:{:x}::/64 iif peer{} blackhole prio 100",
                k.idx, j.idx
            ));
        }
    }
    net
}

/// A service on the router: answers "ok" to every connection, both
/// families. Runs until the namespace's test ends.
fn serve() {
    for addr in ["0.0.0.0", "::"] {
        let l = match addr {
            // IPv6 on its own port: the IPv4 listener has PORT.
            "::" => TcpListener::bind((addr, PORT + 1)).expect("bind [::]"),
            _ => TcpListener::bind((addr, PORT)).expect("bind 0.0.0.0"),
        };
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                let mut c = c;
                let _ = c.write_all(b"ok");
            }
        });
    }
}

/// Connect to each target (one per dial) from the client, `n` times per
/// dial, the dials side by side: the failures per dial. Where every
/// connection must work (`n` = PER_DIAL) each has 2 s, so a busy machine
/// is no failure; where most are to fail, 300 ms.
fn clients(net: &Isp, targets: Vec<IpAddr>, port: u16, n: usize) -> Vec<usize> {
    let wait = Duration::from_millis(if n == PER_DIAL { 2000 } else { 300 });
    let runs: Vec<_> = targets
        .into_iter()
        .map(|t| {
            net.run(move || {
                let from: IpAddr = if t.is_ipv4() {
                    CLIENT4.parse().unwrap()
                } else {
                    CLIENT6.parse().unwrap()
                };
                let to = SocketAddr::new(t, port);
                (0..n)
                    .filter(|_| match once(from, to, wait) {
                        Ok(()) => false,
                        Err(why) => {
                            // Which step failed, and after how long: a
                            // misrouted reply fails every SYN retransmit,
                            // a slow machine only runs late.
                            eprintln!("{from} -> {to}: {why}");
                            true
                        }
                    })
                    .count()
            })
        })
        .collect();
    runs.into_iter().map(|h| h.join().unwrap()).collect()
}

/// One connection from `from`: SYN, the service's "ok", close. On failure,
/// the step that failed and the time it took.
fn once(from: IpAddr, to: SocketAddr, wait: Duration) -> Result<(), String> {
    match sim::exchange(from, to, wait, 2)? {
        b if b == b"ok" => Ok(()),
        b => Err(format!("answer {b:?}")),
    }
}

fn config(r: &Router, inbound: bool) -> String {
    let p = r.path(if inbound { "on.conf" } else { "off.conf" });
    let v = if inbound { "1" } else { "0" };
    std::fs::write(
        &p,
        format!("config ecmp 'ipv4'\n\toption inbound '{v}'\nconfig ecmp 'ipv6'\n\toption inbound '{v}'\n"),
    )
    .unwrap();
    p.to_str().unwrap().to_string()
}

fn sync(r: &Router, bin: &str, conf: &str) {
    let run = r.event(bin, "", "", &["--config", conf, "--mode", "resilient"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

fn policy(v: u8) {
    std::fs::write(
        format!("/proc/sys/net/ipv{v}/fib_multipath_hash_policy"),
        "1",
    )
    .unwrap();
}

#[test]
fn replies_leave_by_the_dial_their_connection_came_in_on() {
    in_netns(|| {
        let r = Router::all_up(DIALS as u32);
        let net = internet(&r);
        policy(4);
        policy(6);
        serve();
        let t4: Vec<IpAddr> = r
            .dials
            .iter()
            .map(|d| d.local4().parse().unwrap())
            .collect();
        let t6: Vec<IpAddr> = r
            .dials
            .iter()
            .map(|d| format!("2001:db8:ff:{:x}::a", d.idx).parse().unwrap())
            .collect();
        let (off, on) = (config(&r, false), config(&r, true));
        // Without our tables and rules: replies follow the ECMP route.
        sync(&r, "ecmp4", &off);
        sync(&r, "ecmp6", &off);
        let n = 20;
        let lost4 = clients(&net, t4.clone(), PORT, n);
        let lost6 = clients(&net, t6.clone(), PORT + 1, n);
        eprintln!("without: lost per dial, IPv4 {lost4:?}, IPv6 {lost6:?} of {n}");
        // A reply hashed to the right dial by chance gets through: about
        // three in four are lost.
        assert!(
            lost4.iter().sum::<usize>() > n,
            "IPv4 without rules: {lost4:?}"
        );
        assert!(
            lost6.iter().sum::<usize>() > n,
            "IPv6 without rules: {lost6:?}"
        );
        // With them: every connection on every dial.
        sync(&r, "ecmp4", &on);
        sync(&r, "ecmp6", &on);
        let lost4 = clients(&net, t4, PORT, PER_DIAL);
        let lost6 = clients(&net, t6, PORT + 1, PER_DIAL);
        eprintln!("with: lost per dial, IPv4 {lost4:?}, IPv6 {lost6:?} of {PER_DIAL}");
        assert_eq!(lost4, [0; DIALS]);
        assert_eq!(lost6, [0; DIALS]);
    });
}

#[test]
fn a_member_leaving_takes_its_rule_and_table_and_flush_takes_all_ours() {
    in_netns(|| {
        let mut r = Router::all_up(3);
        let on = config(&r, true);
        let rules = |v6: bool| -> Vec<String> {
            let fam = if v6 { "-6" } else { "-4" };
            ip(&[fam, "rule", "show"])
                .lines()
                .filter(|l| l.contains("proto 236"))
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect()
        };
        let tables = || -> Vec<String> {
            ip(&["-4", "route", "show", "table", "all", "proto", "236"])
                .lines()
                .filter(|l| l.contains(" table 42"))
                .map(String::from)
                .collect()
        };
        // A hand-made rule and one of netifd's, at other priorities.
        ip_line("rule add from 192.0.2.77 lookup 100 prio 30000");
        ip_line("rule add iif br-lan lookup 100 prio 20000 proto static");
        sync(&r, "ecmp4", &on);
        // Tables in the dump's order (VWAN1, VWAN2, wan), between the
        // guards that keep forwarded traffic from walking them.
        assert_eq!(
            rules(false),
            [
                "4200: from all iif lo goto 4202 proto 236",
                "4201: from all goto 4205 proto 236",
                "4202: from 100.66.0.2 to 100.64.0.2 lookup 4201 proto 236",
                "4202: from 100.66.0.3 to 100.64.0.3 lookup 4202 proto 236",
                "4202: from 100.66.0.1 to 100.64.0.1 lookup 4203 proto 236",
                "4202: from all nop proto 236",
                "4203: from all iif lo lookup main suppress_prefixlength 0 proto 236",
                "4204: from 100.66.0.2 lookup 4201 proto 236",
                "4204: from 100.66.0.3 lookup 4202 proto 236",
                "4204: from 100.66.0.1 lookup 4203 proto 236",
                "4205: from all nop proto 236"
            ]
        );
        assert_eq!(tables().len(), 3, "{:?}", tables());
        // VWAN1 goes down: its rule and table go, the others keep theirs.
        r.set_up(1, false);
        let run = r.event("ecmp4", "ifdown", "VWAN1", &["--config", &on, "-v"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stderr.contains("[inbound: -2 rules, 1 table emptied]"),
            "{}",
            run.stderr
        );
        let left: Vec<String> = rules(false)
            .into_iter()
            .filter(|r| r.contains(" lookup 42"))
            .collect();
        assert_eq!(
            left,
            [
                "4202: from 100.66.0.3 to 100.64.0.3 lookup 4202 proto 236",
                "4202: from 100.66.0.1 to 100.64.0.1 lookup 4203 proto 236",
                "4204: from 100.66.0.3 lookup 4202 proto 236",
                "4204: from 100.66.0.1 lookup 4203 proto 236"
            ]
        );
        assert_eq!(rules(false).len(), 9, "{:?}", rules(false));
        assert!(
            tables().iter().all(|t| !t.contains("pppoe-VWAN1")),
            "{:?}",
            tables()
        );
        // status names each member's table.
        let st = r.event("ecmp4", "", "", &["--config", &on, "status", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
        let wan = v["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["interface"] == "wan")
            .unwrap()
            .clone();
        assert_eq!(wan["inbound"]["table"], 4203, "{wan}");
        assert_eq!(wan["inbound"]["rules"][0], "from 100.66.0.1/32", "{wan}");
        // --flush --dry-run prints what flush would delete and deletes
        // nothing: route, rules and tables as they were.
        let before = (sim::all_routes(), ip(&["rule", "show"]), tables());
        let run = r.event(
            "ecmp4",
            "",
            "",
            &["--config", &on, "--flush", "--dry-run", "-v"],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stderr.contains(
                "flush: dry run: would remove 1 route, 0 nexthop objects, 9 rules and 2 member table routes of ours"
            ),
            "{}",
            run.stderr
        );
        assert!(
            run.stdout.contains("ip route del default")
                && run.stdout.contains("ip rule del")
                && run.stdout.contains("table 4202"),
            "{}",
            run.stdout
        );
        assert_eq!((sim::all_routes(), ip(&["rule", "show"]), tables()), before);
        // --flush: all ours go; the others stay.
        let run = r.event("ecmp4", "", "", &["--config", &on, "--flush", "-v"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(rules(false).is_empty());
        assert!(tables().is_empty());
        let all = ip(&["rule", "show"]);
        assert!(
            all.contains("from 192.0.2.77 lookup 100") && all.contains("iif br-lan"),
            "{all}"
        );
    });
}

/// A port forward to a LAN host: the reply's source is the LAN host, so
/// only the connection's mark (set on arrival by its dial) routes it.
#[test]
fn port_forward_replies_leave_by_the_dial_they_came_in_on() {
    in_netns(|| {
        let r = Router::all_up(DIALS as u32);
        let net = internet(&r);
        policy(4);
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap();
        // The LAN host behind br-lan, serving on 8080.
        let lan = sim::lan_host();
        let _server = lan.run(|| {
            let l = TcpListener::bind(("0.0.0.0", PORT)).unwrap();
            for mut c in l.incoming().flatten() {
                let _ = c.write_all(b"ok");
            }
        });
        // fw4's port forward, as nft (its DNAT).
        let o = std::process::Command::new("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().unwrap().write_all(
                    b"table ip nat {\n\tchain pre {\n\t\ttype nat hook prerouting priority dstnat;\n\t\ttcp dport 9090 dnat to 192.168.1.10:8080\n\t}\n}\n",
                )?;
                c.wait()
            })
            .expect("nft (nftables) is needed");
        assert!(o.success());
        // The firewall config has a redirect: `auto` marks port forwards.
        std::fs::write(
            r.path("firewall"),
            "config redirect\n\toption name 'web'\n\toption src 'wan'\n\toption src_dport '9090'\n\toption dest_ip '192.168.1.10'\n\toption dest_port '8080'\n",
        )
        .unwrap();
        let t4: Vec<IpAddr> = r
            .dials
            .iter()
            .map(|d| d.local4().parse().unwrap())
            .collect();
        let off = r.path("marks-off.conf");
        std::fs::write(&off, "config ecmp 'ipv4'\n\toption inbound_mark '0'\n").unwrap();
        let auto = r.path("marks-auto.conf");
        std::fs::write(&auto, "config ecmp 'ipv4'\n").unwrap();
        sync(&r, "ecmp4", off.to_str().unwrap());
        let auto = auto.to_str().unwrap();
        let sync_auto = || {
            r.event(
                "ecmp4",
                "",
                "",
                &["--config", auto, "--mode", "resilient", "-v"],
            )
        };
        let n = 20;
        let lost = clients(&net, t4.clone(), 9090, n);
        eprintln!("port forward without marks: lost per dial {lost:?} of {n}");
        assert!(lost.iter().sum::<usize>() > n, "{lost:?}");
        let run = sync_auto();
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stderr.contains("marks loaded"), "{}", run.stderr);
        let lost = clients(&net, t4, 9090, PER_DIAL);
        eprintln!("port forward with marks: lost per dial {lost:?} of {PER_DIAL}");
        assert_eq!(lost, [0; DIALS], "{}", ip(&["-s", "neigh", "show"]));
        let rules = ip(&["rule", "show"]);
        // A mark rule per dial, and the guard letting unmarked forwarded
        // traffic skip them.
        assert_eq!(rules.matches("fwmark 0x").count(), DIALS, "{rules}");
        assert!(
            rules.contains("4201:\tfrom all fwmark 0/0xff0000 goto 4205 proto 236"),
            "{rules}"
        );
        // An unchanged event does not run nft again; --flush removes it all.
        let run = sync_auto();
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(run.stderr.contains("(unchanged)"), "{}", run.stderr);
        assert!(!run.stderr.contains("marks loaded"), "{}", run.stderr);
        let run = r.event("ecmp4", "", "", &["--config", auto, "--flush"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let tables = String::from_utf8_lossy(
            &std::process::Command::new("nft")
                .args(["list", "tables"])
                .output()
                .unwrap()
                .stdout,
        )
        .into_owned();
        assert!(
            !tables.contains("ecmp4") && tables.contains("table ip nat"),
            "{tables}"
        );
        assert!(!ip(&["rule", "show"]).contains("fwmark"));
    });
}

/// A router without nft (fw3): marks asked for explicitly are skipped
/// with a warning; the event itself and the `from` rules are unaffected.
#[test]
fn without_nft_marks_are_skipped_with_a_warning() {
    in_netns(|| {
        let r = Router::all_up(2);
        let conf = r.path("mask.conf");
        std::fs::write(
            &conf,
            "config ecmp 'ipv4'\n\toption inbound_mark '0x00ff0000'\n",
        )
        .unwrap();
        let o = std::process::Command::new(sim::bin("ecmp4"))
            .env_clear()
            // nft is in /usr/sbin (/sbin): not on this PATH.
            .env("PATH", "/bin")
            .arg("-v")
            .arg("--config")
            .arg(&conf)
            .arg("--ubus")
            .arg(r.path("ubus"))
            .arg("--state-dir")
            .arg(r.path("."))
            .arg("--lock-file")
            .arg(r.path("lock"))
            .arg("--syslog-socket")
            .arg(r.path("no-syslog"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{err}");
        assert!(
            err.contains("there is no nft (fw4): port forwards are not marked"),
            "{err}"
        );
        let rules = ip(&["rule", "show"]);
        assert!(!rules.contains("fwmark"), "{rules}");
        assert_eq!(rules.matches("proto 236").count(), 2 * 2 + 5, "{rules}");
    });
}

/// The router's own services at a dial's address, asked from the LAN:
/// the reply's source is that dial's address, and a route of main more
/// specific than the default (the LAN's) must win over the dial's
/// member table, or the reply leaves by the WAN. Then what the guards
/// decide, as `ip route get` says it, for the router's own traffic, for
/// forwarded traffic and for a forwarded reply carrying a dial's mark.
#[test]
fn a_lan_host_reaches_the_router_at_every_dials_address() {
    use std::net::UdpSocket;
    in_netns(|| {
        let r = Router::all_up(DIALS as u32);
        let _net = internet(&r);
        let lan = sim::lan_host();
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap();
        // Port-forward marks on (nft), so the marked path is there too.
        let conf = r.path("marks.conf");
        std::fs::write(
            &conf,
            "config ecmp 'ipv4'\n\toption inbound_mark '0x00ff0000'\n",
        )
        .unwrap();
        sync(&r, "ecmp4", conf.to_str().unwrap());
        let addrs: Vec<String> = r.dials.iter().map(|d| d.local4()).collect();
        // A UDP echo bound to each dial's address (its replies leave from
        // it), and one TCP service on all.
        for a in &addrs {
            let s = UdpSocket::bind((a.as_str(), 7007)).unwrap();
            std::thread::spawn(move || {
                let mut b = [0u8; 64];
                while let Ok((n, from)) = s.recv_from(&mut b) {
                    let _ = s.send_to(&b[..n], from);
                }
            });
        }
        let l = TcpListener::bind(("0.0.0.0", PORT)).unwrap();
        std::thread::spawn(move || {
            for mut c in l.incoming().flatten() {
                let _ = c.write_all(b"ok");
            }
        });
        let targets = addrs.clone();
        let (udp, tcp) = lan
            .run(move || {
                let mut udp = Vec::new();
                let mut tcp = Vec::new();
                for a in &targets {
                    let s = UdpSocket::bind("192.168.1.10:0").unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                    s.connect((a.as_str(), 7007)).unwrap();
                    let mut got = 0;
                    for i in 0..5u8 {
                        let mut b = [0u8; 8];
                        if s.send(&[i]).is_ok() && s.recv(&mut b).is_ok_and(|n| n == 1 && b[0] == i)
                        {
                            got += 1;
                        }
                    }
                    udp.push(got);
                    let to = SocketAddr::new(a.parse().unwrap(), PORT);
                    tcp.push(once(
                        "192.168.1.10".parse().unwrap(),
                        to,
                        Duration::from_secs(2),
                    ));
                }
                (udp, tcp)
            })
            .join()
            .unwrap();
        assert_eq!(udp, [5; DIALS], "UDP echoes answered, per dial address");
        assert_eq!(
            tcp,
            vec![Ok(()); DIALS],
            "TCP connections, per dial address"
        );
        let get = |args: &str| -> String {
            let out = ip_line(&format!("route get {args}"));
            out.split_whitespace()
                .skip_while(|w| *w != "dev")
                .nth(1)
                .unwrap_or("")
                .to_string()
        };
        // The router's own traffic from a dial's address: by that dial;
        // to the LAN: by the LAN, whatever its source.
        for d in &r.dials {
            assert_eq!(get(&format!("198.51.100.10 from {}", d.local4())), d.dev());
            assert_eq!(get(&format!("192.168.1.10 from {}", d.local4())), "br-lan");
        }
        // Forwarded from the LAN, unmarked: the balanced route (a dial);
        // with dial 2's mark (a port forward's reply): dial 2's table.
        let fwd = get("198.51.100.10 from 192.168.1.10 iif br-lan");
        assert!(fwd.starts_with("pppoe-"), "{fwd}");
        for slot in 0..DIALS {
            let mark = (slot as u32 + 1) << 16;
            let dev = get(&format!(
                "198.51.100.10 from 192.168.1.10 iif br-lan mark {mark:#x}"
            ));
            // Tables go in the dump's order: VWAN1..3, then wan.
            assert_eq!(dev, r.dials[(slot + 1) % DIALS].dev(), "mark {mark:#x}");
        }
    });
}

#[test]
fn status_shows_the_guards_and_check_names_rules_of_others_among_ours() {
    in_netns(|| {
        let r = Router::all_up(2);
        let on = config(&r, true);
        sync(&r, "ecmp4", &on);
        let st = r.event("ecmp4", "", "", &["--config", &on, "status", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
        assert_eq!(
            v["guards"],
            serde_json::json!([
                "ip rule priority 4200 iif lo goto 4202 proto 236",
                "ip rule priority 4201 goto 4205 proto 236",
                "ip rule priority 4202 nop proto 236",
                "ip rule priority 4203 iif lo lookup 254 suppress_prefixlength 0 proto 236",
                "ip rule priority 4205 nop proto 236"
            ]),
            "{}",
            st.stdout
        );
        let st = r.event("ecmp4", "", "", &["--config", &on, "status"]);
        assert!(
            st.stdout
                .contains("inbound guards (forwarded traffic skips the member rules): 5 rules"),
            "{}",
            st.stdout
        );
        // A guard gone: a difference, and a sync puts it back.
        ip_line("rule del priority 4201");
        let st = r.event("ecmp4", "", "", &["--config", &on, "status"]);
        assert_eq!(st.code, 1);
        assert!(
            st.stdout
                .contains("+ ip rule add priority 4201 goto 4205 proto 236 (inbound, missing)"),
            "{}",
            st.stdout
        );
        sync(&r, "ecmp4", &on);
        // Someone's rule at our member rules' priority.
        ip_line("rule add from 192.0.2.9 lookup 100 prio 4204");
        let ck = r.event(
            "ecmp4",
            "",
            "",
            &["--config", &on, "check", "--root", "/nonexistent"],
        );
        assert!(
            ck.stdout.contains("[FAIL] ip rule priority 4204 from 192.0.2.9/32 lookup 100 proto 0: a rule of others among ours (4200-4205): forwarded traffic skips it"),
            "{}",
            ck.stdout
        );
        // --flush takes the guards too.
        assert_eq!(
            r.event("ecmp4", "", "", &["--config", &on, "--flush"]).code,
            0
        );
        let rules = ip(&["rule", "show"]);
        assert!(!rules.contains("proto 236"), "{rules}");
    });
}
