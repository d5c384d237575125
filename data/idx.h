// IDX files (MNIST, Fashion-MNIST, EMNIST, KMNIST): big-endian magic 0x0000 TT DD (TT = element
// type, 0x08 = u8; DD = number of dimensions), DD big-endian u32 sizes, then the elements in
// row-major order. minidl reads u8 IDX files: images (3 dims, magic 0x00000803) and labels
// (1 dim, 0x00000801). Files may be raw or gzip-compressed (".gz").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "data/dataset.h"

namespace minidl {

// Parses a u8 IDX file held in [data, data + size) into a CPU u8 tensor of the stored dimensions.
// Errors name `name` and the byte offset: wrong magic, unsupported element type, truncated header
// or data, trailing bytes. Never reads past the buffer.
Tensor parse_idx(const uint8_t* data, size_t size, const std::string& name);

// Reads `path` (gunzipping ".gz") and parses it.
Tensor read_idx_file(const std::string& path);

// Serialises a CPU u8 tensor (1 to 4 dims) as an IDX file; gzip-compressed when the name ends in
// ".gz".
void write_idx_file(const std::string& path, const Tensor& t);

// An image file (3 dims [N, H, W]) and a label file (1 dim [N]) as a dataset of [1, H, W] images.
// Labels must lie in [0, num_classes); the error names the label file, the record and its offset.
std::shared_ptr<TensorDataset> load_idx_dataset(const std::string& images_path,
                                                const std::string& labels_path, int64_t num_classes,
                                                const std::string& name);

// Debian's dataset-fashion-mnist package installs the four files here.
constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

enum class Split { train, test };

// MNIST-layout folder: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
// t10k-labels-idx1-ubyte, each raw or with ".gz" (the raw file wins when both exist). `name` is
// the dataset's name prefix ("mnist", "fashion-mnist"); the dataset is named "<name>/<split>".
std::shared_ptr<TensorDataset> load_mnist_folder(const std::string& dir, Split split,
                                                 const std::string& name = "mnist");

// Fashion-MNIST from `dir` (default: the Debian package's folder).
std::shared_ptr<TensorDataset> load_fashion_mnist(Split split,
                                                  const std::string& dir = kFashionMnistDir);

}  // namespace minidl
