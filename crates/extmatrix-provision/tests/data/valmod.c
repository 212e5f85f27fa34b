/* A module `valmod` whose value() is VAL from the header `val.h` beside
 * it: the tests write val.h, build, edit val.h and build again, to see that
 * a build follows the headers it includes. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "val.h"
static PyObject *value(PyObject *m, PyObject *u) { return PyLong_FromLong(VAL); }
static PyMethodDef methods[] = {{"value", value, METH_NOARGS, NULL}, {NULL}};
static PyModuleDef_Slot slots[] = {{0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "valmod", NULL, 0, methods, slots};
PyMODINIT_FUNC PyInit_valmod(void) { return PyModuleDef_Init(&def); }
