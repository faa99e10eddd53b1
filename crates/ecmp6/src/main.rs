//! ecmp6: one multipath IPv6 default route over every live WAN link.
//! All of the work is in the `ecmp` core crate.

/// A process of a few milliseconds on musl, whose allocator unmaps pages
/// on nearly every growth: see `ecmp::arena`. glibc's (tests, benches on
/// the host) does not, and stays.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: ecmp::arena::Arena = ecmp::arena::Arena::new();

fn main() {
    std::process::exit(ecmp::app::main(ecmp::Family::V6));
}
