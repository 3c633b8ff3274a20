#!/usr/bin/env bash
# The profile-update benchmark side by side: `sightline bench profile` (1,000,000 rows,
# one thread and every core) and whylogs profiling the same shape of rows from pandas,
# one after the other in one run.
#
#   scripts/bench/profile.sh SIGHTLINE_BINARY PYTHON [WHYLOGS_ROWS]
#
# PYTHON is a virtualenv's interpreter with scripts/bench/requirements-whylogs.txt
# installed (`pip install --only-binary=:all: -r scripts/bench/requirements-whylogs.txt`).
set -euo pipefail
bin=$1
python=$2
rows=${3:-200000}
here=$(cd "$(dirname "$0")" && pwd)
echo "machine: $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" bench profile
WHYLOGS_NO_ANALYTICS=True "$python" "$here/profile_whylogs.py" "$rows"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
