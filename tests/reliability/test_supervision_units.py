"""The systemd units under deploy/ are valid (systemd-analyze verify) and restart their service always."""

import configparser
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
UNITS = ["pms-web.service", "pms-beat.service", "pms-worker@.service", "pms.target"]
DROP_INS = ["pms-.service.d/10-common.conf", "pms-worker@rollups.service.d/10-nice.conf"]


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_the_units_pass_systemd_analyze_verify(tmp_path):
    # The units name /opt/pms: here it is a stand-in directory with the executables they start.
    install = tmp_path / "opt" / "pms"
    (install / ".venv" / "bin").mkdir(parents=True)
    for executable in ("gunicorn", "celery"):
        path = install / ".venv" / "bin" / executable
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    units = tmp_path / "units"
    for drop_in in DROP_INS:
        (units / drop_in).parent.mkdir(parents=True, exist_ok=True)
    for name in [*UNITS, *DROP_INS]:
        (units / name).write_text((DEPLOY / name).read_text().replace("/opt/pms", str(install)))

    verified = subprocess.run(
        ["systemd-analyze", "verify", "pms-web.service", "pms-beat.service", "pms-worker@celery.service",
         "pms-worker@ingest.service", "pms-worker@rollups.service", "pms.target"],
        cwd=units, env={"SYSTEMD_UNIT_PATH": f"{units}:", "PATH": "/usr/bin:/bin"}, capture_output=True,
        text=True,
    )  # fmt: skip

    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")


@pytest.mark.parametrize("unit", ["pms-web.service", "pms-beat.service", "pms-worker@.service"])
def test_every_service_is_restarted_always_after_a_pause(unit):
    config = configparser.ConfigParser(strict=False, interpolation=None)
    config.read_string((DEPLOY / unit).read_text())

    assert config["Service"]["Restart"] == "always"
    assert int(config["Service"]["RestartSec"]) > 0
    assert "pms.target" in config["Install"]["WantedBy"].split()


def test_the_rollups_worker_yields_the_cpu_to_the_web_and_ingest():
    config = configparser.ConfigParser(strict=False, interpolation=None)
    config.read_string((DEPLOY / "pms-worker@rollups.service.d/10-nice.conf").read_text())

    assert int(config["Service"]["Nice"]) > 0
