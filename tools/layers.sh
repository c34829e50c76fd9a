#!/usr/bin/env bash
# Prints the folder-to-folder include graph of src/'s production code and fails on any include that goes
# up (or across) the layer order below, which is also the order of the CMake targets (CMakeLists.txt):
# a folder may include its own headers and those of folders listed before it, nothing else. Tests
# (*_test.cpp, *_pgtest.cpp, *_redistest.cpp) and src/testing/ may include anything, and no production
# folder may include src/testing/. docs/architecture.md says why each layer stands where it does.
set -euo pipefail
cd "$(dirname "$0")/.."

# Bottom first. Folders on one line are one layer: they may not include each other.
LAYERS=(
    "core crypto"
    "net obs"
    "store redis egress"
    "identity ratelimit otlp"
    "jobs"
    "http"
    "api"
    "app"
)

declare -A rank
for i in "${!LAYERS[@]}"; do
    for folder in ${LAYERS[$i]}; do rank[$folder]=$i; done
done

status=0
declare -A edges
while IFS= read -r file; do
    from=${file#src/}
    from=${from%%/*}
    if [[ -z ${rank[$from]+set} ]]; then
        echo "layers: src/$from/ is in no layer (add it to tools/layers.sh and CMakeLists.txt)" >&2
        status=1
        continue
    fi
    while IFS= read -r target; do
        to=${target%%/*}
        [[ $to == "$from" ]] && continue
        edges["$from -> $to"]=$((${edges["$from -> $to"]:-0} + 1))
        if [[ -z ${rank[$to]+set} || ${rank[$to]} -ge ${rank[$from]} ]]; then
            echo "layers: $file includes \"$target\": $to is not below $from" >&2
            status=1
        fi
    done < <(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"([a-z_]+\/[^"]+)".*/\1/p' "$file")
done < <(find src -mindepth 2 -type f \( -name '*.cpp' -o -name '*.hpp' \) \
             ! -name '*_test.cpp' ! -name '*_pgtest.cpp' ! -name '*_redistest.cpp' ! -path 'src/testing/*' | sort)

echo "layers (bottom first): $(printf '[%s] ' "${LAYERS[@]}")"
for edge in "${!edges[@]}"; do echo "  $edge (${edges[$edge]} includes)"; done | sort
if [[ $status -ne 0 ]]; then
    echo "layers: FAILED: an include goes up a layer (docs/architecture.md, Layers)" >&2
else
    echo "layers: ok, every include goes down"
fi
exit $status
