#!/usr/bin/env bash
# Compares the CPU time of netfx builds on one input, in paired rounds: each
# round runs every build once, in turn (the first build of each round
# rotates), and the ratio of each build's CPU time to the first build's in
# that round is kept; the medians of those ratios are printed. A virtual
# machine's speed drifts by 20-40 % over minutes, which medians of separate
# runs mistake for differences between builds; ratios within a round
# cancel it (docs/performance.md).
#
#   bench/compare.sh ROUNDS "ARGS" INPUT BUILD0 BUILD1...
#   e.g. bench/compare.sh 10 "conns --format ndjson" bench/data/synth-1GiB.pcap /tmp/netfx.old /tmp/netfx
#
# CPU time is user plus system time from GNU time (/usr/bin/time); output
# is discarded.
set -euo pipefail
if [ $# -lt 5 ]; then
  sed -n '2,/^set /p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
rounds=$1 args=$2 input=$3
shift 3
builds=("$@")
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time (Debian: apt-get install time)" >&2; exit 1; }
timing=$(mktemp)
trap 'rm -f "$timing"' EXIT

# cpu BUILD: CPU seconds of one run.
cpu() {
  # shellcheck disable=SC2086 # args are words on purpose
  /usr/bin/time -f '%U %S' -o "$timing" "$1" $args "$input" >/dev/null 2>&1 || true
  awk '{print $1 + $2}' "$timing"
}

declare -a ratios first
for ((r = 0; r < rounds; r++)); do
  declare -a secs=()
  for ((j = 0; j < ${#builds[@]}; j++)); do
    i=$(((j + r) % ${#builds[@]}))
    secs[i]=$(cpu "${builds[i]}")
  done
  first+=("${secs[0]}")
  for ((i = 1; i < ${#builds[@]}; i++)); do
    ratios[i]+="$(awk -v a="${secs[i]}" -v b="${secs[0]}" 'BEGIN {printf "%.4f", a / b}') "
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
echo "${builds[0]}: median $(echo "${first[@]}" | median) s of CPU"
for ((i = 1; i < ${#builds[@]}; i++)); do
  echo "${builds[i]}: median ratio $(echo "${ratios[i]}" | median)  (rounds: ${ratios[i]})"
done
