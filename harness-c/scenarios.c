/* The scenarios: one short function each, and the table from scenario name to
 * function (the shape of CPython's Programs/_testembed.c).
 *
 * A scenario reports what it sees and returns 0; it never decides an outcome.
 * Errors raised by the target are "error" events, not a failing exit status:
 * the process exiting normally after "done" is what tells the driver that the
 * harness itself is healthy. */
#include "harness.h"

#include <dlfcn.h>
#include <string.h>

/* When the opening runs the smoke code: once, on threads at once, or not
 * at all (the caller runs it later, after a first use elsewhere). */
typedef enum { SMOKE_ONCE, SMOKE_ON_THREADS, SMOKE_LATER } smoke_kind;

static int smoke_on_threads(const harness_args *a, PyObject *module);

/* The opening every scenario but reinit shares, in the main interpreter:
 * init, import, declaration, smoke, and what the import pulled in (also
 * when it failed). SMOKE_ON_THREADS runs the smoke code on a->threads
 * threads, a->rounds times each, and reports the GIL after the smoke (init
 * and the import report it too). Returns the module, or NULL when the
 * import or the smoke code failed (reported); the interpreter is up either
 * way. */
static PyObject *open_main(const harness_args *a, smoke_kind kind, int remember)
{
    const stage top = stage_of(STAGE_MAIN);
    step(top, ACT_INIT);
    init_python(a);
    /* Only a re-import asks which objects existed before the import. */
    if (remember)
        reach_remember_interpreter();
    PyObject *before = module_names();
    step(top, ACT_IMPORT);
    PyObject *m = import_target(a);
    if (m == NULL) {
        report_pulled_in(a, before);
        return NULL;
    }
    report_declaration(m);
    int rc = 0;
    if (kind == SMOKE_ON_THREADS) {
        step(top, ACT_SMOKE_ON_THREADS);
        rc = smoke_on_threads(a, m);
        report_gil();
    } else if (kind == SMOKE_ONCE) {
        step(top, ACT_SMOKE);
        rc = run_smoke(a, m);
    }
    report_pulled_in(a, before);
    if (rc < 0)
        Py_CLEAR(m);
    return m;
}

/* The closing: drop the module (if any) and finalize the main interpreter. */
static int close_main(PyObject *m)
{
    Py_XDECREF(m);
    reach_forget_interpreter();
    step(stage_of(STAGE_MAIN), ACT_FINALIZE);
    finalize_python();
    return 0;
}

/* import: import once in the main interpreter and run the smoke code. */
static int scenario_import(const harness_args *a)
{
    return close_main(open_main(a, SMOKE_ONCE, 0));
}

/* What a cycle does with the module it imported, after its smoke code (NULL:
 * nothing); 0 when that worked. */
typedef int (*cycle_extra)(const harness_args *a, PyObject *module, int n);

/* Init/finalize cycle n (initialize, import, smoke, `extra`, finalize) with
 * its figures: reinit's and inittab's. 0 when the import worked. */
static int init_cycle(const harness_args *a, int n, cycle_extra extra)
{
    const stage cycle = cycle_stage(n);
    double start = now();
    step(cycle, ACT_INIT);
    init_python(a);
    PyObject *before = n == 1 ? module_names() : NULL;
    step(cycle, ACT_IMPORT);
    PyObject *m = import_target(a);
    int imported = m != NULL, ok = imported;
    if (m) {
        if (n == 1)
            report_declaration(m);
        step(cycle, ACT_SMOKE);
        ok = run_smoke(a, m) == 0;
        report_pulled_in(a, before);
        before = NULL;
        if (extra)
            ok = extra(a, m, n) == 0 && ok;
        Py_DECREF(m);
    }
    report_pulled_in(a, before); /* cycle 1's import failed: what it pulled in */
    interp_figures in = measure_interpreter(ok);
    step(cycle, ACT_FINALIZE);
    finalize_python();
    report_cycle(n, now() - start, &in);
    return imported ? 0 : -1;
}

/* reinit: N x (initialize, import, smoke, finalize) in one process, with the
 * figures of every cycle. Stops at the first cycle whose import fails. */
static int scenario_reinit(const harness_args *a)
{
    for (int n = 1; n <= a->cycles; n++)
        if (init_cycle(a, n, NULL) < 0)
            break;
    return 0;
}

/* In stage `re`: drop the current instance from sys.modules, import again,
 * run the smoke code (*rc: its result). The new module, or NULL after a
 * reported failure. */
static PyObject *reimport_in(const harness_args *a, stage re, int *rc)
{
    step(re, ACT_DEL_SYS_MODULES);
    if (forget_target(a) < 0)
        return NULL;
    step(re, ACT_IMPORT);
    PyObject *fresh = import_target(a);
    if (fresh == NULL)
        return NULL;
    step(re, ACT_SMOKE);
    *rc = run_smoke(a, fresh);
    return fresh;
}

/* The first re-import: compare the two instances' objects, and check that
 * the old instance still works. 0 when the re-import and its smoke code
 * succeeded. */
static int reimport_and_compare(const harness_args *a, PyObject *old, const reach_set *before)
{
    int rc = -1;
    PyObject *fresh = reimport_in(a, stage_of(STAGE_REIMPORT), &rc);
    if (fresh == NULL)
        return -1;
    reach_set after = {0};
    reach_collect(fresh, &after);
    reach_compare(before, &after, COMPARE_OLD_NEW, fresh);
    step(stage_of(STAGE_REIMPORT), ACT_SMOKE_OLD_INSTANCE);
    run_smoke(a, old);
    reach_release(&after);
    Py_DECREF(fresh);
    return rc;
}

/* Re-import n (n >= 2): 0 when the import and its smoke code succeeded. */
static int reimport_again(const harness_args *a, int n)
{
    int rc = -1;
    PyObject *fresh = reimport_in(a, numbered(STAGE_REIMPORT, n), &rc);
    Py_XDECREF(fresh);
    return fresh ? rc : -1;
}

/* reimport: keep the first instance, drop it from sys.modules, import again.
 * The new module must be made of fresh objects, and the old one must still
 * work. Then N-1 more re-imports, with the figures of every one: an
 * instance that leaks shows as growth. */
static int scenario_reimport(const harness_args *a)
{
    PyObject *old = open_main(a, SMOKE_ONCE, 1);
    if (old) {
        reach_set before = {0};
        reach_collect(old, &before);
        for (int n = 1; n <= a->cycles; n++) {
            double start = now();
            int rc = n == 1 ? reimport_and_compare(a, old, &before) : reimport_again(a, n);
            interp_figures in = measure_interpreter(rc == 0);
            report_cycle(n, now() - start, &in);
            if (rc < 0)
                break;
        }
        reach_release(&before);
    }
    return close_main(old);
}

/* `kind` is one of the STAGE_SUBINTERP_* stages. */
static PyThreadState *new_subinterpreter(stage_kind kind)
{
    if (kind == STAGE_SUBINTERP_LEGACY)
        return Py_NewInterpreter();
#if PY_VERSION_HEX >= 0x030C0000
    /* The isolated configuration (_PyInterpreterConfig_INIT), with the GIL
     * as asked: check_multi_interp_extensions=1 is what makes CPython refuse
     * modules that do not declare subinterpreter support. */
    PyInterpreterConfig config = {
        .use_main_obmalloc = 0,
        .allow_fork = 0,
        .allow_exec = 0,
        .allow_threads = 1,
        .allow_daemon_threads = 0,
        .check_multi_interp_extensions = 1,
        .gil = kind == STAGE_SUBINTERP_OWN ? PyInterpreterConfig_OWN_GIL : PyInterpreterConfig_SHARED_GIL,
    };
    PyThreadState *tstate = NULL;
    PyStatus status = Py_NewInterpreterFromConfig(&tstate, &config);
    if (PyStatus_Exception(status))
        harness_fatal("Py_NewInterpreterFromConfig failed: %s", status.err_msg ? status.err_msg : "?");
    return tstate;
#else
    return NULL;
#endif
}

/* In a new subinterpreter of `kind`: import, smoke, compare with what is
 * reachable from the main interpreter's module (when `in_main` is given),
 * end it; then, when the subinterpreter's instance was made and `old` is
 * given, run the smoke code again on the main interpreter's instance
 * `old`: a second instance that changed state the two share breaks it.
 * `n` numbers the stage (0: unnumbered). 0 when the import and the smoke
 * code succeeded. */
static int in_subinterpreter(const harness_args *a, stage_kind kind, int n, PyObject *old,
                             const reach_set *in_main)
{
    const stage sub_stage = numbered(kind, n);
    PyThreadState *main_tstate = PyThreadState_Get();
    step(sub_stage, ACT_CREATE);
    PyThreadState *sub = new_subinterpreter(kind);
    if (sub == NULL)
        harness_fatal("could not create the subinterpreter (step '%s')", current_step());

    step(sub_stage, ACT_IMPORT);
    PyObject *sm = import_target(a);
    int rc = -1;
    if (sm) {
        step(sub_stage, ACT_SMOKE);
        rc = run_smoke(a, sm);
        if (in_main) {
            reach_set in_sub = {0};
            reach_collect(sm, &in_sub);
            reach_compare(in_main, &in_sub, COMPARE_MAIN_SUBINTERP, sm);
            reach_release(&in_sub);
        }
        Py_DECREF(sm);
    }
    step(sub_stage, ACT_END);
    Py_EndInterpreter(sub);
    PyThreadState_Swap(main_tstate);
    if (sm && old) {
        step(sub_stage, ACT_SMOKE_OLD_INSTANCE);
        run_smoke(a, old);
    }
    return rc;
}

/* --alone: the main interpreter up, the target imported in one
 * subinterpreter of `kind` only (stage number n), then finalize: a later
 * instance run where no first instance ever ran. */
static int alone_in_subinterpreter(const harness_args *a, stage_kind kind, int n)
{
    step(stage_of(STAGE_MAIN), ACT_INIT);
    init_python(a);
    in_subinterpreter(a, kind, n, NULL, NULL);
    return close_main(NULL);
}

/* Import in the main interpreter, then in a subinterpreter of `kind`, and
 * compare what is reachable from the two module objects. */
static int run_subinterpreter(const harness_args *a, stage_kind kind)
{
#if PY_VERSION_HEX < 0x030C0000
    if (kind != STAGE_SUBINTERP_LEGACY) {
        report_unsupported(NEEDS_ISOLATED_SUBINTERPRETERS);
        return 0;
    }
#endif
    if (a->alone)
        return alone_in_subinterpreter(a, kind, 0);
    PyObject *m = open_main(a, SMOKE_ONCE, 0);
    if (m) {
        reach_set in_main = {0};
        reach_collect(m, &in_main);
        in_subinterpreter(a, kind, 0, m, &in_main);
        reach_release(&in_main);
    }
    return close_main(m);
}

static int scenario_subinterp_legacy(const harness_args *a) { return run_subinterpreter(a, STAGE_SUBINTERP_LEGACY); }
static int scenario_subinterp_shared(const harness_args *a) { return run_subinterpreter(a, STAGE_SUBINTERP_SHARED); }
static int scenario_subinterp_own(const harness_args *a) { return run_subinterpreter(a, STAGE_SUBINTERP_OWN); }

/* The subinterpreter kind subinterp-cycle uses: the one asked for, or
 * (auto) the most isolated one the module declares it supports: own GIL
 * for per-interpreter-gil, shared GIL for a multi-phase module without the
 * slot or with `supported`, legacy for the rest (and before 3.12). */
static stage_kind cycle_kind(const harness_args *a, PyObject *module)
{
    if (strcmp(a->subinterp, "legacy") == 0)
        return STAGE_SUBINTERP_LEGACY;
    if (strcmp(a->subinterp, "shared") == 0)
        return STAGE_SUBINTERP_SHARED;
    if (strcmp(a->subinterp, "own") == 0)
        return STAGE_SUBINTERP_OWN;
#if PY_VERSION_HEX >= 0x030C0000
    PyModuleDef *def = PyModule_Check(module) ? PyModule_GetDef(module) : NULL;
    PyErr_Clear();
    if (def == NULL || def->m_slots == NULL)
        return STAGE_SUBINTERP_LEGACY;
    void *declared = Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED;
    for (PyModuleDef_Slot *slot = def->m_slots; slot->slot; slot++)
        if (slot->slot == Py_mod_multiple_interpreters)
            declared = slot->value;
    if (declared == Py_MOD_PER_INTERPRETER_GIL_SUPPORTED)
        return STAGE_SUBINTERP_OWN;
    return declared == Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED ? STAGE_SUBINTERP_SHARED
                                                             : STAGE_SUBINTERP_LEGACY;
#else
    (void)module;
    return STAGE_SUBINTERP_LEGACY;
#endif
}

/* subinterp-cycle: import in the main interpreter, then M x (create a
 * subinterpreter, import, smoke, end it), with the figures of every cycle
 * taken in the main interpreter. What a subinterpreter's instance leaves
 * behind when it ends shows as growth. */
static int scenario_subinterp_cycle(const harness_args *a)
{
    if (a->alone) {
        if (strcmp(a->subinterp, "auto") == 0)
            harness_fatal("subinterp-cycle --alone 1 needs --subinterp legacy, shared or own");
        stage_kind kind = cycle_kind(a, NULL);
#if PY_VERSION_HEX < 0x030C0000
        if (kind != STAGE_SUBINTERP_LEGACY) {
            report_unsupported(NEEDS_ISOLATED_SUBINTERPRETERS);
            return 0;
        }
#endif
        return alone_in_subinterpreter(a, kind, 1);
    }
    PyObject *m = open_main(a, SMOKE_ONCE, 0);
    if (m) {
        stage_kind kind = cycle_kind(a, m);
#if PY_VERSION_HEX < 0x030C0000
        if (kind != STAGE_SUBINTERP_LEGACY) {
            report_unsupported(NEEDS_ISOLATED_SUBINTERPRETERS);
            return close_main(m);
        }
#endif
        for (int n = 1; n <= a->cycles; n++) {
            double start = now();
            /* The first instance is used again once: later cycles must repeat
             * exactly, for the leak figures. */
            int rc = in_subinterpreter(a, kind, n, n == 1 ? m : NULL, NULL);
            interp_figures in = measure_interpreter(rc == 0);
            report_cycle(n, now() - start, &in);
            if (rc < 0)
                break;
        }
    }
    return close_main(m);
}

/* ---- the stress scenarios: workers at once (workers.c) ---- */

/* What a worker runs its rounds on. */
typedef struct {
    const harness_args *a;
    PyObject *module; /* free-threading: the main interpreter's instance */
} work;

/* a->rounds runs of the smoke code on `module`, stopping at the first
 * that raises; `act` names them in the steps. Compiled once: the rounds
 * are the hot path, and a compile error is the first round's. */
static void smoke_rounds(worker *w, const harness_args *a, PyObject *module, action act)
{
    if (a->smoke == NULL || a->smoke[0] == '\0')
        return;
    captured_error e = {0};
    worker_at(w, act, 1);
    PyObject *code = compile_smoke_captured(a, &e);
    if (code == NULL) {
        worker_failed(w, act, 1, &e);
        return;
    }
    for (int round = 1; round <= a->rounds; round++) {
        worker_at(w, act, round);
        if (eval_smoke_captured(code, module, &e) < 0) {
            worker_failed(w, act, round, &e);
            break;
        }
    }
    Py_DECREF(code);
}

/* A free-threading worker: the rounds on the main interpreter's instance,
 * on a thread state of its own. */
static void threaded_smoke(worker *w, void *ctx)
{
    const work *job = ctx;
    worker_at(w, ACT_SMOKE_ON_THREADS, 0);
    PyGILState_STATE gil = PyGILState_Ensure();
    smoke_rounds(w, job->a, job->module, ACT_SMOKE_ON_THREADS);
    PyGILState_Release(gil);
}

/* The smoke code on a->threads threads at once, a->rounds times each: on
 * a debug free-threaded build this is where CPython's own assertions catch
 * the module's races. 0 when no thread raised (each failure reported, with
 * its thread and round). */
static int smoke_on_threads(const harness_args *a, PyObject *module)
{
    if (a->smoke == NULL || a->smoke[0] == '\0')
        return 0;
    worker ws[MAX_WORKERS] = {0};
    work job = {a, module};
    run_workers(ws, a->threads, threaded_smoke, &job);
    return report_worker_errors(ws, a->threads, stage_of(STAGE_MAIN)) ? -1 : 0;
}

/* free-threading: on a free-threaded build, does importing the module
 * re-enable the GIL (CPython does so for modules without
 * Py_mod_gil = Py_MOD_GIL_NOT_USED)? Then the smoke code from several
 * threads at once, many times. */
static int scenario_free_threading(const harness_args *a)
{
#ifndef Py_GIL_DISABLED
    (void)a;
    report_unsupported(NEEDS_FREE_THREADED_BUILD);
    return 0;
#else
    return close_main(open_main(a, SMOKE_ON_THREADS, 0));
#endif
}

#if PY_VERSION_HEX >= 0x030C0000
/* A subinterp-parallel worker: from a thread state of the main
 * interpreter, an own-GIL interpreter of its own; import, the rounds,
 * end it. */
static void in_own_interpreter(worker *w, void *ctx)
{
    const work *job = ctx;
    worker_at(w, ACT_CREATE, 0);
    PyGILState_STATE gil = PyGILState_Ensure();
    PyThreadState *main_tstate = PyThreadState_Get();
    PyThreadState *sub = new_subinterpreter(STAGE_SUBINTERP_OWN);
    if (sub == NULL)
        harness_fatal("could not create the own-GIL interpreter of worker %d", w->index);
    worker_at(w, ACT_IMPORT, 0);
    captured_error e = {0};
    PyObject *m = import_target_captured(job->a, &e);
    if (m == NULL)
        worker_failed(w, ACT_IMPORT, 0, &e);
    /* Released together again: creating an interpreter takes each worker
     * its own time, and the rounds are what must overlap. */
    workers_meet();
    if (m)
        smoke_rounds(w, job->a, m, ACT_SMOKE);
    Py_XDECREF(m);
    worker_at(w, ACT_END, 0);
    Py_EndInterpreter(sub);
    PyThreadState_Swap(main_tstate);
    PyGILState_Release(gil);
}

/* Waves of own-GIL interpreters at once until one wave has a failure.
 * 0 when every wave passed. */
static int parallel_waves(const harness_args *a)
{
    worker ws[MAX_WORKERS];
    work job = {a, NULL};
    for (int wave = 1; wave <= a->waves; wave++) {
        memset(ws, 0, sizeof ws);
        step(numbered(STAGE_SUBINTERP_OWN, wave), ACT_IN_PARALLEL);
        run_workers(ws, a->interpreters, in_own_interpreter, &job);
        if (report_worker_errors(ws, a->interpreters, numbered(STAGE_SUBINTERP_OWN, wave)))
            return -1;
    }
    return 0;
}

#endif

/* subinterp-parallel: a->interpreters own-GIL interpreters on as many
 * threads, released together; each imports the module and, once all have,
 * runs the smoke code a->rounds times, then ends; a->waves waves, so creation, import and
 * teardown overlap too. The main interpreter imports the module first (its
 * declaration) but runs no smoke code until the waves are over: a cache
 * made on first use is then made by the workers, at once. Its smoke code
 * after the waves fails when what the parallel instances did to state it
 * shares broke it. */
static int scenario_subinterp_parallel(const harness_args *a)
{
#if PY_VERSION_HEX < 0x030C0000
    (void)a;
    report_unsupported(NEEDS_ISOLATED_SUBINTERPRETERS);
    return 0;
#else
    if (a->alone) {
        step(stage_of(STAGE_MAIN), ACT_INIT);
        init_python(a);
        parallel_waves(a);
        return close_main(NULL);
    }
    PyObject *m = open_main(a, SMOKE_LATER, 0);
    if (m && parallel_waves(a) == 0) {
        step(numbered(STAGE_SUBINTERP_OWN, a->waves), ACT_SMOKE_OLD_INSTANCE);
        run_smoke(a, m);
    }
    return close_main(m);
#endif
}

/* ---- inittab: the module linked in, as an embedder does ---- */

typedef PyObject *(*init_function)(void);

/* PyInit_<last part of the module's name> from a->module_file, which stays
 * loaded for the life of the process (as a statically linked module is). */
static init_function module_init_function(const harness_args *a)
{
    void *image = dlopen(a->module_file, RTLD_NOW | RTLD_LOCAL);
    if (image == NULL)
        harness_fatal("inittab: cannot load %s: %s", a->module_file, dlerror());
    const char *dot = strrchr(a->module, '.');
    char symbol[512];
    snprintf(symbol, sizeof symbol, "PyInit_%s", dot ? dot + 1 : a->module);
    init_function fn;
    *(void **)&fn = dlsym(image, symbol);
    if (fn == NULL)
        harness_fatal("inittab: %s has no %s", a->module_file, symbol);
    return fn;
}

/* Exit 3 unless `module` came from the inittab: older CPythons' builtin
 * importer finds top-level names only (gh-102700), and `pkg.mod` would be
 * imported from its file, which is not what this scenario tests. */
static void linked_in_or_fatal(const harness_args *a, PyObject *module)
{
    PyObject *spec = PyObject_GetAttrString(module, "__spec__");
    PyObject *origin = spec ? PyObject_GetAttrString(spec, "origin") : NULL;
    int builtin = origin && PyUnicode_Check(origin)
                  && PyUnicode_CompareWithASCIIString(origin, "built-in") == 0;
    Py_XDECREF(origin);
    Py_XDECREF(spec);
    PyErr_Clear();
    if (!builtin)
        harness_fatal("inittab: %s was not imported from the inittab (this CPython's builtin importer "
                      "finds top-level names only, gh-102700)", a->module);
}

/* What an inittab cycle adds to reinit's: (in the first) the check that
 * the module came from the inittab, and one subinterpreter of the kind the
 * module declares. */
static int inittab_extra(const harness_args *a, PyObject *module, int n)
{
    if (n == 1)
        linked_in_or_fatal(a, module);
    return in_subinterpreter(a, cycle_kind(a, module), n, module, NULL);
}

/* inittab: the module registered with PyImport_AppendInittab before each
 * init (how embedders link extensions statically), N cycles of import,
 * smoke and one subinterpreter (CPython's test_repeated_init_and_inittab
 * and test_repeated_init_and_subinterpreters in one). Stops at the first
 * cycle whose import fails. */
static int scenario_inittab(const harness_args *a)
{
    init_function fn = module_init_function(a);
    for (int n = 1; n <= a->cycles; n++) {
        /* CPython restores its own table at finalize: register before every init. */
        step(cycle_stage(n), ACT_REGISTER);
        if (PyImport_AppendInittab(a->module, fn) < 0)
            harness_fatal("PyImport_AppendInittab(\"%s\") failed", a->module);
        if (init_cycle(a, n, inittab_extra) < 0)
            break;
    }
    return 0;
}

static const struct {
    const char *name;
    scenario_fn fn;
} SCENARIOS[] = {
    {"import", scenario_import},
    {"reinit", scenario_reinit},
    {"reimport", scenario_reimport},
    {"subinterp-legacy", scenario_subinterp_legacy},
    {"subinterp-shared", scenario_subinterp_shared},
    {"subinterp-own", scenario_subinterp_own},
    {"subinterp-cycle", scenario_subinterp_cycle},
    {"subinterp-parallel", scenario_subinterp_parallel},
    {"free-threading", scenario_free_threading},
    {"inittab", scenario_inittab},
};

#define SCENARIO_COUNT (sizeof SCENARIOS / sizeof SCENARIOS[0])

scenario_fn find_scenario(const char *name)
{
    for (size_t i = 0; i < SCENARIO_COUNT; i++)
        if (strcmp(SCENARIOS[i].name, name) == 0)
            return SCENARIOS[i].fn;
    return NULL;
}

const char *scenario_name(size_t i)
{
    return i < SCENARIO_COUNT ? SCENARIOS[i].name : NULL;
}
