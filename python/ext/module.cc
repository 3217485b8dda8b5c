// The `sluice._sluice` extension module. The `sluice` package (python/sluice) re-exports it.
#include "sluice_py.h"

PYBIND11_MODULE(_sluice, m) {
  m.doc() = "Sluice's C++ client for Python (see docs/python.md).";
  sluice::python::BindErrors(m);
  sluice::python::BindStat(m);
  sluice::python::BindReader(m);
  sluice::python::BindClient(m);
}
