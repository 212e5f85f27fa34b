/* The scenarios: one short function each, and the table from scenario name to
 * function (the shape of CPython's Programs/_testembed.c).
 *
 * A scenario reports what it sees and returns 0; it never decides an outcome.
 * Errors raised by the target are "error" events, not a failing exit status:
 * the process exiting normally after "done" is what tells the driver that the
 * harness itself is healthy. */
#include "harness.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef enum { SMOKE_ONCE, SMOKE_ON_THREADS } smoke_kind;

/* The opening every scenario but reinit shares, in the main interpreter:
 * init, import, declaration, smoke. SMOKE_ON_THREADS runs the smoke code on
 * a->threads threads and reports the GIL after init and after the smoke (the
 * import reports it too). Returns the module, or NULL when the import or the
 * smoke code failed (reported); the interpreter is up either way. */
static PyObject *open_main(const harness_args *a, smoke_kind kind, int remember)
{
    const stage top = stage_of(STAGE_MAIN);
    step(top, ACT_INIT);
    init_python(a);
    if (kind == SMOKE_ON_THREADS)
        report_gil();
    /* Only a re-import asks which objects existed before the import. */
    if (remember)
        reach_remember_interpreter();
    step(top, ACT_IMPORT);
    PyObject *m = import_target(a);
    if (m == NULL)
        return NULL;
    report_declaration(m);
    int rc;
    if (kind == SMOKE_ON_THREADS) {
        step(top, ACT_SMOKE_ON_THREADS);
        rc = run_smoke_threaded(a, m);
        report_gil();
    } else {
        step(top, ACT_SMOKE);
        rc = run_smoke(a, m);
    }
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

/* reinit: N x (initialize, import, smoke, finalize) in one process, with the
 * figures of every cycle. Stops at the first cycle whose import fails. */
static int scenario_reinit(const harness_args *a)
{
    for (int n = 1; n <= a->cycles; n++) {
        const stage cycle = cycle_stage(n);
        double start = now();
        step(cycle, ACT_INIT);
        init_python(a);
        step(cycle, ACT_IMPORT);
        PyObject *m = import_target(a);
        long long blocks = -1, refs = -1;
        if (m) {
            if (n == 1)
                report_declaration(m);
            step(cycle, ACT_SMOKE);
            run_smoke(a, m);
            Py_DECREF(m);
            blocks = allocated_blocks();
            refs = total_refcount();
        }
        step(cycle, ACT_FINALIZE);
        finalize_python();
        report_cycle(n, now() - start, blocks, refs, rss_kb());
        if (m == NULL)
            break;
    }
    return 0;
}

/* Drop `old` from sys.modules, import again, compare the two instances'
 * objects, and check that the old instance still works. */
static void reimport_and_compare(const harness_args *a, PyObject *old, const reach_set *before)
{
    const stage re = stage_of(STAGE_REIMPORT);
    step(re, ACT_DEL_SYS_MODULES);
    if (forget_target(a) < 0)
        return;
    step(re, ACT_IMPORT);
    PyObject *fresh = import_target(a);
    if (fresh == NULL)
        return;
    step(re, ACT_SMOKE);
    run_smoke(a, fresh);
    reach_set after = {0};
    reach_collect(fresh, &after);
    reach_compare(before, &after, COMPARE_OLD_NEW, fresh);
    step(re, ACT_SMOKE_OLD_INSTANCE);
    run_smoke(a, old);
    reach_release(&after);
    Py_DECREF(fresh);
}

/* reimport: keep the first instance, drop it from sys.modules, import again.
 * The new module must be made of fresh objects, and the old one must still
 * work. */
static int scenario_reimport(const harness_args *a)
{
    PyObject *old = open_main(a, SMOKE_ONCE, 1);
    if (old) {
        reach_set before = {0};
        reach_collect(old, &before);
        reimport_and_compare(a, old, &before);
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
 * reachable from the main interpreter's module, end it. */
static void in_subinterpreter(const harness_args *a, stage_kind kind, const reach_set *in_main)
{
    const stage sub_stage = stage_of(kind);
    PyThreadState *main_tstate = PyThreadState_Get();
    step(sub_stage, ACT_CREATE);
    PyThreadState *sub = new_subinterpreter(kind);
    if (sub == NULL)
        harness_fatal("could not create the subinterpreter (step '%s')", current_step());

    step(sub_stage, ACT_IMPORT);
    PyObject *sm = import_target(a);
    if (sm) {
        step(sub_stage, ACT_SMOKE);
        run_smoke(a, sm);
        reach_set in_sub = {0};
        reach_collect(sm, &in_sub);
        reach_compare(in_main, &in_sub, COMPARE_MAIN_SUBINTERP, sm);
        reach_release(&in_sub);
        Py_DECREF(sm);
    }
    step(sub_stage, ACT_END);
    Py_EndInterpreter(sub);
    PyThreadState_Swap(main_tstate);
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
    PyObject *m = open_main(a, SMOKE_ONCE, 0);
    if (m) {
        reach_set in_main = {0};
        reach_collect(m, &in_main);
        in_subinterpreter(a, kind, &in_main);
        reach_release(&in_main);
    }
    return close_main(m);
}

static int scenario_subinterp_legacy(const harness_args *a) { return run_subinterpreter(a, STAGE_SUBINTERP_LEGACY); }
static int scenario_subinterp_shared(const harness_args *a) { return run_subinterpreter(a, STAGE_SUBINTERP_SHARED); }
static int scenario_subinterp_own(const harness_args *a) { return run_subinterpreter(a, STAGE_SUBINTERP_OWN); }

/* free-threading: on a free-threaded build, does importing the module
 * re-enable the GIL (CPython does so for modules without
 * Py_mod_gil = Py_MOD_GIL_NOT_USED)? Then the smoke code on several threads
 * at once. */
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
    {"free-threading", scenario_free_threading},
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
