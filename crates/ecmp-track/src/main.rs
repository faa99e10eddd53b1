//! ecmp-track: see the library (`ecmp_track`) and `ecmp-track --help`.

fn main() {
    std::process::exit(ecmp_track::cli::main());
}
