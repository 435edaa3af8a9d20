// The key tables behind the config (private to it): one entry per key names it and says how it is read,
// written and range-checked, so a table of entries drives apply_json, to_json and the key rules of validate.
#pragma once

#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "config_read.h"
#include "dlm/config.h"

namespace dlm::config_read {

// One key of the section struct S. `check` holds the key's own rule (ranges, allowed names); rules
// that join several keys stay in config_validate.cpp.
template <class S>
struct Key {
  std::string key;
  std::function<void(S&, const json& value, const std::string& path)> read;  ///< throws naming path
  std::function<json(const S&)> write;
  std::function<void(const S&, const std::string& path)> check;  ///< throws naming path; empty: no rule
};
template <class S>
using KeyTable = std::vector<Key<S>>;

// A value as a rule's message shows it: enums by their quoted name, numbers as they are.
template <class T>
auto shown(const T& value) {
  if constexpr (std::is_enum_v<T>) {
    return "\"" + enum_name(value) + "\"";
  } else {
    return value;
  }
}

// A key stored in `member`, without a rule of its own.
template <class S, class T>
Key<S> key(std::string name, T S::*member) {
  Key<S> k;
  k.key = std::move(name);
  k.read = [member](S& s, const json& j, const std::string& path) { read_value(j, path, s.*member); };
  k.write = [member](const S& s) { return write_value(s.*member); };
  return k;
}

// A key whose value must pass `valid`; `rule` ends the message: "config key 'model.d_model' = 0: must be > 0".
// (The predicate comes last, so that a table line formats as one line.)
template <class S, class T, class Valid>
Key<S> key(std::string name, T S::*member, std::string rule, Valid valid) {
  Key<S> k = key(std::move(name), member);
  k.check = [member, valid, rule](const S& s, const std::string& path) {
    check(valid(s.*member), path, shown(s.*member), rule);
  };
  return k;
}

// A list key whose every element must pass `valid`; the message names the element: 'eval.levels[2]'.
template <class S, class T, class Valid>
Key<S> each_key(std::string name, std::vector<T> S::*member, std::string rule, Valid valid) {
  Key<S> k = key(std::move(name), member);
  k.check = [member, valid, rule](const S& s, const std::string& path) {
    const std::vector<T>& values = s.*member;
    for (size_t i = 0; i < values.size(); ++i) {
      check(valid(values[i]), path + "[" + std::to_string(i) + "]", values[i], rule);
    }
  };
  return k;
}

// A key whose value also goes to `other`, a key later in the table, which overrides it when given.
template <class S, class T>
Key<S> key_also_setting(std::string name, T S::*member, T S::*other) {
  Key<S> k = key(std::move(name), member);
  k.read = [member, other](S& s, const json& j, const std::string& path) {
    read_value(j, path, s.*member);
    s.*other = s.*member;
  };
  return k;
}

// Reads the keys of `table` present in the object `j`, in table order. Works for any table whose
// entries have `key` and `read` (KeyTable, and the sampler's option table).
template <class Table, class S>
void read_keys(const Table& table, S& s, const json& j, const std::string& path) {
  std::vector<std::string> names;
  for (const auto& entry : table) names.push_back(entry.key);
  const ObjectReader reader(j, path, names);
  for (const auto& entry : table) {
    if (const json* value = reader.child(entry.key)) entry.read(s, *value, join_path(path, entry.key));
  }
}

// Every key of `table` with its value in `s`; an entry that writes null (an alias, another name of a
// key the table writes) is left out.
template <class Table, class S>
json write_keys(const Table& table, const S& s) {
  json j = json::object();
  for (const auto& entry : table) {
    json value = entry.write(s);
    if (!value.is_null()) j[entry.key] = std::move(value);
  }
  return j;
}

// Throws for the first key of `table` whose value breaks its rule.
template <class S>
void check_keys(const KeyTable<S>& table, const S& s, const std::string& path) {
  for (const auto& entry : table) {
    if (entry.check) entry.check(s, join_path(path, entry.key));
  }
}

// A section of the top level, read, written and checked through its own table. `check_section` is
// called as check_section(section, path).
template <class S, class Sub, class Table, class Check>
Key<S> section(std::string name, Sub S::*member, const Table& table, Check check_section) {
  Key<S> k;
  k.key = std::move(name);
  const Table* keys = &table;  // a table at namespace scope, which outlives every config
  k.read = [member, keys](S& s, const json& j, const std::string& path) { read_keys(*keys, s.*member, j, path); };
  k.write = [member, keys](const S& s) { return write_keys(*keys, s.*member); };
  k.check = [member, check_section](const S& s, const std::string& path) { check_section(s.*member, path); };
  return k;
}
template <class S, class Sub>
Key<S> section(std::string name, Sub S::*member, const KeyTable<Sub>& table) {
  const KeyTable<Sub>* keys = &table;
  return section(std::move(name), member, table,
                 [keys](const Sub& sub, const std::string& path) { check_keys(*keys, sub, path); });
}

// The rule of every key of every section, in table order (validate runs them before the rules that
// join keys).
void check_keys(const Config& config);

}  // namespace dlm::config_read
