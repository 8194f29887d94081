#!/usr/bin/env bash
# Times netfx against the page-cache read limit (cat) and peers on a capture
# made by ../shared/tools/pcapgen, and prints medians and ratios.
#
#   bench/run.sh [SIZE] [RUNS]      e.g. bench/run.sh 1GiB 5
#
# Needs Go; tcpdump and tshark are timed when installed (tshark on a 100 MiB
# file, as it is slow). Data goes to bench/data (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-1GiB}
runs=${2:-5}
data=bench/data
mkdir -p "$data"
gen=../shared/tools/pcapgen
[ -d "$gen" ] || { echo "pcapgen not found at $gen" >&2; exit 1; }
(cd "$gen" && go build -o "$OLDPWD/$data/pcapgen" .)
cap="$data/synth-$size.pcap"
[ -f "$cap" ] || "$data/pcapgen" -q -o "$cap" -size "$size" -seed 1
small="$data/synth-100MiB.pcap"
[ -f "$small" ] || "$data/pcapgen" -q -o "$small" -size 100MiB -seed 1
CGO_ENABLED=0 go build -o "$data/netfx" ./cmd/netfx

# seconds CMD... : wall-clock seconds of one run, output discarded
seconds() {
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null 2>&1 || true
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

cat "$cap" >/dev/null # warm the page cache
declare -A times
names=(cat conns report)
cmds_cat=(cat "$cap")
cmds_conns=("$data/netfx" conns --format ndjson "$cap")
cmds_report=("$data/netfx" report "$cap")
if command -v tcpdump >/dev/null; then names+=(tcpdump); fi
for ((i = 0; i < runs; i++)); do
  times[cat]+="$(seconds "${cmds_cat[@]}") "
  times[conns]+="$(seconds "${cmds_conns[@]}") "
  times[report]+="$(seconds "${cmds_report[@]}") "
  if command -v tcpdump >/dev/null; then times[tcpdump]+="$(seconds tcpdump -n -r "$cap" -w /dev/null) "; fi
done
peak=$( { /usr/bin/time -f %M "$data/netfx" conns --format ndjson "$cap" >/dev/null; } 2>&1 | tail -1)
peak_report=$( { /usr/bin/time -f %M "$data/netfx" report "$cap" >/dev/null; } 2>&1 | tail -1)
base=$(echo ${times[cat]} | tr ' ' '\n' | median)
echo "capture: $cap ($(stat -c %s "$cap") bytes), $runs runs, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
printf '%-10s %10s %10s\n' tool "median s" "x cat"
for n in "${names[@]}"; do
  m=$(echo ${times[$n]} | tr ' ' '\n' | median)
  printf '%-10s %10.3f %10.2f\n' "$n" "$m" "$(echo "$m / $base" | bc -l)"
done
echo "peak RSS: netfx conns $((peak / 1024)) MiB, netfx report $((peak_report / 1024)) MiB"
if command -v tshark >/dev/null; then
  cat "$small" >/dev/null
  c=$(seconds cat "$small"); n=$(seconds "$data/netfx" conns "$small"); s=$(seconds tshark -n -q -r "$small" -z conv,tcp)
  printf '100 MiB: cat %.3f s, netfx conns %.3f s, tshark -z conv,tcp %.3f s (%.0fx netfx)\n' "$c" "$n" "$s" "$(echo "$s / $n" | bc -l)"
fi
