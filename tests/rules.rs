//! Policy rules in network namespaces: 4 dials, each behind an ISP of its
//! own that holds the same servers (203.0.113.1-50 and 2001:db8:5e::1-50
//! on its loopback, on ports 80 and 443) and answers every connection
//! with its dial's number; a LAN host (192.168.1.10-13, 2001:db8:1a::10
//! and ::11) behind br-lan; masquerade (and NAT66) on the dials, and L4
//! hashing, as a multi-dial router has them. An ISP has no route
//! for a source other than its dial's: a connection that left by a dial
//! is answered by that dial's ISP, or not at all.

use sim::{in_netns, ip, nft, route_devs, Isp, Router, Tracker};
use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const DIALS: u32 = 4;
const SERVERS: u8 = 50;

struct Lab {
    r: Router,
    isps: Vec<Isp>,
    lan: Isp,
    config: PathBuf,
}

fn nft_list(args: &[&str]) -> String {
    let o = Command::new("nft").arg("list").args(args).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

impl Lab {
    /// The lab with `config` (rules, a track section) after the ipv4
    /// section; one sync has run.
    fn new(config: &str) -> Lab {
        let mut r = Router::all_up(DIALS);
        // As the config says (the tracker's events pass no --mode).
        r.mode = "resilient";
        let isps: Vec<Isp> = (0..DIALS as usize).map(|i| r.isp(i)).collect();
        for (i, isp) in isps.iter().enumerate() {
            for k in 1..=SERVERS {
                isp.ip(&format!("addr add 203.0.113.{k}/32 dev lo"));
                isp.ip(&format!("-6 addr add 2001:db8:5e::{k}/128 dev lo nodad"));
            }
            for port in [80, 443] {
                isp.run(move || {
                    // Both families (bindv6only is 0).
                    let l = TcpListener::bind(("::", port)).unwrap();
                    for mut c in l.incoming().flatten() {
                        let _ = c.write_all(&[i as u8]);
                    }
                });
            }
        }
        // A PPP link has no neighbour discovery: fixed neighbours both
        // ways, so a dial's first packets wait for nothing these veths add.
        for (d, isp) in r.dials.iter().zip(&isps) {
            let peer = format!("peer{}", d.idx);
            let mac = |j: serde_json::Value| j[0]["address"].as_str().unwrap().to_string();
            let theirs =
                mac(serde_json::from_str(&isp.ip(&format!("-j link show {peer}"))).unwrap());
            let ours = mac(sim::json(&["link", "show", &d.dev()]));
            for (addr, fam) in [(d.peer4(), "-4"), (d.gw6(), "-6")] {
                ip(&[
                    fam,
                    "neigh",
                    "replace",
                    &addr,
                    "lladdr",
                    &theirs,
                    "dev",
                    &d.dev(),
                    "nud",
                    "permanent",
                ]);
            }
            for (addr, fam) in [
                (d.local4(), "-4"),
                (format!("2001:db8:ff:{:x}::a", d.idx), "-6"),
            ] {
                isp.ip(&format!(
                    "{fam} neigh replace {addr} lladdr {ours} dev {peer} nud permanent"
                ));
            }
        }
        let lan = sim::lan_host();
        for k in 11..=13 {
            lan.ip(&format!("addr add 192.168.1.{k}/24 dev lan0"));
        }
        ip(&[
            "-6",
            "addr",
            "add",
            "2001:db8:1a::1/64",
            "dev",
            "br-lan",
            "nodad",
        ]);
        lan.ip("-6 addr add 2001:db8:1a::10/64 dev lan0 nodad");
        lan.ip("-6 addr add 2001:db8:1a::11/64 dev lan0 nodad");
        lan.ip("-6 route add default via 2001:db8:1a::1");
        // The first reply to the second IPv6 address of lan0 is lost
        // while the router solicits it (seen with no rule of ours at
        // all): fixed neighbours keep that artefact of these veths out.
        let lanmac: serde_json::Value = serde_json::from_str(&lan.ip("-j link show lan0")).unwrap();
        let lanmac = lanmac[0]["address"].as_str().unwrap().to_string();
        for a in ["2001:db8:1a::10", "2001:db8:1a::11"] {
            ip(&[
                "-6",
                "neigh",
                "replace",
                a,
                "lladdr",
                &lanmac,
                "dev",
                "br-lan",
                "nud",
                "permanent",
            ]);
        }
        for (f, v) in [
            ("/proc/sys/net/ipv4/ip_forward", "1"),
            ("/proc/sys/net/ipv6/conf/all/forwarding", "1"),
            ("/proc/sys/net/ipv4/fib_multipath_hash_policy", "1"),
            ("/proc/sys/net/ipv6/fib_multipath_hash_policy", "1"),
        ] {
            std::fs::write(f, v).unwrap();
        }
        for fam in ["ip", "ip6"] {
            nft(&format!("table {fam} nat {{\n\tchain post {{\n\t\ttype nat hook postrouting priority srcnat;\n\t\toifname \"pppoe-*\" masquerade\n\t}}\n}}\n"));
        }
        let path = r.path("rules.conf");
        std::fs::write(
            &path,
            format!("config ecmp 'ipv4'\n\toption mode 'resilient'\nconfig ecmp 'ipv6'\n\toption mode 'resilient'\n{config}"),
        )
        .unwrap();
        let lab = Lab {
            r,
            isps,
            lan,
            config: path,
        };
        lab.sync();
        lab
    }

    /// A sync of ecmp4, then of ecmp6; ecmp4's run.
    fn sync(&self) -> sim::Run {
        let conf = self.config.to_str().unwrap();
        let run = self.r.event("ecmp4", "", "", &["--config", conf, "-v"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let run6 = self.r.event("ecmp6", "", "", &["--config", conf, "-v"]);
        assert_eq!(run6.code, 0, "{}", run6.stderr);
        run
    }

    /// Whether status finds the kernel and our nft table as planned.
    fn in_sync(&self) -> bool {
        let conf = self.config.to_str().unwrap();
        let run = self.r.event("ecmp4", "", "", &["--config", conf, "status"]);
        if run.code != 0 {
            eprintln!("status: {}{}", run.stdout, run.stderr);
        }
        run.code == 0
    }

    /// New connections from `from` to each (server, port), one after the
    /// other (server k: 203.0.113.k, or 2001:db8:5e::k from an IPv6
    /// source): the dial each left by, or why it failed.
    fn connect(&self, from: &str, to: Vec<(u8, u16)>) -> Vec<Result<u8, String>> {
        let from: IpAddr = from.parse().unwrap();
        self.lan
            .run(move || {
                to.into_iter()
                    .map(|(k, port)| {
                        let server = match from.is_ipv4() {
                            true => format!("203.0.113.{k}"),
                            false => format!("2001:db8:5e::{k}"),
                        };
                        let at = SocketAddr::new(server.parse().unwrap(), port);
                        sim::exchange(from, at, Duration::from_secs(2), 1).map(|b| b[0])
                    })
                    .collect()
            })
            .join()
            .unwrap()
    }
}

/// The dials a batch of connections left by, each once, in order; panics
/// on a failed connection.
fn dials(got: &[Result<u8, String>]) -> Vec<u8> {
    let mut d: Vec<u8> = got
        .iter()
        .map(|r| {
            *r.as_ref()
                .unwrap_or_else(|e| panic!("a connection failed: {e}"))
        })
        .collect();
    d.sort();
    d.dedup();
    d
}

/// `n` connections to the servers in turn on `port`.
fn spread(n: usize, port: u16) -> Vec<(u8, u16)> {
    (0..n)
        .map(|i| ((i % SERVERS as usize) as u8 + 1, port))
        .collect()
}

fn until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_pinned_lan_host_leaves_by_its_dial_and_others_spread() {
    in_netns(|| {
        let lab = Lab::new("config rule 'pin'\n\toption src_ip '192.168.1.10'\n\toption use 'VWAN2'\nconfig rule 'ghost'\n\toption src_ip '192.168.1.99'\n\toption use 'VWAN9'\n");
        // 200 new connections to 20 servers: all by VWAN2.
        let to: Vec<(u8, u16)> = (0..200).map(|i| ((i % 20) as u8 + 1, 80)).collect();
        let got = lab.connect("192.168.1.10", to.clone());
        assert_eq!(dials(&got), [2], "{got:?}");
        // Another host matches no rule: the route spreads it.
        let other = dials(&lab.connect("192.168.1.11", to));
        assert!(other.len() >= 3, "unpinned host used only {other:?}");
        // The rule counted the pinned connections; status shows it.
        let c = nft_list(&["counter", "ip", "ecmp4", "r1"]);
        assert!(c.contains("packets 200 "), "{c}");
        let conf = lab.config.to_str().unwrap();
        let run = lab
            .r
            .event("ecmp4", "", "", &["--config", conf, "status", "--json"]);
        let v: serde_json::Value =
            serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout));
        assert_eq!(v["rules"][0]["name"], "pin");
        assert_eq!(v["rules"][0]["state"], "pinned");
        assert_eq!(v["rules"][0]["connections"], 200);
        assert_eq!(v["rules"][1]["state"], "route");
        let run = lab.r.event("ecmp4", "", "", &["--config", conf, "status"]);
        assert!(
            run.stdout.contains("  pin -> VWAN2, 200 connections\n"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains(
                "  ghost -> VWAN9 (not in the route: by the route meanwhile), 0 connections\n"
            ),
            "{}",
            run.stdout
        );
        let run = lab.r.event("ecmp4", "", "", &["--config", conf, "check"]);
        assert!(
            run.stdout
                .contains("[FAIL] rule ghost: use 'VWAN9' is no member"),
            "{}",
            run.stdout
        );
        // An unchanged sync loads nothing; --flush takes the table.
        let run = lab.sync();
        assert!(!run.stderr.contains("marks loaded"), "{}", run.stderr);
        // Even with the state directory's record gone (a wiped /var/run).
        std::fs::remove_file(lab.r.path("nft-ecmp4.rules")).unwrap();
        let run = lab.r.event(
            "ecmp4",
            "",
            "",
            &["--config", lab.config.to_str().unwrap(), "--flush"],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(!nft_list(&["tables"]).contains("ecmp4"));
        assert!(!ip(&["rule", "show"]).contains("fwmark"));
    });
}

#[test]
fn sticky_sources_keep_the_dial_their_last_connection_took() {
    in_netns(|| {
        let lab = Lab::new(
            "config rule 'https'\n\toption proto 'tcp'\n\toption dest_port '443'\n\toption sticky '1'\n\toption timeout '600'\n\toption use 'balanced'\n",
        );
        // 50 connections from one host to one server: one dial.
        let got = lab.connect("192.168.1.10", vec![(1, 443); 50]);
        assert_eq!(dials(&got).len(), 1, "{got:?}");
        // From four hosts to 50 servers: each host keeps one dial...
        let mut all = Vec::new();
        for h in 10..=13 {
            let from = format!("192.168.1.{h}");
            let d = dials(&lab.connect(&from, spread(50, 443)));
            assert_eq!(d.len(), 1, "{from} used {d:?}");
            all.extend(d);
        }
        let map = nft_list(&["map", "ip", "ecmp4", "sticky_1"]);
        assert_eq!(map.matches("192.168.1.").count(), 4, "{map}");
        // ... and what the rule does not match still spreads.
        let mut free = Vec::new();
        for h in 10..=13 {
            free.extend(dials(
                &lab.connect(&format!("192.168.1.{h}"), spread(50, 80)),
            ));
        }
        free.sort();
        free.dedup();
        assert!(free.len() >= 3, "port 80 used only {free:?}");
    });
}

#[test]
fn ipv6_rules_pin_and_refuse_the_same_way() {
    in_netns(|| {
        let lab = Lab::new("config rule 'v6pin'\n\toption family 'ipv6'\n\tlist src_ip '2001:db8:1a::10'\n\toption proto 'tcp'\n\toption dest_port '443'\n\toption use 'VWAN1'\nconfig rule 'v6strict'\n\toption family 'ipv6'\n\tlist src_ip '2001:db8:1a::10'\n\toption proto 'tcp'\n\toption dest_port '80'\n\toption use 'VWAN9'\n\toption fallback '0'\n");
        // ecmp6's own table; ecmp4 has no rule of IPv6 and marks nothing.
        let t6 = nft_list(&["table", "ip6", "ecmp6"]);
        assert!(
            t6.contains("ip6 saddr 2001:db8:1a::10 tcp dport 443 counter name \"r1\" goto pin_"),
            "{t6}"
        );
        assert!(!nft_list(&["tables"]).contains("table ip ecmp4"));
        // Pinned to VWAN1 (its member VWAN1_6), by NAT66 from the dial's
        // address.
        let got = lab.connect("2001:db8:1a::10", spread(100, 443));
        assert_eq!(dials(&got), [1], "{got:?}");
        // Another source matches no rule: the route spreads it.
        let got = lab.connect("2001:db8:1a::11", spread(100, 443));
        let free = dials(&got);
        assert!(free.len() >= 3, "{free:?}");
        // VWAN9 is nobody: port 80 is refused, never another dial.
        let refused = lab.connect("2001:db8:1a::10", spread(10, 80));
        assert!(refused.iter().all(|r| r.is_err()), "{refused:?}");
        let rules = ip(&["-6", "rule", "show"]);
        assert!(
            rules.contains("fwmark 0xff0000/0xff0000 unreachable proto 236"),
            "{rules}"
        );
    });
}

const TRACK: &str = "config track 'track'
\toption enabled '1'
\tlist track_ip '192.0.2.1'
\tlist track_ip '192.0.2.2'
\toption interval '1'
\toption timeout '1'
\toption down '2'
\toption up '2'
";

#[test]
fn a_pinned_dial_dead_to_the_tracker_falls_back_or_refuses_and_returns() {
    in_netns(|| {
        let lab = Lab::new(&format!(
            "{TRACK}config rule 'loose'\n\toption src_ip '192.168.1.10'\n\toption use 'VWAN2'\nconfig rule 'strict'\n\toption src_ip '192.168.1.11'\n\toption use 'VWAN2'\n\toption fallback '0'\n"
        ));
        let rules = ip(&["rule", "show"]);
        assert!(
            rules.contains("fwmark 0xff0000/0xff0000 unreachable proto 236"),
            "{rules}"
        );
        let t: Tracker = lab.r.tracker(&lab.config);
        let to = spread(20, 80);
        assert_eq!(dials(&lab.connect("192.168.1.10", to.clone())), [2]);
        assert_eq!(dials(&lab.connect("192.168.1.11", to.clone())), [2]);
        // VWAN2's upstream dies: the tracker takes it out of the route.
        lab.r.dials[2].blackhole(&lab.isps[2], true);
        // The route changes first, then the marks and member rules: wait
        // for all of it (status in sync).
        until(Duration::from_secs(20), "VWAN2 out of the route", || {
            !route_devs(false).contains(&"pppoe-VWAN2".to_string()) && lab.in_sync()
        });
        // The loose pin goes by the route; the strict one is refused, and
        // never leaves by another dial.
        let loose = dials(&lab.connect("192.168.1.10", to.clone()));
        assert!(!loose.contains(&2) && loose.len() >= 2, "{loose:?}");
        let strict = lab.connect("192.168.1.11", to.clone());
        assert!(strict.iter().all(|r| r.is_err()), "{strict:?}");
        // Back: both pinned again.
        lab.r.dials[2].blackhole(&lab.isps[2], false);
        let t0 = Instant::now();
        while !(route_devs(false).contains(&"pppoe-VWAN2".to_string()) && lab.in_sync()) {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "VWAN2 back in the route: not within 20 s\n{}",
                t.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(dials(&lab.connect("192.168.1.10", to.clone())), [2]);
        assert_eq!(dials(&lab.connect("192.168.1.11", to)), [2]);
    });
}

/// `use 'tier:2'`: VWAN2 and VWAN3 (tier 2, VWAN3 of weight 3) stand by
/// while wan and VWAN1 carry the route. A host whose rule uses tier 2
/// leaves by VWAN2 and VWAN3 only, VWAN3 the more; another host by tier 1
/// only; a sticky source keeps one member of the tier. The tracker kills
/// both tier-2 dials: the rule goes by the route; they come back: tier 2
/// again.
#[test]
fn a_rule_using_a_standing_by_tier_spreads_over_it_by_weight() {
    in_netns(|| {
        let lab = Lab::new(&format!(
            "{TRACK}config member 'VWAN2'\n\toption tier '2'\nconfig member 'VWAN3'\n\toption tier '2'\n\toption weight '3'\nconfig rule 'backup'\n\toption src_ip '192.168.1.10'\n\toption use 'tier:2'\nconfig rule 'same'\n\toption src_ip '192.168.1.12'\n\toption use 'tier:2'\n\toption sticky '1'\n"
        ));
        assert_eq!(route_devs(false), ["pppoe-VWAN1", "pppoe-wan"]);
        let t: Tracker = lab.r.tracker(&lab.config);
        let count = |got: &[Result<u8, String>], d: u8| got.iter().filter(|r| **r == Ok(d)).count();
        let got = lab.connect("192.168.1.10", spread(100, 80));
        assert_eq!(dials(&got), [2, 3], "{got:?}");
        assert!(
            count(&got, 3) > count(&got, 2),
            "weight 3 against 1: {got:?}"
        );
        let other = dials(&lab.connect("192.168.1.11", spread(40, 80)));
        assert_eq!(other, [0, 1], "tier 1 carries the rest: {other:?}");
        let same = dials(&lab.connect("192.168.1.12", spread(30, 80)));
        assert!(
            same.len() == 1 && same[0] >= 2,
            "sticky in tier 2: {same:?}"
        );
        let conf = lab.config.to_str().unwrap();
        let run = lab
            .r
            .event("ecmp4", "", "", &["--config", conf, "status", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(v["rules"][0]["target"], "tier:2");
        assert_eq!(v["rules"][0]["state"], "pinned");
        assert_eq!(v["rules"][1]["sticky"], true);
        // Both tier-2 dials dead to the tracker: the route carries it.
        for i in [2, 3] {
            lab.r.dials[i].blackhole(&lab.isps[i], true);
        }
        until(Duration::from_secs(20), "tier 2 dead, in sync", || {
            let st = std::fs::read_to_string(lab.r.path("track.json")).unwrap_or_default();
            st.matches("\"state\":\"dead\"").count() == 2 && lab.in_sync()
        });
        assert_eq!(route_devs(false), ["pppoe-VWAN1", "pppoe-wan"]);
        let fell = dials(&lab.connect("192.168.1.10", spread(20, 80)));
        assert_eq!(fell, [0, 1], "by the route meanwhile: {fell:?}");
        for i in [2, 3] {
            lab.r.dials[i].blackhole(&lab.isps[i], false);
        }
        until(Duration::from_secs(20), "tier 2 back, in sync", || {
            let st = std::fs::read_to_string(lab.r.path("track.json")).unwrap_or_default();
            !st.contains("\"state\":\"dead\"") && lab.in_sync()
        });
        let back = dials(&lab.connect("192.168.1.10", spread(40, 80)));
        assert_eq!(back, [2, 3], "tier 2 again: {back:?}\n{}", t.log());
    });
}

/// A raw DNS query for `name` (A) to `server`: the first address of the
/// answer.
fn resolve(server: SocketAddr, name: &str) -> Result<IpAddr, String> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend(label.as_bytes());
    }
    q.extend([0, 0, 1, 0, 1]);
    s.send_to(&q, server).map_err(|e| e.to_string())?;
    let mut b = [0u8; 512];
    let n = s.recv(&mut b).map_err(|e| e.to_string())?;
    // The answer's A record: its last four bytes.
    let a = &b[..n];
    (n >= q.len() + 16 && a[7] >= 1)
        .then(|| IpAddr::from([a[n - 4], a[n - 3], a[n - 2], a[n - 1]]))
        .ok_or_else(|| format!("no answer: {a:?}"))
}

#[test]
fn a_domain_rule_pins_from_the_first_connection_after_dnsmasqs_answer() {
    in_netns(|| {
        let lab = Lab::new("config rule 'bank'\n\toption ipset 'bank'\n\toption use 'VWAN1'\n");
        // The set exists before dnsmasq first writes to it.
        let set = nft_list(&["set", "ip", "ecmp4", "bank"]);
        assert!(set.contains("type ipv4_addr"), "{set}");
        // dnsmasq on the router, as /etc/config/dhcp's `list nftset`
        // gives it, asking an upstream that knows bank.example.
        // In the foreground, no config file, no hosts or resolv.conf.
        let dnsmasq = |args: &[&str]| {
            Command::new("dnsmasq")
                .args([
                    "-k",
                    "-C",
                    "/dev/null",
                    "-u",
                    "root",
                    "--pid-file=",
                    "--bind-interfaces",
                ])
                .args(["--no-resolv", "--no-hosts"])
                .args(args)
                .spawn()
                .expect("dnsmasq (Debian's dnsmasq-base) is needed")
        };
        let upstream = dnsmasq(&[
            "--listen-address=127.0.0.1",
            "--port=5353",
            "--address=/bank.example/203.0.113.77",
        ]);
        let router = dnsmasq(&[
            "--listen-address=192.168.1.1",
            "--server=127.0.0.1#5353",
            "--nftset=/bank.example/4#ip#ecmp4#bank",
        ]);
        struct Kill(Vec<std::process::Child>);
        impl Drop for Kill {
            fn drop(&mut self) {
                for c in &mut self.0 {
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
        }
        let _k = Kill(vec![upstream, router]);
        for k in [77] {
            for isp in &lab.isps {
                isp.ip(&format!("addr add 203.0.113.{k}/32 dev lo"));
            }
        }
        // Before the answer: the address is nobody's, the route spreads it.
        let before = dials(&lab.connect("192.168.1.10", vec![(77, 80); 30]));
        assert!(before.len() >= 2, "{before:?}");
        let got = lab
            .lan
            .run(|| {
                let dns: SocketAddr = "192.168.1.1:53".parse().unwrap();
                let t = Instant::now();
                loop {
                    match resolve(dns, "bank.example") {
                        Ok(a) => break a,
                        Err(e) if t.elapsed() > Duration::from_secs(10) => panic!("{e}"),
                        Err(_) => std::thread::sleep(Duration::from_millis(100)),
                    }
                }
            })
            .join()
            .unwrap();
        assert_eq!(got, "203.0.113.77".parse::<IpAddr>().unwrap());
        // The first connection after the answer, and every one after it.
        let after = lab.connect("192.168.1.10", vec![(77, 80); 30]);
        assert_eq!(dials(&after), [1], "{after:?}");
        // A reload (a dial going) keeps what dnsmasq put in the set.
        lab.r.event(
            "ecmp4",
            "ifdown",
            "VWAN3",
            &["--config", lab.config.to_str().unwrap()],
        );
        let set = nft_list(&["set", "ip", "ecmp4", "bank"]);
        assert!(set.contains("203.0.113.77"), "{set}");
    });
}

#[test]
fn bad_rules_are_refused_with_the_option_and_nothing_written() {
    in_netns(|| {
        let r = Router::all_up(2);
        let path = r.path("bad.conf");
        for (rule, says) in [
            (
                "\toption use 'VWAN1'\n\toption dest_port '443'\n",
                "rule bad: dest_port: ports need proto tcp or udp",
            ),
            (
                "\toption use 'VWAN1'\n\toption src_ip '192.168.1.300'\n",
                "rule bad: src_ip: '192.168.1.300' is not an address",
            ),
            (
                "\toption use_policy 'wan_only'\n",
                "rule bad: use_policy: 'wan_only' is a mwan3 policy",
            ),
            (
                "\toption use 'VWAN1'\n\toption sticky 'often'\n",
                "rule bad: sticky: 'often' is not a boolean",
            ),
        ] {
            std::fs::write(
                &path,
                format!("config ecmp 'ipv4'\n\toption mode 'resilient'\nconfig rule 'bad'\n{rule}"),
            )
            .unwrap();
            let before = (
                ip(&["route", "show", "table", "all"]),
                ip(&["rule", "show"]),
            );
            let run = r.event("ecmp4", "", "", &["--config", path.to_str().unwrap()]);
            run.says(3, says);
            assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
            assert_eq!(
                before,
                (
                    ip(&["route", "show", "table", "all"]),
                    ip(&["rule", "show"])
                )
            );
        }
        // Rules without the marks they need: one line naming the option.
        std::fs::write(&path, "config ecmp 'ipv4'\n\toption inbound_mark '0'\nconfig rule 'pin'\n\toption use 'VWAN1'\n").unwrap();
        r.event("ecmp4", "", "", &["--config", path.to_str().unwrap()])
            .says(3, "rule pin: rules need the member tables and their marks, and ipv4.option inbound_mark '0' turns them off");
    });
}
