// Activation recomputation: an autograd function that keeps a layer's input and reruns the layer in
// its backward pass.
#include "dlm/model/recompute.h"

#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "dlm/device.h"
#include "dlm/random.h"

namespace dlm {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

torch::Tensor generator_state(at::Generator& gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_generator_state(at::Generator& gen, const torch::Tensor& state) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

// What the backward pass needs to rerun a layer as its forward pass ran: the layer, the default
// generator's state before it and the autocast setting, on the input's device.
struct Rerun : torch::CustomClassHolder {
  Layer layer;
  torch::Device device{torch::kCPU};
  torch::Tensor rng_state;  ///< undefined: no default generator
  bool autocast = false;
  torch::ScalarType autocast_dtype = torch::kBFloat16;
};

// The rerun's generator state for a scope; the generator's own state is back afterwards, so the
// rerun draws nothing from the stream the rest of training uses.
class ReplayedGenerator {
 public:
  explicit ReplayedGenerator(const Rerun& rerun) : gen_(default_generator(rerun.device)) {
    if (!gen_ || !rerun.rng_state.defined()) return;
    saved_ = generator_state(*gen_);
    set_generator_state(*gen_, rerun.rng_state);
  }
  ~ReplayedGenerator() {
    if (saved_.defined()) set_generator_state(*gen_, saved_);
  }
  ReplayedGenerator(const ReplayedGenerator&) = delete;
  ReplayedGenerator& operator=(const ReplayedGenerator&) = delete;

 private:
  std::optional<at::Generator> gen_;
  torch::Tensor saved_;
};

torch::Tensor leaf_like(const torch::Tensor& saved, bool needs_grad) {
  return saved.detach().requires_grad_(needs_grad);
}

class RecomputedFunction : public torch::autograd::Function<RecomputedFunction> {
 public:
  // cond: an empty tensor for none (LibTorch 1.13's functions take no undefined inputs).
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& cond,
                               c10::intrusive_ptr<Rerun> rerun) {
    ctx->save_for_backward({x, cond});
    const torch::Tensor out = rerun->layer(x, cond.numel() > 0 ? cond : torch::Tensor());
    ctx->saved_data["rerun"] = c10::IValue::make_capsule(std::move(rerun));
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto rerun = c10::static_intrusive_pointer_cast<Rerun>(ctx->saved_data["rerun"].toCapsule());
    const bool has_cond = saved[1].numel() > 0;
    const torch::Tensor x = leaf_like(saved[0], ctx->needs_input_grad(0));
    const torch::Tensor cond = has_cond ? leaf_like(saved[1], ctx->needs_input_grad(1)) : torch::Tensor();
    torch::Tensor out;
    {
      torch::AutoGradMode grad_on(true);
      ReplayedGenerator replay(*rerun);
      const auto autocast =
          rerun->autocast ? std::make_unique<AutocastGuard>(rerun->device, rerun->autocast_dtype) : nullptr;
      out = rerun->layer(x, cond);
    }
    // The layer's parameters take their gradients here, as the plain pass would give them.
    torch::autograd::backward({out}, {grads[0]});
    return {x.requires_grad() ? x.grad() : torch::Tensor(),
            cond.defined() && cond.requires_grad() ? cond.grad() : torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor recomputed(const Layer& layer, const torch::Tensor& x, const torch::Tensor& cond) {
  // Without an input that needs a gradient the function would have no backward node, and the layer's
  // parameters no gradients: such a layer runs plainly.
  if (!x.requires_grad() && !(cond.defined() && cond.requires_grad())) return layer(x, cond);
  auto rerun = c10::make_intrusive<Rerun>();
  rerun->layer = layer;
  rerun->device = x.device();
  if (auto gen = default_generator(x.device())) rerun->rng_state = generator_state(*gen);
  rerun->autocast = autocast_active(x.device());
  if (rerun->autocast) rerun->autocast_dtype = active_autocast_dtype(x.device());
  return RecomputedFunction::apply(x, cond.defined() ? cond : torch::empty({0}, x.options()), rerun);
}

}  // namespace dlm
