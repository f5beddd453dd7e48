"""Helpers of the documentation's doctests (docs/conf.py imports them into every doctest's namespace).

Doctests run in build/docs/doctest-work/, where examples/, tests/, docs/ and build/ are links to the tree's: the
examples' relative paths work as in the repository root, and what they write stays out of the tree.
"""

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("EQNN_BUILD_DIR", ROOT / "build"))
OUT = Path(os.environ.get("EQNN_DOCS_DIR", BUILD / "docs"))


def enter_workdir():
    """Makes build/docs/doctest-work/ (with its links) the current directory."""
    work = OUT / "doctest-work"
    work.mkdir(parents=True, exist_ok=True)
    for name, target in [("examples", ROOT / "examples"), ("tests", ROOT / "tests"), ("docs", ROOT / "docs"),
                         ("build", BUILD)]:
        link = work / name
        if not link.is_symlink():
            link.symlink_to(target)
    os.chdir(work)


def run(command):
    """Runs a shell command as a user would (bash, build/bin first on PATH); returns its output, raises on failure."""
    env = dict(os.environ, PATH=str(BUILD / "bin") + os.pathsep + os.environ.get("PATH", ""))
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", command], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"exit status {done.returncode}: {command}\n{done.stdout}{done.stderr}")
    return done.stdout


def sh(command):
    """Runs a shell command (see run) and prints its standard output."""
    print(run(command), end="")


def readme_tour():
    """Runs the README's tour: every command of its sh blocks and every python block between the markers
    <!-- tour --> and <!-- /tour -->, from the same working directory as the other doctests."""
    text = (ROOT / "README.md").read_text()
    if "<!-- tour -->" not in text:
        raise RuntimeError("README.md has no <!-- tour --> marker")
    tour = text.split("<!-- tour -->", 1)[1].split("<!-- /tour -->", 1)[0]
    commands = blocks = 0
    for language, body in re.findall(r"```(\w+)\n(.*?)```", tour, re.S):
        if language == "sh":
            for line in body.replace("\\\n", " ").splitlines():
                line = re.split(r"\s+#", line, maxsplit=1)[0].strip()
                if line and not line.startswith("#"):
                    run(line)
                    commands += 1
        elif language == "python":
            exec(compile(body, "README.md (tour)", "exec"), {})
            blocks += 1
    print(f"README tour: {commands} commands and {blocks} Python blocks ran")
