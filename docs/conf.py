"""Sphinx configuration of eqnn's documentation site (scripts/docs.sh builds it into build/docs/html).

Three parts are generated from the sources at every build, never written by hand:
  - the C++ SDK reference: Doxygen's XML of the public headers (CXX_HEADER_GLOBS, the one place their location
    is written), one page per header, rendered by Breathe;
  - the Python API: autosummary stubs (docs/python/api/) from the installed package's docstrings;
  - the CLI reference: the real program's --help texts (docs/cli/generated/), run from the build tree.
"""

import io
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BUILD = Path(os.environ.get("EQNN_BUILD_DIR", ROOT / "build"))
OUT = Path(os.environ.get("EQNN_DOCS_DIR", BUILD / "docs"))
EQNN = BUILD / "bin" / "eqnn"

# The public C++ headers (the plugin SDK), relative to the repository root: the floors
# framework/eqnn/<floor>/*.hpp, the umbrella framework/eqnn/eqnn.hpp, and the layer libraries' headers.
# Any path with a folder named in CXX_HEADER_EXCLUDE is private and left out.
CXX_HEADER_GLOBS = ["framework/eqnn/**/*.hpp", "layers/*/*.hpp"]
CXX_HEADER_EXCLUDE = {"internal", "src", "detail"}
# The floors of framework/eqnn/, in the order a reader climbs them (a header in no floor, the umbrella
# eqnn.hpp, goes to "core").
CXX_FLOORS = {
    "util": "errors, suggestions, hashing, caches, atomic files, YAML keyword arguments",
    "group_theory": "groups, irreps, representations, rep strings, Hom spaces",
    "nn": "constraint and layer interfaces, constrained parameters, init schemes, layer options",
    "registry": "the plugin ABI, the loader, the registry, group specs",
    "model": "the YAML builder, blocks, checkpoints, tensor files, export, the equivariance check, training",
}
OTHER_FLOORS = {
    "core": "the umbrella header: every public header of libeqnn",
    "layers": "the layer libraries (eqnn_linear, eqnn_attention, ...): Options, module and validate() of each layer",
}

project = "eqnn"
author = "the eqnn authors"
copyright = "the eqnn authors"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "breathe",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["requirements.txt", "doctest_helpers.py"]
root_doc = "index"
default_role = "code"
html_theme = "alabaster"
html_title = "eqnn"
html_theme_options = {"description": "group-equivariant layers on LibTorch", "fixed_sidebar": True}

myst_enable_extensions = ["deflist"]
myst_heading_anchors = 3

# No network at build time: cross-references to Python's and torch's docs would need their inventories.
intersphinx_mapping = {}

autosummary_generate = True
autodoc_default_options = {"members": True, "undoc-members": False}
# The package's docstrings are Google style (Args:); a method without one is a gap, not torch's inherited text.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_inherit_docstrings = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autoclass_content = "class"

# Breathe declares the namespace eqnn once per header page; Sphinx's C++ domain counts each as a duplicate.
suppress_warnings = ["duplicate_declaration.cpp"]
breathe_projects = {"eqnn": str(OUT / "doxygen" / "xml")}
breathe_default_project = "eqnn"
breathe_default_members = ("members",)
cpp_index_common_prefix = ["eqnn::"]

# Every doctest starts in build/docs/doctest-work/ with torch, eqnn and the helpers of doctest_helpers.py.
doctest_global_setup = f"""
import sys
sys.path.insert(0, {str(DOCS)!r})
import torch
import eqnn
from doctest_helpers import enter_workdir, readme_tour, run, sh
enter_workdir()
torch.manual_seed(0)
"""
doctest_test_doctest_blocks = "default"


def public_headers():
    """The public headers as paths relative to the repository root, sorted, private ones left out."""
    found = set()
    for pattern in CXX_HEADER_GLOBS:
        for path in ROOT.glob(pattern):
            relative = path.relative_to(ROOT)
            if not CXX_HEADER_EXCLUDE.intersection(relative.parts[:-1]):
                found.add(relative)
    return sorted(found)


def floor_of(header):
    parts = header.parts
    if parts[0] == "layers":
        return "layers"
    for floor in CXX_FLOORS:
        if floor in parts[:-1]:
            return floor
    return "core"


def write_if_changed(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def generate_cpp_reference():
    """Runs Doxygen over the public headers and writes one page per header under docs/cpp/api/."""
    headers = public_headers()
    if not headers:
        raise RuntimeError(f"docs: no public header matches {CXX_HEADER_GLOBS} under {ROOT}")
    # Breathe finds a header by Doxygen's file name, its base name: two public headers must not share one.
    seen = {}
    for header in headers:
        if header.name in seen:
            raise RuntimeError(f"docs: two public headers are named {header.name}: {seen[header.name]} and {header}")
        seen[header.name] = header
    xml = OUT / "doxygen"
    xml.mkdir(parents=True, exist_ok=True)
    # Doxygen sees the macros of the torch frontend idiom as what they declare: TORCH_ARG(bool, bias) = true;
    # becomes the field `bool bias = true`, so an Options struct shows every default.
    doxyfile = "\n".join(
        [
            "PROJECT_NAME = eqnn",
            f"OUTPUT_DIRECTORY = {xml}",
            "GENERATE_HTML = NO",
            "GENERATE_LATEX = NO",
            "GENERATE_XML = YES",
            "XML_PROGRAMLISTING = NO",
            "JAVADOC_AUTOBRIEF = YES",
            "QUIET = YES",
            "WARNINGS = NO",
            "WARN_IF_UNDOCUMENTED = NO",
            "EXTRACT_PRIVATE = NO",
            "ENABLE_PREPROCESSING = YES",
            "MACRO_EXPANSION = YES",
            "EXPAND_ONLY_PREDEF = YES",
            'PREDEFINED = "TORCH_ARG(T, name)=T name" "TORCH_MODULE(x)="',
            "EXCLUDE_SYMBOLS = detail internal *::detail *::internal",
            "FULL_PATH_NAMES = YES",
            f"STRIP_FROM_PATH = {ROOT}",
            "INPUT = " + " ".join(str(ROOT / h) for h in headers),
        ]
    )
    (xml / "Doxyfile").write_text(doxyfile + "\n")
    subprocess.run(["doxygen", str(xml / "Doxyfile")], check=True, cwd=ROOT)

    pages = DOCS / "cpp" / "api"
    by_floor = {}
    for header in headers:
        by_floor.setdefault(floor_of(header), []).append(header)
        title = f"``{header.name}``"
        text = (
            f"{title}\n{'=' * len(title)}\n\n"
            f"``#include <{include_name(header)}>`` — ``{header.as_posix()}``\n\n"
            f".. doxygenfile:: {header.name}\n"
        )
        write_if_changed(pages / f"{header.stem}.rst", text)
    for stale in pages.glob("*.rst"):
        if stale.stem not in {h.stem for h in headers} and stale.name != "index.rst":
            stale.unlink()
    described = {**CXX_FLOORS, **OTHER_FLOORS}
    order = ["core", *CXX_FLOORS, "layers"]
    index = ["Headers by floor", "================", ""]
    for floor in [f for f in order if f in by_floor]:
        index += [floor, "-" * len(floor), "", described[floor] + ".", "", ".. toctree::", "   :maxdepth: 1", ""]
        index += [f"   {h.stem}" for h in by_floor[floor]]
        index.append("")
    write_if_changed(pages / "index.rst", "\n".join(index))


def include_name(header):
    """How a user includes the header: the part from the last folder named eqnn on, else eqnn/layers/NAME."""
    parts = header.parts
    if "eqnn" in parts[:-1]:
        last = len(parts) - 1 - parts[::-1].index("eqnn")
        return "/".join(parts[last:])
    return f"eqnn/layers/{header.name}"


def help_text(arguments):
    done = subprocess.run([str(EQNN), *arguments, "--help"], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"docs: {EQNN} {' '.join(arguments)} --help exited {done.returncode}: {done.stderr}")
    return done.stdout


def subcommands(text):
    """The subcommand names of a CLI11 help text (the lines under "Subcommands:")."""
    names, inside = [], False
    for line in text.splitlines():
        if re.match(r"^\S.*:\s*$", line):
            inside = line.strip().lower() == "subcommands:"
            continue
        match = re.match(r"^\s+([a-z][a-z0-9_-]*)\b", line) if inside else None
        if match:
            names.append(match.group(1))
    return names


def generate_cli_reference():
    """Captures `eqnn --help` and every subcommand's --help (recursively) into docs/cli/generated/."""
    if not EQNN.exists():
        raise RuntimeError(f"docs: {EQNN} is missing; build first (scripts/build.sh)")
    generated = DOCS / "cli" / "generated"
    commands, queue = [], [[]]
    while queue:
        arguments = queue.pop(0)
        text = help_text(arguments)
        commands.append(arguments)
        write_if_changed(generated / ("-".join(["eqnn", *arguments]) + ".txt"), text)
        queue += [[*arguments, name] for name in subcommands(text)]
    page = [
        "Command reference",
        "=================",
        "",
        "Generated at documentation build time from the program itself (``eqnn ... --help``).",
        "",
    ]
    for arguments in commands:
        title = "``" + " ".join(["eqnn", *arguments]) + "``"
        page += [title, "-" * len(title), "", f".. literalinclude:: {'-'.join(['eqnn', *arguments])}.txt"]
        page += ["   :language: text", ""]
    write_if_changed(DOCS / "cli" / "generated" / "reference.rst", "\n".join(page))


# Docstrings are written for help(); one that is not valid reStructuredText is shown as it is (a literal block)
# rather than failing the -W build, and listed in build/docs/docstring-gaps.txt with the ones that are missing.
GAPS = []


def _rst_problems(text, env):
    from docutils.frontend import get_default_settings
    from docutils.parsers.rst import Parser
    from docutils.utils import new_document

    settings = get_default_settings(Parser)
    settings.report_level = 5
    settings.halt_level = 5
    settings.warning_stream = io.StringIO()
    settings.env = env  # Sphinx's roles and directives read it
    document = new_document("<docstring>", settings)
    Parser().parse(text, document)
    from docutils import nodes

    return [m.astext() for m in document.findall(nodes.system_message) if m["level"] >= 2]


def check_docstring(app, what, name, obj, options, lines):
    if what == "module":
        return
    text = "\n".join(lines)
    if not text.strip():
        GAPS.append(f"{name}: no docstring")
        return
    # |G| in a docstring means the group's order, not a reStructuredText substitution.
    escaped = "".join(
        part if part.startswith("``") else part.replace("|", "\\|") for part in re.split(r"(``.*?``)", text)
    )
    problems = _rst_problems(escaped, app.env)
    if problems:
        GAPS.append(f"{name}: not valid reStructuredText ({problems[0].splitlines()[0]}), shown verbatim")
        lines[:] = ["::", ""] + ["   " + line for line in text.splitlines()] + [""]
    else:
        lines[:] = escaped.splitlines()


def write_gaps(app, exception):
    path = OUT / f"docstring-gaps-{app.builder.name}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(sorted(f"{gap}\n" for gap in set(GAPS))))


def setup(app):
    generate_cpp_reference()
    generate_cli_reference()
    app.connect("autodoc-process-docstring", check_docstring)
    app.connect("build-finished", write_gaps)


if "eqnn" not in sys.modules:
    try:
        import eqnn  # noqa: F401  (the installed package: autodoc documents what users import)
    except ImportError as error:
        raise RuntimeError(
            f"docs: the Python package eqnn does not import ({error}); run scripts/build.sh, which installs it "
            "into the venv, and build the docs with that venv's Python"
        ) from error
