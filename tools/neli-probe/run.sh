#!/bin/sh
# Size and dump time of a raw rtnetlink route dump against neli's (root:
# a private network namespace with 64 member tables and 64 addresses).
set -eu
cd "$(dirname "$0")"
cargo build --quiet --release && cp target/release/neli-probe target/raw
cargo build --quiet --release --features neli && cp target/release/neli-probe target/neli
printf 'size: raw %s B, neli %s B\n' "$(wc -c < target/raw)" "$(wc -c < target/neli)"
unshare -n sh -c '
ip link set lo up
for i in $(seq 1 64); do
	ip route add 10.$i.0.0/16 dev lo
	ip route add default dev lo table $((4200 + i)) proto 236
	ip addr add 100.66.0.$i/32 dev lo
done
ip route add default dev lo metric 1
for r in 1 2 3; do printf "raw:  "; target/raw 2000; printf "neli: "; target/neli 2000; done'
