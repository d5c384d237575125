// The loader's device side: the host -> device copy stage (pinned buffers, a copy stream, events)
// and the resident path (the whole dataset on the device, augmented there).
#include <cstring>

#include "core/context.h"
#include "data/loader_impl.h"
#include "data/synthetic.h"
#include "kernels/augment.h"

namespace minidl {

// ---- DeviceStage ----

DeviceStage::DeviceStage(Device device)
    : device_(device), copy_stream_(std::make_unique<OwnedStream>(device)) {}

DeviceStage::~DeviceStage() {
  try {
    clear();
  } catch (const std::exception& e) {
    log_warning(std::string("Loader: finishing device copies: ") + e.what());
  }
}

void DeviceStage::issue(int64_t g, HostBatch host) {
  activate_device(device_);
  Stream consumer = current_stream(device_);
  Stream copy = copy_stream_->get();
  // The device tensors come from the caching allocator in the consumer's stream order: their
  // blocks may have been freed by work still queued there, so the copy waits for that work.
  Pending p;
  p.device.images =
      Tensor::empty(host.images.shape(), DType::f32, device_, host.images.memory_format());
  p.device.labels = Tensor::empty(host.labels.shape(), DType::i64, device_);
  p.device.indices = host.indices;
  Event consumer_mark(device_);
  consumer_mark.record(consumer);
  consumer_mark.wait(copy);
  {
    StreamGuard on_copy(copy);  // copy_bytes runs on the current stream of the CUDA side
    copy_bytes(p.device.images.data_ptr(), device_, host.images.data_ptr(), Device::cpu(),
               host.images.nbytes());
    copy_bytes(p.device.labels.data_ptr(), device_, host.labels.data_ptr(), Device::cpu(),
               host.labels.nbytes());
  }
  // The copy reads the pinned sources asynchronously: whenever they are dropped, the pinned
  // allocator hands their blocks out again only after the copy stream has passed this point.
  host.images.record_stream(copy);
  host.labels.record_stream(copy);
  p.done = std::make_unique<Event>(device_);
  p.done->record(copy);
  pending_[g] = std::move(p);
}

HostBatch DeviceStage::hand_out(int64_t g) {
  auto it = pending_.find(g);
  MINIDL_CHECK(it != pending_.end(), "Loader: batch ", g, " was never copied to ", device_.str());
  Pending p = std::move(it->second);
  pending_.erase(it);
  p.done->wait(current_stream(device_));
  return p.device;
}

void DeviceStage::clear() {
  // The device tensors are freed in the consumer stream's order: make that order wait for the
  // copies into them first.
  for (auto& [g, p] : pending_) p.done->wait(current_stream(device_));
  pending_.clear();
}

// ---- resident ----

void Loader::Impl::setup_resident() {
  Shape in = dataset->image_shape();
  MINIDL_CHECK(in[1] > 0 && in[2] > 0, "Loader(", dataset->name(),
               "): resident needs one image size, got ", shape_str(in));
  transform.params(in, opt.seed, 0);  // throws unless a crop/flip/normalise transform fits
  Tensor images = dataset->all_images();
  if (!images.defined()) images = materialize(*dataset)->images();
  Tensor labels = Tensor::empty({dataset->size()}, DType::i64);
  for (int64_t i = 0; i < dataset->size(); ++i) labels.data<int64_t>()[i] = dataset->label(i);
  resident_images = images.contiguous().to(opt.device);
  resident_labels = labels.to(opt.device);
}

Batch Loader::Impl::next_resident(int64_t g) {
  std::vector<int64_t> idx = batch_indices(g);
  const int64_t n = static_cast<int64_t>(idx.size());
  CropFlipNormalize p = transform.params(dataset->image_shape(), opt.seed, g / batches_per_epoch);
  Batch b;
  // Pinned on a GPU, so that the upload is asynchronous: from pageable memory the copy is staged
  // by the host, which waits for the device (the pinned allocator keeps the block until the copy
  // has read it).
  b.indices = Tensor::empty({n}, DType::i64, Device::cpu(), opt.device.is_cuda());
  if (n > 0) std::memcpy(b.indices.data<int64_t>(), idx.data(), idx.size() * sizeof(int64_t));
  Tensor dev_indices = b.indices.to(opt.device);
  b.images =
      Tensor::empty({n, sample_shape[0], sample_shape[1], sample_shape[2]}, DType::f32, opt.device);
  b.labels = Tensor::empty({n}, DType::i64, opt.device);
  augment_batch(resident_images, resident_labels, dev_indices, b.images, b.labels, p);
  // The augmentation kernel writes NCHW; one conversion on the device (4 bytes read and written
  // per value, far less than the first convolution's traffic).
  if (opt.memory_format == MemoryFormat::channels_last)
    b.images = b.images.contiguous(MemoryFormat::channels_last);
  return b;
}

}  // namespace minidl
