/* The extmatrix embedding harness: entry point, observation channel and the
 * interpreter/target helpers every scenario shares. The scenarios themselves
 * are in scenarios.c, one short function each. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------
 * Observation channel
 * ------------------------------------------------------------------------- */

static int obs_fd = -1;
/* The process that may write on the channel: the supervisor, then (after
 * the fork) the scenario process. A process the target forks inherits the
 * descriptor and the harness's code; whatever it does, it never speaks for
 * the harness. */
static pid_t obs_owner = -1;

void obs_claim(void) { obs_owner = getpid(); }
int obs_is_owner(void) { return getpid() == obs_owner; }

/* `{"token":"<token>",` with --token, else `{`: how every line starts. */
#define TOKEN_MAX 64
static char obs_prefix[TOKEN_MAX + 16] = "{";

#define OBS_LINE_MAX 65536

struct obs_line {
    char buf[OBS_LINE_MAX];
    size_t len;
    int truncated;
};

static obs_line the_line; /* the harness is single-threaded while it reports */

/* Room kept at the end of a line for closing quotes, braces and "\n". */
#define OBS_RESERVE 8
/* The longest string value: a traceback or an error message is cut here,
 * so the fields after it still fit. */
#define OBS_VALUE_MAX 16384

static void obs_raw(obs_line *l, const char *s, size_t n)
{
    size_t room = OBS_LINE_MAX - OBS_RESERVE - l->len; /* len never exceeds MAX - RESERVE */
    if (n > room) {
        n = room;
        l->truncated = 1;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void obs_escaped(obs_line *l, const char *s)
{
    size_t start = l->len;
    obs_raw(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (l->len - start > OBS_VALUE_MAX) {
            l->truncated = 1;
            break;
        }
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            obs_raw(l, esc, 2);
        } else if (*p == '\n') {
            obs_raw(l, "\\n", 2);
        } else if (*p < 0x20 || *p == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            obs_raw(l, esc, 6);
        } else {
            obs_raw(l, (const char *)p, 1);
        }
    }
    /* Escapes are written whole; a cut may still split a UTF-8 sequence,
     * so drop any trailing multi-byte fragment. */
    while (l->truncated && l->len > start + 1 && ((unsigned char)l->buf[l->len - 1] & 0x80))
        l->len--;
    l->buf[l->len++] = '"'; /* OBS_RESERVE keeps room for this */
}

static void obs_key(obs_line *l, const char *key)
{
    obs_raw(l, ",", 1);
    obs_escaped(l, key);
    obs_raw(l, ":", 1);
}

obs_line *obs_begin(const char *ev)
{
    obs_line *l = &the_line;
    l->len = 0;
    l->truncated = 0;
    obs_raw(l, obs_prefix, strlen(obs_prefix));
    obs_raw(l, "\"ev\":", 5);
    obs_escaped(l, ev);
    return l;
}

void obs_str(obs_line *l, const char *key, const char *value)
{
    obs_key(l, key);
    obs_escaped(l, value ? value : "");
}

void obs_int(obs_line *l, const char *key, long long value)
{
    char num[32];
    int n = snprintf(num, sizeof num, "%lld", value);
    obs_key(l, key);
    obs_raw(l, num, (size_t)n);
}

void obs_bool(obs_line *l, const char *key, int value)
{
    obs_key(l, key);
    obs_raw(l, value ? "true" : "false", value ? 4 : 5);
}

/* Close the line and write it; -1 when the channel is gone. */
static int obs_write(obs_line *l)
{
    if (!obs_is_owner())
        return 0; /* a copy the target forked: silent, as if it were not there */
    l->buf[l->len++] = '}';
    l->buf[l->len++] = '\n';
    size_t off = 0;
    while (off < l->len) {
        ssize_t w = write(obs_fd, l->buf + off, l->len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

void obs_end(obs_line *l)
{
    if (obs_write(l) < 0)
        _exit(4); /* the driver is gone; nothing left to report to */
}

void obs_end_lossy(obs_line *l)
{
    (void)obs_write(l);
}

/* The step vocabulary: one name per stage (the prefix, without ": ") and one
 * per action. STAGE_CYCLE's prefix takes its number: "cycle 2". */
static const char *const STAGE_NAME[] = {
    [STAGE_MAIN] = "",
    [STAGE_CYCLE] = "cycle",
    [STAGE_REIMPORT] = "reimport",
    [STAGE_SUBINTERP_LEGACY] = "subinterp legacy",
    [STAGE_SUBINTERP_SHARED] = "subinterp shared",
    [STAGE_SUBINTERP_OWN] = "subinterp own",
};

static const char *const ACTION_NAME[] = {
    [ACT_INIT] = "init",
    [ACT_IMPORT] = "import",
    [ACT_SMOKE] = "smoke",
    [ACT_SMOKE_ON_THREADS] = "smoke on threads",
    [ACT_DEL_SYS_MODULES] = "del sys.modules",
    [ACT_SMOKE_OLD_INSTANCE] = "smoke old instance",
    [ACT_CREATE] = "create",
    [ACT_END] = "end",
    [ACT_FINALIZE] = "finalize",
    [ACT_IN_PARALLEL] = "in parallel",
    [ACT_REGISTER] = "register",
};

#define COUNT(table) (sizeof table / sizeof table[0])

/* Longest: "subinterp shared 2147483647: smoke old instance". */
static char the_step[64];

/* Whether `st` is a stage this kind can have: cycles are numbered, the
 * main interpreter is not, the rest may be. */
static int stage_is_valid(stage st)
{
    if ((unsigned)st.kind >= COUNT(STAGE_NAME) || st.n < 0)
        return 0;
    if (st.kind == STAGE_CYCLE)
        return st.n >= 1;
    return st.kind != STAGE_MAIN || st.n == 0;
}

/* `[STAGE: ]ACTION` into buf; exit 3 for a stage or action no table names. */
static void format_step(char *buf, size_t cap, stage st, action act)
{
    if (!stage_is_valid(st) || (unsigned)act >= COUNT(ACTION_NAME))
        harness_fatal("bad step (stage %d, n %d, action %d)", (int)st.kind, st.n, (int)act);
    if (st.kind == STAGE_MAIN)
        snprintf(buf, cap, "%s", ACTION_NAME[act]);
    else if (st.n > 0)
        snprintf(buf, cap, "%s %d: %s", STAGE_NAME[st.kind], st.n, ACTION_NAME[act]);
    else
        snprintf(buf, cap, "%s: %s", STAGE_NAME[st.kind], ACTION_NAME[act]);
}

void step(stage st, action act)
{
    format_step(the_step, sizeof the_step, st, act);
    forensics_check_dump_signal();
    obs_line *l = obs_begin("step");
    obs_str(l, "step", the_step);
    obs_end(l);
}

const char *step_name(stage st, action act)
{
    static char name[sizeof the_step];
    format_step(name, sizeof name, st, act);
    return name;
}

const char *action_name(action act)
{
    return (unsigned)act < COUNT(ACTION_NAME) ? ACTION_NAME[act] : "?";
}

const char *current_step(void) { return the_step; }

int claim_last_words(void)
{
    static int claimed;
    return __atomic_exchange_n(&claimed, 1, __ATOMIC_SEQ_CST) == 0;
}

void harness_fatal(const char *fmt, ...)
{
    if (!claim_last_words())
        for (;;)
            pause(); /* another thread is reporting the process's end */
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    obs_line *l = obs_begin("fatal");
    obs_str(l, "message", text);
    obs_end(l);
    _exit(3);
}

static const char *const NEED_NAME[] = {
    [NEEDS_ISOLATED_SUBINTERPRETERS] = "isolated-subinterpreters",
    [NEEDS_FREE_THREADED_BUILD] = "free-threaded-build",
};

void report_unsupported(need what)
{
    if ((unsigned)what >= COUNT(NEED_NAME))
        harness_fatal("bad need %d", (int)what);
    obs_line *l = obs_begin("unsupported");
    obs_str(l, "needs", NEED_NAME[what]);
    obs_end(l);
}

/* ---------------------------------------------------------------------------
 * Interpreter lifetime
 * ------------------------------------------------------------------------- */

/* The debug memory allocator (PYMEM_ALLOCATOR_DEBUG: the debug hooks over
 * the build's own allocator) poisons freed memory, so a pointer kept across
 * Py_FinalizeEx reads garbage instead of a stale object that still looks
 * alive. It must be chosen before each initialization: a finalized runtime
 * forgets its pre-configuration. */
static void preinit_python(const harness_args *a)
{
    if (!a->debug_allocator)
        return;
    PyPreConfig preconfig;
    PyPreConfig_InitIsolatedConfig(&preconfig);
    preconfig.allocator = PYMEM_ALLOCATOR_DEBUG;
    PyStatus status = Py_PreInitialize(&preconfig);
    if (PyStatus_Exception(status))
        harness_fatal("Py_PreInitialize (debug allocator) failed: %s",
                      status.err_msg ? status.err_msg : "?");
}

void init_python(const harness_args *a)
{
    preinit_python(a);
    PyConfig config;
    /* Isolated: the user's PYTHON* variables and user site must not change
     * what a cell observes. */
    PyConfig_InitIsolatedConfig(&config);
    /* Without `site`, the interpreter's and the user's site-packages (and
     * whatever their .pth files run) neither change what a cell observes
     * nor cost every cycle; the module's own directory gets its .pth
     * files read when it is put on sys.path. A target that needs `site`
     * asks for it (--site 1). */
    config.site_import = a->site;
    /* getpath derives prefix and stdlib location from the executable, as if
     * this process were that interpreter. */
    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, a->python_exe);
    if (!PyStatus_Exception(status))
        status = PyConfig_SetBytesString(&config, &config.executable, a->python_exe);
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        harness_fatal("Py_InitializeFromConfig failed in %s: %s",
                      status.func ? status.func : "?", status.err_msg ? status.err_msg : "?");
    }
    forensics_enable_faulthandler();
    /* Free-threaded builds: the GIL before any import, in every scenario,
     * so a later reading with it on is the target's doing. */
    report_gil();
}

void finalize_python(void)
{
    if (Py_FinalizeEx() < 0) {
        /* Only flushing sys.stdout/stderr can fail here; worth knowing, not fatal. */
        obs_line *l = obs_begin("note");
        obs_str(l, "message", "Py_FinalizeEx() returned -1 (flushing buffered data failed)");
        obs_end(l);
    }
}

/* ---------------------------------------------------------------------------
 * Errors raised by the target
 * ------------------------------------------------------------------------- */

static const char *const PHASE_NAME[] = {
    [PHASE_IMPORT] = "import",
    [PHASE_SMOKE] = "smoke",
    [PHASE_FORGET] = "forget",
};

/* The `name` of a ModuleNotFoundError (the module the import system did not
 * find, whatever the message says), or NULL for any other exception. A new
 * reference. */
static PyObject *module_not_found(PyObject *type, PyObject *value)
{
    if (type == NULL || value == NULL
        || !PyErr_GivenExceptionMatches(type, PyExc_ModuleNotFoundError))
        return NULL;
    PyObject *name = PyObject_GetAttrString(value, "name");
    if (name && PyUnicode_Check(name))
        return name;
    Py_XDECREF(name);
    PyErr_Clear();
    return NULL;
}

/* A copy of `text`'s UTF-8 (NULL for NULL or an unencodable string). */
static char *utf8_copy(PyObject *text)
{
    const char *utf8 = text ? PyUnicode_AsUTF8(text) : NULL;
    PyErr_Clear();
    return utf8 ? strdup(utf8) : NULL;
}

/* The exception's traceback as traceback.format_exception prints it. */
static PyObject *formatted_exception(PyObject *type, PyObject *value, PyObject *tb)
{
    PyObject *traceback = PyImport_ImportModule("traceback");
    PyObject *lines = traceback && value ? PyObject_CallMethod(traceback, "format_exception", "OOO",
                                                               type, value, tb ? tb : Py_None)
                                         : NULL;
    PyObject *empty = lines ? PyUnicode_FromString("") : NULL;
    PyObject *formatted = empty ? PyUnicode_Join(empty, lines) : NULL;
    Py_XDECREF(empty);
    Py_XDECREF(lines);
    Py_XDECREF(traceback);
    PyErr_Clear(); /* a failure while formatting must not mask the original */
    return formatted;
}

void capture_exception(captured_error *e)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb && value)
        PyException_SetTraceback(value, tb);
    e->type = strdup(type ? ((PyTypeObject *)type)->tp_name : "?");
    PyObject *msg = value ? PyObject_Str(value) : NULL;
    PyErr_Clear();
    e->message = utf8_copy(msg);
    if (e->message == NULL)
        e->message = strdup("<unprintable>");
    PyObject *not_found = module_not_found(type, value);
    e->not_found = utf8_copy(not_found);
    PyObject *formatted = formatted_exception(type, value, tb);
    e->traceback = utf8_copy(formatted);
    Py_XDECREF(formatted);
    Py_XDECREF(not_found);
    Py_XDECREF(msg);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

void report_error(const captured_error *e, const char *where, error_phase phase, int worker,
                  int round)
{
    obs_line *l = obs_begin("error");
    obs_str(l, "where", where);
    obs_str(l, "phase", PHASE_NAME[phase]);
    obs_str(l, "exc_type", e->type ? e->type : "?");
    obs_str(l, "message", e->message ? e->message : "<unprintable>");
    if (e->not_found)
        obs_str(l, "not_found", e->not_found);
    if (e->traceback)
        obs_str(l, "traceback", e->traceback);
    if (worker > 0) {
        obs_int(l, "worker", worker);
        obs_int(l, "round", round);
    }
    obs_end(l);
}

void release_error(captured_error *e)
{
    free(e->type);
    free(e->message);
    free(e->not_found);
    free(e->traceback);
    *e = (captured_error){0};
}

/* Turn the pending exception into an "error" event at the current step and
 * clear it. */
static void report_exception(error_phase phase)
{
    captured_error e = {0};
    capture_exception(&e);
    report_error(&e, the_step, phase, 0, 0);
    release_error(&e);
}

/* ---------------------------------------------------------------------------
 * The target
 * ------------------------------------------------------------------------- */

/* Does `dir` hold a .pth file? (A package installed with its
 * dependencies may ship some: setuptools' distutils-precedence.pth, a
 * namespace package's, an editable install's.) */
static int has_pth_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int found = 0;
    for (struct dirent *e; !found && (e = readdir(d)) != NULL;) {
        size_t n = strlen(e->d_name);
        found = n > 4 && strcmp(e->d_name + n - 4, ".pth") == 0;
    }
    closedir(d);
    return found;
}

/* Read `dir`'s .pth files as `site` would for a site directory: with
 * `site` off, only the module's own directory gets this. (Importing `site`
 * with sys.flags.no_site set runs none of its start-up work.) `dir` is
 * already on sys.path, so addsitedir does not add it again. */
static int add_site_dir(PyObject *dir)
{
    PyObject *site = PyImport_ImportModule("site");
    PyObject *r = site ? PyObject_CallMethod(site, "addsitedir", "O", dir) : NULL;
    Py_XDECREF(site);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

static int put_module_dir_on_path(const harness_args *a)
{
    PyObject *path = PySys_GetObject("path"); /* borrowed */
    if (path == NULL || !PyList_Check(path)) {
        PyErr_SetString(PyExc_RuntimeError, "sys.path is missing or not a list");
        return -1;
    }
    PyObject *dir = PyUnicode_DecodeFSDefault(a->module_dir);
    if (dir == NULL)
        return -1;
    Py_INCREF(path); /* comparing runs __eq__, which could replace sys.path */
    int present = PySequence_Contains(path, dir);
    int rc = present < 0 ? -1 : present ? 0 : PyList_Insert(path, 0, dir);
    Py_DECREF(path);
    if (rc == 0 && !present && has_pth_files(a->module_dir))
        rc = add_site_dir(dir);
    Py_DECREF(dir);
    return rc;
}

/* What the import warned about (warned.c's (category, text) pairs), each as
 * a `warning` event of the current step. */
static void report_warnings(PyObject *caught)
{
    for (Py_ssize_t i = 0; caught && PyList_Check(caught) && i < PyList_GET_SIZE(caught); i++) {
        PyObject *pair = PyList_GET_ITEM(caught, i);
        PyObject *category = PyTuple_GET_ITEM(pair, 0);
        PyObject *text = PyObject_Str(PyTuple_GET_ITEM(pair, 1));
        const char *text_utf8 = text ? PyUnicode_AsUTF8(text) : NULL;
        obs_line *l = obs_begin("warning");
        obs_str(l, "where", the_step);
        obs_str(l, "category", PyType_Check(category) ? ((PyTypeObject *)category)->tp_name : "?");
        obs_str(l, "message", text_utf8 ? text_utf8 : "<unprintable>");
        obs_end(l);
        Py_XDECREF(text);
        PyErr_Clear();
    }
}

/* On free-threaded builds: is the GIL on now? (sys._is_gil_enabled, 3.13+) */
void report_gil(void)
{
#ifdef Py_GIL_DISABLED
    PyObject *fn = PySys_GetObject("_is_gil_enabled"); /* borrowed: held while calling */
    Py_XINCREF(fn);
    PyObject *r = fn ? PyObject_CallObject(fn, NULL) : NULL;
    Py_XDECREF(fn);
    if (r) {
        obs_line *l = obs_begin("gil");
        obs_str(l, "where", the_step);
        obs_bool(l, "enabled", PyObject_IsTrue(r) == 1);
        obs_end(l);
    }
    Py_XDECREF(r);
    PyErr_Clear();
#endif
}

/* Import the target, as an embedder does (PyImport_ImportModule: the
 * named module itself, through builtins.__import__); NULL with the
 * exception pending. CPython reports a module that re-enables the GIL
 * (free-threaded builds) with a RuntimeWarning, and what else the import
 * warns about is worth keeping: `caught` gets it (warned.c; a new
 * reference, or NULL). */
static PyObject *import_quietly(const harness_args *a, PyObject **caught)
{
    *caught = NULL;
    if (put_module_dir_on_path(a) < 0)
        return NULL;
    PyObject *witness = warned_begin();
    PyObject *module = PyImport_ImportModule(a->module);
    *caught = warned_end(witness);
    return module;
}

PyObject *import_target(const harness_args *a)
{
    PyObject *caught;
    PyObject *module = import_quietly(a, &caught);
    if (module == NULL)
        report_exception(PHASE_IMPORT);
    /* Warnings are reported whether or not the import succeeded. */
    report_warnings(caught);
    Py_XDECREF(caught);
    if (module)
        report_gil();
    return module;
}

PyObject *import_target_captured(const harness_args *a, captured_error *e)
{
    PyObject *caught;
    PyObject *module = import_quietly(a, &caught);
    if (module == NULL)
        capture_exception(e);
    /* The first import, in the main interpreter, reported its warnings. */
    Py_XDECREF(caught);
    return module;
}

/* The smoke code, compiled in the current interpreter (a new reference);
 * NULL with the exception pending. */
static PyObject *compile_smoke(const harness_args *a)
{
    return Py_CompileString(a->smoke, "<smoke>", Py_file_input);
}

/* Run compiled smoke code with the module bound to `m`, in a namespace of
 * its own; -1 with the exception pending. */
static int eval_smoke(PyObject *code, PyObject *module)
{
    PyObject *globals = PyDict_New();
    PyObject *result = NULL;
    if (globals && PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) == 0
        && PyDict_SetItemString(globals, "m", module) == 0)
        result = PyEval_EvalCode(code, globals, globals);
    Py_XDECREF(globals);
    if (result == NULL)
        return -1;
    Py_DECREF(result);
    return 0;
}

/* Compile and run the smoke code once; -1 with the exception pending. */
static int smoke_quietly(const harness_args *a, PyObject *module)
{
    PyObject *code = compile_smoke(a);
    int rc = code ? eval_smoke(code, module) : -1;
    Py_XDECREF(code);
    return rc;
}

int run_smoke(const harness_args *a, PyObject *module)
{
    if (a->smoke == NULL || a->smoke[0] == '\0')
        return 0;
    if (smoke_quietly(a, module) == 0)
        return 0;
    report_exception(PHASE_SMOKE);
    return -1;
}

PyObject *compile_smoke_captured(const harness_args *a, captured_error *e)
{
    PyObject *code = compile_smoke(a);
    if (code == NULL)
        capture_exception(e);
    return code;
}

int eval_smoke_captured(PyObject *code, PyObject *module, captured_error *e)
{
    if (eval_smoke(code, module) == 0)
        return 0;
    capture_exception(e);
    return -1;
}

PyObject *module_names(void)
{
    PyObject *modules = PyImport_GetModuleDict(); /* borrowed */
    PyObject *names = modules ? PySet_New(modules) : NULL;
    if (names == NULL)
        PyErr_Clear();
    return names;
}

/* Whether `name` is the target's top-level package or lies under it. */
static int in_target_package(const harness_args *a, const char *name)
{
    size_t top = strcspn(a->module, ".");
    return strncmp(name, a->module, top) == 0 && (name[top] == '\0' || name[top] == '.');
}

/* Whether `import name` makes `sys.modules[name]`: a module whose spec
   names it. An entry made by PyImport_AddModule (Cython's shared
   `_cython_3_3_1`, `cython_runtime`) or an alias (`__mp_main__`, cffi's
   `_brotlicffi` for `brotlicffi._brotlicffi`) has no spec or another
   name: no import can make it again, so it is no dependency a control run
   could import without the target. */
static int importable_as(PyObject *modules, PyObject *name)
{
    PyObject *module = PyObject_GetItem(modules, name);
    PyObject *spec = module ? PyObject_GetAttrString(module, "__spec__") : NULL;
    PyObject *spec_name = spec && spec != Py_None ? PyObject_GetAttrString(spec, "name") : NULL;
    int importable = spec_name && PyUnicode_Check(spec_name) &&
                     PyUnicode_Compare(spec_name, name) == 0;
    PyErr_Clear();
    Py_XDECREF(spec_name);
    Py_XDECREF(spec);
    Py_XDECREF(module);
    return importable;
}

void report_pulled_in(const harness_args *a, PyObject *before)
{
    PyObject *now = before ? module_names() : NULL;
    PyObject *added = now ? PyNumber_Subtract(now, before) : NULL;
    PyObject *sorted = added ? PySequence_List(added) : NULL;
    if (sorted && PyList_Sort(sorted) == 0) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(sorted); i++) {
            PyObject *key = PyList_GET_ITEM(sorted, i); /* borrowed */
            const char *name = PyUnicode_AsUTF8(key);
            if (name == NULL || in_target_package(a, name) ||
                !importable_as(PyImport_GetModuleDict(), key))
                continue;
            obs_line *l = obs_begin("pulled_in");
            obs_str(l, "module", name);
            obs_end(l);
        }
    }
    PyErr_Clear();
    Py_XDECREF(sorted);
    Py_XDECREF(added);
    Py_XDECREF(now);
    Py_XDECREF(before);
}

int forget_target(const harness_args *a)
{
    PyObject *modules = PyImport_GetModuleDict(); /* borrowed */
    if (PyDict_DelItemString(modules, a->module) < 0) {
        report_exception(PHASE_FORGET);
        return -1;
    }
    return 0;
}

/* The "declared" vocabulary. A slot value the table does not know is
 * reported as "unknown". */
#if defined(Py_mod_multiple_interpreters) || defined(Py_mod_gil)
typedef struct {
    void *value;
    const char *name;
} slot_value_name;

static const char *slot_value(const slot_value_name *table, size_t n, void *value)
{
    for (size_t i = 0; i < n; i++)
        if (table[i].value == value)
            return table[i].name;
    return "unknown";
}
#endif

typedef enum { INIT_SINGLE_PHASE, INIT_MULTI_PHASE, INIT_NONE } init_style;

static const char *const INIT_NAME[] = {
    [INIT_SINGLE_PHASE] = "single-phase",
    [INIT_MULTI_PHASE] = "multi-phase",
    [INIT_NONE] = "none",
};

/* Values of the PEP 489 slots, spelled as in the C API docs. */
#ifdef Py_mod_multiple_interpreters
static const slot_value_name MULTIPLE_INTERPRETERS_NAME[] = {
    {Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED, "not-supported"},
    {Py_MOD_MULTIPLE_INTERPRETERS_SUPPORTED, "supported"},
    {Py_MOD_PER_INTERPRETER_GIL_SUPPORTED, "per-interpreter-gil"},
};
#endif

#ifdef Py_mod_gil
static const slot_value_name GIL_NAME[] = {
    {Py_MOD_GIL_USED, "used"},
    {Py_MOD_GIL_NOT_USED, "not-used"},
};
#endif

void report_declaration(PyObject *module)
{
    obs_line *l = obs_begin("declared");
    PyModuleDef *def = PyModule_Check(module) ? PyModule_GetDef(module) : NULL;
    PyErr_Clear();
    if (def == NULL) {
        obs_str(l, "init", INIT_NAME[INIT_NONE]);
        obs_end(l);
        return;
    }
    obs_str(l, "init", INIT_NAME[def->m_slots ? INIT_MULTI_PHASE : INIT_SINGLE_PHASE]);
    obs_int(l, "m_size", (long long)def->m_size);
    for (PyModuleDef_Slot *slot = def->m_slots; slot && slot->slot; slot++) {
#ifdef Py_mod_multiple_interpreters
        if (slot->slot == Py_mod_multiple_interpreters)
            obs_str(l, "multiple_interpreters",
                    slot_value(MULTIPLE_INTERPRETERS_NAME, COUNT(MULTIPLE_INTERPRETERS_NAME), slot->value));
#endif
#ifdef Py_mod_gil
        if (slot->slot == Py_mod_gil)
            obs_str(l, "gil", slot_value(GIL_NAME, COUNT(GIL_NAME), slot->value));
#endif
    }
    obs_end(l);
}

/* ---------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------- */

static int fcntl_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* close_range(2) from `first` to `last`; -1 where the kernel lacks it. */
static int close_fd_range(unsigned first, unsigned last)
{
#ifdef SYS_close_range
    return first > last ? 0 : (int)syscall(SYS_close_range, first, last, 0u);
#else
    (void)first;
    (void)last;
    errno = ENOSYS;
    return -1;
#endif
}

/* Close every descriptor but 0, 1, 2 and `keep`: the cell gets its standard
 * streams and the observation channel, nothing its driver's parents left
 * open (a library that takes fd 3 for its own finds nothing there). */
static void close_other_fds(int keep)
{
    int rc = keep > 2 ? close_fd_range(3, (unsigned)keep - 1) : 0;
    if (rc == 0)
        rc = close_fd_range(keep > 2 ? (unsigned)keep + 1 : 3, ~0u);
    if (rc == 0)
        return;
    /* Kernels before 5.9: every descriptor /proc lists. */
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL)
        return;
    int fds[1024];
    size_t n = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL && n < COUNT(fds);) {
        int fd = atoi(e->d_name);
        if (fd > 2 && fd != keep && fd != dirfd(dir))
            fds[n++] = fd;
    }
    closedir(dir);
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

/* The whole of `path` as a string; NULL (errno set) if it cannot be read. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    while (buf) {
        if (cap - len < 2) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        if (got == 0)
            break;
        len += got;
    }
    int error = buf == NULL ? ENOMEM : ferror(f) ? EIO : 0;
    fclose(f);
    if (error) {
        free(buf);
        errno = error;
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

/* Under ThreadSanitizer (an interpreter built --with-thread-sanitizer, whose
 * -fsanitize=thread the harness is compiled and linked with): stop at the
 * first report, so that the cell ends in the step the race happened in,
 * with the report on stderr and exit status 66. The runtime asks before
 * main; without it nothing calls this. */
/* The same for AddressSanitizer, without its leak check: CPython keeps
 * memory to the end by design, and every cell would report it at exit. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}

const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "halt_on_error=1";
}

/* A race whose top frame is CPython's (or the harness's) is not the
 * module's to answer for: 3.13's free-threaded build races in its own
 * code under any smoke code run on threads (unicode_eq, say), beyond the
 * suppressions CPython's own CI keeps. What is reported is a race whose
 * both accesses are in the module's code, or in what it links. */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
    return "race_top:libpython\n"
           "race_top:extmatrix-harness\n";
}

/* "import, reinit, ..." (--list prints them one per line). */
static void print_scenario_names(FILE *out)
{
    for (size_t i = 0; scenario_name(i); i++)
        fprintf(out, "%s%s", i ? ", " : "", scenario_name(i));
}

static void usage(void)
{
    fprintf(stderr,
            "usage: extmatrix-harness --scenario NAME --module NAME --module-dir DIR\n"
            "                         --python-exe PATH --cycles N --threads N\n"
            "                         --interpreters N --rounds N --waves N [--module-file PATH]\n"
            "                         [--smoke CODE | --smoke-file PATH] [--obs-fd FD] [--token HEX]\n"
            "                         [--debug-allocator 0|1] [--subinterp auto|legacy|shared|own]\n"
            "                         [--alone 0|1] [--site 0|1]\n"
            "       extmatrix-harness --list | --help\n"
            "scenarios: ");
    print_scenario_names(stderr);
    fprintf(stderr,
            "\n--cycles (reinit, reimport, subinterp-cycle, inittab), --threads (free-threading),\n"
            "--interpreters and --waves (subinterp-parallel) and --rounds (the smoke code's runs\n"
            "per worker in both) are required whatever the scenario; inittab also needs\n"
            "--module-file, the extension whose PyInit_<name> it registers. --debug-allocator 1 initializes every interpreter\n"
            "with PYMEM_ALLOCATOR_DEBUG; --subinterp picks subinterp-cycle's subinterpreters\n"
            "(auto: the most isolated kind the module declares it supports). --alone 1 makes\n"
            "the subinterp-* scenarios import the module in one subinterpreter only, never in\n"
            "the main interpreter (subinterp-cycle then needs --subinterp). --site 1 runs `site` at\n"
            "every init (default 0: only the module directory's own .pth files are read).\n"
            "Observations are JSON lines on --obs-fd (default 3; 1 when it is not open),\n"
            "each starting with {\"token\":\"HEX\", when --token is given.\n");
}

/* An integer option's value, at least `min`; -1 (after saying why) if not. */
static int count_value(const char *opt, const char *val, int min)
{
    char *end;
    errno = 0;
    long n = strtol(val, &end, 10);
    if (errno || end == val || *end != '\0' || n < min || n > INT_MAX) {
        fprintf(stderr, "%s wants an integer >= %d, not '%s'\n", opt, min, val);
        return -1;
    }
    return (int)n;
}

/* Whether `n` workers are more than one scenario runs (after saying so). */
static int too_many_workers(const char *opt, int n)
{
    if (n <= MAX_WORKERS)
        return 0;
    fprintf(stderr, "%s wants at most %d, not %d\n", opt, MAX_WORKERS, n);
    return 1;
}

/* "0" or "1"; -1 (after saying why) if neither. */
static int flag_value(const char *opt, const char *val)
{
    if (strcmp(val, "0") == 0 || strcmp(val, "1") == 0)
        return val[0] - '0';
    fprintf(stderr, "%s wants 0 or 1, not '%s'\n", opt, val);
    return -1;
}

/* One of the --subinterp words; NULL (after saying why) if not. */
static const char *subinterp_value(const char *val)
{
    static const char *const KNOWN[] = {"auto", "legacy", "shared", "own"};
    for (size_t i = 0; i < COUNT(KNOWN); i++)
        if (strcmp(val, KNOWN[i]) == 0)
            return KNOWN[i];
    fprintf(stderr, "--subinterp wants auto, legacy, shared or own, not '%s'\n", val);
    return NULL;
}

/* 1 to 64 lowercase hex digits: a token needs no escaping in JSON. */
static int token_value(const char *val)
{
    size_t n = strlen(val);
    int ok = n >= 1 && n <= TOKEN_MAX && strspn(val, "0123456789abcdef") == n;
    if (!ok)
        fprintf(stderr, "--token wants 1 to %d lowercase hex digits\n", TOKEN_MAX);
    return ok ? 0 : -1;
}

/* Name every missing option; 0 when none is. */
static int missing_options(const harness_args *a)
{
    const struct {
        int given;
        const char *option;
    } REQUIRED[] = {
        {a->scenario != NULL, "--scenario"},
        {a->module != NULL, "--module"},
        {a->module_dir != NULL, "--module-dir"},
        {a->python_exe != NULL, "--python-exe"},
        {a->cycles > 0, "--cycles"},
        {a->threads > 0, "--threads"},
        {a->interpreters > 0, "--interpreters"},
        {a->rounds > 0, "--rounds"},
        {a->waves > 0, "--waves"},
        {a->module_file != NULL || a->scenario == NULL || strcmp(a->scenario, "inittab") != 0,
         "--module-file (inittab)"},
    };
    int missing = 0;
    for (size_t i = 0; i < COUNT(REQUIRED); i++) {
        if (!REQUIRED[i].given) {
            fprintf(stderr, "missing option %s\n", REQUIRED[i].option);
            missing++;
        }
    }
    return missing;
}

/* Fill `a` and `fd` from the command line: -1 to go on, or the exit status
 * (0 after --help/--list, 2 for a usage error). `token_arg` gets the
 * argv slot of --token's value, so main can wipe it. */
static int parse_args(int argc, char **argv, harness_args *a, int *fd, char **token_arg)
{
    int smoke_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(opt, "--help") == 0) {
            usage();
            return 0;
        }
        if (strcmp(opt, "--list") == 0) {
            for (size_t k = 0; scenario_name(k); k++)
                printf("%s\n", scenario_name(k));
            return 0;
        }
        if (val == NULL) {
            fprintf(stderr, "option %s needs a value\n", opt);
            usage();
            return 2;
        }
        i++;
        int bad = 0;
        if (strcmp(opt, "--scenario") == 0) a->scenario = val;
        else if (strcmp(opt, "--module") == 0) a->module = val;
        else if (strcmp(opt, "--module-dir") == 0) a->module_dir = val;
        else if (strcmp(opt, "--smoke") == 0) { a->smoke = val; smoke_given++; }
        else if (strcmp(opt, "--smoke-file") == 0) { a->smoke_file = val; smoke_given++; }
        else if (strcmp(opt, "--python-exe") == 0) a->python_exe = val;
        else if (strcmp(opt, "--cycles") == 0) bad = (a->cycles = count_value(opt, val, 1)) < 0;
        else if (strcmp(opt, "--threads") == 0)
            bad = (a->threads = count_value(opt, val, 1)) < 0 || too_many_workers(opt, a->threads);
        else if (strcmp(opt, "--interpreters") == 0)
            bad = (a->interpreters = count_value(opt, val, 1)) < 0 || too_many_workers(opt, a->interpreters);
        else if (strcmp(opt, "--rounds") == 0) bad = (a->rounds = count_value(opt, val, 1)) < 0;
        else if (strcmp(opt, "--waves") == 0) bad = (a->waves = count_value(opt, val, 1)) < 0;
        else if (strcmp(opt, "--module-file") == 0) a->module_file = val;
        else if (strcmp(opt, "--obs-fd") == 0) bad = (*fd = count_value(opt, val, 0)) < 0;
        else if (strcmp(opt, "--debug-allocator") == 0) bad = (a->debug_allocator = flag_value(opt, val)) < 0;
        else if (strcmp(opt, "--subinterp") == 0) bad = (a->subinterp = subinterp_value(val)) == NULL;
        else if (strcmp(opt, "--alone") == 0) bad = (a->alone = flag_value(opt, val)) < 0;
        else if (strcmp(opt, "--site") == 0) bad = (a->site = flag_value(opt, val)) < 0;
        else if (strcmp(opt, "--token") == 0) {
            bad = token_value(val) < 0;
            *token_arg = argv[i];
        }
        else {
            fprintf(stderr, "unknown option %s\n", opt);
            bad = 1;
        }
        if (smoke_given > 1) {
            fprintf(stderr, "give the smoke code once: --smoke or --smoke-file\n");
            bad = 1;
        }
        if (bad) {
            usage();
            return 2;
        }
    }
    if (missing_options(a)) {
        usage();
        return 2;
    }
    return -1;
}

/* A copy of `s` the harness owns; exit 3 when memory is out. */
static char *owned(const char *s)
{
    char *copy = s ? strdup(s) : NULL;
    if (s && copy == NULL)
        harness_fatal("out of memory copying the arguments");
    return copy;
}

/* `path` as an absolute path the harness owns: a relative one is taken
 * from the directory the harness started in, symlinks left as they are
 * (getpath reads a venv's pyvenv.cfg beside the link, not its target). */
static char *owned_absolute(const char *path, const char *start_dir)
{
    if (path == NULL || path[0] == '/' || start_dir == NULL)
        return owned(path);
    size_t n = strlen(start_dir) + 1 + strlen(path) + 1;
    char *joined = malloc(n);
    if (joined == NULL)
        harness_fatal("out of memory copying the arguments");
    snprintf(joined, n, "%s/%s", start_dir, path);
    return joined;
}

/* Copy every string `a` points to out of argv, before any target code
 * runs: a correct module may rewrite argv's memory (every process-title
 * library does, and moves environ to make room) or change the current
 * directory, and the harness reads its arguments again in every cycle. */
static void own_args(harness_args *a)
{
    char cwd[PATH_MAX];
    const char *start_dir = getcwd(cwd, sizeof cwd);
    a->scenario = owned(a->scenario);
    a->module = owned(a->module);
    a->module_dir = owned_absolute(a->module_dir, start_dir);
    a->python_exe = owned_absolute(a->python_exe, start_dir);
    a->smoke = owned(a->smoke);
    a->smoke_file = owned_absolute(a->smoke_file, start_dir);
    a->module_file = owned_absolute(a->module_file, start_dir);
    a->subinterp = owned(a->subinterp);
}

int main(int argc, char **argv)
{
    /* No defaults for the counts: the driver owns them. */
    harness_args a = {.smoke = "", .subinterp = "auto"};
    int fd = 3;
    char *token_arg = NULL;
    int status = parse_args(argc, argv, &a, &fd, &token_arg);
    if (status >= 0)
        return status;
    if (token_arg) {
        snprintf(obs_prefix, sizeof obs_prefix, "{\"token\":\"%s\",", token_arg);
        /* Out of /proc/<pid>/cmdline, where any process could read it. */
        memset(token_arg, '-', strlen(token_arg));
    }
    obs_fd = fcntl_is_open(fd) ? fd : 1;
    obs_claim();
    own_args(&a);
    close_other_fds(obs_fd);
    /* The harness writes to it; nothing it execs inherits it. */
    if (obs_fd > 2)
        fcntl(obs_fd, F_SETFD, FD_CLOEXEC);
    scenario_fn fn = find_scenario(a.scenario);
    if (fn == NULL) {
        fprintf(stderr, "unknown scenario '%s' (known: ", a.scenario);
        print_scenario_names(stderr);
        fprintf(stderr, ")\n");
        return 2;
    }
    if (a.smoke_file) {
        char *smoke = read_file(a.smoke_file);
        if (smoke == NULL)
            harness_fatal("cannot read --smoke-file %s: %s", a.smoke_file, strerror(errno));
        a.smoke = smoke;
    }

    /* Returns in the child; the parent supervises it and never returns. */
    supervise();
    obs_claim();
    forensics_install();

    obs_line *l = obs_begin("start");
    obs_str(l, "scenario", a.scenario);
    obs_str(l, "compiled_for", PY_VERSION);
    obs_str(l, "module", a.module);
    obs_int(l, "pid", getpid());
    obs_end(l);

    int rc = fn(&a);

    obs_end(obs_begin("done"));
    return rc;
}
