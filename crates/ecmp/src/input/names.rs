//! Names a user types and we know: netifd's protos, and the nearest known
//! name to a typo, so an error can say "did you mean 'pppoe'?".

/// The protos of OpenWrt's netifd handlers (base, ppp, odhcp6c, the
/// tunnel and modem packages): a proto here that no interface has is a
/// real one that is simply not configured; any other is a typo.
pub const NETIFD_PROTOS: &[&str] = &[
    "static",
    "dhcp",
    "dhcpv6",
    "pppoe",
    "pppoa",
    "ppp",
    "pptp",
    "l2tp",
    "3g",
    "qmi",
    "ncm",
    "mbim",
    "wwan",
    "modemmanager",
    "6in4",
    "6to4",
    "6rd",
    "dslite",
    "map",
    "464xlat",
    "wireguard",
    "openvpn",
    "vpnc",
    "openconnect",
    "gre",
    "gretap",
    "grev6",
    "grev6tap",
    "vti",
    "vtiv6",
    "xfrm",
    "vxlan",
    "vxlan6",
    "ipip",
    "ipip6",
    "relay",
    "none",
    "batadv",
];

/// Edit distance (insertions, deletions, substitutions), on bytes.
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = (diag + usize::from(x != y)).min(row[j] + 1).min(up + 1);
            diag = up;
        }
    }
    row[b.len()]
}

/// The known name nearest to `word`, if one is near enough to be what
/// was meant (at most a third of its letters wrong, and at least one).
pub fn nearest<'k>(word: &str, known: impl IntoIterator<Item = &'k str>) -> Option<&'k str> {
    let limit = (word.len().max(3) / 3).max(1);
    known
        .into_iter()
        .map(|k| (distance(word, k), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// `; did you mean 'pppoe'?`, or nothing.
pub fn did_you_mean<'k>(word: &str, known: impl IntoIterator<Item = &'k str>) -> String {
    nearest(word, known)
        .map(|k| format!("; did you mean '{k}'?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_names() {
        assert_eq!(distance("ppoe", "pppoe"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("metrc", "metric"), 1);
        assert_eq!(
            nearest("ppoe", NETIFD_PROTOS.iter().copied()),
            Some("pppoe")
        );
        assert_eq!(
            nearest("dhcp6", NETIFD_PROTOS.iter().copied()),
            Some("dhcp")
        );
        assert_eq!(nearest("ecmpp", ["ecmp", "member"]), Some("ecmp"));
        assert_eq!(nearest("xyzzy", ["ecmp", "member"]), None);
        assert_eq!(nearest("", ["pppoe"]), None);
        assert_eq!(
            did_you_mean("metrc", ["metric", "table"]),
            "; did you mean 'metric'?"
        );
        assert_eq!(did_you_mean("qqqqqq", ["metric"]), "");
    }
}
