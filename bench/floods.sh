#!/usr/bin/env bash
# Measures netfx on the captures an exposed VM gets when attacked (issue
# "hostile traffic"): peak memory, wall time and time a packet of
# `netfx conns` and `netfx report` on each kind bench/floodgen writes.
#
#   bench/floods.sh [SCALE] [ro]   SCALE multiplies the packets (default 1);
#                                  ro runs netfx with TMPDIR=/proc, where no
#                                  file can be made, as with a read-only TMPDIR
#
# The sizes at SCALE 1 are the issue's: 3 M SYNs in 300 s, 3 M one-packet
# UDP flows in 60 s and in an hour, 3 M DNS query/answer pairs with new
# names, 200 k DNS responses of 64 answers, 3 M UDP datagrams, 1 M DNS
# responses to no query, and 100,000 connections whose data all comes
# after a hole (1.9 M packets); beyond the issue, 3 M SYNs from the VM to
# random ports of random hosts in a minute (masscan), 200 k DNS
# responses of 64 AAAA answers with long names of their own, 3 M ICMP echo
# requests from random sources in 300 s, and 1 M first fragments of UDP
# datagrams that never complete. Needs Go and GNU time (/usr/bin/time). Data goes
# to bench/data (git-ignored); at SCALE 10 it takes about 13 GB.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1}
tmpdir=${TMPDIR:-/tmp}
[ "${2:-}" = ro ] && tmpdir=/proc
data=bench/data/floods-x$scale
mkdir -p "$data"
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time (Debian: apt-get install time)" >&2; exit 1; }
CGO_ENABLED=0 go build -o bench/data/netfx ./cmd/netfx
go build -o bench/data/floodgen ./bench/floodgen

# name kind packets seconds, at SCALE 1
captures=(
  synflood synflood 3000000 300
  udpflows udpflows 3000000 60
  udpflows-hour udpflows 3000000 3600
  dnsnames dnsnames 3000000 300
  dnsanswers dnsanswers 200000 60
  udpflood udpflood 3000000 300
  dnsflood dnsflood 1000000 300
  tcpholes tcpholes 1900000 60
  randomscan randomscan 3000000 60
  dnslongnames dnslongnames 200000 60
  pingflood pingflood 3000000 300
  fragflood fragflood 1000000 300
)
printf '%-14s %10s  %-30s %-30s\n' capture packets "conns: peak, wall, per packet" "report: peak, wall, per packet"
for ((i = 0; i < ${#captures[@]}; i += 4)); do
  name=${captures[i]} kind=${captures[i + 1]}
  n=$((captures[i + 2] * scale)) secs=$((captures[i + 3] * scale))
  f=$data/$name.pcap
  [ -f "$f" ] || bench/data/floodgen -kind "$kind" -n "$n" -seconds "$secs" -o "$f"
  packets=$n
  [ "$kind" = dnsnames ] && packets=$((2 * n))
  row=()
  for cmd in conns report; do
    TMPDIR=$tmpdir /usr/bin/time -f '%M %e' -o "$data/time" bench/data/netfx "$cmd" -q "$f" >/dev/null 2>"$data/stderr" || true
    read -r kb secs_wall <"$data/time"
    row+=("$(printf '%5d MiB %6.1f s %5.2f us' $((kb / 1024)) "$secs_wall" "$(echo "$secs_wall * 1000000 / $packets" | bc -l)")")
    grep -h 'ended early' "$data/stderr" | sed 's/^/    /' >&2 || true
  done
  printf '%-14s %10d  %-30s %-30s\n' "$name" "$packets" "${row[0]}" "${row[1]}"
done
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); TMPDIR $tmpdir"
