// sluice.Reader: a file-like reader of one object version (sluice::Reader).
#include <pybind11/stl.h>

#include <atomic>
#include <stdexcept>

#include "sluice_py.h"

namespace sluice::python {

namespace {

// A Reader with the Client it came from kept alive. sluice::Reader is not thread-safe and
// reads run without the GIL: a second thread using the same Reader meanwhile gets a
// RuntimeError (as io.BufferedReader does) rather than waiting with the GIL held.
class PyReader {
 public:
  PyReader(std::shared_ptr<ClientHandle> client, std::unique_ptr<Reader> reader)
      : client_(std::move(client)), reader_(std::move(reader)) {}
  // A forked copy's read-ahead ran on a thread of the parent: destroying the reader would
  // wait for it for ever. It is left (a leak in the child, as ClientHandle's client is).
  // An unclosed reader collected by Python also waits for its read-ahead: without the GIL
  // (but with it while the interpreter shuts down, when it must not be given up).
  ~PyReader() {
    if (client_ && client_->forked()) {
      (void)reader_.release();
    } else if (reader_ != nullptr && Py_IsInitialized() && !_Py_IsFinalizing()) {
      py::gil_scoped_release release;
      reader_.reset();
    }
  }
  PyReader(const PyReader&) = delete;
  PyReader& operator=(const PyReader&) = delete;

  py::bytes Read(int64_t n) {
    Busy busy(this);
    Reader& r = Get();
    const uint64_t size = r.stat().size, pos = r.Tell();
    const uint64_t left = pos < size ? size - pos : 0;
    const size_t want = n < 0 ? left : std::min<uint64_t>(left, static_cast<uint64_t>(n));
    return ReadBytes(want, [&r](std::span<char> out) { return r.Read(out); });
  }

  size_t ReadInto(const py::buffer& b) {
    py::buffer_info info;
    const std::span<char> bytes = WritableBytes(b, &info);
    const size_t n = bytes.size();
    char* data = bytes.data();
    Busy busy(this);
    Reader& r = Get();
    auto fill = [&r](std::span<char> out) { return r.Read(out); };
    return FillWithoutGil(data, n, fill);
  }

  py::bytes ReadAt(uint64_t offset, size_t n) {
    Busy busy(this);
    Reader& r = Get();
    const uint64_t size = r.stat().size;
    const size_t want = offset < size ? std::min<uint64_t>(n, size - offset) : 0;
    uint64_t at = offset;
    return ReadBytes(want, [&r, &at](std::span<char> out) -> Result<size_t> {
      auto got = r.ReadAt(at, out);
      if (got.ok()) at += *got;
      return got;
    });
  }

  uint64_t Seek(int64_t offset, int whence) {
    Busy busy(this);
    Reader& r = Get();
    int64_t base = whence == 0   ? 0
                   : whence == 1 ? static_cast<int64_t>(r.Tell())
                   : whence == 2 ? static_cast<int64_t>(r.stat().size)
                                 : throw py::value_error("whence must be 0, 1 or 2");
    if (base + offset < 0) throw py::value_error("negative seek position");
    r.Seek(static_cast<uint64_t>(base + offset));
    return r.Tell();
  }

  uint64_t Tell() {
    Busy busy(this);
    return Get().Tell();
  }
  ObjectStat stat() {
    Busy busy(this);
    return Get().stat();
  }
  // Closing waits for a read-ahead still in flight: without the GIL, so other Python
  // threads run meanwhile.
  void Close() {
    Busy busy(this);
    std::unique_ptr<Reader> r = std::move(reader_);
    if (client_->forked()) {
      (void)r.release();  // see ~PyReader
      return;
    }
    py::gil_scoped_release release;
    r.reset();
  }
  bool closed() const { return reader_ == nullptr; }

 private:
  class Busy {
   public:
    explicit Busy(PyReader* r) : r_(r) {
      if (r_->busy_.exchange(true)) {
        throw std::runtime_error("concurrent operations on one sluice.Reader");
      }
    }
    ~Busy() { r_->busy_ = false; }
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;

   private:
    PyReader* r_;
  };

  Reader& Get() {
    if (reader_ == nullptr) throw py::value_error("I/O operation on closed reader");
    client_->get();  // not across a fork
    return *reader_;
  }

  std::shared_ptr<ClientHandle> client_;
  std::unique_ptr<Reader> reader_;
  std::atomic<bool> busy_{false};
};

}  // namespace

void BindReader(py::module_& m) {
  py::class_<PyReader>(m, "Reader",
                       "A seekable reader of one object version, pinned at open: reads fail "
                       "with OSError(ESTALE) once the object has another version. Sequential "
                       "reads prefetch ahead. Not for concurrent use.")
      .def("read", &PyReader::Read, py::arg("n") = -1,
           "Up to n bytes from the position (all that is left when n < 0); b'' at the end.")
      .def("readinto", &PyReader::ReadInto, py::arg("buffer"),
           "Fills a writable buffer from the position; returns the bytes read.")
      .def("pread", &PyReader::ReadAt, py::arg("offset"), py::arg("n"),
           "Up to n bytes at offset, without moving the position.")
      .def("seek", &PyReader::Seek, py::arg("offset"), py::arg("whence") = 0)
      .def("tell", &PyReader::Tell)
      .def_property_readonly("size", [](PyReader& r) { return r.stat().size; })
      .def_property_readonly("stat", &PyReader::stat)
      .def_property_readonly("closed", &PyReader::closed)
      .def("readable", [](PyReader& r) { return !r.closed(); })
      .def("seekable", [](PyReader& r) { return !r.closed(); })
      .def("close", &PyReader::Close)
      .def("__enter__", [](py::object self) { return self; })
      .def("__exit__", [](PyReader& r, py::args) { r.Close(); });
}

py::object MakeReader(std::shared_ptr<ClientHandle> client, std::unique_ptr<Reader> reader) {
  return py::cast(std::make_unique<PyReader>(std::move(client), std::move(reader)));
}

}  // namespace sluice::python
