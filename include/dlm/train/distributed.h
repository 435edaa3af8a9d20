// Data-parallel training on PyTorch's c10d: N processes (ranks) on one or several machines, each on
// its share of every global batch, with gradients summed by c10d's Gloo (CPU) or NCCL (CUDA) process
// group over a c10d TCPStore. Launched by torchrun, or by anything that sets torchrun's variables (a
// shell loop, a cluster's scheduler). c10d's headers stay inside src/train/distributed.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "dlm/config.h"

namespace dlm {

// Where this process sits in the world, from the launcher's variables.
struct DistEnv {
  int64_t rank = 0;              ///< RANK
  int64_t world_size = 1;        ///< WORLD_SIZE
  int64_t local_rank = 0;        ///< LOCAL_RANK: place on this machine (its GPU)
  int64_t local_world_size = 1;  ///< LOCAL_WORLD_SIZE: ranks on this machine (they share its cores)
  std::string master_addr;       ///< MASTER_ADDR: where the store is served
  int64_t master_port = 0;       ///< MASTER_PORT
  int64_t restart_count = 0;     ///< TORCHELASTIC_RESTART_COUNT
  bool agent_store = false;      ///< TORCHELASTIC_USE_AGENT_STORE=True: the launcher serves the store
  bool distributed() const { return world_size > 1; }
  bool spans_machines() const { return local_world_size < world_size; }
};

// Reads the variables through `get` (std::getenv by default). Without RANK and WORLD_SIZE this is
// the single process it always was. Throws dlm::Error naming a malformed or missing variable.
DistEnv read_dist_env(const std::function<const char*(const char*)>& get = {});

// The collectives training needs. Every rank calls the same ones in the same order.
class World {
 public:
  // Connects to the store (rank 0 serves it unless the launcher does) and builds the process group:
  // Gloo on the CPU, NCCL on CUDA (train.dist_backend). A collective that waits longer than
  // `timeout_s` fails on every rank still waiting, with one clear line.
  World(const DistEnv& env, DistBackend backend, const torch::Device& device, double timeout_s);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  int64_t rank() const { return env_.rank; }
  int64_t size() const { return env_.world_size; }
  bool is_main() const { return env_.rank == 0; }
  const DistEnv& env() const { return env_; }
  // What it runs on, for the log: "gloo over 10.0.0.5 (eth0)", "nccl".
  const std::string& description() const;

  // In-place sum over the ranks.
  void sum(torch::Tensor& tensor);
  // Sums the gradients of `params` over the ranks in flat buckets of about `bucket_bytes` (Gloo has
  // no average: the loss is normalised by the global count first, see train_step).
  void sum_gradients(const std::vector<torch::Tensor>& params, int64_t bucket_bytes = 25 << 20);
  // Rank 0's values of `tensors` on every rank.
  void broadcast(std::vector<torch::Tensor>& tensors);
  void barrier();

 private:
  struct Impl;
  DistEnv env_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dlm
