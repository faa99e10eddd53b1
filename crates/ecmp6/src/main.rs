//! ecmp6: one multipath IPv6 default route over every live WAN link.
//! All of the work is in the `ecmp` core crate.

fn main() {
    std::process::exit(ecmp::app::main(ecmp::Family::V6));
}
