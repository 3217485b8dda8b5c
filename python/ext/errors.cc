// Status -> Python exception, namespace paths, the ObjectStat class.
#include <pybind11/stl.h>

#include <cerrno>
#include <stdexcept>
#include <string>

#include "sluice_py.h"

namespace sluice::python {

namespace {

PyObject* deadline_error = nullptr;  // sluice.DeadlineExceededError, set by BindErrors

// Sets OSError-like `type(errno, message)` as the pending exception and throws it.
[[noreturn]] void RaiseOs(PyObject* type, int err, const std::string& message) {
  py::tuple args = py::make_tuple(err, message);
  PyErr_SetObject(type, args.ptr());
  throw py::error_already_set();
}

[[noreturn]] void RaisePlain(PyObject* type, const std::string& message) {
  PyErr_SetString(type, message.c_str());
  throw py::error_already_set();
}

}  // namespace

void Raise(const Status& s) {
  const std::string& msg = s.message().empty() ? s.ToString() : s.message();
  switch (s.code()) {
    case StatusCode::kNotFound:
      RaiseOs(PyExc_FileNotFoundError, ENOENT, msg);
    case StatusCode::kAlreadyExists:
      RaiseOs(PyExc_FileExistsError, EEXIST, msg);
    case StatusCode::kPermissionDenied:
      RaiseOs(PyExc_PermissionError, EACCES, msg);
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
      RaisePlain(PyExc_ValueError, msg);
    case StatusCode::kUnavailable:
      RaiseOs(PyExc_ConnectionError, ECONNREFUSED, msg);
    case StatusCode::kDeadlineExceeded:
      RaiseOs(deadline_error != nullptr ? deadline_error : PyExc_TimeoutError, ETIMEDOUT, msg);
    case StatusCode::kUnimplemented:
      RaisePlain(PyExc_NotImplementedError, msg);
    case StatusCode::kResourceExhausted:
      RaiseOs(PyExc_OSError, ENOSPC, s.ToString());
    case StatusCode::kFailedPrecondition:
      RaiseOs(PyExc_OSError, ESTALE, s.ToString());
    default:
      RaiseOs(PyExc_OSError, EIO, s.ToString());
  }
}

std::string NamespacePath(const std::string& path) {
  std::string_view p = path;
  if (p.starts_with("sluice://")) p.remove_prefix(9);
  if (p.starts_with("/")) return std::string(p);
  return "/" + std::string(p);
}

Client& ClientHandle::get() {
  if (getpid() != pid_) {
    throw std::runtime_error(
        "this sluice.Client was created in process " + std::to_string(pid_) +
        " and cannot be used in a forked child: create a Client in each process");
  }
  return *client_;
}

void BindErrors(py::module_& m) {
  py::tuple bases =
      py::make_tuple(py::handle(PyExc_ConnectionError), py::handle(PyExc_TimeoutError));
  deadline_error = PyErr_NewExceptionWithDoc(
      "sluice._sluice.DeadlineExceededError",
      "A call ran past its deadline: both a ConnectionError and a TimeoutError.", bases.ptr(),
      nullptr);
  if (deadline_error == nullptr) throw py::error_already_set();
  m.add_object("DeadlineExceededError", py::handle(deadline_error));
}

void BindStat(py::module_& m) {
  py::class_<ObjectStat>(m, "ObjectStat",
                         "What the cluster knows of an object (or a directory): a value.")
      .def(py::init([](std::string path, uint64_t size, int64_t mtime_ns, std::string etag,
                       std::string version, bool is_dir) {
             return ObjectStat{.path = NamespacePath(path),
                               .size = size,
                               .mtime_ns = mtime_ns,
                               .etag = std::move(etag),
                               .version = std::move(version),
                               .is_dir = is_dir};
           }),
           py::arg("path"), py::arg("size") = 0, py::arg("mtime_ns") = 0, py::arg("etag") = "",
           py::arg("version") = "", py::arg("is_dir") = false)
      .def_readonly("path", &ObjectStat::path, "namespace path: /MOUNT/key")
      .def_readonly("size", &ObjectStat::size)
      .def_readonly("mtime_ns", &ObjectStat::mtime_ns)
      .def_readonly("etag", &ObjectStat::etag)
      .def_readonly("version", &ObjectStat::version)
      .def_readonly("is_dir", &ObjectStat::is_dir)
      .def("to_dict",
           [](const ObjectStat& s) {
             py::dict d;
             d["path"] = s.path;
             d["size"] = s.size;
             d["mtime_ns"] = s.mtime_ns;
             d["etag"] = s.etag;
             d["version"] = s.version;
             d["is_dir"] = s.is_dir;
             return d;
           })
      .def("__eq__",
           [](const ObjectStat& a, const ObjectStat& b) {
             return a.path == b.path && a.size == b.size && a.mtime_ns == b.mtime_ns &&
                    a.etag == b.etag && a.version == b.version && a.is_dir == b.is_dir;
           })
      .def("__repr__",
           [](const ObjectStat& s) {
             return "ObjectStat(path=" + py::repr(py::str(s.path)).cast<std::string>() +
                    ", size=" + std::to_string(s.size) + (s.is_dir ? ", is_dir=True" : "") +
                    ", version=" + py::repr(py::str(s.version)).cast<std::string>() + ")";
           })
      .def(py::pickle(
          [](const ObjectStat& s) {
            return py::make_tuple(s.path, s.size, s.mtime_ns, s.etag, s.version, s.is_dir);
          },
          [](const py::tuple& t) {
            return ObjectStat{.path = t[0].cast<std::string>(),
                              .size = t[1].cast<uint64_t>(),
                              .mtime_ns = t[2].cast<int64_t>(),
                              .etag = t[3].cast<std::string>(),
                              .version = t[4].cast<std::string>(),
                              .is_dir = t[5].cast<bool>()};
          }));
}

}  // namespace sluice::python
