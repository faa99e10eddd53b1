//! Command line of multidial.

use argh::FromArgs;
use std::path::PathBuf;

/// Set up PPPoE multi-dial on OpenWrt: macvlan devices on each line, one
/// pppoe interface per dial, every dial in the wan firewall zone, and
/// (--balancer mwan3) mwan3's sections; ecmp4/ecmp6 balance by default.
/// Commands: plan (print the uci batch; the password masked), apply (feed
/// it to `uci batch` and commit; applying twice changes nothing), adopt
/// (take over pppoe dials on macvlans made by hand or by scripts), remove
/// (undo exactly what multidial made or adopted), up (bring dials up in
/// batches), import-mwan3 (print the uci batch that carries /etc/config/mwan3's
/// members, tracking and rules over to /etc/config/ecmp; what it cannot carry
/// on stderr).
#[derive(FromArgs, Debug, Default)]
#[argh(
    note = "Examples:
  multidial plan --line eth0.2 --dials 8 --username 0571xxx --password-file /root/pw
  multidial apply --line eth0.2 --line eth0.3 --dials 2 --username u --password-file - < pw
  multidial up --batch 4 --delay 5
  multidial adopt --dry-run     (take over a multi-dial made by hand or by the write-up's scripts)
  multidial plan --from-config   (the setup saved in /etc/config/ecmp, as LuCI's page saves it)
  multidial plan remove
  multidial remove
  multidial import-mwan3 > /tmp/ecmp.batch; uci batch < /tmp/ecmp.batch   (then stop mwan3)
Sections made carry `option multidial '1'`; remove deletes those only.
Dials are made `auto '0'`: at boot /etc/init.d/multidial brings them up in batches (--batch, --delay, kept in /etc/config/ecmp).
apply refuses to run over uncommitted uci changes, writes nothing unless uci took every line, and commits only then.
Nothing dials until `multidial up` (or the next boot): apply --up reloads the network and the firewall, then brings the dials up.
Exit status 0: done.",
    error_code(1, "some dials did not come up (up, apply --up)"),
    error_code(2, "usage"),
    error_code(
        3,
        "uci failed or refused a line, a section of that name is not ours, or ubus failed"
    )
)]
pub struct Args {
    /// plan, apply, adopt, remove, up or import-mwan3; `plan remove` prints what remove would do
    #[argh(positional)]
    pub command: Vec<String>,
    /// parent device of a line, e.g. eth0.2 (repeat for several lines)
    #[argh(option)]
    pub line: Vec<String>,
    /// dials per line (default 2)
    #[argh(option, default = "2")]
    pub dials: u32,
    /// PPPoE username
    #[argh(option)]
    pub username: Option<String>,
    /// file holding the PPPoE password ('-' for stdin); never give it on the command line
    #[argh(option)]
    pub password_file: Option<PathBuf>,
    /// dials (numbers n of VWANn) that carry IPv6, e.g. 1,2; 'all' or 'none' (default none)
    #[argh(option, default = "String::from(\"none\")")]
    pub ipv6: String,
    /// interface n gets metric base+n (default 10, above ecmp's route at 1)
    #[argh(option, default = "10")]
    pub metric_base: u32,
    /// interface name prefix (default VWAN: VWAN1, VWAN2...)
    #[argh(option, default = "String::from(\"VWAN\")")]
    pub iface_prefix: String,
    /// macvlan device prefix (default veth: vethN on one line, veth<line>0<dial> on several)
    #[argh(option, default = "String::from(\"veth\")")]
    pub dev_prefix: String,
    /// firewall zone the dials join (default wan)
    #[argh(option, default = "String::from(\"wan\")")]
    pub zone: String,
    /// ecmp (default: ecmp4/ecmp6 own the default route) or mwan3
    #[argh(option, default = "String::from(\"ecmp\")")]
    pub balancer: String,
    /// mwan3 track IP (repeatable; default 223.5.5.5 and 223.6.6.6)
    #[argh(option)]
    pub track_ip: Vec<String>,
    /// plan: print the password instead of ********
    #[argh(switch)]
    pub show_password: bool,
    /// up (and apply, for boot): dials brought up at a time (default 4)
    #[argh(option, default = "4")]
    pub batch: u32,
    /// up (and apply, for boot): seconds between batches (default 5)
    #[argh(option, default = "5")]
    pub delay: u32,
    /// apply, adopt: then reload the network and the firewall and bring the dials up (as `up`)
    #[argh(switch)]
    pub up: bool,
    /// adopt: print the uci batch, change nothing
    #[argh(switch)]
    pub dry_run: bool,
    /// up: seconds to wait for the last dials before reporting (default 30)
    #[argh(option, default = "30")]
    pub wait: u32,
    /// uci program (default /sbin/uci)
    #[argh(option, default = "PathBuf::from(\"/sbin/uci\")")]
    pub uci: PathBuf,
    /// uci config directory (uci -c; default /etc/config)
    #[argh(option, default = "PathBuf::from(\"/etc/config\")")]
    pub config_dir: PathBuf,
    /// uci directory of uncommitted changes (uci -t; default uci's own, /tmp/.uci)
    #[argh(option)]
    pub save_dir: Option<PathBuf>,
    /// plan, apply: take the setup from our `config multidial` in /etc/config/ecmp (as LuCI's Multi-dial page saves it) instead of the flags; up: its batch and delay
    #[argh(switch)]
    pub from_config: bool,
    /// print the version and exit
    #[argh(switch)]
    pub version: bool,
    /// firewall4's program (default /sbin/fw4): present, the dials join the zone by device pattern; absent (firewall3), by name
    #[argh(option, default = "PathBuf::from(\"/sbin/fw4\")")]
    pub fw4: PathBuf,
    /// ubus program (default /bin/ubus)
    #[argh(option, default = "PathBuf::from(\"/bin/ubus\")")]
    pub ubus: PathBuf,
}
