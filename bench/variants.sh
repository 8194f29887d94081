#!/usr/bin/env bash
# Checks netfx's conversation totals against tshark on variants of the
# corpus captures that the corpus does not hold: snap lengths that cut
# headers, pcapng and nanosecond pcap, gzip, folders of the capture split
# into pieces, several captures merged into one pcapng, and pcapng files of
# several sections. Not a timing: an exactness check for inputs "we don't
# have", with ../shared/tools/conv-truth and conv-check.
#
#   bench/variants.sh [DIR]      (default: a temporary folder, removed after)
#
# Needs Go, tshark, editcap and mergecap.
set -uo pipefail # editcap cannot make every variant of every capture: those are skipped
cd "$(dirname "$0")/.." || exit 1
corpus=../shared/corpus/pcap
[ -d "$corpus" ] || { echo "corpus not found at $corpus" >&2; exit 1; }
tools=$(cd ../shared/tools && pwd)
for t in tshark editcap mergecap; do command -v $t >/dev/null || { echo "needs $t" >&2; exit 1; }; done
out=${1:-$(mktemp -d)}
[ -n "${1:-}" ] || trap 'rm -rf "$out"' EXIT
mkdir -p "$out/truth"
CGO_ENABLED=0 go build -o "$out/netfx" ./cmd/netfx || exit 1

clean=()
for f in "$corpus"/*; do
  [ -f "$f" ] || continue
  b=$(basename "$f")
  t=$corpus/truth/$b.json
  [ -f "$t" ] || continue
  grep -q '"tshark_exit": 0' "$t" || continue # damaged captures are checked as they are
  clean+=("$f")
  for s in 40 54 64 68 96; do editcap -s $s "$f" "$out/s$s-$b.pcap" 2>/dev/null; done
  editcap -F pcapng "$f" "$out/ng-$b.pcapng" 2>/dev/null
  editcap -F nsecpcap "$f" "$out/nsec-$b.pcap" 2>/dev/null
  editcap -F pcapng "$f" "$out/gz-$b.pcapng" 2>/dev/null && gzip -f "$out/gz-$b.pcapng"
  mkdir -p "$out/split-$b"
  editcap -c 37 "$f" "$out/split-$b/part.pcapng" 2>/dev/null
  # the folder's truth is the whole capture's
  sed "s#\"file\": \"[^\"]*\"#\"file\": \"split-$b\"#" "$t" > "$out/truth/split-$b.json"
done
n=${#clean[@]}
for i in $(seq 0 4 $((n - 1))); do mergecap -w "$out/merge-$i.pcapng" "${clean[@]:$i:4}" 2>/dev/null; done
for i in $(seq 0 2 $((n - 2))); do
  a=$(basename "${clean[$i]}") b=$(basename "${clean[$((i + 1))]}")
  cat "$out/ng-$a.pcapng" "$out/ng-$b.pcapng" > "$out/sections-$i.pcapng"
done
(cd "$out" && find . -maxdepth 1 -type f ! -name netfx -printf '%f\n' |
  xargs -P "$(nproc)" -I{} sh -c "$tools/conv-truth '{}' > 'truth/{}.json' 2>/dev/null")
NETFX_CONNS="$out/netfx conns --format ndjson {}" CORPUS_DIR="$out" "$tools/conv-check" "$out"/truth/*.json | grep -v '^ok'
