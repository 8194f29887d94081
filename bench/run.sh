#!/usr/bin/env bash
# Times netfx against the page-cache read limit (cat) and peers on a capture
# made by ../shared/tools/pcapgen, and prints medians and ratios; then the
# CPU time of netfx conns and report against tcpdump's (run alternately),
# and the CPU each stage of netfx spends a packet, with the busiest.
#
#   bench/run.sh [SIZE] [RUNS]      e.g. bench/run.sh 1GiB 5
#
# Needs Go; tcpdump, tshark and GNU time are used when installed (tshark on a 100 MiB
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

# CPU time against tcpdump, run alternately (issue "speed, second round"):
# user+system seconds of one run, as GNU time counts them.
cpu() { /usr/bin/time -f '%U %S %e' -o "$data/cpu" "$@" >/dev/null 2>&1 || true; awk '{printf "%.3f %.3f\n", $1 + $2, $3}' "$data/cpu"; }
if [ -x /usr/bin/time ] && command -v tcpdump >/dev/null; then
  declare -A cpus walls
  for ((i = 0; i < runs; i++)); do
    for n in tcpdump conns report; do
      case $n in
        tcpdump) read -r c w < <(cpu tcpdump -n -r "$cap" -w /dev/null) ;;
        conns) read -r c w < <(cpu "${cmds_conns[@]}") ;;
        report) read -r c w < <(cpu "${cmds_report[@]}") ;;
      esac
      cpus[$n]+="$c " walls[$n]+="$w "
    done
  done
  td=$(echo ${cpus[tcpdump]} | tr ' ' '\n' | median)
  printf '%-10s %10s %10s %12s %14s\n' tool "CPU s" "x tcpdump" "wall s" "wall / CPU"
  for n in tcpdump conns report; do
    c=$(echo ${cpus[$n]} | tr ' ' '\n' | median) w=$(echo ${walls[$n]} | tr ' ' '\n' | median)
    printf '%-10s %10.3f %10.2f %12.3f %14.2f\n' "$n" "$c" "$(echo "$c / $td" | bc -l)" "$w" "$(echo "$w / $c" | bc -l)"
  done
fi

# CPU per packet of each stage, from a CPU profile whose samples carry the
# pprof label "stage" (packages ingest, pcapread, flows, render and extsort;
# "finish" is the command's own work after reading, unlabelled the
# runtime's: garbage collection, scheduling). The busiest stage is the
# critical path: with a core per stage, a run takes at least its time. Each
# command runs with one flow table and with four sharing it (--workers 4:
# "table" is then the four workers' CPU, a quarter of it on each, and so is
# "encode", conns' four encoders; "load" reads a classic pcap file, "frame"
# frames its records ahead of "read", which decodes them; "route" hands the packets to the
# tables and "merge" puts their conversations back in order; "spill"
# writes sorted runs in the background), so the critical path on a machine
# with more cores can be read from a run on two.
packets=$("$data/netfx" report --json "$cap" 2>/dev/null | awk '/"packets"/ && !n { gsub(/[^0-9]/, ""); print; n = 1 }')
for cmd in conns report; do
  for workers in 1 4; do
    NETFX_CPUPROFILE="$data/$cmd.prof" "$data/netfx" "$cmd" --workers "$workers" "$cap" >/dev/null 2>&1
    echo "stages of netfx $cmd --workers $workers ($packets packets):"
    go tool pprof -tags "$data/$cmd.prof" 2>/dev/null | awk -v packets="$packets" -v workers="$workers" '
      function seconds(x) { if (x ~ /ms$/) { sub(/ms$/, "", x); return x / 1000 } sub(/s$/, "", x); return x + 0 }
      /stage: Total/ { labelled = seconds($3); all = seconds($5); next }
      /: [a-z]+$/ && labelled != "" {
        v = seconds($1); name = $NF
        printf "  %-8s %7.3f s  %6.0f ns/packet\n", name, v, v * 1e9 / packets
        if (name == "table" || name == "encode") { v /= workers; name = name "/" workers }
        if (v > busiest) { busiest = v; bname = name }
      }
      END {
        printf "  %-8s %7.3f s  %6.0f ns/packet\n", "runtime", all - labelled, (all - labelled) * 1e9 / packets
        printf "  all      %7.3f s  %6.0f ns/packet; critical path %s, %.0f%% of the CPU\n", all, all * 1e9 / packets, bname, 100 * busiest / all
      }'
  done
done
