#include "data/loader.h"

#include <algorithm>
#include <system_error>

#include "core/context.h"
#include "data/loader_impl.h"

namespace minidl {

// ---- construction ----

static SamplerOptions sampler_options(const LoaderOptions& o) {
  SamplerOptions s;
  s.shuffle = o.shuffle, s.seed = o.seed, s.rank = o.rank, s.world_size = o.world_size;
  s.shard_mode = o.shard_mode;
  return s;
}

Loader::Impl::Impl(std::shared_ptr<const Dataset> d, Transform t, LoaderOptions o)
    : dataset(std::move(d)),
      transform(std::move(t)),
      opt(o),
      sampler(dataset ? dataset->size() : 0, sampler_options(o)) {
  MINIDL_CHECK(opt.batch_size >= 1 && opt.workers >= 0 && opt.prefetch >= 1, "Loader(",
               dataset->name(), "): batch_size ", opt.batch_size, ", workers ", opt.workers,
               ", prefetch ", opt.prefetch);
  check_device_available(opt.device);
  sample_shape = transform.output_shape(dataset->image_shape());
  int64_t per_rank = sampler.samples_per_rank();
  batches_per_epoch = per_rank / opt.batch_size;  // (a + b - 1) / b could overflow for a huge b
  if (!opt.drop_last && per_rank % opt.batch_size != 0) ++batches_per_epoch;
  MINIDL_CHECK(batches_per_epoch > 0, "Loader(", dataset->name(), "): ", per_rank,
               " samples per rank make no batch of ", opt.batch_size, " with drop_last");
  samples_per_epoch = opt.drop_last ? batches_per_epoch * opt.batch_size : per_rank;
}

Loader::Loader(std::shared_ptr<const Dataset> dataset, Transform transform, LoaderOptions options) {
  MINIDL_CHECK(dataset != nullptr, "Loader: no dataset");
  impl_ = std::make_unique<Impl>(std::move(dataset), std::move(transform), options);
  if (options.resident) {
    impl_->setup_resident();
    return;
  }
  if (options.device.is_cuda()) impl_->stage = std::make_unique<DeviceStage>(options.device);
  impl_->start_workers();
}

Loader::~Loader() {
  if (impl_) impl_->stop_workers();
}

// ---- order ----

std::shared_ptr<const std::vector<int64_t>> Loader::Impl::epoch_order(int64_t epoch) {
  std::lock_guard<std::mutex> lock(epoch_mutex);
  auto it = epoch_orders.find(epoch);
  if (it != epoch_orders.end()) return it->second;
  auto order = std::make_shared<const std::vector<int64_t>>(sampler.epoch_indices(epoch));
  epoch_orders[epoch] = order;
  while (epoch_orders.size() > 3) epoch_orders.erase(epoch_orders.begin());  // oldest epochs
  return order;
}

std::vector<int64_t> Loader::Impl::batch_indices(int64_t g) {
  int64_t epoch = g / batches_per_epoch, b = g % batches_per_epoch;
  std::shared_ptr<const std::vector<int64_t>> order = epoch_order(epoch);
  int64_t begin = b * opt.batch_size;
  int64_t end = std::min(begin + opt.batch_size, samples_per_epoch);
  return std::vector<int64_t>(order->begin() + begin, order->begin() + end);
}

// Reads and transforms every sample of batch g into one batch tensor. Runs on a worker thread:
// plain loops only (no parallel_for, whose pool serves one job at a time).
HostBatch Loader::Impl::build(int64_t g) {
  std::vector<int64_t> idx = batch_indices(g);
  const int64_t n = static_cast<int64_t>(idx.size()), per = shape_numel(sample_shape);
  const int64_t epoch = g / batches_per_epoch;
  const bool pinned = opt.device.is_cuda();
  HostBatch hb;
  hb.images = Tensor::empty({n, sample_shape[0], sample_shape[1], sample_shape[2]}, DType::f32,
                            Device::cpu(), opt.memory_format, pinned);
  hb.labels = Tensor::empty({n}, DType::i64, Device::cpu(), pinned);
  hb.indices = Tensor::from_vector(idx, {n});
  float* out = hb.images.data<float>();
  int64_t* labels = hb.labels.data<int64_t>();
  // Channels-last: each sample is transformed into `chw`, then written HWC in its place (sample k
  // still owns elements [k * per, (k + 1) * per) of an NHWC batch).
  const bool nhwc = opt.memory_format == MemoryFormat::channels_last;
  const int64_t C = sample_shape[0], HW = sample_shape[1] * sample_shape[2];
  std::vector<float> chw(nhwc ? static_cast<size_t>(per) : 0);
  for (int64_t k = 0; k < n; ++k) {
    Sample s = dataset->get(idx[k]);
    Shape want = transform.output_shape(s.image.shape());
    MINIDL_CHECK(want == sample_shape, dataset->name(), ": sample ", idx[k], " of shape ",
                 shape_str(s.image.shape()), " transforms to ", shape_str(want),
                 ", the batch holds ", shape_str(sample_shape));
    MINIDL_CHECK(s.label >= 0 && s.label < dataset->num_classes(), dataset->name(), ": label ",
                 s.label, " of sample ", idx[k], " is out of range [0, ", dataset->num_classes(),
                 ")");
    float* dst = out + k * per;
    if (!nhwc) {
      transform.apply(s.image, opt.seed, epoch, idx[k], dst);
    } else {
      transform.apply(s.image, opt.seed, epoch, idx[k], chw.data());
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < HW; ++i) dst[i * C + c] = chw[c * HW + i];
    }
    labels[k] = s.label;
  }
  return hb;
}

// ---- worker threads ----

// A thread that cannot start (the system's thread or memory limit) is an error naming the count;
// the ones already started are stopped and joined first, so nothing is left running.
void Loader::Impl::start_workers() {
  try {
    for (int w = 0; w < opt.workers; ++w) workers.emplace_back([this] { worker_loop(); });
  } catch (const std::system_error& e) {
    const size_t started = workers.size();
    stop_workers();
    MINIDL_FAIL("Loader(", dataset->name(), "): cannot start loader worker ", started + 1, " of ",
                opt.workers, " (", e.what(), "); use fewer --workers");
  }
}

void Loader::Impl::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stop = true;
  }
  work_cv.notify_all();
  for (std::thread& t : workers) t.join();
  workers.clear();
}

void Loader::Impl::worker_loop() {
  // Pinned allocations made here belong with the loader's device (a no-op on the CPU).
  // A failure here would resurface when the batch allocates; a thread must not throw.
  try {
    if (opt.device.is_cuda()) activate_device(opt.device);
  } catch (const std::exception&) {
  }
  for (;;) {
    int64_t g;
    uint64_t gen;
    {
      std::unique_lock<std::mutex> lock(mutex);
      work_cv.wait(lock, [&] { return stop || next_produce < host_taken + opt.prefetch; });
      if (stop) return;
      g = next_produce++;
      gen = generation;
    }
    HostBatch hb;
    try {
      hb = build(g);
    } catch (...) {
      hb = HostBatch{};
      hb.error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (gen != generation) continue;  // set_position moved on while this batch was built
      ready[g] = std::move(hb);
    }
    ready_cv.notify_all();
  }
}

// Batch g from the queue: waits for it, or with wait = false returns an empty batch when it is not
// ready (or failed). A failed batch stays queued, so asking again rethrows again.
HostBatch Loader::Impl::take_host(int64_t g, bool wait) {
  if (workers.empty()) {
    if (!wait) return HostBatch{};
    HostBatch hb = build(g);
    std::lock_guard<std::mutex> lock(mutex);
    host_taken = g + 1;
    return hb;
  }
  HostBatch hb;
  {
    std::unique_lock<std::mutex> lock(mutex);
    if (!wait && (!ready.count(g) || ready[g].error)) return HostBatch{};
    ready_cv.wait(lock, [&] { return ready.count(g) > 0; });
    auto it = ready.find(g);
    if (it->second.error) std::rethrow_exception(it->second.error);
    hb = std::move(it->second);
    ready.erase(it);
    host_taken = g + 1;
  }
  work_cv.notify_all();
  return hb;
}

// ---- the public face ----

Batch Loader::next() {
  Impl& m = *impl_;
  const int64_t g = m.position;
  Batch b;
  if (m.opt.resident) {
    b = m.next_resident(g);
  } else {
    HostBatch hb;
    if (m.stage) {
      if (!m.stage->issued(g)) m.stage->issue(g, m.take_host(g, true));
      hb = m.stage->hand_out(g);
      HostBatch ahead = m.take_host(g + 1, false);  // overlap the next copy with this step
      if (ahead.images.defined()) m.stage->issue(g + 1, std::move(ahead));
    } else {
      hb = m.take_host(g, true);
    }
    b.images = hb.images, b.labels = hb.labels, b.indices = hb.indices;
  }
  b.epoch = g / m.batches_per_epoch;
  b.index = g % m.batches_per_epoch;
  m.position = g + 1;
  return b;
}

LoaderPosition Loader::position() const {
  return {impl_->position / impl_->batches_per_epoch, impl_->position % impl_->batches_per_epoch};
}

void Loader::set_position(LoaderPosition p) {
  Impl& m = *impl_;
  MINIDL_CHECK(p.epoch >= 0 && p.batch >= 0 && p.batch < m.batches_per_epoch, "Loader(",
               m.dataset->name(), "): position (epoch ", p.epoch, ", batch ", p.batch,
               ") outside an epoch of ", m.batches_per_epoch, " batches");
  const int64_t g = p.epoch * m.batches_per_epoch + p.batch;
  if (m.stage) m.stage->clear();
  {
    std::lock_guard<std::mutex> lock(m.mutex);
    ++m.generation;
    m.ready.clear();
    m.position = m.next_produce = m.host_taken = g;
  }
  m.work_cv.notify_all();
}

int64_t Loader::batches_per_epoch() const {
  return impl_->batches_per_epoch;
}
int64_t Loader::samples_per_epoch() const {
  return impl_->samples_per_epoch;
}
Shape Loader::sample_shape() const {
  return impl_->sample_shape;
}
const Dataset& Loader::dataset() const {
  return *impl_->dataset;
}
const LoaderOptions& Loader::options() const {
  return impl_->opt;
}

}  // namespace minidl
