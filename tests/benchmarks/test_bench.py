"""``make bench`` runs end to end (figures are printed, not checked): every service is timed against its numpy
floor, so the benchmark a user runs from the README does not stop half-way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench.py"


def test_bench_times_every_service_and_its_floor(db_url, tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(BENCH), "--pixel-size", "8000", "--url", db_url, "--json", str(out)],
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "not benchmarked" not in proc.stdout and "failed" not in proc.stdout, proc.stdout[-3000:]
    figures = json.loads(out.read_text(encoding="utf-8"))
    text = json.dumps(figures)
    for service in ("food", "carbon", "water", "soil", "recreation"):
        assert service in text
    assert "floor" in text or "numpy" in text
