#!/usr/bin/env bash
# Writes cmd/netfx/default.pgo, the CPU profile the Go toolchain builds
# netfx with (profile-guided optimization: `go build` uses a default.pgo in
# the main package's folder on its own). The profile is of netfx built
# without one, on the work it is tuned for: conns (NDJSON, Zeek, CSV) and
# report (table, JSON) on the 1 GiB pcapgen capture, about two thirds of
# the samples, and conns and report on a DNS answer flood (with TMPDIR
# writable and not) and report on one-packet UDP flows, two of
# bench/floods.sh's captures. Run it again when the hot path changes
# much; see docs/performance.md.
#
#   bench/pgo.sh
#
# Needs Go and ../shared/tools/pcapgen. Data goes to bench/data (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
data=bench/data
flood=$data/floods-x1
mkdir -p "$data" "$flood"
gen=../shared/tools/pcapgen
[ -d "$gen" ] || { echo "pcapgen not found at $gen" >&2; exit 1; }
(cd "$gen" && go build -o "$OLDPWD/$data/pcapgen" .)
cap="$data/synth-1GiB.pcap"
[ -f "$cap" ] || "$data/pcapgen" -q -o "$cap" -size 1GiB -seed 1
go build -o "$data/floodgen" ./bench/floodgen
# name kind packets seconds, as bench/floods.sh makes them at scale 1
for spec in "dnsanswers 200000 60" "udpflows 3000000 60"; do
  read -r kind n secs <<<"$spec"
  [ -f "$flood/$kind.pcap" ] || "$data/floodgen" -kind "$kind" -n "$n" -seconds "$secs" -o "$flood/$kind.pcap"
done
CGO_ENABLED=0 go build -pgo=off -o "$data/netfx-nopgo" ./cmd/netfx

profiles=$(mktemp -d)
trap 'rm -rf "$profiles"' EXIT
n=0
# profile ARGS... : runs netfx ARGS with its CPU profile kept
profile() {
  n=$((n + 1))
  NETFX_CPUPROFILE="$profiles/$n.prof" "$data/netfx-nopgo" "$@" >/dev/null 2>&1
}
cat "$cap" >/dev/null # warm the page cache
for _ in 1 2 3 4; do
  profile conns -q "$cap"
  profile report -q "$cap"
done
profile conns -q --format zeek "$cap"
profile conns -q --format csv "$cap"
profile report -q --json "$cap"
profile conns -q "$flood/dnsanswers.pcap"
TMPDIR=/proc profile conns -q "$flood/dnsanswers.pcap" # no temporary file can be made there
profile report -q "$flood/dnsanswers.pcap"
profile report -q "$flood/udpflows.pcap"
go tool pprof -proto "$profiles"/*.prof >cmd/netfx/default.pgo 2>/dev/null
echo "wrote cmd/netfx/default.pgo from $n runs ($(wc -c <cmd/netfx/default.pgo) bytes)"
