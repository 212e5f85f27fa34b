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

/* import: import once in the main interpreter and run the smoke code. */
static int scenario_import(const harness_args *a)
{
    step("init");
    init_python(a);
    step("import");
    PyObject *m = import_target(a, "import");
    if (m) {
        report_declaration(m);
        step("smoke");
        run_smoke(a, m, "smoke");
        Py_DECREF(m);
    }
    step("finalize");
    finalize_python();
    return 0;
}

/* reinit: N x (initialize, import, smoke, finalize) in one process, with the
 * figures of every cycle. Stops at the first cycle whose import fails. */
static int scenario_reinit(const harness_args *a)
{
    for (int n = 1; n <= a->cycles; n++) {
        double start = now();
        step("cycle %d: init", n);
        init_python(a);
        step("cycle %d: import", n);
        char where[32];
        snprintf(where, sizeof where, "cycle %d", n);
        PyObject *m = import_target(a, where);
        long long blocks = -1, refs = -1;
        if (m) {
            if (n == 1)
                report_declaration(m);
            step("cycle %d: smoke", n);
            run_smoke(a, m, where);
            Py_DECREF(m);
            blocks = allocated_blocks();
            refs = total_refcount();
        }
        step("cycle %d: finalize", n);
        finalize_python();
        report_cycle(n, now() - start, blocks, refs, rss_kb());
        if (m == NULL)
            break;
    }
    return 0;
}

/* reimport: keep the first instance, drop it from sys.modules, import again.
 * The new module must be made of fresh objects, and the old one must still
 * work. */
static int scenario_reimport(const harness_args *a)
{
    step("init");
    init_python(a);
    step("import");
    PyObject *old = import_target(a, "import");
    if (old == NULL)
        goto finalize;
    report_declaration(old);
    step("smoke");
    if (run_smoke(a, old, "smoke") < 0)
        goto release_old;

    reach_set before = {0}, after = {0};
    reach_collect(old, &before);
    step("reimport: del sys.modules");
    if (forget_target(a) < 0)
        goto release_before;
    step("reimport: import");
    PyObject *fresh = import_target(a, "reimport");
    if (fresh == NULL)
        goto release_before;
    step("reimport: smoke");
    run_smoke(a, fresh, "reimport smoke");
    reach_collect(fresh, &after);
    reach_compare(&before, &after, "old/new", fresh);
    step("reimport: smoke old instance");
    run_smoke(a, old, "old instance smoke");
    reach_release(&after);
    Py_DECREF(fresh);
release_before:
    reach_release(&before);
release_old:
    Py_DECREF(old);
finalize:
    step("finalize");
    finalize_python();
    return 0;
}

typedef enum { SUB_LEGACY, SUB_SHARED_GIL, SUB_OWN_GIL } subinterp_kind;

static const char *const SUB_LABEL[] = {"legacy", "shared", "own"};

static PyThreadState *new_subinterpreter(subinterp_kind kind)
{
    if (kind == SUB_LEGACY)
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
        .gil = kind == SUB_OWN_GIL ? PyInterpreterConfig_OWN_GIL : PyInterpreterConfig_SHARED_GIL,
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

/* Import in the main interpreter, then in a subinterpreter of `kind`, and
 * compare what is reachable from the two module objects. */
static int run_subinterpreter(const harness_args *a, subinterp_kind kind)
{
    const char *label = SUB_LABEL[kind];
#if PY_VERSION_HEX < 0x030C0000
    if (kind != SUB_LEGACY) {
        report_unsupported("isolated subinterpreters (Py_NewInterpreterFromConfig) need CPython 3.12+");
        return 0;
    }
#endif
    step("init");
    init_python(a);
    step("main: import");
    PyObject *m = import_target(a, "main");
    if (m == NULL)
        goto finalize;
    report_declaration(m);
    step("main: smoke");
    if (run_smoke(a, m, "main smoke") < 0)
        goto release_main;

    reach_set in_main = {0};
    reach_collect(m, &in_main);

    PyThreadState *main_tstate = PyThreadState_Get();
    step("subinterp %s: create", label);
    PyThreadState *sub = new_subinterpreter(kind);
    if (sub == NULL)
        harness_fatal("could not create a %s subinterpreter", label);

    char where[32];
    snprintf(where, sizeof where, "subinterp %s", label);
    step("subinterp %s: import", label);
    PyObject *sm = import_target(a, where);
    if (sm) {
        step("subinterp %s: smoke", label);
        run_smoke(a, sm, where);
        reach_set in_sub = {0};
        reach_collect(sm, &in_sub);
        reach_compare(&in_main, &in_sub, "main/subinterp", sm);
        reach_release(&in_sub);
        Py_DECREF(sm);
    }
    step("subinterp %s: end", label);
    Py_EndInterpreter(sub);
    PyThreadState_Swap(main_tstate);
    reach_release(&in_main);
release_main:
    Py_DECREF(m);
finalize:
    step("finalize");
    finalize_python();
    return 0;
}

static int scenario_subinterp_legacy(const harness_args *a) { return run_subinterpreter(a, SUB_LEGACY); }
static int scenario_subinterp_shared(const harness_args *a) { return run_subinterpreter(a, SUB_SHARED_GIL); }
static int scenario_subinterp_own(const harness_args *a) { return run_subinterpreter(a, SUB_OWN_GIL); }

/* free-threading: on a free-threaded build, does importing the module
 * re-enable the GIL (CPython does so for modules without
 * Py_mod_gil = Py_MOD_GIL_NOT_USED)? Then the smoke code on several threads
 * at once. */
static int scenario_free_threading(const harness_args *a)
{
#ifndef Py_GIL_DISABLED
    report_unsupported("needs a free-threaded build (--disable-gil, PEP 703, 3.13+)");
    return 0;
#else
    step("init");
    init_python(a);
    report_gil("before import");
    step("import");
    PyObject *m = import_target(a, "import");
    if (m) {
        report_declaration(m);
        step("smoke: %d threads", a->threads);
        run_smoke_threaded(a, m, "threaded smoke");
        report_gil("after smoke");
        Py_DECREF(m);
    }
    step("finalize");
    finalize_python();
    return 0;
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

scenario_fn find_scenario(const char *name)
{
    for (size_t i = 0; i < sizeof SCENARIOS / sizeof SCENARIOS[0]; i++)
        if (strcmp(SCENARIOS[i].name, name) == 0)
            return SCENARIOS[i].fn;
    return NULL;
}

const char *scenario_names(void)
{
    static char names[256];
    if (names[0] == '\0') {
        for (size_t i = 0; i < sizeof SCENARIOS / sizeof SCENARIOS[0]; i++) {
            if (i)
                strncat(names, ", ", sizeof names - strlen(names) - 1);
            strncat(names, SCENARIOS[i].name, sizeof names - strlen(names) - 1);
        }
    }
    return names;
}
