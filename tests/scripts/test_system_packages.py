"""The tests' system packages (Chromium, nginx): without root or sudo, named with the command and a
non-zero exit before anything runs; as root, installed without leaving nginx's service running.
Stood in for: a machine without them (the installed ones hidden in a private mount namespace), a user
without root (`setpriv` to nobody), and apt-get and systemctl (fakes that record their calls)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.scripts.conftest import SCRIPTS, fake_command, hidden, needs_namespace

SYSTEM_FILES = ["/usr/bin/chromium", "/usr/sbin/nginx"]


@pytest.fixture
def world_readable_checkout():
    """A copy of scripts/ that an unprivileged user may read (pytest's own tmp_path is root's only)."""
    root = Path(tempfile.mkdtemp(prefix="rnnpanel-setup-"))
    try:
        shutil.copytree(SCRIPTS, root / "scripts")
        shutil.copy(SCRIPTS.parent / "pyproject.toml", root)
        os.chmod(root, 0o777)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_hidden(command: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(hidden(SYSTEM_FILES, command), env=env, capture_output=True, text=True, timeout=120)


def without_sudo(folder: Path) -> dict:
    """PATH with the system's tools but no sudo (a minimal system has none), in a folder that an
    unprivileged user can read."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("bash", "sh", "id", "apt-get", "python3", "mount", "setpriv", "unshare", "dirname", "rm"):
        found = shutil.which(tool, path="/usr/bin:/bin:/usr/sbin:/sbin")   # the system's, which others may run
        if found:
            (bin_dir / tool).symlink_to(found)
    return {"PATH": str(bin_dir), "HOME": "/tmp", "LANG": "C.UTF-8"}


@needs_namespace
def test_without_root_or_sudo_the_packages_are_named_and_nothing_runs(world_readable_checkout):
    env = without_sudo(world_readable_checkout)
    done = run_hidden(f"setpriv --reuid=65534 --regid=65534 --clear-groups bash "
                      f"{world_readable_checkout}/scripts/setup.sh --test", env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        "[setup] the tests need the Debian packages chromium nginx, and installing them needs root; "
        "as root run: apt-get install -y chromium nginx"]
    assert done.stdout == "" and not (world_readable_checkout / ".venv").exists()


@needs_namespace
def test_as_root_they_are_installed_and_nginx_is_not_left_serving(tmp_path):
    calls = tmp_path / "calls"
    fakes = tmp_path / "fakes"
    fake_command(fakes, "apt-get", f'echo "apt-get $*" >> {calls}')
    fake_command(fakes, "systemctl", f'echo "systemctl $*" >> {calls}; exit 0')   # is-active: yes
    env = {**os.environ, "PATH": f"{fakes}:{os.environ['PATH']}"}
    done = run_hidden(f"bash {SCRIPTS}/system_packages.sh", env)
    assert done.returncode == 0, done.stderr
    assert calls.read_text().splitlines() == [
        "apt-get update -q",
        "apt-get install -y -q chromium nginx",
        "systemctl is-active --quiet nginx",
        "systemctl disable --now nginx",
    ]
    assert "stopping and disabling the nginx service the install started" in done.stdout


@needs_namespace
def test_only_what_is_missing_is_installed_and_no_chromium_driver(tmp_path):
    calls = tmp_path / "calls"
    fakes = tmp_path / "fakes"
    fake_command(fakes, "apt-get", f'echo "apt-get $*" >> {calls}')
    fake_command(fakes, "systemctl", f'echo "systemctl $*" >> {calls}; exit 0')
    env = {**os.environ, "PATH": f"{fakes}:{os.environ['PATH']}"}
    done = subprocess.run(hidden(["/usr/bin/chromium"], f"bash {SCRIPTS}/system_packages.sh"), env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert calls.read_text().splitlines() == ["apt-get update -q", "apt-get install -y -q chromium"]


def test_nothing_to_do_when_both_are_there():
    if not (Path("/usr/bin/chromium").exists() and (shutil.which("nginx") or Path("/usr/sbin/nginx").exists())):
        pytest.skip("Chromium or nginx is not installed here")
    done = subprocess.run(["bash", str(SCRIPTS / "system_packages.sh")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""
