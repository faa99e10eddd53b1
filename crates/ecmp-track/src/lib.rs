//! ecmp-track: one process probing every ecmp4/ecmp6 member; a link that
//! is up but dead leaves the route, comes back by itself, and can be
//! redialled on its own. Started by /etc/init.d/ecmp-track when
//! `ecmp.track.enabled` is 1.
//!
//! - `cli`: the command line into one `Settings` per family.
//! - `icmp`: echo requests and replies on raw sockets bound to a device.
//! - `tcp`: TCP connects from a dial (`track_method 'tcp'`).
//! - `dns`: DNS queries from a dial (`track_method 'dns'`).
//! - `tracker`: the poll loop, the state file, reprogramming, redial.
//!
//! The verdicts themselves (rounds to alive/dead, the state file's format)
//! are the core's (`ecmp::plan::track`), which ecmp4/ecmp6 read too.

pub mod cli;
pub mod dns;
pub mod icmp;
pub mod tcp;
pub mod tracker;
