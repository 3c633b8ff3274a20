#!/usr/bin/env bash
# The drift report benchmark: `sightline report drift` and Evidently's DataDriftPreset on
# the same 1,000,000 x 25 files, one after the other in one run, each under /usr/bin/time -v.
#
#   scripts/bench/drift.sh SIGHTLINE_BINARY PYTHON [DIR]
#
# PYTHON is a virtualenv's interpreter with tests/reference/requirements-evidently.txt
# installed. DIR (default /tmp/sightline-drift-bench) receives the generated files.
set -euo pipefail
bin=$1
python=$2
dir=${3:-/tmp/sightline-drift-bench}
here=$(cd "$(dirname "$0")" && pwd)

if [[ ! -f $dir/reference.csv || ! -f $dir/current.csv ]]; then
    "$python" "$here/drift_data.py" "$dir"
fi
echo "machine: $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
measure() {
    local name=$1
    shift
    /usr/bin/time -v "$@" 2>"$dir/$name.time" >"$dir/$name.out"
    local wall rss
    wall=$(grep 'Elapsed (wall clock)' "$dir/$name.time" | awk '{print $NF}')
    rss=$(grep 'Maximum resident set size' "$dir/$name.time" | awk '{print $NF}')
    user=$(grep 'User time' "$dir/$name.time" | awk '{print $NF}')
    sys=$(grep 'System time' "$dir/$name.time" | awk '{print $NF}')
    echo "$name: wall $wall, user $user s, sys $sys s, peak RSS $((rss / 1024)) MiB; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
}
measure sightline "$bin" report drift --reference "$dir/reference.csv" --current "$dir/current.csv" \
    --json "$dir/sightline.json"
measure evidently "$python" "$here/drift_evidently.py" "$dir"
cat "$dir/evidently.out"
python3 - "$dir/sightline.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
drifted = sum(c["drifted"] for c in d["columns"])
print(f"sightline: drifted {drifted} share {d['share_drifted']:.4f}")
PY
