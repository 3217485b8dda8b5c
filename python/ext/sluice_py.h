// Shared pieces of the `sluice._sluice` extension: the Client handle Python holds, the
// mapping of a Status onto a Python exception, and the bind functions of each file.
//
// GIL: every call that may do I/O runs under py::gil_scoped_release; Python objects are only
// touched with the GIL held (before and after). Errors are raised after the GIL is taken back.
//
// Fork: a Client (its threads, its pooled connections) belongs to the process that created
// it. In a forked child (a DataLoader worker) it refuses to be used (RuntimeError) and its
// destructor leaks it instead of joining threads that do not exist there; each process makes
// its own Client.
#pragma once

#include <pybind11/pybind11.h>
#include <sys/types.h>
#include <unistd.h>

#include <memory>
#include <span>
#include <string>
#include <utility>

#include "sluice/client.h"
#include "sluice/status.h"

namespace sluice::python {

namespace py = pybind11;

// Raises the Python exception for a non-OK status:
//   NotFound -> FileNotFoundError, AlreadyExists -> FileExistsError,
//   PermissionDenied -> PermissionError, InvalidArgument / OutOfRange -> ValueError,
//   Unavailable -> ConnectionError, DeadlineExceeded -> sluice.DeadlineExceededError
//   (a ConnectionError and a TimeoutError), Unimplemented -> NotImplementedError,
//   anything else -> OSError (with an errno: EIO, ENOSPC, ESTALE).
// REQUIRES: the GIL is held; !s.ok().
[[noreturn]] void Raise(const Status& s);

inline void Check(const Status& s) {
  if (!s.ok()) Raise(s);
}

// The bytes of a writable buffer (readinto's target), which must be C-contiguous: a
// strided view (memoryview(b)[::2], [::-1]) would be written as one run from its first
// element, past its end for a negative stride. `info` keeps the buffer held.
inline std::span<char> WritableBytes(const py::buffer& b, py::buffer_info* info) {
  *info = b.request(/*writable=*/true);
  if (!PyBuffer_IsContiguous(info->view(), 'C')) {
    throw py::value_error("the buffer must be C-contiguous");
  }
  return {static_cast<char*>(info->ptr), static_cast<size_t>(info->size * info->itemsize)};
}

template <typename T>
T Value(Result<T> r) {
  if (!r.ok()) Raise(r.status());
  return std::move(r).value();
}

// "sluice://m/a", "/m/a" and "m/a" all name the namespace path "/m/a".
std::string NamespacePath(const std::string& path);

// The handle a Python Client object holds (shared with the Readers it opened).
class ClientHandle {
 public:
  explicit ClientHandle(std::unique_ptr<Client> client)
      : client_(std::move(client)), pid_(getpid()) {}
  ~ClientHandle() {
    if (getpid() != pid_) (void)client_.release();  // forked copy: its threads are not here
  }
  ClientHandle(const ClientHandle&) = delete;
  ClientHandle& operator=(const ClientHandle&) = delete;

  // The client; RuntimeError in a process forked after it was created.
  Client& get();
  // Whether this is a forked copy (the client's threads are not in this process).
  bool forked() const { return getpid() != pid_; }

 private:
  std::unique_ptr<Client> client_;
  const pid_t pid_;
};

// Fills data[0, n) with `fill(span) -> Result<size_t>` called without the GIL until it
// returns 0 or the buffer is full (`fill` is given the part still empty); returns the
// bytes filled, or raises the error.
template <typename Fill>
size_t FillWithoutGil(char* data, size_t n, Fill& fill) {
  size_t done = 0;
  Status error;
  {
    py::gil_scoped_release release;
    while (done < n) {
      auto got = fill(std::span<char>(data + done, n - done));
      if (!got.ok()) {
        error = got.status();
        break;
      }
      if (*got == 0) break;
      done += *got;
    }
  }
  Check(error);
  return done;
}

// Reads up to `n` bytes into a new bytes object with FillWithoutGil; the result is cut to
// the bytes read.
template <typename Fill>
py::bytes ReadBytes(size_t n, Fill fill) {
  PyObject* obj = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(n));
  if (obj == nullptr) throw py::error_already_set();
  auto out = py::reinterpret_steal<py::bytes>(obj);
  const size_t done = FillWithoutGil(PyBytes_AS_STRING(obj), n, fill);
  if (done < n) {
    PyObject* p = out.release().ptr();
    if (_PyBytes_Resize(&p, static_cast<Py_ssize_t>(done)) != 0) throw py::error_already_set();
    out = py::reinterpret_steal<py::bytes>(p);
  }
  return out;
}

// A sluice.Reader over `reader`, keeping `client` alive while it lives.
py::object MakeReader(std::shared_ptr<ClientHandle> client, std::unique_ptr<Reader> reader);

void BindErrors(py::module_& m);
void BindStat(py::module_& m);
void BindReader(py::module_& m);
void BindClient(py::module_& m);

}  // namespace sluice::python
