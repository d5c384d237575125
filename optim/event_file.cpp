#include "optim/event_file.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/error.h"

#if MINIDL_WITH_TENSORBOARD
#include "optim/tensorboard_event.pb.h"  // protoc output, in the build folder
#endif

namespace minidl {

bool tensorboard_available() { return MINIDL_WITH_TENSORBOARD; }

// Byte-at-a-time table CRC (Sarwate): event files are small, a few records per logged iteration,
// so the slicing-by-8 or SSE4.2 forms would gain nothing measurable.
uint32_t crc32c(const void* data, size_t size) {
  static const auto table = [] {
    std::vector<uint32_t> t(256);
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(const void* data, size_t size) {
  uint32_t c = crc32c(data, size);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void EventFileWriter::write_record(const std::string& bytes) {
  std::string rec;
  put_le(rec, bytes.size(), 8);
  put_le(rec, masked_crc32c(rec.data(), 8), 4);
  rec += bytes;
  put_le(rec, masked_crc32c(bytes.data(), bytes.size()), 4);
  MINIDL_CHECK(std::fwrite(rec.data(), 1, rec.size(), file_) == rec.size() && std::fflush(file_) == 0,
               "cannot write '", path_, "': ", std::strerror(errno));
}

#if MINIDL_WITH_TENSORBOARD

static double unix_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

EventFileWriter::EventFileWriter(const std::string& dir, int64_t purge_after) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  MINIDL_CHECK(!ec, "cannot create '", dir, "': ", ec.message());
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  double now = unix_seconds();
  // TensorBoard reads a folder's files in name order, and a resumed run's file must come after the
  // one it continues (its purge event applies to what was read before it): the seconds in the name
  // are made larger than any already there, even when a resume starts within the same second.
  int64_t seconds = static_cast<int64_t>(now);
  const std::string stem = "events.out.tfevents.";
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind(stem, 0) != 0) continue;
    int64_t earlier = std::strtoll(name.c_str() + stem.size(), nullptr, 10);
    seconds = std::max(seconds, earlier + 1);
  }
  path_ = dir + "/" + stem + std::to_string(seconds) + "." + host + "." + std::to_string(getpid());
  file_ = std::fopen(path_.c_str(), "wb");
  MINIDL_CHECK(file_ != nullptr, "cannot create '", path_, "': ", std::strerror(errno));
  tensorboard::Event version;
  version.set_wall_time(now);
  version.set_file_version("brain.Event:2");
  write_record(version.SerializeAsString());
  if (purge_after >= 0) {
    tensorboard::Event start;
    start.set_wall_time(now);
    start.set_step(purge_after + 1);
    start.mutable_session_log()->set_status(tensorboard::SessionLog::START);
    write_record(start.SerializeAsString());
  }
}

void EventFileWriter::add_scalars(int64_t step,
                                  const std::vector<std::pair<std::string, double>>& values) {
  tensorboard::Event e;
  e.set_wall_time(unix_seconds());
  e.set_step(step);
  tensorboard::Summary* summary = e.mutable_summary();
  for (const auto& [tag, v] : values) {
    if (std::isnan(v)) continue;
    tensorboard::SummaryValue* sv = summary->add_value();
    sv->set_tag(tag);
    sv->set_simple_value(static_cast<float>(v));
  }
  if (summary->value_size() > 0) write_record(e.SerializeAsString());
}

#else

EventFileWriter::EventFileWriter(const std::string& dir, int64_t) {
  MINIDL_FAIL("cannot write TensorBoard events to '", dir,
              "': this minidl was built without protobuf (Debian's libprotobuf-dev and "
              "protobuf-compiler; tools/setup.sh installs them)");
}

void EventFileWriter::add_scalars(int64_t, const std::vector<std::pair<std::string, double>>&) {}

#endif

EventFileWriter::~EventFileWriter() {
  if (file_) std::fclose(file_);
}

}  // namespace minidl
