// Data-parallel collectives over c10d's TCPStore and its Gloo or NCCL process group.
#include "dlm/train/distributed.h"

#include <chrono>
#include <cstdlib>

#include <torch/version.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif
#ifdef DLM_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef DLM_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "dlm/error.h"

namespace dlm {
namespace {

// 2.x runs collectives on a Backend (ProcessGroupGloo and ProcessGroupNCCL derive from it); 1.13 on
// the ProcessGroup itself. The calls used here are the same on both.
#if TORCH_VERSION_MAJOR >= 2
using Group = c10d::Backend;
#else
using Group = c10d::ProcessGroup;
#endif

int64_t env_int(const std::function<const char*(const char*)>& get, const char* name, int64_t fallback,
                int64_t min_value) {
  const char* v = get(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long long x = std::strtoll(v, &end, 10);
  if (*end != '\0' || x < min_value) {
    throw Error(std::string("environment variable ") + name + "='" + v +
                "' must be an integer >= " + std::to_string(min_value));
  }
  return x;
}

// One line for a collective that failed: a rank died, or the world waited past train.dist_timeout.
[[noreturn]] void broke(const DistEnv& env, const char* what, const std::exception& e) {
  throw Error("rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) + ": " + what +
              " failed (another rank stopped, or none answered within train.dist_timeout): " + first_line(e.what()));
}

}  // namespace

DistEnv read_dist_env(const std::function<const char*(const char*)>& get_in) {
  const auto get = get_in ? get_in : [](const char* name) -> const char* { return std::getenv(name); };
  DistEnv e;
  const bool has_rank = get("RANK") && *get("RANK"), has_world = get("WORLD_SIZE") && *get("WORLD_SIZE");
  if (!has_rank && !has_world) return e;
  if (has_rank != has_world) throw Error("RANK and WORLD_SIZE must be set together (torchrun sets both)");
  e.world_size = env_int(get, "WORLD_SIZE", 1, 1);
  e.rank = env_int(get, "RANK", 0, 0);
  if (e.rank >= e.world_size) {
    throw Error("RANK=" + std::to_string(e.rank) + " must be below WORLD_SIZE=" + std::to_string(e.world_size));
  }
  e.local_rank = env_int(get, "LOCAL_RANK", e.rank, 0);
  e.local_world_size = env_int(get, "LOCAL_WORLD_SIZE", e.world_size, 1);
  e.restart_count = env_int(get, "TORCHELASTIC_RESTART_COUNT", 0, 0);
  const char* agent = get("TORCHELASTIC_USE_AGENT_STORE");
  e.agent_store = agent && std::string(agent) == "True";
  if (!e.distributed()) return e;
  const char* addr = get("MASTER_ADDR");
  if (!addr || !*addr) throw Error("MASTER_ADDR must be set when WORLD_SIZE > 1 (where rank 0 serves the store)");
  e.master_addr = addr;
  e.master_port = env_int(get, "MASTER_PORT", -1, 1);
  if (e.master_port < 0 || e.master_port > 65535) throw Error("MASTER_PORT must be set to a port when WORLD_SIZE > 1");
  return e;
}

struct World::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Group> group;
  torch::Device device = torch::kCPU;  ///< where the group's tensors live (NCCL: the rank's GPU)
  std::string description;
};

namespace {

// Throws, before anything connects, when this build lacks the process group asked for.
void check_backend(DistBackend backend, const torch::Device& device) {
  if (backend == DistBackend::kGloo) {
#ifndef DLM_WITH_GLOO
    throw Error("this build has no Gloo process group (LibTorch " TORCH_VERSION
                " without Gloo's headers): train data-parallel on the CPU with the Debian LibTorch build (see README)");
#endif
    if (device.is_cuda()) throw Error("train.dist_backend gloo runs on the CPU here; use nccl for CUDA");
  } else {
#ifndef DLM_WITH_NCCL
    throw Error("this build has no NCCL process group (it needs LibTorch 2.x with CUDA; see README)");
#endif
    if (!device.is_cuda()) throw Error("train.dist_backend nccl needs CUDA; use gloo on the CPU");
  }
}

c10::intrusive_ptr<c10d::Store> connect_store(const DistEnv& env, std::chrono::milliseconds timeout) {
  try {
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<uint16_t>(env.master_port);
    opts.isServer = env.rank == 0 && !env.agent_store;
    opts.numWorkers = static_cast<size_t>(env.world_size);
    opts.timeout = timeout;
    c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
#if TORCH_VERSION_MAJOR < 2
    // torchrun 1.13's workers use its agent's store under this prefix; 2.x's make a fresh store per attempt.
    if (env.agent_store) {
      store = c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::to_string(env.restart_count), store);
    }
#endif
    return store;
  } catch (const std::exception& e) {
    throw Error("cannot reach the store at " + env.master_addr + ":" + std::to_string(env.master_port) + ": " +
                first_line(e.what()));
  }
}

}  // namespace

World::World(const DistEnv& env, DistBackend backend, const torch::Device& device, double timeout_s)
    : env_(env), impl_(std::make_unique<Impl>()) {
  impl_->device = device;
  if (backend == DistBackend::kAuto) backend = device.is_cuda() ? DistBackend::kNccl : DistBackend::kGloo;
  check_backend(backend, device);
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000.0));
  impl_->store = connect_store(env, timeout);
#ifdef DLM_WITH_GLOO
  if (backend == DistBackend::kGloo) {
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    const char* iface = std::getenv("GLOO_SOCKET_IFNAME");
    opts->devices.push_back(iface && *iface ? c10d::ProcessGroupGloo::createDeviceForInterface(iface)
                                            : c10d::ProcessGroupGloo::createDefaultDevice());
    // Gloo names its device "tcp, pci=, iface=eth0, speed=-1, addr=[10.0.0.5]": the address and interface.
    const std::string device_name = opts->devices[0]->str();
    const auto field = [&](const std::string& key, char end) {
      const size_t at = device_name.find(key);
      if (at == std::string::npos) return std::string();
      const size_t from = at + key.size();
      return device_name.substr(from, device_name.find(end, from) - from);
    };
    const std::string where = field("addr=[", ']') + " (" + field("iface=", ',') + ")";
    if (env.spans_machines() && where.find("127.") != std::string::npos) {
      throw Error("the world spans machines but Gloo would listen on a loopback address (" + where +
                  ": this machine's name resolves to it); set GLOO_SOCKET_IFNAME to its network interface, e.g. eth0");
    }
    impl_->description = "gloo over " + where;
    try {
      impl_->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, static_cast<int>(env.rank),
                                                                 static_cast<int>(env.world_size), opts);
    } catch (const std::exception& e) {
      broke(env, "joining the Gloo process group", e);
    }
  }
#endif
#ifdef DLM_WITH_NCCL
  if (backend == DistBackend::kNccl) {
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = timeout;
    impl_->description = "nccl";
    impl_->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl_->store, static_cast<int>(env.rank),
                                                               static_cast<int>(env.world_size), opts);
  }
#endif
}

World::~World() = default;

const std::string& World::description() const { return impl_->description; }

void World::sum(torch::Tensor& tensor) {
  std::vector<torch::Tensor> one{tensor.to(impl_->device)};
  try {
    impl_->group->allreduce(one)->wait();
  } catch (const std::exception& e) {
    broke(env_, "a sum over the ranks", e);
  }
  if (!one[0].is_same(tensor)) tensor.copy_(one[0]);
}

void World::sum_gradients(const std::vector<torch::Tensor>& params, int64_t bucket_bytes) {
  std::vector<torch::Tensor> bucket;
  int64_t bytes = 0;
  const auto flush = [&] {
    if (bucket.empty()) return;
    torch::Tensor flat = torch::cat(bucket);
    sum(flat);
    int64_t at = 0;
    for (auto& g : bucket) {
      const int64_t n = g.numel();
      g.copy_(flat.slice(0, at, at + n));
      at += n;
    }
    bucket.clear();
    bytes = 0;
  };
  for (const auto& p : params) {
    if (!p.grad().defined()) continue;
    // A flat view of the gradient: copy_ into it writes the parameter's own gradient.
    bucket.push_back(p.grad().view({-1}));
    bytes += p.grad().numel() * static_cast<int64_t>(p.grad().element_size());
    if (bytes >= bucket_bytes) flush();
  }
  flush();
}

void World::broadcast(std::vector<torch::Tensor>& tensors) {
  try {
    for (auto& t : tensors) {
      std::vector<torch::Tensor> one{t};
      impl_->group->broadcast(one)->wait();
    }
  } catch (const std::exception& e) {
    broke(env_, "broadcasting rank 0's parameters", e);
  }
}

void World::barrier() {
  try {
    impl_->group->barrier()->wait();
  } catch (const std::exception& e) {
    broke(env_, "waiting for the other ranks", e);
  }
}

}  // namespace dlm
