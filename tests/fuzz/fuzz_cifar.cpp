// CIFAR-10 and CIFAR-100 binary batches (data/cifar.h): record count, labels. The same bytes are
// read as both kinds.
#include "data/cifar.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using minidl::CifarKind;
  minidl::fuzz::expect_ok_or_error(
      [&] { minidl::parse_cifar(data, size, CifarKind::cifar10, "fuzz-cifar10.bin"); });
  return minidl::fuzz::expect_ok_or_error(
      [&] { minidl::parse_cifar(data, size, CifarKind::cifar100, "fuzz-cifar100.bin"); });
}
