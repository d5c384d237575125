// TensorBoard event files: the scalars of metrics.csv (optim/metrics.h) and the range test's curve,
// for users who watch runs in TensorBoard (`tensorboard --logdir runs`).
//
//   EventFileWriter tb("runs/r20/tensorboard");
//   tb.add_scalars(100, {{"train/loss", 0.52}, {"lr", 0.4}});
//
// The file is TensorFlow's record format: each record is its length (u64, little-endian), the
// masked CRC32C of those 8 bytes, the serialized Event (optim/tensorboard_event.proto, compiled
// by Debian's protoc) and its masked CRC32C. Records are flushed as written, so TensorBoard shows a
// run while it trains and a crash loses nothing already logged. Built without protobuf
// (MINIDL_PORTABLE, or no libprotobuf-dev), the writer throws when made: tensorboard_available().
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace minidl {

bool tensorboard_available();

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), and TensorFlow's mask of it: the record
// format stores masked CRCs so that a CRC of data that itself holds CRCs stays well distributed.
uint32_t crc32c(const void* data, size_t size);
uint32_t masked_crc32c(const void* data, size_t size);

class EventFileWriter {
 public:
  // Creates `dir` if needed and a new file in it, events.out.tfevents.<unix seconds>.<host>.<pid>
  // (TensorBoard reads every file of a folder whose name holds "tfevents", in name order), and
  // writes the version record. purge_after >= 0 (a resumed run that continues after that
  // iteration): also a SessionLog START at step purge_after + 1, on which TensorBoard drops the
  // earlier files' events from that step on (logged after the checkpoint, as metrics.csv's rows are).
  explicit EventFileWriter(const std::string& dir, int64_t purge_after = -1);
  ~EventFileWriter();
  EventFileWriter(const EventFileWriter&) = delete;
  EventFileWriter& operator=(const EventFileWriter&) = delete;

  // One event at `step` holding every value (as float32, TensorBoard's simple_value). NaN values
  // are left out (not measured at this step, like an empty metrics.csv cell).
  void add_scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values);
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& bytes);
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace minidl
