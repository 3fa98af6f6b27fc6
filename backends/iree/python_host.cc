// The IREE plugin's embedded CPython (see python_host.h).

#include "backends/iree/python_host.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

#include "backends/plugin.h"

namespace infermark::iree_detail {

// The pending Python exception as "Type: message" on one line (GIL held), and clears it.
std::string python_error() {
  PyObject *type = nullptr, *value = nullptr, *trace = nullptr;
  PyErr_Fetch(&type, &value, &trace);
  PyErr_NormalizeException(&type, &value, &trace);
  std::string msg = "unknown Python error";
  if (value) {
    PyRef text(PyObject_Str(value));
    const char* type_name = type ? reinterpret_cast<PyTypeObject*>(type)->tp_name : "Error";
    const char* s = text ? PyUnicode_AsUTF8(text.p) : nullptr;
    msg = std::string(type_name) + ": " + (s ? s : "?");
  }
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(trace);
  PyErr_Clear();
  return collapse_whitespace(msg);
}

// CPython exists once per process: the plugin starts it on the first load (or joins the one
// another component started), and never finalizes it, since extension modules such as IREE's
// cannot be unloaded. Called without the GIL.
void start_python(const std::string& program) {
  static std::once_flag started;
  std::call_once(started, [&program] {
    // The plugin is loaded RTLD_LOCAL, so libpython's symbols would stay invisible to the
    // extension modules Python loads later (numpy, IREE), which do not link libpython.
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&Py_IsInitialized), &info) && info.dli_fname)
      dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    if (Py_IsInitialized()) return;
    PyConfig config;
    // Isolated: no PYTHON* environment variables, no user site, no signal handlers (the
    // program's own Ctrl-C handling stays), as if .venv-iree's python were running.
    PyConfig_InitIsolatedConfig(&config);
    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, program.c_str());
    if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
      throw Error(std::string("iree: cannot start the embedded Python interpreter: ") +
                  (status.err_msg ? status.err_msg : "unknown error"));
    }
    PyEval_SaveThread();  // release the GIL; every use takes it with Gil
  });
  if (!Py_IsInitialized()) throw Error("iree: the embedded Python interpreter did not start");
}

// The iree_host module (a new reference; GIL held by the caller).
PyObject* import_iree_host(const std::string& site_packages, const std::string& helper_dir) {
  // site.addsitedir also when another component started Python: .venv-iree's packages and the
  // helper must be importable (a no-op when they already are).
  const std::string setup = std::string("import site, sys\nsite.addsitedir(r'''") + site_packages +
                            "''')\nif r'''" + helper_dir +
                            "''' not in sys.path: sys.path.insert(0, r'''" + helper_dir + "''')\n";
  if (PyRun_SimpleString(setup.c_str()) != 0) {
    throw Error("iree: cannot add " + site_packages + " to the embedded Python's path");
  }
  PyObject* host = PyImport_ImportModule("iree_host");
  if (!host) {
    throw Error("iree: cannot import IREE's Python runtime (" + site_packages +
                "; run scripts/deps/iree.sh): " + python_error());
  }
  return host;
}

}  // namespace infermark::iree_detail
