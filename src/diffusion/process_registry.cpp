// The registry of processes: the built-in ones, one line each, and those a program adds at run time.
#include <algorithm>
#include <mutex>

#include "dlm/diffusion/process.h"
#include "dlm/error.h"

namespace dlm {

// The built-in processes, one line each: the config's objective, its diffusion.noise ("" when the
// process takes none) and the file under src/diffusion/processes/ that defines make_<file>_process.
#define DLM_BUILTIN_PROCESSES(X)         \
  X("diffusion", "absorbing", absorbing) \
  X("diffusion", "uniform", uniform)     \
  X("simplex", "", simplex)              \
  X("ar", "", autoregressive)

#define DLM_DECLARE_PROCESS(objective, noise, file) \
  std::unique_ptr<Process> make_##file##_process(const Config& config, const SpecialIds& ids);
DLM_BUILTIN_PROCESSES(DLM_DECLARE_PROCESS)
#undef DLM_DECLARE_PROCESS

namespace {

std::vector<ProcessEntry>& entries() {
#define DLM_ENTRY(objective, noise, file) ProcessEntry{objective, noise, make_##file##_process},
  static std::vector<ProcessEntry> all = {DLM_BUILTIN_PROCESSES(DLM_ENTRY)};
#undef DLM_ENTRY
  return all;
}

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

// "diffusion (noise absorbing, uniform), simplex, ar": the objectives in registration order, with
// their noises where they take one.
std::string registered_names() {
  std::vector<std::pair<std::string, std::string>> objectives;  // objective -> "a, b"
  for (const ProcessEntry& e : entries()) {
    auto it = std::find_if(objectives.begin(), objectives.end(), [&](const auto& o) { return o.first == e.objective; });
    if (it == objectives.end()) it = objectives.insert(objectives.end(), {e.objective, ""});
    if (!e.noise.empty()) it->second += (it->second.empty() ? "" : ", ") + e.noise;
  }
  std::string out;
  for (const auto& [objective, noises] : objectives) {
    out += (out.empty() ? "" : ", ") + objective + (noises.empty() ? "" : " (noise " + noises + ")");
  }
  return out;
}

// The entry of a config's objective and noise; a process that takes no noise accepts the default one.
const ProcessEntry& find_entry(const Config& config) {
  const std::string& objective = config.objective;
  const std::string& noise = config.diffusion.noise;
  const ProcessEntry* any = nullptr;
  for (const ProcessEntry& e : entries()) {
    if (e.objective != objective) continue;
    any = &e;
    if (e.noise == noise || (e.noise.empty() && noise == DiffusionConfig{}.noise)) return e;
  }
  if (!any) {
    throw Error("config key 'objective' = \"" + objective + "\": unknown objective (registered: " + registered_names() +
                ")");
  }
  throw Error("config key 'diffusion.noise' = \"" + noise + "\": not a noise of objective " + objective +
              " (registered: " + registered_names() + ")");
}

}  // namespace

const std::vector<ProcessEntry>& registered_processes() { return entries(); }

void register_process(ProcessEntry entry) {
  const std::lock_guard<std::mutex> lock(registry_mutex());
  for (const ProcessEntry& e : entries()) {
    if (e.objective == entry.objective && e.noise == entry.noise) {
      throw Error("a process is already registered for objective '" + entry.objective + "'" +
                  (entry.noise.empty() ? "" : " with noise '" + entry.noise + "'"));
    }
  }
  entries().push_back(std::move(entry));
}

std::unique_ptr<Process> make_process(const Config& config, const SpecialIds& ids) {
  ProcessMaker make;
  {
    const std::lock_guard<std::mutex> lock(registry_mutex());
    make = find_entry(config).make;
  }
  std::unique_ptr<Process> process = make(config, ids);
  process->check_config(config);
  return process;
}

}  // namespace dlm
