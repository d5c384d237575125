#include "data/cifar.h"

#include <cstring>
#include <filesystem>
#include <vector>

#include "core/file_io.h"

namespace minidl {

namespace fs = std::filesystem;

CifarRecords parse_cifar(const uint8_t* data, size_t size, CifarKind kind,
                         const std::string& name) {
  const int64_t rec = cifar_record_bytes(kind), label_bytes = rec - kCifarPixels;
  const int64_t n = static_cast<int64_t>(size) / rec;
  if (static_cast<int64_t>(size) % rec != 0)
    MINIDL_FAIL(name, ": truncated: ", size, " bytes is not a whole number of ", rec,
                "-byte records; record ", n, " at byte offset ", n * rec, " has only ",
                static_cast<int64_t>(size) - n * rec, " bytes");
  CifarRecords r;
  r.images = Tensor::empty({n, 3, 32, 32}, DType::u8);
  r.labels = Tensor::empty({n}, DType::i64);
  if (kind == CifarKind::cifar100) r.coarse_labels = Tensor::empty({n}, DType::i64);
  uint8_t* img = r.images.data<uint8_t>();
  int64_t* fine = r.labels.data<int64_t>();
  int64_t* coarse = kind == CifarKind::cifar100 ? r.coarse_labels.data<int64_t>() : nullptr;
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* p = data + i * rec;
    auto check_label = [&](int value, int limit, const char* what, int64_t at) {
      if (value >= limit)
        MINIDL_FAIL(name, ": ", what, " ", value, " of record ", i, " (byte offset ", at,
                    ") is out of range [0, ", limit, ")");
    };
    if (kind == CifarKind::cifar10) {
      check_label(p[0], 10, "label", i * rec);
      fine[i] = p[0];
    } else {
      check_label(p[0], 20, "coarse label", i * rec);
      check_label(p[1], 100, "fine label", i * rec + 1);
      coarse[i] = p[0];
      fine[i] = p[1];
    }
    std::memcpy(img + i * kCifarPixels, p + label_bytes, kCifarPixels);
  }
  return r;
}

void write_cifar_file(const std::string& path, CifarKind kind, const Tensor& images,
                      const Tensor& labels, const Tensor& coarse_labels) {
  int64_t n = images.size(0);
  MINIDL_CHECK(images.dtype() == DType::u8 && images.shape() == Shape({n, 3, 32, 32}),
               "write_cifar_file: ", path, ": images must be u8 [N, 3, 32, 32], got ",
               images.str());
  MINIDL_CHECK(labels.numel() == n && (kind == CifarKind::cifar10 || coarse_labels.numel() == n),
               "write_cifar_file: ", path, ": label counts do not match ", n, " images");
  Tensor img = images.to(Device::cpu()).contiguous();
  std::vector<int64_t> fine = labels.to_vector<int64_t>(), coarse;
  if (kind == CifarKind::cifar100) coarse = coarse_labels.to_vector<int64_t>();
  std::vector<uint8_t> out;
  out.reserve(static_cast<size_t>(n * cifar_record_bytes(kind)));
  const uint8_t* p = img.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (kind == CifarKind::cifar100) out.push_back(static_cast<uint8_t>(coarse[i]));
    out.push_back(static_cast<uint8_t>(fine[i]));
    out.insert(out.end(), p + i * kCifarPixels, p + (i + 1) * kCifarPixels);
  }
  write_file_atomic(path, out);
}

// The folder that holds the files: `dir` itself or its standard extracted sub-folder.
static std::string cifar_folder(const std::string& dir, const char* sub, const char* probe,
                                const char* what) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) MINIDL_FAIL(dir, ": ", what, " folder not found");
  if (fs::exists(fs::path(dir) / probe)) return dir;
  fs::path nested = fs::path(dir) / sub;
  if (fs::exists(nested / probe)) return nested.string();
  MINIDL_FAIL(dir, ": no ", probe, " here or in ", nested.string(), " (", what, " binary version)");
}

// Reads files and concatenates their records, checking each file's record count.
static CifarRecords read_cifar_files(const std::vector<std::string>& paths, CifarKind kind,
                                     int64_t expected_records) {
  int64_t expected_bytes = 0;
  MINIDL_CHECK(expected_records >= 0 &&
                   checked_mul(expected_records, cifar_record_bytes(kind), expected_bytes),
               paths.at(0), ": ", expected_records,
               " records per file is not a count of CIFAR records (0 accepts any)");
  std::vector<CifarRecords> parts;
  int64_t total = 0;
  for (const std::string& path : paths) {
    std::vector<uint8_t> bytes = read_file(path);
    CifarRecords r = parse_cifar(bytes.data(), bytes.size(), kind, path);
    if (expected_records > 0 && r.images.size(0) != expected_records)
      MINIDL_FAIL(path, ": ", r.images.size(0), " records (", bytes.size(), " bytes), expected ",
                  expected_records, " (", expected_bytes, " bytes)");
    total += r.images.size(0);
    parts.push_back(std::move(r));
  }
  if (parts.size() == 1) return parts[0];
  CifarRecords all;
  all.images = Tensor::empty({total, 3, 32, 32}, DType::u8);
  all.labels = Tensor::empty({total}, DType::i64);
  int64_t at = 0;
  for (const CifarRecords& r : parts) {
    int64_t n = r.images.size(0);
    std::memcpy(all.images.data<uint8_t>() + at * kCifarPixels, r.images.data_ptr(),
                static_cast<size_t>(n * kCifarPixels));
    std::memcpy(all.labels.data<int64_t>() + at, r.labels.data_ptr(), n * sizeof(int64_t));
    at += n;
  }
  return all;
}

std::shared_ptr<TensorDataset> load_cifar10(const std::string& dir, Split split,
                                            const CifarOptions& options) {
  std::string folder =
      cifar_folder(dir, "cifar-10-batches-bin",
                   split == Split::train ? "data_batch_1.bin" : "test_batch.bin", "CIFAR-10");
  std::vector<std::string> paths;
  if (split == Split::train) {
    for (int b = 1; b <= 5; ++b)
      paths.push_back((fs::path(folder) / ("data_batch_" + std::to_string(b) + ".bin")).string());
  } else {
    paths.push_back((fs::path(folder) / "test_batch.bin").string());
  }
  CifarRecords r = read_cifar_files(paths, CifarKind::cifar10, options.records_per_batch);
  return std::make_shared<TensorDataset>(r.images, r.labels, 10,
                                         split == Split::train ? "cifar10/train" : "cifar10/test");
}

std::shared_ptr<TensorDataset> load_cifar100(const std::string& dir, Split split,
                                             const CifarOptions& options) {
  const char* file = split == Split::train ? "train.bin" : "test.bin";
  std::string folder = cifar_folder(dir, "cifar-100-binary", file, "CIFAR-100");
  int64_t expected = 0;
  MINIDL_CHECK(checked_mul(options.records_per_batch, split == Split::train ? 5 : 1, expected),
               "load_cifar100: records_per_batch ", options.records_per_batch, " is too large");
  CifarRecords r =
      read_cifar_files({(fs::path(folder) / file).string()}, CifarKind::cifar100, expected);
  bool fine = options.labels == Cifar100Labels::fine;
  std::string name = std::string("cifar100") + (fine ? "" : "-coarse") +
                     (split == Split::train ? "/train" : "/test");
  return std::make_shared<TensorDataset>(r.images, fine ? r.labels : r.coarse_labels,
                                         fine ? 100 : 20, name);
}

}  // namespace minidl
