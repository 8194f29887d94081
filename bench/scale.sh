#!/usr/bin/env bash
# Times netfx report, and its peak memory, on 1, 5 and 10 consecutive 1 GiB
# captures made by ../shared/tools/pcapgen (seeds 1-10, an hour apart: ever
# new peers), to see whether time grows linearly and memory stays flat.
# With "same", the captures are one network over ten hours (seed 1 ten
# times, an hour apart).
#
#   bench/scale.sh [same]
#
# Needs Go and about 10 GiB of disk in bench/data (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
data=bench/data/scale
[ "${1:-}" = same ] && data=bench/data/same
mkdir -p "$data"
gen=../shared/tools/pcapgen
[ -d "$gen" ] || { echo "pcapgen not found at $gen" >&2; exit 1; }
(cd "$gen" && go build -o "$OLDPWD/bench/data/pcapgen" .)
for i in $(seq 1 10); do
  f="$data/synth-$(printf '%02d' "$i").pcap"
  seed=$i
  [ "${1:-}" = same ] && seed=1
  [ -f "$f" ] || bench/data/pcapgen -q -o "$f" -size 1GiB -seed "$seed" -start "2025-01-15T$(printf '%02d' $((i + 9))):00:00Z"
done
CGO_ENABLED=0 go build -o bench/data/netfx ./cmd/netfx
printf '%-8s %10s %12s\n' files seconds "peak MiB"
for n in 1 5 10; do
  files=$(ls "$data"/synth-*.pcap | head -n "$n")
  cat $files >/dev/null # warm the page cache as far as it holds them
  out=$( { /usr/bin/time -f '%e %M' bench/data/netfx report -q $files >/dev/null; } 2>&1 | tail -1)
  read -r secs kib <<<"$out"
  printf '%-8s %10s %12d\n' "$n" "$secs" $((kib / 1024))
done
