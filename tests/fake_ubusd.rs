//! A ubusd stand-in for roots without netifd (the package tests): it
//! listens on a unix socket and answers `network.interface dump` with the
//! JSON file it was given (re-read on every call), in ubusd's own wire
//! format, through the core's blob encoder.
//! Usage: ecmp-fake-ubusd SOCKET DUMP.json

use ecmp::blob::{self, encode, HDR_LEN};
use ecmp::value::parse_json;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;

fn serve(mut s: std::os::unix::net::UnixStream, dump: &std::path::Path) -> std::io::Result<()> {
    s.write_all(&encode::hello(0x1234))?;
    loop {
        let mut head = [0u8; HDR_LEN + 4];
        s.read_exact(&mut head)?;
        let (ty, seq, _) = blob::parse_header(&head).map_err(std::io::Error::other)?;
        let len = blob::container_len(&head[HDR_LEN..]).map_err(std::io::Error::other)?;
        let mut rest = vec![0u8; len - 4];
        s.read_exact(&mut rest)?;
        const OBJ: u32 = 0x77;
        match ty {
            blob::MSG_LOOKUP => {
                s.write_all(&encode::lookup_reply(seq, "network.interface", OBJ))?;
                s.write_all(&encode::status(seq, 0, 0))?;
            }
            blob::MSG_INVOKE => {
                let text = std::fs::read(dump)?;
                let v = parse_json(&text).map_err(std::io::Error::other)?;
                s.write_all(&encode::data_reply(seq, OBJ, OBJ, &v))?;
                s.write_all(&encode::status(seq, OBJ, 0))?;
            }
            _ => s.write_all(&encode::status(seq, 0, 1))?,
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(sock), Some(dump)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: ecmp-fake-ubusd SOCKET DUMP.json");
        std::process::exit(2);
    };
    let _ = std::fs::remove_file(sock);
    let l = UnixListener::bind(sock).unwrap_or_else(|e| {
        eprintln!("ecmp-fake-ubusd: {sock}: {e}");
        std::process::exit(1);
    });
    let dump = std::path::PathBuf::from(dump);
    for c in l.incoming().flatten() {
        let _ = serve(c, &dump);
    }
}
