//! multidial as a process: uci and ubus are stand-ins that record their
//! argv and stdin, so the password's path is visible: it must reach
//! `uci batch` on stdin and appear in no argv and no output.

use sim::{script, TempDir};
use std::process::Command;

const NETWORK: &str = "network.loopback=interface
network.loopback.device='lo'
network.lan=interface
network.lan.device='br-lan'
network.wan=interface
network.wan.device='eth0.2'
network.wan.proto='pppoe'";
const FIREWALL: &str = "firewall.@zone[0]=zone
firewall.@zone[0].name='lan'
firewall.@zone[0].network='lan'
firewall.@zone[1]=zone
firewall.@zone[1].name='wan'
firewall.@zone[1].network='wan' 'wan6'";
const PASSWORD: &str = "pw-Zq8!x y";

fn fake_uci(d: &TempDir) -> std::path::PathBuf {
    std::fs::write(d.0.join("network.show"), NETWORK).unwrap();
    std::fs::write(d.0.join("firewall.show"), FIREWALL).unwrap();
    let uci = d.0.join("uci");
    script(
        &uci,
        &format!(
            "echo \"$*\" >> '{0}/argv.log'\n\
             case \"$*\" in\n\
             '-q show network') cat '{0}/network.show' ;;\n\
             '-q show firewall') cat '{0}/firewall.show' ;;\n\
             '-q show mwan3') exit 1 ;;\n\
             batch) cat >> '{0}/stdin.log' ;;\n\
             *) exit 1 ;;\n\
             esac",
            d.0.display()
        ),
    );
    uci
}

fn multidial(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(sim::bin("multidial"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn password_goes_to_uci_on_stdin_only() {
    let d = TempDir::new("multidial");
    let uci = fake_uci(&d);
    let pw = d.0.join("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let base = [
        "--line",
        "eth0.2",
        "--dials",
        "2",
        "--username",
        "u1",
        "--ipv6",
        "1",
    ];
    let with = |cmd: &str, extra: &[&str]| {
        let mut a = vec![cmd];
        a.extend(base);
        a.extend([
            "--password-file",
            pw.to_str().unwrap(),
            "--uci",
            uci.to_str().unwrap(),
        ]);
        a.extend(extra);
        multidial(&a.iter().map(|s| *s).collect::<Vec<_>>())
    };
    let (code, out, err) = with("plan", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("set network.VWAN1.password='********'"),
        "{out}"
    );
    assert!(
        out.contains("set network.VWAN1.ipv6='auto'") && out.contains("set network.VWAN2.ipv6='0'")
    );
    assert!(out.contains("add_list firewall.@zone[1].network='VWAN2'"));
    assert!(!out.contains(PASSWORD) && !err.contains(PASSWORD));
    let (_, out, _) = with("plan", &["--show-password"]);
    assert!(out.contains(&format!("password='{PASSWORD}'")), "{out}");
    let (code, out, err) = with("apply", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("multidial: 2 dials on 1 line (eth0.2): 30 changes"),
        "{out}"
    );
    assert!(!out.contains(PASSWORD) && !err.contains(PASSWORD));
    let argv = std::fs::read_to_string(d.0.join("argv.log")).unwrap();
    assert!(!argv.contains(PASSWORD), "{argv}");
    assert!(argv.lines().any(|l| l == "batch"));
    let stdin = std::fs::read_to_string(d.0.join("stdin.log")).unwrap();
    assert!(
        stdin.contains(&format!("set network.VWAN1.password='{PASSWORD}'")),
        "{stdin}"
    );
    assert!(
        stdin.ends_with("commit network\ncommit firewall\n"),
        "{stdin}"
    );
    // The password from stdin works the same.
    let mut c = Command::new(sim::bin("multidial"));
    c.arg("plan")
        .args(base)
        .args(["--password-file", "-", "--uci", uci.to_str().unwrap()]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut ch = c.spawn().unwrap();
    use std::io::Write;
    ch.stdin
        .take()
        .unwrap()
        .write_all(PASSWORD.as_bytes())
        .unwrap();
    let o = ch.wait_with_output().unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("password='********'"));
    // Never on the command line: there is no flag for it.
    let (code, _, err) = multidial(&[
        "plan",
        "--line",
        "eth0.2",
        "--username",
        "u",
        "--password",
        "x",
    ]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn usage_errors_and_refusals() {
    let d = TempDir::new("multidial");
    let uci = fake_uci(&d);
    let pw = d.0.join("pw");
    std::fs::write(&pw, "p\n").unwrap();
    let u = uci.to_str().unwrap();
    let p = pw.to_str().unwrap();
    for (args, code, msg) in [
        (
            vec!["plan", "--username", "u", "--password-file", p, "--uci", u],
            2,
            "give at least one --line",
        ),
        (
            vec!["plan", "--line", "eth0.2", "--password-file", p, "--uci", u],
            2,
            "give --username",
        ),
        (
            vec!["plan", "--line", "eth0.2", "--username", "u", "--uci", u],
            2,
            "give --password-file",
        ),
        (
            vec![
                "plan",
                "--line",
                "eth0.2",
                "--username",
                "u",
                "--password-file",
                "/nonexistent",
                "--uci",
                u,
            ],
            2,
            "password file /nonexistent",
        ),
        (
            vec![
                "plan",
                "--line",
                "eth0.2",
                "--username",
                "u",
                "--password-file",
                p,
                "--uci",
                u,
                "--ipv6",
                "9",
            ],
            2,
            "--ipv6: '9'",
        ),
        (
            vec![
                "plan",
                "--line",
                "eth0.2",
                "--username",
                "u",
                "--password-file",
                p,
                "--uci",
                u,
                "--balancer",
                "mwan3",
            ],
            3,
            "mwan3 is not installed",
        ),
        (
            vec![
                "plan",
                "--line",
                "eth0.2",
                "--username",
                "u",
                "--password-file",
                p,
                "--uci",
                "/nonexistent/uci",
            ],
            3,
            "/nonexistent/uci -q show network",
        ),
        (vec!["fly"], 2, "unknown command 'fly'"),
        (vec!["up", "--uci", u], 2, "no dials made by multidial"),
    ] {
        let (c, _, err) = multidial(&args);
        assert_eq!(c, code, "{args:?}: {err}");
        assert!(err.contains(msg), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
}

#[test]
fn up_in_batches_and_reports_which_came_up() {
    let d = TempDir::new("multidial");
    let uci = fake_uci(&d);
    // The config after apply: 5 dials of ours.
    let mut net = String::from(NETWORK);
    for n in 1..=5 {
        net.push_str(&format!("\nnetwork.VWAN{n}=interface\nnetwork.VWAN{n}.proto='pppoe'\nnetwork.VWAN{n}.multidial='1'"));
    }
    std::fs::write(d.0.join("network.show"), net).unwrap();
    let ubus = d.0.join("ubus");
    script(
        &ubus,
        &format!(
            "echo \"$*\" >> '{0}/ubus.log'\n\
             [ \"$*\" = 'call network.interface dump' ] || exit 0\n\
             echo '{{\"interface\":[{{\"interface\":\"VWAN1\",\"up\":true}},{{\"interface\":\"VWAN2\",\"up\":true}},{{\"interface\":\"VWAN3\",\"up\":false}},{{\"interface\":\"VWAN4\",\"up\":true}},{{\"interface\":\"VWAN5\",\"up\":true}}]}}'",
            d.0.display()
        ),
    );
    let (code, out, err) = multidial(&[
        "up",
        "--batch",
        "2",
        "--delay",
        "0",
        "--wait",
        "1",
        "--uci",
        uci.to_str().unwrap(),
        "--ubus",
        ubus.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        out,
        "multidial: up VWAN1 VWAN2\nmultidial: up VWAN3 VWAN4\nmultidial: up VWAN5\n\
         multidial: 4 of 5 up: VWAN1 VWAN2 VWAN4 VWAN5\nmultidial: not up after 1 s: VWAN3\n"
    );
    let log = std::fs::read_to_string(d.0.join("ubus.log")).unwrap();
    let calls: Vec<&str> = log.lines().filter(|l| l.ends_with(" up")).collect();
    assert_eq!(calls[0], "call network.interface.VWAN1 up");
    assert_eq!(calls.len(), 5);
}
