/* bare_loop -- the floor a `reinit` cycle is measured against (issue 21).
 *
 * What an embedder's own init/finalize loop costs with nothing around it:
 * for each cycle, initialize the interpreter the way the harness does
 * (isolated config, program_name and executable set to the interpreter so
 * getpath finds its stdlib), put the module's directory on sys.path, import
 * the module, finalize. No channel, no smoke code, no figures, no debug
 * allocator: whatever extmatrix's cycle costs beyond this is its overhead.
 *
 * Usage: bare_loop PYTHON_EXE MODULE_DIR MODULE CYCLES SITE(0|1)
 * Prints one line per cycle: "cycle N us", N from 1, us the microseconds
 * from the start of initialization to the end of Py_FinalizeEx
 * (CLOCK_MONOTONIC) -- the span the harness's `cycle` event measures.
 * Exits 1 (with the reason on stderr) when a cycle fails.
 *
 * Built per interpreter by bench/side_by_side.py with that interpreter's
 * `python-config --cflags` and `--embed --ldflags`.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die_status(const char *what, PyStatus status)
{
    fprintf(stderr, "bare_loop: %s failed: %s\n", what, status.err_msg ? status.err_msg : "?");
    exit(1);
}

/* As the harness's init_python, with `site` chosen by the caller. */
static void initialize(const char *python_exe, int site)
{
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.site_import = site;
    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, python_exe);
    if (!PyStatus_Exception(status))
        status = PyConfig_SetBytesString(&config, &config.executable, python_exe);
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status))
        die_status("Py_InitializeFromConfig", status);
}

/* sys.path.insert(0, dir); import module. 0 on success. */
static int import_from(const char *module_dir, const char *module)
{
    PyObject *path = PySys_GetObject("path"); /* borrowed */
    PyObject *dir = PyUnicode_DecodeFSDefault(module_dir);
    if (path == NULL || dir == NULL || PyList_Insert(path, 0, dir) < 0) {
        Py_XDECREF(dir);
        return -1;
    }
    Py_DECREF(dir);
    PyObject *m = PyImport_ImportModule(module);
    if (m == NULL)
        return -1;
    Py_DECREF(m);
    return 0;
}

static void one_cycle(int n, const char *python_exe, const char *module_dir, const char *module,
                      int site)
{
    double start = now_us();
    initialize(python_exe, site);
    if (import_from(module_dir, module) < 0) {
        PyErr_Print();
        fprintf(stderr, "bare_loop: cycle %d: importing %s from %s failed\n", n, module, module_dir);
        exit(1);
    }
    if (Py_FinalizeEx() < 0) {
        fprintf(stderr, "bare_loop: cycle %d: Py_FinalizeEx failed\n", n);
        exit(1);
    }
    /* Printed after the span, so the write is not part of it. */
    printf("cycle %d %.0f\n", n, now_us() - start);
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s PYTHON_EXE MODULE_DIR MODULE CYCLES SITE(0|1)\n", argv[0]);
        return 2;
    }
    int cycles = atoi(argv[4]), site = atoi(argv[5]);
    if (cycles < 1 || (site != 0 && site != 1)) {
        fprintf(stderr, "bare_loop: CYCLES must be >= 1 and SITE 0 or 1\n");
        return 2;
    }
    for (int n = 1; n <= cycles; n++)
        one_cycle(n, argv[1], argv[2], argv[3], site);
    return 0;
}
