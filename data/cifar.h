// CIFAR-10 and CIFAR-100, binary versions (https://www.cs.toronto.edu/~kriz/cifar.html).
//   CIFAR-10:  records of 1 label byte + 3072 pixel bytes (1024 R, 1024 G, 1024 B, each 32x32
//              row-major); data_batch_1.bin .. data_batch_5.bin (10000 records each),
//              test_batch.bin.
//   CIFAR-100: records of 1 coarse label byte (0..19) + 1 fine label byte (0..99) + 3072 pixel
//              bytes; train.bin (50000 records), test.bin (10000).
// The pixel layout is already [3, 32, 32], so records copy straight into an [N, 3, 32, 32] tensor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "data/dataset.h"
#include "data/idx.h"

namespace minidl {

enum class CifarKind { cifar10, cifar100 };
enum class Cifar100Labels { fine, coarse };

constexpr int64_t kCifarPixels = 3 * 32 * 32;

inline int64_t cifar_record_bytes(CifarKind kind) {
  return (kind == CifarKind::cifar10 ? 1 : 2) + kCifarPixels;
}

struct CifarRecords {
  Tensor images;         // u8 [N, 3, 32, 32]
  Tensor labels;         // i64 [N]: CIFAR-10 labels, or CIFAR-100 fine labels
  Tensor coarse_labels;  // i64 [N]: CIFAR-100 only
};

// Parses whole records from [data, data + size). Errors name `name`: a size that is not a whole
// number of records (the incomplete record's index and byte offset), a label out of range (its
// record index and byte offset). Never reads past the buffer.
CifarRecords parse_cifar(const uint8_t* data, size_t size, CifarKind kind, const std::string& name);

// Serialises records (labels i64 [N]; coarse_labels only for CIFAR-100) in the binary format.
void write_cifar_file(const std::string& path, CifarKind kind, const Tensor& images,
                      const Tensor& labels, const Tensor& coarse_labels = Tensor());

struct CifarOptions {
  // Records each file must hold: 10000 per CIFAR-10 batch file; for CIFAR-100 train.bin holds
  // 5 x this and test.bin this. 0 accepts any whole number of records (small test sets).
  int64_t records_per_batch = 10000;
  Cifar100Labels labels = Cifar100Labels::fine;
};

// `dir` is the extracted folder (cifar-10-batches-bin / cifar-100-binary) or its parent.
std::shared_ptr<TensorDataset> load_cifar10(const std::string& dir, Split split,
                                            const CifarOptions& options = {});
std::shared_ptr<TensorDataset> load_cifar100(const std::string& dir, Split split,
                                             const CifarOptions& options = {});

}  // namespace minidl
