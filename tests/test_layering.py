"""Architecture rules: seglib never imports Streamlit; light modules stay TF-free;
no absolute machine paths in tracked files."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_seglib_never_imports_streamlit():
    out = _run(
        "import pkgutil, importlib, sys, seglib\n"
        "for m in pkgutil.walk_packages(seglib.__path__, 'seglib.'):\n"
        "    if m.name != 'seglib.__main__': importlib.import_module(m.name)\n"
        "print('streamlit' in sys.modules)\n"
    )
    assert out.strip() == "False"


def test_light_modules_do_not_load_tensorflow():
    out = _run("import sys, seglib.config, seglib.classes, seglib.settings, seglib.io, seglib.cli.main\n"
               "print('tensorflow' in sys.modules)")
    assert out.strip() == "False"


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
