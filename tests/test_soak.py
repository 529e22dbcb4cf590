"""The soak benchmark in its short form: concurrent searches and writes for 20 s serve every request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .support.models import DATA

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "soak.py"


def test_a_short_soak_serves_every_search_and_write_and_leaves_codes_right(server_dsn, tmp_path):
    out = tmp_path / "soak.json"
    args = [sys.executable, str(SCRIPT), "--seconds", "20", "--rows", "1000", "--searchers", "2", "--writers", "2",
            "--data", str(DATA), "--dsn", server_dsn, "--out", str(out)]
    done = subprocess.run(args, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["errors"] == 0, result["first_errors"]
    assert result["searches"] > 0 and result["writes"] > 0
    assert result["verify"]["ok"] and result["verify"]["checked"] == 1000
    assert result["server_rss_mib_start"] and result["server_rss_mib_end"]
