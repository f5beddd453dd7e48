"""The reference venv: symm-learning 0.8.1 and escnn 1.0.11 (pyproject's extra `interop`), and e3nn 0.5.6 (the
oracle of the O(3) tensor products), in a throwaway
venv that sees the calling interpreter's packages (torch, eqnn, pytest) through a .pth file.

    .venv/bin/python scripts/reference_venv.py [PATH]   # prints the venv's python; default
                                                         # build-python/reference-venv

Used by scripts/test-reference.sh (tests/python/reference) and tests/benchmarks/vs_symm_learning.py. A
venv that already holds these pins is reused; a failed install exits non-zero with pip's reason."""

import pathlib
import site
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
REFERENCE = ["symm-learning==0.8.1", "escnn==1.0.11", "e3nn==0.5.6"]
DEFAULT = ROOT / "build-python" / "reference-venv"
WARM = "import escnn.group as eg; eg.ico_group().regular_representation"


def ensure_venv(path: pathlib.Path = DEFAULT) -> pathlib.Path:
    """The python of the reference venv at ``path``, created and filled when missing or stale."""
    path = pathlib.Path(path)
    python = path / "bin" / "python"
    marker = path / ".installed"
    want = " ".join(REFERENCE)
    if python.exists() and marker.exists() and marker.read_text() == want:
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, stdout=sys.stderr)
    # torch and eqnn come from this interpreter: the reference venv only adds the reference packages.
    pth = next((path / "lib").glob("python3*/site-packages")) / "eqnn_host.pth"
    pth.write_text("\n".join(site.getsitepackages()) + "\n")
    print(f"reference_venv: installing {want} into {path}", file=sys.stderr)
    # Only the venv's python goes to stdout (scripts/test-reference.sh reads it); the rest to stderr.
    subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *REFERENCE],
                   check=True, stdout=sys.stderr)
    # escnn computes the icosahedral group's irreps numerically on first use (minutes) and caches them in its
    # package directory: pay that once here, not in the first test that builds Ico.
    print("reference_venv: building escnn's icosahedral irreps once (cached in the venv)", file=sys.stderr)
    subprocess.run([str(python), "-c", WARM], check=True, stdout=sys.stderr)
    marker.write_text(want)
    return python


if __name__ == "__main__":
    try:
        print(ensure_venv(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT))
    except subprocess.CalledProcessError as e:
        sys.exit(f"reference_venv: FAILED: could not install {' '.join(REFERENCE)} ({e})")
