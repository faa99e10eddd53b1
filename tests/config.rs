//! Our UCI reader against OpenWrt's real one: every file of the corpus is
//! read by `uci -c DIR show ecmp` (the kit's uci) and by
//! `ecmp::input::ucifile::parse`; both must call the same files invalid and read
//! the same sections, types, options and values from the others.

use ecmp::input::uci::{parse_show, Section};
use std::process::Command;

/// Quoting forms, odd whitespace, abbreviations, comments, CRLF, values
/// across lines, and files uci refuses.
const CORPUS: &[&str] = &[
    "config ecmp 'ipv4'\n\toption metric '1'\n",
    "config ecmp ipv4\n\toption metric 1\n",
    "config ecmp \"ipv4\"\n\toption metric \"1\"\n",
    "config ecmp 'ipv4'\r\n\toption metric '1'\r\n",
    "config ecmp 'ipv4'\n\toption a 'it'\\''s'\n",
    "config ecmp 'ipv4'\n\toption a \"dq \\\"x\\\" \\\\ \\n \\t\"\n",
    "config ecmp 'ipv4'\n\toption a a'b'\"c\"d\n",
    "config ecmp 'ipv4'\n\toption a 'x' # comment\n# full line\n  # indented\n",
    "config ecmp 'ipv4'\n\toption a x#y\n",
    "config ecmp 'ipv4'\n\toption a 'x#y'\n",
    "config ecmp 'ipv4'\n\tlist proto pppoe\n\tlist proto 'dhcp'\n\tlist proto \"static\"\n",
    "config ecmp 'ipv4'\n\toption proto pppoe\n\tlist proto dhcp\n",
    "config ecmp 'ipv4'\n\tlist proto pppoe\n\toption proto dhcp\n",
    "config ecmp 'ipv4'\n\toption a one\n\toption a two\n",
    "config ecmp 'ipv4'\n\toption a ''\n",
    "config ecmp 'ipv4'\n\toption a\n",
    "config ecmp 'ipv4'\n\toption a x\n\toption a ''\n",
    "config ecmp 'ipv4'\n\tlist a ''\n",
    "c ecmp ipv4\no metric 3\nl proto x\n",
    "config member\n\toption interface wan\nconfig member\n\toption interface VWAN1\nconfig ecmp ipv6\n",
    "config member 'VWAN3'\n\toption weight 2\nconfig member 'VWAN3'\n\toption tier 1\n",
    "\n\n   \n\tconfig ecmp 'ipv4'\n\n\t\toption   metric    '5'   \n",
    "config ecmp 'ipv4'\n\toption a 'multi\nline'\n",
    "config ecmp 'ipv4'\n\toption a \"multi\nline\"\n",
    "config ecmp 'ipv4'\n\toption a long\\\nvalue\n",
    "config ecmp 'ipv4'\n\toption a x; option b y\n",
    "config ecmp 'ipv4'; option a y\n",
    "package ecmp\n\nconfig ecmp 'ipv4'\n\toption metric 1\n",
    "config ecmp 'ipv4'\n\toption a 'unicode é ✓'\n",
    "config ecmp 'ipv4'\n\toption a \\'not quoted\\'\n",
    "config 'ecmp' 'ipv4'\n",
    "config ecmp-x ipv4\n",
    "config globals 'globals'\n\toption ubus_timeout 2.5\n",
    "config ecmp 'ipv4'\n\toption a 'x'\n",
    "config ecmp 'ipv4'\n\toption a 'x'",
    "config ecmp 'ipv4'\n\toption a x\\",
    "\u{feff}config ecmp 'ipv4'\n",
    // Refused by uci.
    "option metric 1\n",
    "config ecmp 'ipv4'\nmetric 1\n",
    "config ecmp 'ip v4'\n",
    "config ecmp 'ip-v4'\n",
    "config ecmp 'ipv4'\n\toption 'met ric' 1\n",
    "config ecmp 'ipv4'\n\toption a 'unterminated\n",
    "config ecmp 'ipv4'\n\toption a \"unterminated\n",
    "config ecmp 'ipv4' extra\n",
    "config ecmp 'ipv4'\n\toption a b c\n",
    "config\n",
    "config ecmp ipv4\nconfig other ipv4\n",
    "bogus\n",
    "config ecmp 'ipv4'\n\toption\n",
    "config ''\n",
    "package 'bad name!'\n",
    "confi ecmp x\n",
];

fn sections(s: Vec<Section>) -> Vec<(String, String, Vec<(String, Vec<String>)>)> {
    s.into_iter()
        .map(|x| (x.name, x.kind, x.options.into_iter().collect()))
        .collect()
}

#[test]
fn our_reader_agrees_with_the_real_uci() {
    let Some(uci) = sim::real_uci() else { return };
    let d = sim::TempDir::new("ucifile");
    std::fs::create_dir_all(d.0.join("save")).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for (i, text) in CORPUS.iter().enumerate() {
        std::fs::write(d.0.join("ecmp"), text).unwrap();
        let o = Command::new(&uci)
            .arg("-c")
            .arg(&d.0)
            .arg("-t")
            .arg(d.0.join("save"))
            .args(["show", "ecmp"])
            .output()
            .unwrap();
        let real = if o.status.success() {
            Ok(sections(
                parse_show(&String::from_utf8_lossy(&o.stdout)).unwrap(),
            ))
        } else {
            Err(String::from_utf8_lossy(&o.stderr).into_owned())
        };
        let ours = ecmp::input::ucifile::parse(text.as_bytes()).map(sections);
        match (&real, &ours) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a, b, "case {i} {text:?}");
                valid += 1;
            }
            (Err(_), Err(_)) => invalid += 1,
            _ => panic!("case {i} {text:?}: uci says {real:?}, we say {ours:?}"),
        }
    }
    println!("ucifile: {valid} valid and {invalid} invalid files read alike by uci and by us");
    assert!(
        valid >= 25 && invalid >= 10,
        "{valid} valid, {invalid} invalid"
    );
}

/// The network-file scan that lets events of interfaces never ours pass
/// over the dump (`ecmp::input::netconf`): wherever it answers, the real uci
/// reads the same file to the same proto of the same interface. On the
/// corpus above turned into network files, uci's own forms, and 600
/// mutations of a network file with the characters uci treats specially.
#[test]
fn the_network_scan_agrees_with_the_real_uci() {
    let Some(uci) = sim::real_uci() else { return };
    let d = sim::TempDir::new("netconf");
    std::fs::create_dir_all(d.0.join("save")).unwrap();
    let net = "config interface 'loopback'\n\toption device 'lo'\n\toption proto 'static'\n\nconfig device\n\toption name 'br-lan'\n\tlist ports 'lan1'\n\nconfig interface 'lan'\n\toption proto static\n\nconfig interface \"wan\"\n\toption proto \"pppoe\"\n\toption password 'p#w d'\n\nconfig interface 'wan6'\n\toption proto 'dhcpv6'\n# a comment\nconfig interface 'VWAN1'\n\toption proto 'pppoe'\n\toption proto 'dhcp'\n";
    let mut files: Vec<Vec<u8>> = CORPUS
        .iter()
        .map(|t| {
            t.replace("ecmp 'ipv4'", "interface 'wan'")
                .replace("metric", "proto")
                .into_bytes()
        })
        .collect();
    files.push(net.as_bytes().to_vec());
    let special = b"'\"\\#; \t\r\nacolpistn_-0";
    files.extend(ecmp::fuzz::mutations(net.as_bytes(), special, 600));
    let names = ["loopback", "lan", "wan", "wan6", "VWAN1", "ipv4"];
    let mut answered = 0;
    for (i, text) in files.iter().enumerate() {
        let said: Vec<(&str, Vec<u8>)> = names
            .iter()
            .filter_map(|n| Some((*n, ecmp::input::netconf::proto_of(text, n)?.to_vec())))
            .collect();
        if said.is_empty() {
            continue;
        }
        std::fs::write(d.0.join("network"), text).unwrap();
        let o = Command::new(&uci)
            .arg("-c")
            .arg(&d.0)
            .arg("-t")
            .arg(d.0.join("save"))
            .args(["show", "network"])
            .output()
            .unwrap();
        let show = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "case {i}: uci refuses what the scan read: {text:?}"
        );
        let secs = parse_show(&show).unwrap();
        for (n, proto) in said {
            let real = secs
                .iter()
                .find(|s| s.name == n && s.kind == "interface")
                .and_then(|s| s.options.get("proto"))
                .and_then(|v| v.last().cloned());
            let ours = String::from_utf8_lossy(&proto).into_owned();
            assert_eq!(
                real.as_deref(),
                Some(ours.as_str()),
                "case {i}, {n}: {text:?}"
            );
            answered += 1;
        }
    }
    println!("netconf: {answered} answers of the scan read alike by uci");
    assert!(answered >= 500, "the scan answers plain files: {answered}");
}

/// Seed the fuzz corpora of the two readers from what the tests hold:
/// `cargo test -p ecmp-tests --test config -- --ignored seed_the_fuzz_corpora`.
#[test]
#[ignore]
fn seed_the_fuzz_corpora() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus");
    for (i, text) in CORPUS.iter().enumerate() {
        std::fs::write(format!("{root}/ucifile/seed-{i:02}"), text).unwrap();
    }
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/netifd");
    for e in std::fs::read_dir(fixtures).unwrap() {
        let p = e.unwrap().path();
        if p.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        let json = std::fs::read(&p).unwrap();
        let v = ecmp::input::value::parse_json(&json).unwrap();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        std::fs::write(
            format!("{root}/blobmsg/{name}"),
            ecmp::input::blob::encode::table(&v),
        )
        .unwrap();
    }
}
