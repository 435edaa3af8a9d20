// dgen's sampling flags from the settings table: one flag per setting, read back as a `sample` object.
#include "sample_flags.h"

#include "dlm/config.h"
#include "dlm/json.h"
#include "dlm/sample_options.h"
#include "dlm/sampler_settings.h"

namespace dlm {

using nlohmann::json;

namespace {

// An option's built-in default, and llada's and dream's where they differ: "built-in 10; llada 128".
std::string defaults_of(const SampleOption& o) {
  const json builtin = o.write(SampleConfig{});
  std::string text = "built-in " + dump_json(builtin);
  for (Sampler s : {Sampler::kLlada, Sampler::kDream}) {
    const json own = o.write(sampler_defaults(s));
    if (reads(o, s) && own != builtin) text += "; " + enum_name(s) + " " + dump_json(own);
  }
  return text;
}

}  // namespace

void add_sample_flags(CLI::App& app, SampleFlags& f) {
  for (const auto& o : sample_options()) {
    const std::string help = o.alias ? o.help : o.help + " (default: the checkpoint's; " + defaults_of(o) + ")";
    if (o.kind == SampleOption::Kind::kSwitch) {
      app.add_flag(flag_name(o) + ",!--no-" + flag_name(o).substr(2), f.switches[o.key], help);
    } else if (o.kind == SampleOption::Kind::kList) {
      app.add_option(flag_name(o), f.lists[o.key], help)->allow_extra_args(false);  // one value per occurrence
    } else {
      app.add_option(flag_name(o), f.values[o.key], help);
    }
  }
}

json given_sample_flags(const CLI::App& app, const SampleFlags& f) {
  json j = json::object();
  for (const auto& o : sample_options()) {
    if (app.count(flag_name(o)) == 0) continue;  // a switch's --no- form counts as the switch
    if (o.kind == SampleOption::Kind::kSwitch) j[o.key] = f.switches.at(o.key);
    if (o.kind == SampleOption::Kind::kList) j[o.key] = f.lists.at(o.key);
    if (o.kind == SampleOption::Kind::kValue) {
      const std::string& text = f.values.at(o.key);
      const json v = json::parse(text, nullptr, /*allow_exceptions=*/false);
      j[o.key] = v.is_discarded() ? json(text) : v;
    }
  }
  return j;
}

}  // namespace dlm
