#pragma once

// The IREE plugin's embedded CPython: the iree-base-runtime wheel ships only a Python
// extension (no C headers or library), so the plugin runs IREE's runtime through CPython
// (Debian's libpython, the interpreter .venv-iree is made from) and backends/iree/iree_host.py.
// Starting the interpreter, holding the GIL, owned references and Python's errors live here,
// apart from iree_backend.cc, so that each file stays short.

#include <Python.h>

#include <string>
#include <utility>

namespace infermark::iree_detail {

// Holds the GIL for a scope (from any thread; CPython's own thread state per OS thread).
class Gil {
 public:
  Gil() : state_(PyGILState_Ensure()) {}
  ~Gil() { PyGILState_Release(state_); }
  Gil(const Gil&) = delete;
  Gil& operator=(const Gil&) = delete;

 private:
  PyGILState_STATE state_;
};

// An owned reference.
struct PyRef {
  PyObject* p = nullptr;
  PyRef() = default;
  explicit PyRef(PyObject* o) : p(o) {}
  PyRef(PyRef&& o) noexcept : p(std::exchange(o.p, nullptr)) {}
  PyRef& operator=(PyRef&& o) noexcept {
    std::swap(p, o.p);
    return *this;
  }
  ~PyRef() { Py_XDECREF(p); }  // callers hold the GIL
  explicit operator bool() const { return p != nullptr; }
};

// The pending Python exception as "Type: message" on one line (GIL held), and clears it.
std::string python_error();

// CPython exists once per process: the plugin starts it on the first load (or joins the one
// another component started), and never finalizes it, since extension modules such as IREE's
// cannot be unloaded. program: .venv-iree's python. Called without the GIL.
void start_python(const std::string& program);

// The iree_host module (a new reference; GIL held by the caller), with site_packages
// (.venv-iree's) and helper_dir (iree_host.py's) on the path.
PyObject* import_iree_host(const std::string& site_packages, const std::string& helper_dir);

}  // namespace infermark::iree_detail
