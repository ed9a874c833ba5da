"""Can this interpreter make rnnpanel's environment? Run by `scripts/setup.sh` before it makes `.venv`.

A stock Debian or Ubuntu ships Python without `venv`'s pip bootstrap (the python3.X-venv package),
and an old release ships a Python older than zarr 3 supports; either way `python3 -m venv` would
fail half-way and leave a `.venv` that later runs trip over. This says what is missing and the one
command that fixes it, and exits 1, before anything is made.

``--venv`` checks an existing environment instead: a Python new enough, with pip, so that a
half-made `.venv` is found and made again. Standard library only, and written for old Pythons too,
since its first job is to reject them.
"""

import os
import shutil
import sys

#: The oldest Python rnnpanel runs on: zarr 3 requires 3.11 (pyproject's requires-python says the same).
MIN_PYTHON = (3, 11)


def version_text(info=sys.version_info):
    return "{}.{}".format(info[0], info[1])


def root_prefix():
    """``sudo `` where the fix needs root and the user is not root."""
    return "" if hasattr(os, "geteuid") and os.geteuid() == 0 else "sudo "


def problem(info=sys.version_info, has_module=None, apt=None):
    """What keeps this interpreter from making the environment, with the command that fixes it;
    None when nothing does."""
    has_module = has_module or _importable
    apt = shutil.which("apt-get") is not None if apt is None else apt
    here = "Python {} ({})".format(version_text(info), sys.executable)
    if tuple(info[:2]) < MIN_PYTHON:
        need = version_text(MIN_PYTHON)
        fix = ("{}apt-get install python{n} python{n}-venv (where your release has it), then: "
               "PYTHON=python{n} bash scripts/setup.sh".format(root_prefix(), n=need) if apt else
               "install Python {n} or newer, then: PYTHON=/path/to/python{n} bash scripts/setup.sh".format(n=need))
        return "rnnpanel needs Python {} or newer; this is {}. Fix: {}".format(need, here, fix)
    missing = [name for name in ("venv", "ensurepip") if not has_module(name)]
    if missing:
        fix = ("{}apt-get install python{}-venv".format(root_prefix(), version_text(info)) if apt else
               "install your system's package that provides Python's venv and ensurepip modules")
        return "{} cannot make a virtual environment (no {} module). Fix: {}".format(
            here, " or ".join(missing), fix)
    return None


#: `--venv`'s exit status when only pip is missing, which `python -m ensurepip` may mend in place.
NO_PIP = 3


def venv_problem(info=sys.version_info, has_module=None):
    """What is wrong with an existing environment this interpreter runs, and the exit status that
    says so (1: make it again, :data:`NO_PIP`: bootstrap pip first); None when nothing is."""
    has_module = has_module or _importable
    if tuple(info[:2]) < MIN_PYTHON:
        return "its Python is {}, older than {}".format(version_text(info), version_text(MIN_PYTHON)), 1
    if not has_module("pip"):
        return "it has no pip (a first run stopped while making it)", NO_PIP
    return None


def _importable(name):
    try:
        __import__(name)
    except Exception:   # Debian's stripped ensurepip may fail with more than ImportError
        return False
    if name == "ensurepip":   # present but without its bundled pip wheel, as some distributions ship it
        import ensurepip
        try:
            ensurepip.version()
        except Exception:
            return False
    return True


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--venv"]:
        found = venv_problem()
        if found:
            print(found[0])
            return found[1]
        return 0
    found = problem()
    if found:
        print("[setup] " + found, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
