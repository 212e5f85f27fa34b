/* extmatrix_baseline -- the empty extension module of the leak baseline.
 *
 * The leak rule compares a target's per-cycle figures with the same
 * scenario importing this module instead (same interpreter, same cycles,
 * same allocator, same kind of subinterpreter): whatever the interpreter
 * itself keeps per cycle, and what importing any extension module costs,
 * is in both series and cancels. It declares every kind of isolation so
 * that any subinterpreter kind the target's cell used can import it.
 *
 * Built beside the harness (harness-c/), never linked into it. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyModuleDef_Slot slots[] = {
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static PyModuleDef def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "extmatrix_baseline",
    .m_size = 0,
    .m_slots = slots,
};

PyMODINIT_FUNC
PyInit_extmatrix_baseline(void)
{
    return PyModuleDef_Init(&def);
}
