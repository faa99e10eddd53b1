//! multidial's firewall zone under OpenWrt's real firewall4 (the kit's
//! `run-fw4`: fw4 and its stock `20-firewall` hotplug over the real
//! netifd): the dials join the wan zone by device pattern, so no dial's
//! ifup reloads the firewall, at boot or on a redial, and fw4 still
//! masquerades every dial's traffic. Needs root; see `sim::run_fw4`.

/// Inside the router: apply 8 dials on the line and bring them up; send
/// a packet from the LAN host out of each dial, seen at the far end by an
/// nft ingress hook (the far ends never answer); then redial VWAN3 and
/// wait for it to be back in ecmp4's route.
const SCRIPT: &str = r#"set -u
multidial apply --line eth1 --dials 8 --username u --password-file /etc/pw --up --delay 0 --wait 30 || exit 9
echo "== zone"; uci show firewall | grep "^firewall.@zone.1."
echo "== boot reloads $(grep -c 'Reloading firewall due to ifup of VWAN' "$ROUTER_STATE/syslog.txt")"
nft add table netdev far
nft add set netdev far seen "{ type ipv4_addr . ifname; flags dynamic; }"
for n in 1 2 3 4 5 6 7 8; do
  d=pppoe-VWAN$n
  peer=$(ip -4 -o addr show dev $d | sed -n 's/.* peer \([0-9.]*\).*/\1/p')
  ip route add 203.0.113.$n/32 via $peer dev $d
  ip neigh replace $peer lladdr $(cat /sys/class/net/pr-VWAN$n/address) dev $d nud permanent
  nft add chain netdev far in$n "{ type filter hook ingress device pr-VWAN$n priority 0; }"
  nft add rule netdev far in$n ip daddr 203.0.113.$n add @seen "{ ip saddr . \"pr-VWAN$n\" }"
  echo "== local VWAN$n $(ip -4 -o addr show dev $d | sed -n 's/.* inet \([0-9.]*\).*/\1/p')"
done
for n in 1 2 3 4 5 6 7 8; do ip netns exec lan busybox ping -c 1 -W 1 203.0.113.$n >/dev/null 2>&1 & done
wait
nft list set netdev far seen | tr -d '\t\n ' | grep -o '[0-9]*\.[0-9]*\.[0-9]*\.[0-9]*\."pr-VWAN[0-9]*"' | sed 's/^\(.*\)\."pr-\(VWAN[0-9]*\)"$/== seen \2 \1/'
ubus call network.interface.VWAN3 down
i=0; while ip route show default metric 1 | grep -q pppoe-VWAN3; do i=$((i+1)); [ $i -lt 100 ] || break; sleep 0.1; done
echo "== down: $(ip route show default metric 1 | grep -c nexthop) hops"
ubus call network.interface.VWAN3 up
i=0; until ip route show default metric 1 | grep -q pppoe-VWAN3; do i=$((i+1)); [ $i -lt 300 ] || break; sleep 0.1; done
echo "== up: $(ip route show default metric 1 | grep -c nexthop) hops"
echo "== all reloads $(grep -c 'Reloading firewall due to ifup of VWAN' "$ROUTER_STATE/syslog.txt")"
# A policy rule pinning the LAN host to VWAN5, beside fw4's own table: a
# packet for VWAN1's far end leaves by VWAN5, also after fw4 reloads.
lan=$(ip netns exec lan ip -4 -o addr show scope global | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p' | head -1)
uci set ecmp.pin=rule; uci set ecmp.pin.src_ip="$lan"; uci set ecmp.pin.use=VWAN5; uci commit ecmp
ecmp4 sync || exit 8
fw4 reload >/dev/null 2>&1
nft list table ip ecmp4 >/dev/null 2>&1 && echo "== ecmp4 table after fw4 reload"
nft add chain netdev far pin "{ type filter hook ingress device pr-VWAN5 priority 1; }"
nft add rule netdev far pin ip daddr 203.0.113.1 counter
ip netns exec lan busybox ping -c 1 -W 1 203.0.113.1 >/dev/null 2>&1
echo "== pinned $(nft list chain netdev far pin | grep -o 'packets [0-9]*')"
"#;

#[test]
fn dials_by_device_pattern_reload_no_firewall_and_are_masqueraded() {
    let Some(fw4) = sim::run_fw4() else { return };
    let f = sim::RouterFiles::new();
    let (code, out) = f.run(
        &fw4,
        1,
        &["--lan", "--wan-zone", "stock", "--timeout", "120"],
        SCRIPT,
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("multidial: zone wan covers the dials by device (pppoe-VWAN+): no firewall reload per dial"),
        "{out}"
    );
    // The stock zone keeps its names, masq and mtu_fix; the dials are one
    // device pattern, and nothing fw4 does not know is on the zone.
    for line in [
        "firewall.@zone[1].network='wan' 'wan6'",
        "firewall.@zone[1].masq='1'",
        "firewall.@zone[1].mtu_fix='1'",
        "firewall.@zone[1].device='pppoe-VWAN+'",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }
    assert!(!out.contains("unknown option"), "{out}");
    assert!(out.contains("== boot reloads 0\n"), "{out}");
    // Each dial's packet left masqueraded to that dial's own address.
    for n in 1..=8 {
        let local = out
            .lines()
            .find_map(|l| l.strip_prefix(&format!("== local VWAN{n} ")))
            .unwrap_or_else(|| panic!("no address of VWAN{n}: {out}"));
        assert!(
            out.contains(&format!("== seen VWAN{n} {local}\n")),
            "VWAN{n} ({local}) not masqueraded: {out}"
        );
    }
    // The redial: out of the route, back in, and still no reload.
    assert!(out.contains("== down: 8 hops\n"), "{out}");
    assert!(out.contains("== up: 9 hops\n"), "{out}");
    assert!(out.contains("== all reloads 0\n"), "{out}");
    // Our nft table lives beside fw4's: a reload keeps it, and the pin
    // holds (VWAN1's far end reached through VWAN5).
    assert!(out.contains("== ecmp4 table after fw4 reload\n"), "{out}");
    assert!(out.contains("== pinned packets 1\n"), "{out}");
    let syslog = std::fs::read_to_string(f.d.0.join("state/syslog.txt")).unwrap_or_default();
    assert!(
        !syslog.contains("Reloading firewall due to ifup of VWAN"),
        "{syslog}"
    );
}
