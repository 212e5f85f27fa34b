/* The extmatrix embedding harness: shared declarations.
 *
 * The harness is one program, compiled by the driver once per interpreter. It
 * runs exactly one scenario per process and reports what it observes as JSON
 * lines on a dedicated file descriptor, so that whatever the target module
 * prints on stdout/stderr cannot corrupt the protocol. docs/harness-protocol.md
 * lists every event.
 */
#ifndef EXTMATRIX_HARNESS_H
#define EXTMATRIX_HARNESS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

/* What the driver asked for (command line): every string a copy the
 * harness owns (own_args), never a pointer into argv. */
typedef struct {
    const char *scenario;
    const char *module;      /* import name */
    const char *module_dir;  /* put first on sys.path in every interpreter */
    const char *smoke;       /* code run with the module bound to `m`; may be empty */
    const char *smoke_file;  /* where to read `smoke` from (--smoke-file), or NULL */
    const char *python_exe;  /* the interpreter's own executable, so getpath finds its stdlib */
    int cycles;              /* reinit, reimport, subinterp-cycle */
    int threads;             /* free-threading: smoke code on this many threads at once */
    int interpreters;        /* subinterp-parallel: own-GIL interpreters at once */
    int rounds;              /* subinterp-parallel, free-threading: smoke code runs per worker */
    int waves;               /* subinterp-parallel: interpreters created, used and ended together */
    const char *module_file; /* inittab: the extension file whose PyInit_<name> is registered */
    int debug_allocator;     /* PYMEM_ALLOCATOR_DEBUG at every init (--debug-allocator 1) */
    const char *subinterp;   /* subinterp-cycle: auto (from the declaration), legacy, shared, own */
    int alone;               /* subinterp-*: import in the subinterpreter only, never in main (--alone 1) */
    int site;                /* run `site` at every init (--site 1); off by default: cells are hermetic */
} harness_args;

/* ---- observation channel (harness.c) ---- */

/* One JSON object per line; built field by field, written with one write(2)
 * so a crash right after still leaves every finished line intact. With a
 * token, every line starts {"token":"<token>", so the driver can tell the
 * harness's lines from anything else written to the descriptor. */
typedef struct obs_line obs_line;
/* This process writes on the channel from now on; any other (a copy the
 * target forked) is silent. Called by main, then by the scenario process. */
void obs_claim(void);
int obs_is_owner(void);
obs_line *obs_begin(const char *ev);
void obs_str(obs_line *l, const char *key, const char *value);
void obs_int(obs_line *l, const char *key, long long value);
void obs_bool(obs_line *l, const char *key, int value);
/* Write the line; exit 4 when the channel is gone (the driver is gone). */
void obs_end(obs_line *l);
/* Write the line; if the channel is gone, go on anyway. */
void obs_end_lossy(obs_line *l);

/* ---- steps: the only vocabulary of "step" and of every "where" ----
 *
 * A step is a stage (which interpreter, which cycle) and an action, each
 * spelled by one name table in harness.c; the wire form is PREFIX ACTION:
 * "import", "cycle 2: import", "reimport: smoke", "subinterp own: end". */

typedef enum {
    STAGE_MAIN,             /* the main interpreter, first import: no prefix */
    STAGE_CYCLE,            /* reinit cycle n (n >= 1): "cycle n: " */
    STAGE_REIMPORT,         /* "reimport: ", then "reimport n: " for n >= 2 */
    STAGE_SUBINTERP_LEGACY, /* "subinterp legacy: " (Py_NewInterpreter) */
    STAGE_SUBINTERP_SHARED, /* "subinterp shared: " (isolated, shared GIL) */
    STAGE_SUBINTERP_OWN,    /* "subinterp own: " (isolated, own GIL) */
} stage_kind;

/* n: the cycle number. STAGE_CYCLE always has one (n >= 1); STAGE_MAIN never
 * (0); the others are numbered in cycling scenarios ("subinterp own 3: ",
 * "reimport 2: ") and unnumbered (0) otherwise. */
typedef struct {
    stage_kind kind;
    int n;
} stage;

static inline stage stage_of(stage_kind kind) { return (stage){kind, 0}; }
static inline stage cycle_stage(int n) { return (stage){STAGE_CYCLE, n}; }
static inline stage numbered(stage_kind kind, int n) { return (stage){kind, n}; }

typedef enum {
    ACT_INIT,               /* "init" */
    ACT_IMPORT,             /* "import" */
    ACT_SMOKE,              /* "smoke" */
    ACT_SMOKE_ON_THREADS,   /* "smoke on threads" */
    ACT_DEL_SYS_MODULES,    /* "del sys.modules" */
    ACT_SMOKE_OLD_INSTANCE, /* "smoke old instance" */
    ACT_CREATE,             /* "create" */
    ACT_END,                /* "end" */
    ACT_FINALIZE,           /* "finalize" */
    ACT_IN_PARALLEL,        /* "in parallel": workers create, import, smoke and end at once */
    ACT_REGISTER,           /* "register": PyImport_AppendInittab, before init */
} action;

/* A "step" marker before every risky step: a crash or hang is attributed to
 * the last step the driver saw. The step also becomes the current step, the
 * "where" of every later error, warning and gil event. */
void step(stage st, action act);
const char *current_step(void);
/* A step's wire name without announcing it (the main thread only: the
 * string lives until the next call). */
const char *step_name(stage st, action act);
/* An action's wire name; safe in a signal handler. */
const char *action_name(action act);

/* Unrecoverable harness failure (not the target's fault): report and exit 3. */
void harness_fatal(const char *fmt, ...);
/* 1 for the first thread to report the process's end (harness_fatal, a
 * fatal signal), 0 for any later one, which must then wait to die: workers
 * can fail together, and the channel takes one writer. */
int claim_last_words(void);

/* What a scenario needs that this build lacks (the "needs" codes). */
typedef enum {
    NEEDS_ISOLATED_SUBINTERPRETERS, /* "isolated-subinterpreters" (3.12+) */
    NEEDS_FREE_THREADED_BUILD,      /* "free-threaded-build" (3.13t+) */
} need;

/* The scenario cannot run on this build: report and let the caller return. */
void report_unsupported(need what);

/* ---- interpreter and target (harness.c) ---- */

/* Initialize the main interpreter (isolated config; with the debug
 * allocator when a->debug_allocator); on free-threaded builds, report the
 * GIL's state right after. */
void init_python(const harness_args *a);
void finalize_python(void);

/* What raised: the "phase" of an "error" event. */
typedef enum { PHASE_IMPORT, PHASE_SMOKE, PHASE_FORGET } error_phase;

/* An exception taken out of the interpreter as text, so that it can be
 * reported later, by another thread (a worker never writes on the
 * channel). Empty (all NULL) when nothing was captured. */
typedef struct {
    char *type;
    char *message;
    char *not_found; /* a ModuleNotFoundError's `name`, or NULL */
    char *traceback;
} captured_error;

/* Take the pending exception into `e` and clear it. */
void capture_exception(captured_error *e);
/* An "error" event for `e` at step `where`; `worker` and `round` (from 1)
 * say which worker and which of its rounds raised, 0 when no worker did. */
void report_error(const captured_error *e, const char *where, error_phase phase, int worker,
                  int round);
void release_error(captured_error *e);

/* Import the target in the current interpreter (after putting module_dir on
 * its sys.path). NULL after reporting an "error" event (phase "import"). */
PyObject *import_target(const harness_args *a);
/* The same for a worker: NULL with the error in `e`, nothing reported. */
PyObject *import_target_captured(const harness_args *a, captured_error *e);

/* warned.c: keep the warnings the current interpreter issues from here on,
 * without importing `warnings`; the token to hand to warned_end (NULL when
 * nothing could be set up: nothing is kept). */
PyObject *warned_begin(void);
/* Stop keeping them: a list of (category, text) pairs (a new reference, or
 * NULL for a NULL token). A pending exception stays pending. */
PyObject *warned_end(PyObject *token);

/* Run the smoke code against `module`; -1 after reporting an "error" event
 * (phase "smoke"). */
int run_smoke(const harness_args *a, PyObject *module);
/* For a worker, whose rounds run the smoke code many times: compile it
 * once in the current interpreter (NULL with the error in `e`), then run
 * it (-1 with the error in `e`); nothing reported. */
PyObject *compile_smoke_captured(const harness_args *a, captured_error *e);
int eval_smoke_captured(PyObject *code, PyObject *module, captured_error *e);

/* On free-threaded builds, report whether the GIL is enabled now. */
void report_gil(void);

/* Report what the module declares: init style and the PEP 489 slots that
 * decide whether CPython lets it into subinterpreters. */
void report_declaration(PyObject *module);

/* The names in sys.modules now (a new set); NULL (error cleared) if
 * they cannot be read. */
PyObject *module_names(void);

/* Report, one "pulled_in" event each, the modules in sys.modules that are
 * not in `before` (from module_names), leaving out the target's own
 * top-level package and everything under it: what importing the target
 * and running its smoke code brought in. Steals `before`. */
void report_pulled_in(const harness_args *a, PyObject *before);

/* Remove the target from the current interpreter's sys.modules; -1 after
 * reporting an "error" event (phase "forget"). */
int forget_target(const harness_args *a);

/* ---- workers (workers.c) ---- */

/* The most workers one scenario runs at once. */
#define MAX_WORKERS 256

typedef struct worker worker;
/* What a worker does, on its own thread, once the barrier releases it. */
typedef void (*worker_fn)(worker *w, void *ctx);

struct worker {
    int index;            /* from 1 */
    captured_error error; /* its first error */
    int failed;
    action error_action;  /* what it was doing when it raised */
    int error_round;      /* in which round (0: before the first) */
};

/* Run `fn` on `n` threads (n <= MAX_WORKERS) released together by a
 * barrier, and wait for them all. The caller's thread state is detached
 * meanwhile (call it with one attached). */
void run_workers(worker *ws, int n, worker_fn fn, void *ctx);
/* Wait, with the thread state detached, until every worker of the running
 * scenario is here; each must come exactly once more per call. */
void workers_meet(void);
/* Note what worker `w` does now (round 0: outside the rounds): a crash or a
 * hang names the worker and its round. */
void worker_at(worker *w, action act, int round);
/* Keep `e` as w's error if it is the first (else release it). */
void worker_failed(worker *w, action act, int round, captured_error *e);
/* Report every worker's error in stage `st`; the number of workers that
 * failed. Releases the errors. */
int report_worker_errors(worker *ws, int n, stage st);
/* For the crash handler: one line per worker of the scenario running now
 * ("worker 3: smoke, round 17", "worker 4: ended", "worker 2: not
 * started"), and which worker the calling thread is (0: none) with its
 * round. Empty when no workers run. */
void describe_workers(char *buf, size_t cap, int *worker_index, int *round);

/* ---- per-cycle figures (figures.c) ---- */

/* What one cycle of a cycling scenario measured. -1: not measured. */
typedef struct {
    int ok;                  /* the import and the smoke code succeeded */
    long long blocks;        /* sys.getallocatedblocks() after a collection */
    long long refs;          /* sys.gettotalrefcount() after a collection (debug builds) */
    const char *allocator;   /* the memory allocator in use, NULL if unknown */
} interp_figures;

/* Collect garbage, then read the interpreter's figures (it must be up). */
interp_figures measure_interpreter(int ok);
/* Report a "cycle" event: `in` plus the RSS now, and when the interpreter
 * is finalized, what the runtime still counts (debug builds). */
void report_cycle(int n, double seconds, const interp_figures *in);
/* Wall-clock seconds (CLOCK_MONOTONIC). */
double now(void);

/* ---- identity checks (identity.c) ---- */

/* The objects reachable from a module: the module object itself (path
 * "(module)"), its dict values and the attributes of the types among them. Each is held (a strong reference) so that no address
 * can be reused while two sets are compared. */
typedef struct {
    PyObject *obj;
    uintptr_t addr;
    char path[160];
    /* For a type's attribute: 1 + the index of that type in the set (its
     * dict belongs to whoever owns the type); 0 for a module attribute. */
    size_t owner;
} reach_item;

typedef struct {
    reach_item *items;
    size_t len, cap;
} reach_set;

/* Which comparison: the "label" of "shared" and "compared". */
typedef enum {
    COMPARE_MAIN_SUBINTERP, /* "main/subinterp" */
    COMPARE_OLD_NEW,        /* "old/new" */
} comparison;

/* Remember every object the interpreter tracks before the target is
 * imported (held, so no address is reused), so a comparison can say which
 * shared objects existed before the import; forget them before finalizing. */
void reach_remember_interpreter(void);
void reach_forget_interpreter(void);

void reach_collect(PyObject *module, reach_set *out);
/* Report every object present in both sets at the same address, with where
 * it lives; `module` (from the current interpreter) tells which image is the
 * extension's. */
void reach_compare(const reach_set *before, const reach_set *after, comparison label,
                   PyObject *module);
/* Drop the references; call in the interpreter the set was collected in. */
void reach_release(reach_set *set);

/* ---- crash forensics (forensics.c) ---- */

/* Handle fatal signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT): report a
 * "forensics" event with the Python traceback and the C frames of every
 * thread, then die of the same signal; on the dump signal (a free
 * real-time signal, announced in a "dump_signal" event; the driver sends it
 * at the timeout), report the same and go on. Call once, before the first
 * init and before any target code. */
void forensics_install(void);
/* If the target installed its own handler on the dump signal, move the
 * dump to another free signal and announce it (step() calls this). */
void forensics_check_dump_signal(void);
/* faulthandler on, writing into the forensics' own file (call after
 * every init of the main interpreter). */
void forensics_enable_faulthandler(void);

/* ---- supervision (supervisor.c) ---- */

/* Fork: the parent becomes the cell's supervisor (a child subreaper) and
 * never returns; it waits for the child, kills every process still running
 * below it, reports a "cleanup" event and ends the way the child ended.
 * Returns in the child, which runs the scenario. */
void supervise(void);

/* ---- scenarios (scenarios.c) ---- */

typedef int (*scenario_fn)(const harness_args *a);
scenario_fn find_scenario(const char *name);
/* The i-th scenario's name, NULL past the last (--list, usage). */
const char *scenario_name(size_t i);

#endif
