"""The naive battery: the script an author writes instead of extmatrix (issue 21).

The same checks as extmatrix's six spine scenarios, each the obvious way --
one fresh `subprocess.run([python, "-c", code])` per check, one after another:

- import: import the module and run the smoke code;
- reinit: a fresh process per cycle, each importing (a process cannot
  re-initialize its interpreter from Python, so a new one stands in);
- reimport: import, then CYCLES times drop it from sys.modules and import
  again (a fresh instance each time, the old one still working), one process;
- subinterp-legacy / -shared / -own: import in the main interpreter, then in
  one subinterpreter of that kind (what the harness does per cell), one
  process each. The configs are the harness's: legacy is Py_NewInterpreter's,
  shared and own the isolated config (own obmalloc, extension checks) with a
  shared or an own GIL.

Usage: PYTHON naive_battery.py MODULE_DIR MODULE CYCLES SMOKE
Every check runs on PYTHON, the interpreter running the script. The smoke
code sees the module as `m`. Exits non-zero at the first check that fails;
prints each check's wall and the total.
"""

import subprocess
import sys
import time

# 3.13 names its configs; `isolated` is the harness's own-GIL config, and
# the same with a shared GIL is its shared one.
SUBINTERP_313 = """
import _interpreters
config = {config}
interp = _interpreters.create(config)
failure = _interpreters.exec(interp, {code!r})
_interpreters.destroy(interp)
if failure is not None:
    raise SystemExit("in the subinterpreter: " + getattr(failure, "errdisplay", str(failure)))
"""

CONFIGS_313 = {
    "legacy": "_interpreters.new_config('legacy')",
    "shared": "_interpreters.new_config('isolated', gil='shared')",
    "own": "_interpreters.new_config('isolated')",
}

# 3.12 has no public way to pick a config but its test C API; its `gil` is
# PyInterpreterConfig's: 1 shared, 2 own.
SUBINTERP_312 = """
import _testcapi
if _testcapi.run_in_subinterp_with_config({code!r}, **{config}) != 0:
    raise SystemExit("the subinterpreter's code failed")
"""

_ISOLATED_312 = dict(
    use_main_obmalloc=False, allow_fork=False, allow_exec=False, allow_threads=True,
    allow_daemon_threads=False, check_multi_interp_extensions=True,
)
CONFIGS_312 = {
    "legacy": repr(dict(
        use_main_obmalloc=True, allow_fork=True, allow_exec=True, allow_threads=True,
        allow_daemon_threads=True, check_multi_interp_extensions=False, gil=1,
    )),
    "shared": repr(dict(_ISOLATED_312, gil=1)),
    "own": repr(dict(_ISOLATED_312, gil=2)),
}


def import_code(module_dir, module, smoke):
    return (
        f"import sys, importlib\nsys.path.insert(0, {module_dir!r})\n"
        f"m = importlib.import_module({module!r})\n{smoke}\n"
    )


def reimport_code(module_dir, module, smoke, cycles):
    return import_code(module_dir, module, smoke) + (
        f"old = m\nfor _ in range({cycles}):\n"
        f"    del sys.modules[{module!r}]\n"
        f"    m = importlib.import_module({module!r})\n"
        f"    assert m is not old\n"
        f"    {smoke}\n"
        f"m = old\n{smoke}\n"
    )


def subinterp_code(python_version, kind, module_dir, module, smoke):
    inner = import_code(module_dir, module, smoke)
    if python_version >= (3, 13):
        template, config = SUBINTERP_313, CONFIGS_313[kind]
    elif python_version >= (3, 12):
        template, config = SUBINTERP_312, CONFIGS_312[kind]
    else:
        return None  # no isolated subinterpreters before 3.12
    return inner + template.format(config=config, code=inner)


def checks(python_version, module_dir, module, cycles, smoke):
    """(name, code) per process the battery runs, in order."""
    one = import_code(module_dir, module, smoke)
    yield "import", one
    for n in range(1, cycles + 1):
        yield f"reinit {n}", one
    yield "reimport", reimport_code(module_dir, module, smoke, cycles)
    for kind in ("legacy", "shared", "own"):
        code = subinterp_code(python_version, kind, module_dir, module, smoke)
        if code is not None:
            yield f"subinterp-{kind}", code


def main():
    if len(sys.argv) != 5:
        sys.exit(f"usage: PYTHON {sys.argv[0]} MODULE_DIR MODULE CYCLES SMOKE")
    module_dir, module, cycles, smoke = sys.argv[1:]
    python, version = sys.executable, sys.version_info[:2]
    start = time.monotonic()
    for name, code in checks(version, module_dir, module, int(cycles), smoke):
        t0 = time.monotonic()
        done = subprocess.run([python, "-c", code], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{name}: failed (exit {done.returncode}):\n{done.stderr}")
        print(f"{name}: {(time.monotonic() - t0) * 1000:.1f} ms")
    print(f"total: {(time.monotonic() - start) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
