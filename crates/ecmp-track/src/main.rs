//! ecmp-track: one process probing every member of both families; a link
//! that is up but dead leaves the route, comes back by itself, and can be
//! redialled on its own. Started by /etc/init.d/ecmp-track when
//! `ecmp.track.enabled` is 1.

mod cli;
mod icmp;
mod tracker;

fn main() {
    std::process::exit(cli::main());
}
