//! Input: what an event acts on, read from the command line, the
//! environment, /etc/config and netifd. Nothing here writes to the
//! kernel; `read` is the only part that reads files of the system.
//!
//! - `cli`: the words of the command line (lowargs), and `--help`.
//! - `settings`: those words, the environment and the defaults resolved once.
//! - `event`: the hotplug event (ACTION, INTERFACE), or a sync.
//! - `options`: option values parsed and range-checked (data).
//! - `ucifile`, `config`: /etc/config/ecmp read as libuci reads it;
//!   `netconf`: a member's proto from /etc/config/network, quickly.
//! - `uci`: `uci show` output and batch quoting (multidial writes through uci).
//! - `read`: the config with the flags over it, netifd's dump, the
//!   firewall's port forwards and zones, NAT66.
//! - `blob`, `ubus`: ubusd's protocol as bytes, and the one call we make.
//! - `value`: JSON decoded to a loose tree, encoded to blobmsg for `dump`.
//! - `dump`: netifd's dump as typed data, read from blobmsg in place.
//! - `names`: netifd's protos, and the nearest known name to a typo.
//! - `track`: the tracking options (mwan3's names and defaults).
//! - `policy`: the policy rules (`config rule`, mwan3's names).

pub mod blob;
pub mod cli;
pub mod config;
pub mod dump;
pub mod event;
pub mod names;
pub mod netconf;
pub mod options;
pub mod policy;
pub mod read;
pub mod settings;
pub mod track;
pub mod ubus;
pub mod uci;
pub mod ucifile;
pub mod value;
