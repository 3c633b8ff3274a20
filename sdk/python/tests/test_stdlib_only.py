"""The core needs nothing beyond the standard library: with orjson, zstandard, numpy
and pandas made unimportable, the SDK still logs, gzips and delivers."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import sightline
from conftest import count_predictions

SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys

    BLOCKED = {"orjson", "zstandard", "numpy", "pandas"}

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, Block())
    import sightline
    from sightline import _encode

    url, model = sys.argv[1], sys.argv[2]
    with sightline.Client(url, version="v1") as c:
        for i in range(300):
            c.log_prediction(model, {"age": i, "income": i / 7, "city": "paris"}, "no")
        assert c.flush(20)
        stats = c.stats()
        encoding = c._sender.content_encoding
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    print(json.dumps({"encoder": _encode.encoder_name(), "encoding": encoding,
                      "accepted": stats["accepted"], "loaded": loaded}))
    """
)


def test_core_runs_on_the_standard_library_alone(server_url, model):
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, server_url, model], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"encoder": "stdlib", "encoding": "gzip", "accepted": 300, "loaded": []}
    with sightline.Client(server_url) as c:
        assert count_predictions(c, model) == 300
