// Typed, strict access to a GGUF file's metadata for the importers: errors name the file and key.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/error.h"
#include "models/gguf.h"

namespace zip::gguf {

// Typed metadata access; `key` is the full key, errors name the file and the key.
class Meta {
 public:
  explicit Meta(const File& f) : f_(f) {}
  const Value* find(const std::string& key) const { return f_.find(key); }
  bool has(const std::string& key) const { return f_.find(key) != nullptr; }

  int64_t get_int(const std::string& key, int64_t lo, int64_t hi) const {
    const Value* v = find(key);
    ZIP_CHECK(v, "{}: missing metadata '{}'", f_.path, key);
    return as_int(*v, key, lo, hi);
  }
  int64_t get_int_or(const std::string& key, int64_t dflt, int64_t lo, int64_t hi) const {
    const Value* v = find(key);
    return v ? as_int(*v, key, lo, hi) : dflt;
  }
  double get_float_or(const std::string& key, double dflt) const {
    const Value* v = find(key);
    if (!v) return dflt;
    ZIP_CHECK(v->is_float() || v->is_int(), "{}: '{}' must be a number, got {}", f_.path, key, v->describe());
    return v->is_float() ? v->f : v->is_unsigned() ? double(v->u) : double(v->i);
  }
  bool get_bool_or(const std::string& key, bool dflt) const {
    const Value* v = find(key);
    if (!v) return dflt;
    ZIP_CHECK(v->type == ValueType::Bool, "{}: '{}' must be a bool, got {}", f_.path, key, v->describe());
    return v->b;
  }
  std::string get_str_or(const std::string& key, const std::string& dflt) const {
    const Value* v = find(key);
    if (!v) return dflt;
    ZIP_CHECK(v->type == ValueType::String, "{}: '{}' must be a string, got {}", f_.path, key, v->describe());
    return std::string(v->s);
  }
  // A scalar for every layer, or an array with one entry per layer.
  std::vector<int64_t> per_layer(const std::string& key, size_t n_layers, int64_t lo, int64_t hi) const {
    const Value* v = find(key);
    ZIP_CHECK(v, "{}: missing metadata '{}'", f_.path, key);
    if (v->type != ValueType::Array) return std::vector<int64_t>(n_layers, as_int(*v, key, lo, hi));
    ZIP_CHECK(v->is_array_of_ints() && v->count == n_layers,
              "{}: '{}' must be an integer or {} integers (one per layer), got {}", f_.path, key, n_layers,
              v->describe());
    std::vector<int64_t> out;
    for (uint64_t l = 0; l < v->count; l++) {
      const int64_t x = v->int_at(l);
      ZIP_CHECK(x >= lo && x <= hi, "{}: '{}'[{}] = {} is out of range [{}, {}]", f_.path, key, l, x, lo, hi);
      out.push_back(x);
    }
    return out;
  }
  const std::string& path() const { return f_.path; }

 private:
  int64_t as_int(const Value& v, const std::string& key, int64_t lo, int64_t hi) const {
    ZIP_CHECK(v.is_int(), "{}: '{}' must be an integer, got {} {}", f_.path, key, value_type_name(v.type),
              v.describe());
    const bool big = v.is_unsigned() && v.u > uint64_t(INT64_MAX);
    const int64_t x = v.is_unsigned() ? int64_t(v.u) : v.i;
    ZIP_CHECK(!big && x >= lo && x <= hi, "{}: '{}' = {} is out of range [{}, {}]", f_.path, key, v.describe(), lo, hi);
    return x;
  }
  const File& f_;
};

}  // namespace zip::gguf
