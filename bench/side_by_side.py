"""The anchors side by side (issue 21): `just bench` (scripts/bench) runs this.

Four goals, each a ratio of extmatrix against an anchor measured in the same
run, on the same module (harness-c/fixtures/isolated_ok.c, the very file
extmatrix built) and the same interpreters (the ones extmatrix finds):

(a) a `reinit` cycle against bench/bare_loop.c, an init/import/finalize loop
    with nothing around it, compiled per interpreter, without and with `site`;
(b) the default matrix's warm wall against max(longest cell, CPU / cores);
(c) one module x the six spine scenarios on cp313 against
    bench/naive_battery.py, one subprocess per check;
(d) the warm fixed cost of `extmatrix run` before its first cell: from
    extmatrix's exec to the first harness exec, seen by perf's exec
    tracepoint (strace when perf cannot record here).

The contestants of (a), (c) and (d) run interleaved, ROUNDS times, in
alternating order, so machine noise hits them alike; each figure is the
median over the rounds. Everything runs against a fresh cache in a temporary
directory, warmed by a first run that is not timed.

Usage: python3 bench/side_by_side.py EXTMATRIX_BINARY  (BENCH_ROUNDS: rounds, default 5)
Prints the machine, a Markdown table and notes; exits 1 on a broken anchor.
"""

import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "harness-c" / "fixtures" / "isolated_ok.c"
MODULE = "isolated_ok"
SMOKE = "assert m.bump() >= 1"  # the default matrix's, for this fixture
INTERPRETERS = ("cp311", "cp312", "cp313")
SPINE = ("import", "reinit", "reimport", "subinterp-legacy", "subinterp-shared", "subinterp-own")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))  # a quick look: BENCH_ROUNDS=1
REINIT_CYCLES = 50
SPINE_CYCLES = 5  # matrices/default.yaml's options.cycles
GOALS = {"a": 1.10, "b": 1.2, "c": 0.5, "d_ms": 50.0}
# What times (d): "perf" (the exec tracepoint; nothing slowed), "strace"
# (ptrace: every thread extmatrix starts is slowed, so it reads high), or
# None. Chosen in main().
TRACER = None
TRACER_NOTE = {
    "perf": "perf record -e sched:sched_process_exec",
    "strace": "strace -f --seccomp-bpf -e trace=execve; ptrace slows thread starts, so read it high",
}


def fail(message):
    sys.exit(f"bench: {message}")


def run(args, ok=(0,), **kwargs):
    """Run `args`: its wall in seconds and its stdout. Fails the bench on
    an exit status not in `ok`, with the end of its stderr."""
    start = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, **kwargs)
    wall = time.monotonic() - start
    if done.returncode not in ok:
        fail(f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return wall, done.stdout


# ---------------------------------------------------------------- machine


def describe_machine():
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    mem_kb = int(re.search(r"^MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text(), re.M)[1])
    return {
        "cpu": model[1] if model else platform.processor() or "?",
        "cores": os.cpu_count(),
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": f"{platform.system()} {platform.release()}",
    }


def load():
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


# ---------------------------------------------------------------- setup


class Extmatrix:
    """The binary under test, with the bench's own cache."""

    def __init__(self, binary, cache):
        self.binary = str(binary)
        self.env = dict(os.environ, EXTMATRIX_CACHE_DIR=str(cache))

    def run(self, matrix, report, *extra, ok=(0,)):
        """Wall (s) of `extmatrix run`, and its JSON report."""
        wall, _ = run([self.binary, "run", str(matrix), "--json", str(report), *extra],
                      ok=ok, env=self.env)
        return wall, json.loads(Path(report).read_text())

    def pythons(self):
        """id -> discovery's description, for the ids the bench needs."""
        _, out = run([self.binary, "pythons", "--json"], env=self.env)
        found = {p["id"]: p for p in json.loads(out)["pythons"]}
        missing = [i for i in INTERPRETERS if i not in found]
        if missing:
            fail(f"{', '.join(missing)} not found by `extmatrix pythons` "
                 "(pyenv 3.11, 3.12 and 3.13 are expected: `just setup`)")
        return {i: found[i] for i in INTERPRETERS}


def write_matrix(path, pythons, scenarios, cycles, jobs=None, smoke=SMOKE, debug_allocator=True):
    options = f"cycles: {cycles}, timeout_s: 120" + (f", jobs: {jobs}" if jobs else "")
    options += "" if debug_allocator else ", debug_allocator: false"
    smoke_line = f"\n    smoke: {json.dumps(smoke)}" if smoke else ""
    path.write_text(
        f"pythons: [{', '.join(pythons)}]\n"
        f"scenarios: [{', '.join(scenarios)}]\n"
        f"options: {{ {options} }}\n"
        f"targets:\n  - name: trivial\n    c: {json.dumps(str(FIXTURE))}{smoke_line}\n"
    )
    return path


def compile_bare_loop(python, out):
    """bench/bare_loop.c against `python` (a discovery entry), as the
    harness is compiled: python-config --cflags, --embed --ldflags."""
    build = python["build"]
    config = build["config_script"]
    cflags = run([config, "--cflags"])[1].split()
    ldflags = run([config, "--embed", "--ldflags"])[1].split()
    run([build["cc"].split()[0], *cflags, "-Wno-deprecated-declarations",
         str(REPO / "bench" / "bare_loop.c"), "-o", str(out), *ldflags,
         f"-Wl,-rpath,{build['libdir']}"])
    return out


def built_modules(report):
    """python id -> the directory of the module extmatrix built for it."""
    return {img["python"]: str(Path(img["path"]).parent)
            for img in report["images"] if img["module"] == MODULE}


def check_passed(report, what):
    bad = [f"{c['python']}/{c['scenario']}: {c['outcome']}"
           for c in report["cells"] if c["outcome"] not in ("pass", "n/a")]
    if bad:
        fail(f"{what}: cells did not pass, the comparison would mean nothing: {bad}")


# ---------------------------------------------------------------- contestants


def later_cycles_median_ms(us):
    """Median of the cycles after the first (which also pays for loading
    libpython's pages), in ms."""
    return statistics.median(us[1:]) / 1000


def bare_loop(samples, binary, python, module_dir, site):
    wall, out = run([binary, python["path"], module_dir, MODULE, str(REINIT_CYCLES), str(site)])
    us = [int(line.split()[2]) for line in out.splitlines()]
    if len(us) != REINIT_CYCLES:
        fail(f"{binary} printed {len(us)} cycles, not {REINIT_CYCLES}")
    name = f"{python['id']} bare site={site}"
    samples.setdefault(f"{name} cycle", []).append(later_cycles_median_ms(us))
    samples.setdefault(f"{name} wall", []).append(wall * 1000 / REINIT_CYCLES)


def extmatrix_reinit(samples, em, matrix, report, label):
    _, r = em.run(matrix, report)
    check_passed(r, matrix.name)
    for cell in r["cells"]:
        us = [c["us"] for c in cell["details"]["cycles"]]
        name = f"{cell['python']} {label}"
        samples.setdefault(f"{name} cycle", []).append(later_cycles_median_ms(us))
        samples.setdefault(f"{name} wall", []).append(cell["duration_ms"] / len(us))


def callgrind_instructions(cmd):
    """The instructions `cmd` ran, counted by callgrind: the largest count
    among the processes it forked (the harness's supervisor forks the
    process that runs the scenario)."""
    with tempfile.TemporaryDirectory() as out:
        run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.%p", *cmd])
        counts = [int(line.split()[1]) for f in Path(out).iterdir()
                  for line in f.read_text().splitlines() if line.startswith("summary:")]
    if not counts:
        fail(f"callgrind counted nothing for {cmd[0]}")
    return max(counts)


def per_cycle_instructions(command_for):
    """Instructions per cycle of a loop, deterministic: (11 cycles − 1) / 10."""
    return (callgrind_instructions(command_for(11)) - callgrind_instructions(command_for(1))) / 10


def harness_of(cache, py):
    """The harness binary extmatrix built for `py` in the bench's cache."""
    built = sorted((cache / "harness").glob(f"{py}-*/extmatrix-harness"),
                   key=lambda p: p.stat().st_mtime)
    if not built:
        fail(f"no harness for {py} in {cache}")
    return built[-1]


def instruction_counts(cache, pythons, modules, bare):
    """(a) in instructions: the bare loop and the harness's `reinit` (with and
    without the debug allocator, as extmatrix runs it for the bench's
    matrices), per cycle, for each interpreter. Empty without valgrind."""
    if not shutil.which("valgrind"):
        return {}
    counts = {}
    for py in INTERPRETERS:
        exe, module_dir = pythons[py]["path"], modules[py]
        counts[f"{py} bare"] = per_cycle_instructions(
            lambda n: [str(bare[py]), exe, module_dir, MODULE, str(n), "0"])
        harness = str(harness_of(cache, py))
        for allocator in (1, 0):
            counts[f"{py} harness debug={allocator}"] = per_cycle_instructions(lambda n: [
                harness, "--scenario", "reinit", "--module", MODULE, "--module-dir", module_dir,
                "--python-exe", exe, "--cycles", str(n), "--threads", "4", "--interpreters", "4",
                "--rounds", "50", "--waves", "3", "--debug-allocator", str(allocator),
                "--site", "0"])
    return counts


def naive_battery(samples, python, module_dir):
    wall, _ = run([python["path"], str(REPO / "bench" / "naive_battery.py"),
                   module_dir, MODULE, str(SPINE_CYCLES), SMOKE])
    samples.setdefault("naive wall", []).append(wall * 1000)


def extmatrix_spine(samples, em, matrix, report):
    wall, r = em.run(matrix, report)
    check_passed(r, matrix.name)
    samples.setdefault("spine wall", []).append(wall * 1000)


def perf_works():
    """Whether `perf` can record the exec tracepoint here (root, a kernel
    with tracefs): it sees every exec without stopping the process, where
    strace's ptrace slows every thread extmatrix starts."""
    if not shutil.which("perf"):
        return False
    probe = subprocess.run(["perf", "record", "-q", "-e", "sched:sched_process_exec",
                            "-o", "/dev/null", "--", "true"], capture_output=True)
    return probe.returncode == 0


def traced_execs(em, matrix, report, trace):
    """Run extmatrix on `matrix` with its execs traced: (ms since its own
    exec, program name) for each, in order."""
    cmd = [em.binary, "run", str(matrix), "--json", str(report)]
    if TRACER == "perf":
        run(["perf", "record", "-q", "-e", "sched:sched_process_exec", "-o", str(trace), "--",
             *cmd], env=em.env)
        text = subprocess.run(["perf", "script", "-i", str(trace), "-F", "time,trace"],
                              capture_output=True, text=True, check=True).stdout
        calls = [(float(line.split()[0].rstrip(":")),
                  next(w for w in line.split() if w.startswith("filename="))[len("filename="):])
                 for line in text.splitlines() if "filename=" in line]
    else:
        run(["strace", "-f", "--seccomp-bpf", "-qq", "-ttt", "-e", "trace=execve",
             "-o", str(trace), *cmd], env=em.env)
        calls = [(float(stamp), rest.split('"')[1])
                 for _, stamp, rest in (line.split(None, 2)
                                        for line in Path(trace).read_text().splitlines()
                                        if 'execve("' in line and "= -1" not in line)]
    return [((t - calls[0][0]) * 1000, Path(program).name) for t, program in calls]


def exec_times(execs):
    """The ms at which the first harness started, the programs run before it
    ("gcc ×1, python3 ×9") and the ms at which the first and the last of
    them started (empty when there were none)."""
    programs = [program for _, program in execs]
    ms = [t for t, _ in execs]
    if "extmatrix-harness" not in programs:
        fail("no harness exec in the trace")
    n = programs.index("extmatrix-harness")
    between = ", ".join(f"{p} ×{k}" for p, k in sorted(Counter(programs[1:n]).items()))
    return ms[n], between or "no other program", ms[1:n][:1] + ms[1:n][-1:]


def fixed_overhead(samples, em, matrix, report, trace):
    harness, programs, first_and_last = exec_times(traced_execs(em, matrix, report, trace))
    samples.setdefault("overhead ms", []).append(harness)
    samples.setdefault("overhead programs", []).append(programs)
    for name, ms in zip(("first", "last"), first_and_last):
        samples.setdefault(f"overhead {name} program", []).append(ms)


def interleaved(contestants):
    """ROUNDS rounds of every contestant, the order reversed every other
    round; returns the samples, a list per figure."""
    samples = {}
    for n in range(ROUNDS):
        for contestant in contestants if n % 2 == 0 else contestants[::-1]:
            contestant(samples)
    return samples


class Figure:
    """One figure over the rounds: its median, and its range to show the noise."""

    def __init__(self, values):
        self.median, self.low, self.high = statistics.median(values), min(values), max(values)

    def text(self, digits=2):
        """In ms: "9.03 ms (8.71–10.20)"."""
        def f(x):
            return f"{x:.{digits}f}"
        spread = f" ({f(self.low)}–{f(self.high)})" if ROUNDS > 1 else ""
        return f"{f(self.median)} ms{spread}"


def summarize(samples):
    """A Figure per numeric figure; a text figure, its distinct values."""
    return {name: Figure(values) if isinstance(values[0], (int, float))
            else " / ".join(dict.fromkeys(values))
            for name, values in samples.items()}


def default_matrix(em, work):
    """(wall, longest cell, CPU of the children, cells' total, report) of
    a warm run of matrices/default.yaml. Warmed with --timeout 2 (the
    caches do not depend on it) so the warm-up's hangs are short."""
    matrix = REPO / "matrices" / "default.yaml"
    em.run(matrix, work / "default-warmup.json", "--timeout", "2", ok=(0, 1))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, r = em.run(matrix, work / "default.json", ok=(0, 1))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    durations = [c["duration_ms"] / 1000 for c in r["cells"]]
    return wall, max(durations), cpu, sum(durations), r


# ---------------------------------------------------------------- the table


def row(name, anchor_text, anchor, ext_text, ext, goal, goal_text=None):
    """A table row; the ratio is of the medians (numbers here)."""
    ratio = ext / anchor
    holds = "—" if goal is None else ("yes" if ratio <= goal else "**no**")
    goal_text = goal_text or ("—" if goal is None else f"≤ {goal:.2f}×")
    return f"| {name} | {anchor_text} | {ext_text} | {ratio:.2f}× | {goal_text} | {holds} |"


def versus(name, anchor_label, anchor, ext, goal, digits=2):
    """A row of two Figures."""
    return row(name, f"{anchor_label}: {anchor.text(digits=digits)}", anchor.median,
               ext.text(digits=digits), ext.median, goal)


def reinit_rows(m, py):
    """(a) for one interpreter, with and without the debug allocator, and the
    context: `site`."""
    bare0, bare1 = m[f"{py} bare site=0 cycle"], m[f"{py} bare site=1 cycle"]
    cycle = m[f"{py} reinit cycle"]
    return [
        versus(f"(a) `reinit` cycle, {py}: init → finalize, median of cycles 2–{REINIT_CYCLES}",
               "bare, no site", bare0, cycle, GOALS["a"]),
        versus(f"(a) `reinit` cycle, {py}: process wall / {REINIT_CYCLES} cycles",
               "bare, no site", m[f"{py} bare site=0 wall"], m[f"{py} reinit wall"], GOALS["a"]),
        versus(f"context, {py}: the same cycle against the bare loop *with* `site`",
               "bare, site", bare1, cycle, None),
        # The debug allocator's cost is by design (a pointer kept across
        # Py_FinalizeEx reads poison); what the harness adds besides it is
        # held to the same goal.
        versus(f"(a) without the debug allocator, {py}: a cycle with `debug_allocator: false`",
               "bare, no site", bare0, m[f"{py} nodebug cycle"], GOALS["a"]),
    ]


def instruction_rows(counts, py):
    """(a) counted in instructions (callgrind): no noise from the machine."""
    if not counts:
        return []
    bare = counts[f"{py} bare"]
    return [row(f"(a) in instructions, {py}: a `reinit` cycle{label} (callgrind)",
                f"bare, no site: {bare / 1e6:.2f} M", bare,
                f"{counts[f'{py} harness debug={allocator}'] / 1e6:.2f} M",
                counts[f"{py} harness debug={allocator}"], None)
            for allocator, label in ((1, ""), (0, " without the debug allocator"))]


def default_row(wall, longest, cpu, cores, cells):
    ideal = max(longest, cpu / cores)
    return row(f"(b) default matrix ({cells} cells), warm wall against max(longest cell, CPU / cores)",
               f"max({longest:.1f} s, {cpu:.1f} s / {cores}) = {ideal:.1f} s", ideal,
               f"{wall:.1f} s", wall, GOALS["b"])


def spine_row(m):
    return versus(f"(c) 1 module × 6 scenarios, cp313, {SPINE_CYCLES} cycles: wall",
                  "naive battery", m["naive wall"], m["spine wall"], GOALS["c"], digits=0)


def overhead_row(m):
    name = "(d) warm fixed overhead of `extmatrix run` before its first cell"
    if "overhead ms" not in m:
        return f"| {name} | — | not measured: neither `perf` nor `strace` works here | — | ≤ 50 ms | — |"
    ext = m["overhead ms"]
    return row(name, f"budget: {GOALS['d_ms']:.0f} ms", GOALS["d_ms"],
               ext.text(digits=0), ext.median, 1.0, "≤ 1× (50 ms)")


def print_report(machine, binary, m, default, timing, counts):
    wall, longest, cpu, cells_total, report = default
    cores = machine["cores"]
    print(f"Machine: {machine['cpu']}, {cores} cores, {machine['ram']} RAM, {machine['kernel']}; "
          f"load average {timing['load_start']} at the start, {load()} at the end.")
    print(f"extmatrix: {binary}; (a), (c), (d): the median of {ROUNDS} interleaved rounds "
          "(lowest–highest in parentheses).\n")
    print("| row | anchor | extmatrix | ratio | goal | holds? |")
    print("|---|---|---|---|---|---|")
    for py in INTERPRETERS:
        print("\n".join(reinit_rows(m, py) + instruction_rows(counts, py)))
    print(default_row(wall, longest, cpu, cores, len(report["cells"])))
    print(spine_row(m))
    print(overhead_row(m))
    jobs = report["run"]["jobs"]
    print(f"\n- (b): the CPU is the children's rusage around `extmatrix run`, extmatrix's own "
          f"included; the cells' durations add up to {cells_total:.1f} s, "
          f"{cells_total / jobs:.1f} s on {jobs} jobs.")
    if "overhead programs" in m:
        started = (f"; the first started at {m['overhead first program'].text(0)}, the last at "
                   f"{m['overhead last program'].text(0)}" if "overhead last program" in m else "")
        print(f"- (d): between extmatrix's exec and the first harness's ran "
              f"{m['overhead programs']}{started} ({TRACER_NOTE[TRACER]}).")
    print(f"- `just bench` took {time.monotonic() - timing['started']:.0f} s.")


# ---------------------------------------------------------------- the run


def prepare(em, work):
    """The matrices, warmed once; the built modules' directories (by
    interpreter for (a), "spine" for (c)); the bare loops."""
    pythons = em.pythons()
    matrices = {
        # jobs 1: one cell at a time, like the bare loop; no smoke: neither has one.
        "reinit": write_matrix(work / "reinit.yaml", INTERPRETERS, ["reinit"],
                               REINIT_CYCLES, jobs=1, smoke=None),
        # Context: what the debug allocator (on by default) costs a cycle.
        "nodebug": write_matrix(work / "nodebug.yaml", INTERPRETERS, ["reinit"], REINIT_CYCLES,
                                jobs=1, smoke=None, debug_allocator=False),
        "spine": write_matrix(work / "spine.yaml", ["cp313"], SPINE, SPINE_CYCLES),
    }
    warm = {}
    for name, matrix in matrices.items():
        _, warm[name] = em.run(matrix, work / f"{name}-warmup.json")
        check_passed(warm[name], matrix.name)
    # Each anchor loads the very file its extmatrix contestant loads.
    modules = built_modules(warm["reinit"])
    modules["spine"] = built_modules(warm["spine"])["cp313"]
    bare = {py: compile_bare_loop(pythons[py], work / f"bare-{py}") for py in INTERPRETERS}
    return pythons, matrices, modules, bare


def contestants(em, work, pythons, matrices, modules, bare):
    """The interleaved contestants of (a), (c) and (d), one closure each."""
    out = [
        lambda s, py=py, site=site: bare_loop(s, bare[py], pythons[py], modules[py], site)
        for py in INTERPRETERS for site in (0, 1)
    ]
    out.append(lambda s: extmatrix_reinit(s, em, matrices["reinit"], work / "r.json", "reinit"))
    out.append(lambda s: extmatrix_reinit(s, em, matrices["nodebug"], work / "n.json", "nodebug"))
    out.append(lambda s: naive_battery(s, pythons["cp313"], modules["spine"]))
    out.append(lambda s: extmatrix_spine(s, em, matrices["spine"], work / "s.json"))
    if TRACER:
        out.append(lambda s: fixed_overhead(s, em, matrices["spine"], work / "t.json",
                                            work / "trace"))
    return out


def main():
    global TRACER
    if len(sys.argv) != 2:
        fail(f"usage: {sys.argv[0]} EXTMATRIX_BINARY")
    TRACER = "perf" if perf_works() else "strace" if shutil.which("strace") else None
    timing = {"started": time.monotonic(), "load_start": load()}
    binary = Path(sys.argv[1]).resolve()
    machine = describe_machine()
    work = Path(tempfile.mkdtemp(prefix="extmatrix-bench-"))
    try:
        em = Extmatrix(binary, work / "cache")
        prepared = prepare(em, work)
        pythons, _, modules, bare = prepared
        counts = instruction_counts(work / "cache", pythons, modules, bare)
        samples = interleaved(contestants(em, work, *prepared))
        medians = summarize(samples)
        default = default_matrix(em, work)
        print_report(machine, binary, medians, default, timing, counts)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
