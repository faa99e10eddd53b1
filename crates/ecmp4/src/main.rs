//! ecmp4: one multipath IPv4 default route over every live WAN link.
//! All of the work is in the `ecmp` core crate.

fn main() {
    std::process::exit(ecmp::app::main(ecmp::Family::V4));
}
