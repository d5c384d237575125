// TensorBoard event files (optim/event_file.h): the CRC-32C against its published check value, and
// a written file parsed back record by record (framing, CRCs). Reading them with TensorBoard's own
// reader is tests/reference/test_tensorboard_reference.cpp.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "optim/event_file.h"

namespace minidl {
namespace {

TEST(EventFile, Crc32cCheckValue) {
  // The CRC catalogue's check value of CRC-32C (iSCSI, RFC 3720): crc("123456789") = 0xE3069283.
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  // RFC 3720 B.4: 32 bytes of zeros give 0x8A9136AA.
  std::vector<unsigned char> zeros(32, 0);
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
}

uint64_t le(const std::string& s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

TEST(EventFile, RecordsAreFramedWithMaskedCrcs) {
  if (!tensorboard_available()) {
    EXPECT_THROW(EventFileWriter("/tmp/x"), std::exception);
    GTEST_SKIP() << "built without protobuf: the writer refuses, as checked";
  }
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("minidl_events_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::string path;
  {
    EventFileWriter w(dir.string(), /*purge_after=*/7);
    w.add_scalars(8, {{"train/loss", 0.5}, {"test/acc", NAN}});
    w.add_scalars(9, {{"test/acc", NAN}});  // nothing measured: no record
    path = w.path();
  }
  EXPECT_NE(path.find("/events.out.tfevents."), std::string::npos);
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> records;
  for (size_t at = 0; at < bytes.size();) {
    ASSERT_LE(at + 12, bytes.size());
    uint64_t n = le(bytes, at, 8);
    EXPECT_EQ(le(bytes, at + 8, 4), masked_crc32c(bytes.data() + at, 8));
    ASSERT_LE(at + 12 + n + 4, bytes.size());
    std::string data = bytes.substr(at + 12, n);
    EXPECT_EQ(le(bytes, at + 12 + n, 4), masked_crc32c(data.data(), data.size()));
    records.push_back(data);
    at += 12 + n + 4;
  }
  // The version record, the SessionLog START of a resumed run, one summary.
  ASSERT_EQ(records.size(), 3u);
  EXPECT_NE(records[0].find("brain.Event:2"), std::string::npos);
  EXPECT_NE(records[2].find("train/loss"), std::string::npos);
  EXPECT_EQ(records[2].find("test/acc"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace minidl
