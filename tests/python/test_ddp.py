"""DistributedDataParallel over Gloo in 2 local processes ends with the parameters of one process trained
on the same global batches (the example examples/python/ddp_train.py is what runs)."""

import json
import subprocess
import sys

from conftest import ROOT


def test_two_process_gloo_ddp_matches_one_process():
    script = ROOT / "examples" / "python" / "ddp_train.py"
    run = subprocess.run(
        [sys.executable, str(script), "--spawn", "2", "--compare", "--steps", "8", "--batch", "32"],
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["world_size"] == 2
    assert len(result["parameters"]) >= 3
    assert result["max_abs_param_diff"] <= 1e-5, result
