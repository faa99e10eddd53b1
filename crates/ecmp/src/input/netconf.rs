//! The proto /etc/config/network gives one interface, for the events of
//! interfaces no family of ours takes (loopback, lan, the other family's
//! dials): each one ran a whole event, a ubus dump included, and at boot
//! netifd, busy bringing every dial up, answered those first dumps in up
//! to 200 ms.
//!
//! A scan of the file's lines, not [`crate::input::ucifile::parse`] (160 us
//! for a 64-dial file, on every event): it reads only the plain forms
//! uci itself writes (`config TYPE 'NAME'`, `option NAME 'VALUE'`, words
//! bare or in single or double quotes) and answers None, "not known", for
//! anything else in the file: an escape, a value across lines, `;`, a
//! comment after a command, a name given to two sections, a line libuci
//! would refuse. Not known means the event runs. When it answers, the
//! full parser (held to the real `uci` by a differential test) gives the
//! same proto: a unit test holds it to that on odd and mutated files.

use crate::input::ucifile::valid;

/// The words of one line (at most 4: no line we read has more), or None
/// for a form this scan does not read.
fn words(line: &[u8]) -> Option<Words<'_>> {
    let mut out = Words::default();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && matches!(line[i], b' ' | b'\t') {
            i += 1;
        }
        if i == n {
            return Some(out);
        }
        let quoted = matches!(line[i], b'\'' | b'"');
        let (start, end, next) = match line[i] {
            // A comment: a whole line only.
            b'#' if out.len == 0 => return Some(out),
            q @ (b'\'' | b'"') => {
                let close = line[i + 1..].iter().position(|c| *c == q)? + i + 1;
                (i + 1, close, close + 1)
            }
            _ => {
                let e = line[i..]
                    .iter()
                    .position(|c| matches!(c, b' ' | b'\t'))
                    .map_or(n, |p| i + p);
                (i, e, e)
            }
        };
        let w = &line[start..end];
        // Escapes, `;`, comments after a command and words glued to
        // quotes are libuci's business; in quotes only escapes are.
        let odd = |c: &u8| match quoted {
            true => matches!(c, b'\\' | b'\r'),
            false => matches!(c, b'\\' | b';' | b'#' | b'\'' | b'"' | b'\r'),
        };
        if w.iter().any(odd) || (next < n && !matches!(line[next], b' ' | b'\t')) {
            return None;
        }
        *out.w.get_mut(out.len)? = w;
        out.len += 1;
        i = next;
    }
}

#[derive(Default)]
struct Words<'a> {
    w: [&'a [u8]; 4],
    len: usize,
}

/// Bytes equal, compared here (a library compare is a call per name).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// FNV-1a.
fn hash(b: &[u8]) -> u32 {
    b.iter().fold(0x811c_9dc5u32, |h, c| {
        (h ^ u32::from(*c)).wrapping_mul(0x0100_0193)
    })
}

/// The proto of interface `iface` in `src` (the text of
/// /etc/config/network); None when the file does not say it plainly.
pub fn proto_of<'a>(src: &'a [u8], iface: &str) -> Option<&'a [u8]> {
    let mut in_section = false;
    let mut current = false;
    let mut found = false;
    let mut proto = None;
    let mut seen: Vec<(u32, &[u8], &[u8])> = Vec::new();
    for raw in src.split(|c| *c == b'\n') {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Words { w, len } = words(line)?;
        match ((len > 0).then_some(w[0]), len) {
            (None, _) => {}
            (Some(b"config" | b"c"), 2 | 3) => {
                if !valid(w[1], false, false) {
                    return None;
                }
                let name = w[2];
                if len == 3 && !valid(name, true, false) {
                    return None;
                }
                // Sections of one name and two types: libuci refuses the
                // file.
                if len == 3 {
                    // By a hash of the name first: 64 dials are 2,000
                    // pairs of names.
                    let h = hash(name);
                    match seen.iter().find(|(k, n, _)| *k == h && same(n, name)) {
                        Some((_, _, t)) if !same(t, w[1]) => return None,
                        Some(_) => {}
                        None => seen.push((h, name, w[1])),
                    }
                }
                in_section = true;
                current = same(name, iface.as_bytes());
                if current {
                    // Two sections of one name merge in libuci: not ours
                    // to read.
                    if found || w[1] != b"interface" {
                        return None;
                    }
                    found = true;
                }
            }
            (Some(b"option" | b"o" | b"list" | b"l"), 3) => {
                if !in_section || !valid(w[1], true, false) {
                    return None;
                }
                if current && w[1] == b"proto" {
                    if w[0][0] == b'l' || w[2].is_empty() {
                        return None;
                    }
                    proto = Some(w[2]);
                }
            }
            (Some(b"package" | b"p"), 2) if valid(w[1], true, true) => {}
            _ => return None,
        }
    }
    proto
}

/// A quick look for the proto of `iface` as `uci commit` writes it
/// (`config interface 'NAME'`, then `option proto 'P'` lines below it),
/// for the usual event, a member's: when it finds one of ours, the event
/// runs, and running an event is never wrong, so nothing else in the file
/// needs reading. Any other answer is [`proto_of`]'s to give.
pub fn quick_proto<'a>(src: &'a [u8], iface: &str) -> Option<&'a [u8]> {
    let head: &[u8] = b"config interface '";
    let name = iface.as_bytes();
    let mut from = 0;
    let at = loop {
        let k = from + src.get(from..)?.iter().position(|c| *c == b'c')?;
        let rest = &src[k..];
        if rest.len() > head.len() + name.len()
            && same(&rest[..head.len()], head)
            && same(&rest[head.len()..head.len() + name.len()], name)
            && rest[head.len() + name.len()] == b'\''
            && (k == 0 || src[k - 1] == b'\n')
        {
            break k + head.len() + name.len() + 1;
        }
        from = k + 1;
    };
    for line in src[at..].split(|c| *c == b'\n').skip(1) {
        let t = line.trim_ascii_start();
        if t.starts_with(b"config") {
            return None;
        }
        if let Some(v) = t.strip_prefix(b"option proto '") {
            let end = v.iter().position(|c| *c == b'\'')?;
            return Some(&v[..end]);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::ucifile;

    const NET: &str = "config interface 'loopback'\n\toption device 'lo'\n\toption proto 'static'\n\toption ipaddr '127.0.0.1'\n\nconfig globals 'globals'\n\toption ula_prefix 'fd12:3456:789a::/48'\n\nconfig device\n\toption name 'br-lan'\n\tlist ports 'lan1'\n\nconfig interface 'lan'\n\toption device 'br-lan'\n\toption proto static\n\nconfig interface \"wan\"\n\toption device 'eth1'\n\toption proto \"pppoe\"\n\toption password 'p#w d'\n\nconfig interface 'wan6'\n\toption device '@wan'\n\toption proto 'dhcpv6'\n# a comment\n  \t\nconfig interface 'VWAN1'\n\toption proto 'pppoe'\r\n\toption proto 'dhcp'\n";

    /// What the full parser says `iface`'s proto is.
    fn full(src: &[u8], iface: &str) -> Option<String> {
        let secs = ucifile::parse(src).ok()?;
        let s = secs
            .iter()
            .find(|s| s.name == iface && s.kind == "interface")?;
        s.options.get("proto")?.last().cloned()
    }

    #[test]
    fn plain_files_are_read() {
        let p =
            |i: &str| proto_of(NET.as_bytes(), i).map(|b| String::from_utf8_lossy(b).into_owned());
        assert_eq!(p("loopback").as_deref(), Some("static"));
        assert_eq!(p("lan").as_deref(), Some("static"));
        assert_eq!(p("wan").as_deref(), Some("pppoe"));
        assert_eq!(p("wan6").as_deref(), Some("dhcpv6"));
        assert_eq!(p("VWAN1").as_deref(), Some("dhcp"), "the last one, as uci");
        assert_eq!(p("VWAN1_6"), None, "not in the file (dynamic)");
        assert_eq!(p("globals"), None, "not an interface");
        for i in ["loopback", "lan", "wan", "wan6", "VWAN1"] {
            assert_eq!(p(i), full(NET.as_bytes(), i), "{i}");
        }
    }

    #[test]
    fn the_quick_look_finds_what_uci_writes() {
        let q = |i: &str| {
            quick_proto(NET.as_bytes(), i).map(|b| String::from_utf8_lossy(b).into_owned())
        };
        assert_eq!(q("loopback").as_deref(), Some("static"));
        assert_eq!(q("wan6").as_deref(), Some("dhcpv6"));
        assert_eq!(
            q("VWAN1").as_deref(),
            Some("pppoe"),
            "the first: ours or not, a full read decides"
        );
        assert_eq!(q("lan"), None, "a bare value is not uci's own form");
        assert_eq!(q("wan"), None, "nor a double-quoted name");
        assert_eq!(q("VWAN"), None);
        assert_eq!(q("globals"), None);
    }

    #[test]
    fn what_it_does_not_read_plainly_is_not_known() {
        for odd in [
            "config interface 'wan'\n\toption proto 'pp\\\noe'\n",
            "config interface 'wan'\n\toption proto \"pp\\\"oe\"\n",
            "config interface 'wan'\n\toption proto 'ppp\noe'\n",
            "config interface 'wan'; option proto 'pppoe'\n",
            "config interface 'wan' # the wan\n\toption proto 'pppoe'\n",
            "config interface 'wan'\n\toption proto pp'poe'\n",
            "config interface 'wan'\n\toption proto 'pppoe'\nconfig interface 'wan'\n\toption proto 'dhcp'\n",
            "config interface 'wan'\n\tlist proto 'pppoe'\n",
            "config interface 'wan'\n\toption proto ''\n",
            "option proto 'pppoe'\nconfig interface 'wan'\n",
            "config interface 'wan'\n\toption proto 'pppoe'\nbogus line\n",
            "config interface 'w-an'\n\toption proto 'pppoe'\n",
            "config interface 'wan' extra\n\toption proto 'pppoe'\n",
            "config device 'wan'\n\toption proto 'pppoe'\n",
        ] {
            assert_eq!(proto_of(odd.as_bytes(), "wan"), None, "{odd:?}");
        }
    }

    /// Whenever the scan answers, the full parser (which the real uci
    /// holds to its reading) answers the same: on the file above, and on
    /// 20,000 mutations of it (bytes replaced, inserted and removed with
    /// the characters uci treats specially).
    #[test]
    fn an_answer_is_always_the_full_parsers() {
        let names = ["loopback", "lan", "wan", "wan6", "VWAN1", "globals", "x"];
        let special = b"'\"\\#; \t\r\nacolpistn_-0";
        let mut answered = 0;
        for b in crate::fuzz::mutations(NET.as_bytes(), special, 20_000) {
            for i in names {
                if let Some(p) = proto_of(&b, i) {
                    answered += 1;
                    let p = String::from_utf8_lossy(p).into_owned();
                    assert_eq!(
                        Some(p),
                        full(&b, i),
                        "{i} in {:?}",
                        String::from_utf8_lossy(&b)
                    );
                }
            }
        }
        assert!(
            answered > 20_000,
            "the scan answers plain files: {answered}"
        );
    }
}
