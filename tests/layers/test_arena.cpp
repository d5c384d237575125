// The parameter arena (layers/arena.h): views of one storage per group at aligned ascending
// offsets, zero_grad, to() and load_state_dict keeping the views, gradient buckets in backward
// order, repacking and retirement, and pack's errors.
#include <gtest/gtest.h>

#include <cstring>

#include "core/fill.h"
#include "layers/layers.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::all_close;
using testing::random_tensor;

// Conv with bias, BN, Linear: parameters of 432, 16, 16, 16, 640 and 40 elements.
std::shared_ptr<Sequential> small_net() {
  return sequential({std::make_shared<Conv2d>(3, 16, 3, 1, 1, true),
                     std::make_shared<BatchNorm2d>(16), std::make_shared<ReLU>(),
                     std::make_shared<GlobalAvgPool2d>(), std::make_shared<Flatten>(),
                     std::make_shared<Linear>(16, 40)});
}

std::vector<uint8_t> bytes_of(const Tensor& t) {
  Tensor c = t.to(Device::cpu()).contiguous();
  std::vector<uint8_t> out(c.nbytes());
  if (!out.empty()) std::memcpy(out.data(), c.data_ptr(), out.size());
  return out;
}

// Every parameter's value and grad are its arena's views, at aligned ascending offsets.
void expect_views(const ParameterArena& arena) {
  int64_t end = 0;
  for (size_t i = 0; i < arena.parameters().size(); ++i) {
    const Parameter& p = *arena.parameters()[i];
    const ArenaSlot& s = arena.slots()[i];
    const ArenaGroup& g = arena.groups()[s.group];
    EXPECT_EQ(p.value.storage(), g.values.storage()) << p.name;
    EXPECT_EQ(p.grad.storage(), g.grads.storage()) << p.name;
    EXPECT_EQ(p.value.offset(), g.values.offset() + s.offset) << p.name;
    EXPECT_EQ(p.grad.offset(), g.grads.offset() + s.offset) << p.name;
    EXPECT_EQ(s.offset % kArenaAlign, 0) << p.name;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p.value.data_ptr()) % 64, 0u) << p.name;  // AVX-512
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p.grad.data_ptr()) % 64, 0u) << p.name;
    EXPECT_GE(s.offset, end) << p.name;
    end = s.offset + s.numel();
  }
  EXPECT_TRUE(arena.holds_exactly(arena.parameters()));
}

TEST(ParameterArena, PackedParametersAreViewsOfOneStoragePerGroup) {
  auto net = small_net();
  std::vector<std::vector<uint8_t>> values, grads;
  for (Parameter* p : net->parameters()) {
    p->grad.copy_(random_tensor(p->grad.shape(), 7));
    values.push_back(bytes_of(p->value));
    grads.push_back(bytes_of(p->grad));
  }
  std::shared_ptr<ParameterArena> arena = net->arena();
  ASSERT_EQ(arena->groups().size(), 1u);
  ASSERT_EQ(arena->parameters(), net->parameters());
  expect_views(*arena);
  for (size_t i = 0; i < values.size(); ++i) {  // packing copies, bit for bit
    EXPECT_EQ(bytes_of(arena->parameters()[i]->value), values[i]);
    EXPECT_EQ(bytes_of(arena->parameters()[i]->grad), grads[i]);
  }
  // Places of 432 -> 512, 16 -> 128 three times, 640, 40 -> 128: 1664 elements; gaps are zero.
  EXPECT_EQ(arena->groups()[0].values.numel(), 1664);
  EXPECT_EQ(arena->slots()[5].offset, 512 + 3 * 128 + 640);
  EXPECT_EQ(arena->groups()[0].values.to_vector<float>()[432], 0.f);
  EXPECT_EQ(arena->groups()[0].grads.to_vector<float>()[1663], 0.f);
  EXPECT_EQ(net->arena(), arena);  // checked and reused, not repacked
  EXPECT_EQ(arena->generation(), 0u);
}

TEST(ParameterArena, ZeroGradClearsTheWholeGradientBuffer) {
  auto net = small_net();
  Tensor y = net->forward(random_tensor({2, 3, 6, 6}, 1));
  net->backward(random_tensor(y.shape(), 2));
  const Tensor grads = net->arena()->groups()[0].grads;
  EXPECT_FALSE(all_close(grads, Tensor::zeros(grads.shape()), 0, 0));
  net->zero_grad();
  EXPECT_TRUE(all_close(grads, Tensor::zeros(grads.shape()), 0, 0));
  expect_views(*net->arena());  // a training step replaced no handle
}

TEST(ParameterArena, ToAndLoadStateDictKeepTheViews) {
  auto net = small_net();
  std::shared_ptr<ParameterArena> arena = net->arena();
  net->to(Device::cpu());  // already there: nothing moves
  EXPECT_EQ(arena->generation(), 0u);
  std::map<std::string, Tensor> other;
  for (const auto& [name, t] : small_net()->state_dict()) other[name] = t.clone();
  const auto storage = arena->groups()[0].values.storage();
  net->load_state_dict(other);
  EXPECT_EQ(arena->groups()[0].values.storage(), storage);
  expect_views(*arena);
  for (Parameter* p : net->parameters()) EXPECT_TRUE(all_close(p->value, other.at(p->name), 0, 0));

  net->to(DType::f64);
  EXPECT_EQ(net->arena(), arena);  // the same arena, its buffers converted
  EXPECT_EQ(arena->generation(), 1u);
  EXPECT_EQ(arena->groups()[0].values.dtype(), DType::f64);
  EXPECT_EQ(arena->groups()[0].grads.dtype(), DType::f64);
  expect_views(*arena);
  for (Parameter* p : net->parameters()) {
    EXPECT_EQ(p->value.dtype(), DType::f64);
    EXPECT_EQ(p->value.to_vector<double>(), other.at(p->name).to_vector<double>()) << p->name;
  }
  EXPECT_EQ(net->forward(random_tensor({2, 3, 6, 6}, 1).to(DType::f64)).dtype(), DType::f64);
}

TEST(ParameterArena, BucketsSliceTheGradientsInBackwardOrder) {
  auto net = small_net();
  std::shared_ptr<ParameterArena> arena = net->arena();
  const std::vector<ArenaSlot>& slots = arena->slots();
  const Tensor grads = arena->groups()[0].grads;
  for (size_t limit : {size_t(1), size_t(600), size_t(3000), size_t(1) << 20}) {
    SCOPED_TRACE("max_bytes " + std::to_string(limit));
    std::vector<GradBucket> buckets = arena->buckets(limit);
    size_t next_end = slots.size();  // the first bucket ends with the last parameter
    for (const GradBucket& b : buckets) {
      ASSERT_EQ(b.end, next_end);
      ASSERT_LT(b.begin, b.end);
      const int64_t stop = slots[b.end - 1].offset + slots[b.end - 1].numel();
      EXPECT_EQ(b.grads.storage(), grads.storage());
      EXPECT_EQ(b.grads.offset(), grads.offset() + slots[b.begin].offset);
      EXPECT_EQ(b.grads.numel(), stop - slots[b.begin].offset);
      if (b.end - b.begin > 1) EXPECT_LE(b.grads.nbytes(), limit);
      if (b.begin > 0)  // greedy: one more parameter would not have fitted
        EXPECT_GT(static_cast<size_t>(stop - slots[b.begin - 1].offset) * 4, limit);
      next_end = b.begin;
    }
    EXPECT_EQ(next_end, 0u);  // every parameter covered, none twice
  }
  EXPECT_EQ(arena->buckets(1).size(), slots.size());
  EXPECT_EQ(arena->buckets(size_t(1) << 20).size(), 1u);
  // 3000 bytes: the Linear's weight (at 896) and bias (ending at 1576) take 2720; with the BN bias
  // (at 768) it would be 3232.
  std::vector<GradBucket> b = arena->buckets(3000);
  EXPECT_EQ(b[0].begin, 4u);
  fill(b[0].grads, 1.0);  // a bucket is the gradients themselves
  EXPECT_TRUE(all_close(net->parameters()[5]->grad, Tensor::full({40}, 1.0), 0, 0));
  EXPECT_MINIDL_ERROR(arena->buckets(0), "max_bytes");
}

TEST(ParameterArena, ARepackRetiresTheOldArena) {
  auto net = small_net();
  std::shared_ptr<ParameterArena> first = net->arena();
  Parameter* w = net->parameters()[0];
  Tensor replaced = random_tensor(w->value.shape(), 3);
  w->value = replaced;  // against the contract: arena() notices and repacks
  std::shared_ptr<ParameterArena> second = net->arena();
  EXPECT_NE(second, first);
  EXPECT_TRUE(first->retired());
  EXPECT_EQ(first->generation(), 1u);
  expect_views(*second);
  EXPECT_TRUE(all_close(w->value, replaced, 0, 0));  // the new value was packed
  EXPECT_MINIDL_ERROR(first->zero_grad(), "retired");
  EXPECT_MINIDL_ERROR(first->to(DType::f64), "retired");

  // Packing a submodule takes its parameters out of the model's arena.
  net->submodule("5").arena();
  EXPECT_TRUE(second->retired());
  EXPECT_NE(net->arena(), second);
  expect_views(*net->arena());

  // An arena packed elsewhere from exactly the model's parameters is adopted.
  auto other = small_net();
  std::shared_ptr<ParameterArena> outside = ParameterArena::pack(other->parameters());
  EXPECT_EQ(other->arena(), outside);
  EXPECT_FALSE(outside->retired());
}

TEST(ParameterArena, PackErrorsNameTheParameter) {
  auto net = small_net();
  std::vector<Parameter*> ps = net->parameters();
  EXPECT_MINIDL_ERROR(ParameterArena::pack({ps[0], nullptr}), "parameter 1 is null");
  EXPECT_MINIDL_ERROR(ParameterArena::pack({ps[0], ps[1], ps[0]}), "'0.weight'", "twice");
  ps[1]->grad = Tensor::zeros({17});
  EXPECT_MINIDL_ERROR(ParameterArena::pack(ps), "'0.bias'", "[17]", "[16]");
  ps[1]->grad = Tensor();
  EXPECT_MINIDL_ERROR(ParameterArena::pack(ps), "'0.bias'", "no gradient");
  EXPECT_TRUE(ParameterArena::pack({})->parameters().empty());
}

}  // namespace
}  // namespace minidl

namespace minidl {
namespace {

TEST(ParameterArena, StreamsStartAtDifferentOffsetsModulo4KiB) {
  // values, gradients and the optimiser's state buffers are skewed by 1 KiB each past the start of
  // their allocations (4K aliasing, layers/arena.h); every element offset keeps its alignment
  auto net = small_net();
  std::shared_ptr<ParameterArena> arena = net->arena();
  const ArenaGroup& g = arena->groups()[0];
  Tensor m = arena->state_buffer(0, DType::f32, 0), master = arena->state_buffer(0, DType::f32, 1);
  EXPECT_EQ(g.values.offset() * 4, 0);
  EXPECT_EQ(g.grads.offset() * 4, 1024);
  EXPECT_EQ(m.offset() * 4, 2048);
  EXPECT_EQ(master.offset() * 4, 3072);
  EXPECT_EQ(m.numel(), g.values.numel());
  EXPECT_EQ(m.to_vector<float>(), std::vector<float>(static_cast<size_t>(m.numel()), 0.f));
  net->to(DType::f64);  // converted buffers keep the skew in bytes
  EXPECT_EQ(arena->groups()[0].grads.offset() * 8, 1024);
}

}  // namespace
}  // namespace minidl
