"""Architecture rules: seglib's subpackages import only the layers below them; no import cycle in
seglib or ui; seglib never imports Streamlit; light modules stay TF-free; no module imports another's
private names; no sys.path or PYTHONPATH tricks; no absolute machine paths in tracked files; no page
file over 250 lines."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


SEGLIB = ROOT / "seglib"

#: Which of seglib's layers each layer may import. ``core`` is the top-level modules (config,
#: classes, errors, io, settings, _tf); ``cli`` may import everything. A layer not listed here
#: is a new subpackage: give it a line, so the rule stays a decision rather than an accident.
ALLOWED = {
    "core": set(),
    "data": {"core"},
    "evaluation": {"core", "data"},
    "model": {"core", "data", "evaluation"},
    "analysis": {"core", "data", "evaluation", "model"},
    "training": {"core", "data", "evaluation", "model"},
    "figures": {"core", "data", "evaluation", "model", "analysis"},
    "lab": {"core", "data", "evaluation", "model", "analysis", "training", "figures"},
    "cli": {"core", "data", "evaluation", "model", "analysis", "training", "figures", "lab"},
}
#: Entry points above every layer: the package's own __init__/__main__ and ``keras_objects``,
#: the stable module name saved ``.keras`` files point to (it defines the model's classes).
ENTRY_POINTS = {"seglib", "seglib.__main__", "seglib.keras_objects"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (SEGLIB / parts[1] / "__init__.py").exists() else "core"


def _imports(path: Path):
    """(imported module, imported names) for every import in the file, lazy ones included."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [alias.name for alias in node.names]
            if node.module == "seglib":  # from seglib import settings: a module each
                for name in names:
                    yield f"seglib.{name}", []
            else:
                yield node.module, names


def test_every_subpackage_has_a_layer():
    packages = {p.parent.name for p in SEGLIB.glob("*/__init__.py")}
    assert packages <= set(ALLOWED), f"give {sorted(packages - set(ALLOWED))} a line in ALLOWED"


def test_each_layer_imports_only_the_layers_below_it():
    offenders = []
    for path in sorted(SEGLIB.rglob("*.py")):
        module = _module_name(path)
        if module in ENTRY_POINTS:
            continue
        source = _layer(module)
        for target, _ in _imports(path):
            if not target.startswith("seglib.") or target in ENTRY_POINTS:
                continue
            layer = _layer(target)
            if layer != source and layer not in ALLOWED[source]:
                offenders.append(f"{module} ({source}) imports {target} ({layer})")
    assert not offenders, "\n".join(offenders)


def import_graph(packages=("seglib", "ui")) -> dict[str, set[str]]:
    """Each module of ``packages`` -> the modules of ``packages`` it imports, read from the source (static):
    every import statement counts, at the top of the file or inside a function (a lazy import
    hides a cycle from Python, not from a reader). ``from a.b import c`` is an edge to ``a.b.c``
    when that is a module, else to ``a.b``; a relative import is resolved against the importing module."""
    files = {_module_name(path): path for package in packages for path in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names if alias.name in files}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
                for alias in node.names:
                    if f"{base}.{alias.name}" in files:
                        targets.add(f"{base}.{alias.name}")
                    elif base in files:
                        targets.add(base)
        graph[module] = targets - {module}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle ``[a, b, ..., a]`` for every group of modules that import each other (Tarjan's
    strongly connected components, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[module])
            if low[module] == index[module]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == module:
                        break
                if len(group) > 1:
                    groups.append(group)
    cycles = []
    for group in groups:  # walk inside the group from its first module back to it
        start = min(group)
        path, seen = [start], {start}
        while True:
            following = sorted(graph[path[-1]] & group)
            if start in following:
                cycles.append(path + [start])
                break
            step = next(m for m in following if m not in seen) if any(m not in seen for m in following) \
                else following[0]
            if step in seen:  # a cycle that does not pass through start: report it from step
                cycles.append(path[path.index(step):] + [step])
                break
            path.append(step)
            seen.add(step)
    return cycles


def test_the_cycle_finder_finds_a_cycle_hidden_in_a_function(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def later():\n    from pkg.c import name\n")
    (package / "c.py").write_text("import pkg.a\n")
    (package / "d.py").write_text("from . import a\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        graph = import_graph(("pkg",))
    finally:
        ROOT = saved
    assert graph["pkg.d"] == {"pkg.a"}
    assert import_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]


def test_no_import_cycle_in_seglib_or_ui():
    """No module of seglib or ui imports (at the top or inside a function) a module that imports it back."""
    cycles = import_cycles(import_graph())
    assert not cycles, "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_no_module_imports_another_modules_private_names():
    offenders = []
    for path in sorted([*SEGLIB.rglob("*.py"), *(ROOT / "pages").glob("*.py"), *(ROOT / "ui").rglob("*.py"),
                        ROOT / "dashboard.py"]):
        for target, names in _imports(path):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if target.startswith(("seglib", "pages", "ui")) and target != "seglib._tf" and private:
                offenders.append(f"{path.relative_to(ROOT)}: from {target} import {', '.join(private)}")
            if re.search(r"(^|\.)_(?!_|tf$)", target) and target.startswith(("seglib", "pages", "ui")):
                offenders.append(f"{path.relative_to(ROOT)}: import {target}")
    assert not offenders, "\n".join(offenders)


def test_no_search_path_tricks():
    """The project is installed (``pip install -e .``): nothing edits sys.path or PYTHONPATH or stashes
    values on ``sys``."""
    files = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    offenders = []
    for name in files:
        if name == "tests/test_layering.py":
            continue
        text = (ROOT / name).read_text(encoding="utf-8")
        for pattern in (r"sys\.path\s*(\.|\[|\+?=)", r"[\"']PYTHONPATH[\"']", r"\bsys\._\w+\s*=(?!=)", r"setattr\(sys\b"):
            if re.search(pattern, text):
                offenders.append(f"{name}: {pattern}")
    assert not offenders, offenders


def test_pyflakes_finds_nothing():
    """Undefined names and unused imports, the bugs a moved function leaves behind (``make lint``)."""
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run([str(ruff), "check", "--output-format", "concise", "."], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
def test_seglib_never_imports_streamlit():
    out = _run(
        "import pkgutil, importlib, sys, seglib\n"
        "for m in pkgutil.walk_packages(seglib.__path__, 'seglib.'):\n"
        "    if m.name != 'seglib.__main__': importlib.import_module(m.name)\n"
        "print('streamlit' in sys.modules)\n"
    )
    assert out.strip() == "False"


def test_light_modules_do_not_load_tensorflow():
    out = _run("import sys, seglib.config, seglib.presets, seglib.classes, seglib.settings, seglib.io, seglib.cli.main\n"
               "print('tensorflow' in sys.modules)")
    assert out.strip() == "False"


@pytest.mark.slow
def test_importing_tensorflow_through_seglib_is_quiet():
    result = subprocess.run(
        [sys.executable, "-c", "from seglib._tf import import_tf; tf, keras = import_tf(); print(tf.__version__)"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0
    assert result.stderr.strip() == "", result.stderr


def test_no_absolute_machine_paths_in_tracked_files():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    offenders = []
    for name in files:
        if name.startswith(("tests/", ".ci/")) or not name.endswith((".py", ".md", ".toml", ".txt", ".cfg", ".json", ".ini")):
            continue
        text = (ROOT / name).read_text(encoding="utf-8", errors="ignore")
        for marker in ("/work/", "/root/", "/tmp/", "/home/"):
            if marker in text:
                offenders.append(f"{name}: {marker}")
    assert not offenders, offenders


#: The longest a page file may be: a page reads as header, widgets, one call, draw (Streamlit's own
#: demo pages are 42 to 117 lines); its state, caches and arithmetic live in ``ui/<page>`` and ``seglib``.
PAGE_LINES = 250


def test_no_page_is_longer_than_the_limit():
    lengths = {path.name: len(path.read_text(encoding="utf-8").splitlines())
               for path in sorted((ROOT / "pages").glob("*.py"))}
    assert lengths, "no page files found"
    too_long = {name: count for name, count in lengths.items() if count > PAGE_LINES}
    assert not too_long, (f"Pages over {PAGE_LINES} lines: {too_long}. Move page state, caches and callbacks "
                          "to a ui/<page> module and arithmetic to seglib.")
