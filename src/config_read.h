// Reading JSON into config fields and writing them back (private to the config and the sampler's option
// table): typed reads that name the key's full path, unknown keys rejected with the valid ones listed.
#pragma once

#include <set>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "dlm/config.h"
#include "dlm/error.h"
#include "dlm/json.h"

namespace dlm::config_read {

using nlohmann::json;

inline std::string join_path(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

inline const char* type_name(const json& j) {
  if (j.is_null()) return "null";
  if (j.is_boolean()) return "boolean";
  if (j.is_number_integer()) return "integer";
  if (j.is_number()) return "number";
  if (j.is_string()) return "string";
  if (j.is_array()) return "array";
  return "object";
}

[[noreturn]] inline void type_error(const std::string& path, const char* expected, const json& got) {
  throw Error("config key '" + path + "': expected " + expected + ", got " + type_name(got) + " " + dump_json(got));
}

inline void read_value(const json& j, const std::string& path, int64_t& out) {
  if (!j.is_number_integer()) type_error(path, "an integer", j);
  out = j.get<int64_t>();
}
inline void read_value(const json& j, const std::string& path, double& out) {
  if (!j.is_number()) type_error(path, "a number", j);
  out = j.get<double>();
}
inline void read_value(const json& j, const std::string& path, bool& out) {
  if (!j.is_boolean()) type_error(path, "true or false", j);
  out = j.get<bool>();
}
inline void read_value(const json& j, const std::string& path, std::string& out) {
  if (!j.is_string()) type_error(path, "a string", j);
  out = j.get<std::string>();
}
inline void read_value(const json& j, const std::string& path, std::vector<double>& out) {
  if (!j.is_array()) type_error(path, "an array of numbers", j);
  std::vector<double> values;
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_number()) type_error(path + "[" + std::to_string(i) + "]", "a number", j[i]);
    values.push_back(j[i].get<double>());
  }
  out = values;
}
inline void read_value(const json& j, const std::string& path, std::vector<std::string>& out) {
  if (j.is_string()) {  // one string stands for a list of one
    out = {j.get<std::string>()};
    return;
  }
  if (!j.is_array()) type_error(path, "a string or an array of strings", j);
  std::vector<std::string> values;
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_string()) type_error(path + "[" + std::to_string(i) + "]", "a string", j[i]);
    values.push_back(j[i].get<std::string>());
  }
  out = values;
}

// A setting written as a string and read by `parse` (an enum's name table, a device name); parse's
// error is reported under the key's path.
template <class T, class Parse>
inline void read_parsed(const json& j, const std::string& path, T& out, const Parse& parse) {
  if (!j.is_string()) type_error(path, "a string", j);
  try {
    out = parse(j.get<std::string>());
  } catch (const Error& e) {
    throw Error("config key '" + path + "': " + e.what());
  }
}

// Enum-valued settings: a string from the enum's name table, or an error naming the valid ones.
template <class E, class = decltype(enum_names(static_cast<E*>(nullptr)))>
inline void read_value(const json& j, const std::string& path, E& out) {
  read_parsed(j, path, out, [](const std::string& name) { return parse_enum<E>(name, "value"); });
}

inline void read_value(const json& j, const std::string& path, DeviceChoice& out) {
  read_parsed(j, path, out, parse_device);
}

// A field as the config file spells it: enums and devices by name, everything else as itself.
template <class T>
json write_value(const T& value) {
  if constexpr (std::is_enum_v<T>) {
    return enum_name(value);
  } else if constexpr (std::is_same_v<T, DeviceChoice>) {
    return device_name(value);
  } else {
    return value;
  }
}

// Reads the fields of one JSON object. Unknown keys are rejected up front with the valid ones listed,
// because nlohmann's own helpers silently ignore them.
class ObjectReader {
 public:
  ObjectReader(const json& j, std::string path, std::vector<std::string> keys) : j_(j), path_(std::move(path)) {
    if (!j_.is_object()) type_error(path_.empty() ? "(top level)" : path_, "an object", j_);
    const std::set<std::string> known(keys.begin(), keys.end());
    for (const auto& item : j_.items()) {
      if (known.count(item.key()) == 0) {
        std::string valid;
        for (const auto& k : keys) valid += (valid.empty() ? "" : ", ") + k;
        throw Error("unknown config key '" + join_path(path_, item.key()) + "' (valid keys" +
                    (path_.empty() ? "" : " in '" + path_ + "'") + ": " + valid + ")");
      }
    }
  }

  const json* child(const std::string& key) const {
    const auto it = j_.find(key);
    return it == j_.end() ? nullptr : &*it;
  }

 private:
  const json& j_;
  std::string path_;
};

// Throws dlm::Error "config key 'path' = value: rule" unless ok.
template <class T>
void check(bool ok, const std::string& path, const T& value, const std::string& rule) {
  if (ok) return;
  std::ostringstream os;
  os << "config key '" << path << "' = " << value << ": " << rule;
  throw Error(os.str());
}

}  // namespace dlm::config_read
