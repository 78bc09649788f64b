#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer) of the NDJSON/CSV decoders, rule documents, command bodies and the engine, for a bounded
# time: scripts/fuzz.sh [SECONDS] (default 30). Builds the IMSFuzz target with the fuzzer runtime in
# .build-fuzz, starts from scripts/fuzz-corpus (first byte of an input: 0x80 a rule document, 0x90 a locate
# body, 0xA0 an order body; otherwise bit 0 partial, bit 1 CSV, bit 2
# CSV typed as trade), and fails if any input traps; the crashing input is kept in .build-fuzz/crashes.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
swift build --product IMSFuzz --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING
work=.build-fuzz/corpus
mkdir -p "$work" .build-fuzz/crashes
cp -n scripts/fuzz-corpus/* "$work"/
"$(swift build --product IMSFuzz --scratch-path .build-fuzz --show-bin-path)/IMSFuzz" "$work" \
    -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix=.build-fuzz/crashes/
