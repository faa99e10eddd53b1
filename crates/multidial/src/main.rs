fn main() {
    std::process::exit(multidial::main());
}
