#include "data/idx.h"

#include <cstring>
#include <filesystem>

#include "core/text.h"
#include "data/gzip.h"

namespace minidl {

namespace fs = std::filesystem;

static uint32_t read_be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

static void put_be32(std::vector<uint8_t>& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}

Tensor parse_idx(const uint8_t* data, size_t size, const std::string& name) {
  if (size < 4)
    MINIDL_FAIL(name, ": truncated IDX header: ", size, " bytes, the magic number needs 4");
  uint32_t magic = read_be32(data);
  if ((magic >> 16) != 0 || ((magic >> 8) & 0xff) == 0 || (magic & 0xff) == 0)
    MINIDL_FAIL(
        name, ": wrong magic number 0x", std::hex, magic, std::dec,
        " at byte offset 0 (an IDX file starts 0x000008DD: u8 elements, DD dimensions)",
        (data[0] == 0x1f && data[1] == 0x8b) ? "; this is gzip data: name the file .gz" : "");
  uint32_t type = (magic >> 8) & 0xff, dims = magic & 0xff;
  if (type != 0x08)
    MINIDL_FAIL(name, ": IDX element type 0x", std::hex, type, std::dec,
                " (byte offset 2) is not supported; minidl reads u8 (0x08) IDX files");
  if (dims > 4) MINIDL_FAIL(name, ": ", dims, " dimensions (byte offset 3); minidl reads 1 to 4");
  size_t header = 4 + 4 * static_cast<size_t>(dims);
  if (size < header)
    MINIDL_FAIL(name, ": truncated IDX header: ", size, " bytes, ", dims, " dimensions need ",
                header);
  Shape shape;
  for (uint32_t d = 0; d < dims; ++d) shape.push_back(read_be32(data + 4 + 4 * d));
  int64_t count = 0;
  if (!shape_nbytes(shape, 1, count))
    MINIDL_FAIL(name, ": the sizes ", shape_str(shape), " at byte offsets 4..", header - 1,
                " multiply to more than 2^63 bytes: a corrupt header");
  const size_t have = size - header;
  if (static_cast<uint64_t>(count) > have)
    MINIDL_FAIL(name, ": truncated: header says ", shape_str(shape), " = ", count,
                " bytes from byte offset ", header, ", but the data ends at byte offset ", size,
                " (element ", have, ")");
  if (static_cast<uint64_t>(count) < have)
    MINIDL_FAIL(name, ": ", have - static_cast<size_t>(count),
                " unexpected bytes after the data, from byte offset ",
                header + static_cast<size_t>(count), " (header says ", shape_str(shape), ")");
  Tensor t = Tensor::empty(shape, DType::u8);
  if (have > 0) std::memcpy(t.data_ptr(), data + header, have);
  return t;
}

Tensor read_idx_file(const std::string& path) {
  std::vector<uint8_t> bytes = read_file_maybe_gz(path);
  return parse_idx(bytes.data(), bytes.size(), path);
}

void write_idx_file(const std::string& path, const Tensor& t) {
  MINIDL_CHECK(t.dtype() == DType::u8 && t.dim() >= 1 && t.dim() <= 4, "write_idx_file: ", path,
               ": needs a u8 tensor of 1 to 4 dims, got ", t.str());
  Tensor c = t.to(Device::cpu()).contiguous();
  std::vector<uint8_t> out;
  put_be32(out, 0x00000800u | static_cast<uint32_t>(c.dim()));
  for (int d = 0; d < c.dim(); ++d) put_be32(out, static_cast<uint32_t>(c.size(d)));
  const uint8_t* p = c.data<uint8_t>();
  out.insert(out.end(), p, p + c.numel());
  write_file_atomic(path, ends_with(path, ".gz") ? gzip(out.data(), out.size()) : out);
}

std::shared_ptr<TensorDataset> load_idx_dataset(const std::string& images_path,
                                                const std::string& labels_path, int64_t num_classes,
                                                const std::string& name) {
  Tensor images = read_idx_file(images_path);
  Tensor labels = read_idx_file(labels_path);
  MINIDL_CHECK(images.dim() == 3, images_path, ": an image file has 3 dimensions [N, H, W], got ",
               shape_str(images.shape()));
  MINIDL_CHECK(labels.dim() == 1, labels_path, ": a label file has 1 dimension [N], got ",
               shape_str(labels.shape()));
  MINIDL_CHECK(images.size(0) == labels.size(0), name, ": ", images_path, " holds ", images.size(0),
               " images but ", labels_path, " holds ", labels.size(0), " labels");
  const uint8_t* l = labels.data<uint8_t>();
  Tensor labels64 = Tensor::empty({labels.size(0)}, DType::i64);
  int64_t* out = labels64.data<int64_t>();
  for (int64_t i = 0; i < labels.size(0); ++i) {
    if (l[i] >= num_classes)
      MINIDL_FAIL(labels_path, ": label ", int(l[i]), " of record ", i, " (byte offset ", 8 + i,
                  ") is out of range [0, ", num_classes, ")");
    out[i] = l[i];
  }
  Tensor nchw = images.view({images.size(0), 1, images.size(1), images.size(2)});
  return std::make_shared<TensorDataset>(nchw, labels64, num_classes, name);
}

// The raw file if present, else the .gz; throws naming both when neither exists.
static std::string find_idx(const std::string& dir, const std::string& stem) {
  fs::path raw = fs::path(dir) / stem;
  fs::path gz = fs::path(dir) / (stem + ".gz");
  if (fs::is_regular_file(raw)) return raw.string();
  if (fs::is_regular_file(gz)) return gz.string();
  MINIDL_FAIL(dir, ": neither ", stem, " nor ", stem, ".gz found");
}

std::shared_ptr<TensorDataset> load_mnist_folder(const std::string& dir, Split split,
                                                 const std::string& name) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    MINIDL_FAIL(dir, ": ", name, " folder not found (expected ",
                "train-images-idx3-ubyte[.gz] and friends there)");
  std::string prefix = split == Split::train ? "train" : "t10k";
  std::string images = find_idx(dir, prefix + "-images-idx3-ubyte");
  std::string labels = find_idx(dir, prefix + "-labels-idx1-ubyte");
  return load_idx_dataset(images, labels, 10, name + (split == Split::train ? "/train" : "/test"));
}

std::shared_ptr<TensorDataset> load_fashion_mnist(Split split, const std::string& dir) {
  return load_mnist_folder(dir, split, "fashion-mnist");
}

}  // namespace minidl
