// A block of memory on one device, shared by every tensor that views it.
#pragma once

#include <cstddef>
#include <memory>

#include "core/device.h"
#include "core/stream.h"

namespace minidl {

class Storage {
 public:
  // CPU memory is 64-byte aligned (pinned when asked and a GPU exists, for fast async copies);
  // CUDA memory comes from the device's caching allocator, ordered on `stream`.
  static std::shared_ptr<Storage> allocate(size_t nbytes, Device device, bool pinned = false);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool pinned() const { return pinned_; }

  // The memory is (also) used by work queued on `stream`: when the storage dies, its block is handed
  // out again only after that work (core/allocator.h, Note [Reuse across streams]). Needed for CUDA
  // memory used on a stream other than the one it was allocated on (the current stream then), and
  // for pinned memory that an asynchronous copy reads or writes. A no-op for other CPU memory.
  void record_stream(Stream stream);

 private:
  Storage() = default;
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  bool pinned_ = false;
};

// Copies bytes between any two devices, ordered on the current stream of the CUDA side; a copy that
// ends on the CPU waits for it, so the host can read the bytes on return.
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes);

}  // namespace minidl
