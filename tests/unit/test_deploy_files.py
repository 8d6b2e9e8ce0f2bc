"""The deployment files say what docs/operations.md says: one start command, readiness as the health check."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_railway_and_procfile_start_the_same_server_and_check_readiness():
    railway = json.loads((ROOT / "railway.json").read_text())["deploy"]
    procfile = (ROOT / "Procfile").read_text().strip()
    assert procfile == f"web: {railway['startCommand']}"
    assert railway["healthcheckPath"] == "/health/ready"
    assert railway["restartPolicyType"] == "ON_FAILURE"
    import runpy

    graceful = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["graceful_timeout"]
    assert isinstance(railway["drainingSeconds"], int) and railway["drainingSeconds"] > graceful


def test_the_health_check_path_is_a_public_route(client):
    path = json.loads((ROOT / "railway.json").read_text())["deploy"]["healthcheckPath"]
    assert client.get(path).status_code == 200
