#include "query/duck_db.h"

#include <duckdb.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>

namespace basin::query {
namespace {

// ---- Errors ------------------------------------------------------------------------------------

Status ErrorOfType(duckdb_error_type type, std::string_view message) {
  std::string text(message.empty() ? "DuckDB failed without a message" : message);
  switch (type) {
    case DUCKDB_ERROR_INTERRUPT: return Error(ErrorCode::kQueryCancelled, std::move(text));
    case DUCKDB_ERROR_OUT_OF_MEMORY: return Error(ErrorCode::kQueryMemoryLimit, std::move(text));
    case DUCKDB_ERROR_PERMISSION: return Error(ErrorCode::kAccessDenied, std::move(text));
    default: return Error(ErrorCode::kSqlError, std::move(text));
  }
}

// Parse, prepare and pending errors come as text only; DuckDB starts each with its error type.
Status ErrorOfMessage(const char* message) {
  std::string_view text = message != nullptr ? message : "";
  auto starts = [&](std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; };
  if (starts("INTERRUPT Error")) return ErrorOfType(DUCKDB_ERROR_INTERRUPT, text);
  if (starts("Out of Memory Error")) return ErrorOfType(DUCKDB_ERROR_OUT_OF_MEMORY, text);
  if (starts("Permission Error")) return ErrorOfType(DUCKDB_ERROR_PERMISSION, text);
  return ErrorOfType(DUCKDB_ERROR_INVALID, text);
}

Status ErrorOfResult(duckdb_result* result) {
  return ErrorOfType(duckdb_result_error_type(result),
                     duckdb_result_error(result) != nullptr ? duckdb_result_error(result) : "");
}

// ---- RAII over C handles -----------------------------------------------------------------------

// duckdb_destroy_result must run even when the call that filled the result failed.
struct OwnedResult {
  duckdb_result r{};
  ~OwnedResult() { duckdb_destroy_result(&r); }
};
struct OwnedExtracted {
  duckdb_extracted_statements h = nullptr;
  ~OwnedExtracted() { duckdb_destroy_extracted(&h); }
};
struct OwnedPrepared {
  duckdb_prepared_statement h = nullptr;
  ~OwnedPrepared() { duckdb_destroy_prepare(&h); }
};
struct OwnedPending {
  duckdb_pending_result h = nullptr;
  ~OwnedPending() { duckdb_destroy_pending(&h); }
};
struct OwnedType {
  duckdb_logical_type t = nullptr;
  ~OwnedType() {
    if (t != nullptr) duckdb_destroy_logical_type(&t);
  }
};
struct OwnedChunk {
  duckdb_data_chunk h = nullptr;
  ~OwnedChunk() {
    if (h != nullptr) duckdb_destroy_data_chunk(&h);
  }
};
struct OwnedValue {
  duckdb_value v = nullptr;
  ~OwnedValue() {
    if (v != nullptr) duckdb_destroy_value(&v);
  }
};
// Values handed to duckdb_create_*_value, which copies them.
struct OwnedValues {
  std::vector<duckdb_value> v;
  ~OwnedValues() {
    for (duckdb_value& x : v) {
      if (x != nullptr) duckdb_destroy_value(&x);
    }
  }
  bool Complete() const {
    return std::none_of(v.begin(), v.end(), [](duckdb_value x) { return x == nullptr; });
  }
};

std::string TakeString(char* s) {
  if (s == nullptr) return {};
  std::string out(s);
  duckdb_free(s);
  return out;
}

// ---- Numbers as text ---------------------------------------------------------------------------

std::string UInt128ToString(unsigned __int128 v) {
  if (v == 0) return "0";
  char buf[48];
  char* p = buf + sizeof buf;
  while (v != 0) {
    *--p = static_cast<char>('0' + static_cast<int>(v % 10));
    v /= 10;
  }
  return std::string(p, buf + sizeof buf);
}

std::string Int128ToString(__int128 v) {
  if (v >= 0) return UInt128ToString(static_cast<unsigned __int128>(v));
  return "-" + UInt128ToString(-static_cast<unsigned __int128>(v));
}

__int128 FromHugeint(duckdb_hugeint h) {
  return static_cast<__int128>(
      (static_cast<unsigned __int128>(static_cast<uint64_t>(h.upper)) << 64) | h.lower);
}

// An exact DECIMAL as DuckDB prints it: scale digits after the point, always ("1.50").
std::string DecimalToString(__int128 unscaled, uint8_t scale) {
  const bool negative = unscaled < 0;
  std::string digits = UInt128ToString(negative ? -static_cast<unsigned __int128>(unscaled)
                                                : static_cast<unsigned __int128>(unscaled));
  if (scale == 0) return negative ? "-" + digits : digits;
  if (digits.size() <= scale) digits.insert(0, scale + 1 - digits.size(), '0');
  digits.insert(digits.size() - scale, 1, '.');
  return negative ? "-" + digits : digits;
}

// The shortest text that reads back as the same double, laid out as DuckDB prints doubles: plain
// notation with at least one decimal for exponents -4..15 ("0.0001", "1e+16", "1.0").
std::string DoubleToString(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));
  size_t e_pos = sci.find('e');
  int exponent = 0;
  std::from_chars(sci.data() + e_pos + (sci[e_pos + 1] == '+' ? 2 : 1), sci.data() + sci.size(),
                  exponent);
  if (exponent < -4 || exponent >= 16) return std::string(sci);
  std::string mantissa;
  bool negative = false;
  for (char c : sci.substr(0, e_pos)) {
    if (c == '-')
      negative = true;
    else if (c != '.')
      mantissa.push_back(c);
  }
  std::string out;
  if (exponent >= 0) {
    if (mantissa.size() < static_cast<size_t>(exponent) + 1) {
      mantissa.append(static_cast<size_t>(exponent) + 1 - mantissa.size(), '0');
    }
    out = mantissa.substr(0, static_cast<size_t>(exponent) + 1) + ".";
    std::string frac = mantissa.substr(static_cast<size_t>(exponent) + 1);
    out += frac.empty() ? "0" : frac;
  } else {
    out = "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + mantissa;
  }
  return negative ? "-" + out : out;
}

// A FLOAT as the double its shortest text denotes, so 0.1f reads 0.1 rather than 0.100000001.
double FloatToDouble(float f) {
  if (!std::isfinite(f)) return static_cast<double>(f);
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, f);
  double d = 0;
  std::from_chars(buf, res.ptr, d);
  return d;
}

// ---- Types as text -----------------------------------------------------------------------------

std::string TypeName(duckdb_logical_type type);

std::string FieldName(const std::string& name) {
  bool plain = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0])) &&
               std::all_of(name.begin(), name.end(), [](char c) {
                 return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
               });
  return plain ? name : QuoteIdentifier(name);
}

std::string TypeName(duckdb_logical_type type) {
  std::string alias = TakeString(duckdb_logical_type_get_alias(type));
  if (!alias.empty()) return alias;  // JSON is a VARCHAR with an alias
  switch (duckdb_get_type_id(type)) {
    case DUCKDB_TYPE_BOOLEAN: return "BOOLEAN";
    case DUCKDB_TYPE_TINYINT: return "TINYINT";
    case DUCKDB_TYPE_SMALLINT: return "SMALLINT";
    case DUCKDB_TYPE_INTEGER: return "INTEGER";
    case DUCKDB_TYPE_BIGINT: return "BIGINT";
    case DUCKDB_TYPE_UTINYINT: return "UTINYINT";
    case DUCKDB_TYPE_USMALLINT: return "USMALLINT";
    case DUCKDB_TYPE_UINTEGER: return "UINTEGER";
    case DUCKDB_TYPE_UBIGINT: return "UBIGINT";
    case DUCKDB_TYPE_FLOAT: return "FLOAT";
    case DUCKDB_TYPE_DOUBLE: return "DOUBLE";
    case DUCKDB_TYPE_TIMESTAMP: return "TIMESTAMP";
    case DUCKDB_TYPE_DATE: return "DATE";
    case DUCKDB_TYPE_TIME: return "TIME";
    case DUCKDB_TYPE_INTERVAL: return "INTERVAL";
    case DUCKDB_TYPE_HUGEINT: return "HUGEINT";
    case DUCKDB_TYPE_UHUGEINT: return "UHUGEINT";
    case DUCKDB_TYPE_VARCHAR: return "VARCHAR";
    case DUCKDB_TYPE_BLOB: return "BLOB";
    case DUCKDB_TYPE_DECIMAL:
      return "DECIMAL(" + std::to_string(duckdb_decimal_width(type)) + "," +
             std::to_string(duckdb_decimal_scale(type)) + ")";
    case DUCKDB_TYPE_TIMESTAMP_S: return "TIMESTAMP_S";
    case DUCKDB_TYPE_TIMESTAMP_MS: return "TIMESTAMP_MS";
    case DUCKDB_TYPE_TIMESTAMP_NS: return "TIMESTAMP_NS";
    case DUCKDB_TYPE_ENUM: {
      std::string out = "ENUM(";
      const uint32_t n = duckdb_enum_dictionary_size(type);
      for (uint32_t i = 0; i < n; ++i) {
        if (i > 0) out += ", ";
        out += QuoteLiteral(TakeString(duckdb_enum_dictionary_value(type, i)));
      }
      return out + ")";
    }
    case DUCKDB_TYPE_LIST: {
      OwnedType child{duckdb_list_type_child_type(type)};
      return TypeName(child.t) + "[]";
    }
    case DUCKDB_TYPE_ARRAY: {
      OwnedType child{duckdb_array_type_child_type(type)};
      return TypeName(child.t) + "[" + std::to_string(duckdb_array_type_array_size(type)) + "]";
    }
    case DUCKDB_TYPE_STRUCT:
    case DUCKDB_TYPE_UNION: {
      const bool is_struct = duckdb_get_type_id(type) == DUCKDB_TYPE_STRUCT;
      const idx_t n =
          is_struct ? duckdb_struct_type_child_count(type) : duckdb_union_type_member_count(type);
      std::string out = is_struct ? "STRUCT(" : "UNION(";
      for (idx_t i = 0; i < n; ++i) {
        if (i > 0) out += ", ";
        OwnedType child{is_struct ? duckdb_struct_type_child_type(type, i)
                                  : duckdb_union_type_member_type(type, i)};
        out += FieldName(TakeString(is_struct ? duckdb_struct_type_child_name(type, i)
                                              : duckdb_union_type_member_name(type, i)));
        out += " " + TypeName(child.t);
      }
      return out + ")";
    }
    case DUCKDB_TYPE_MAP: {
      OwnedType key{duckdb_map_type_key_type(type)};
      OwnedType value{duckdb_map_type_value_type(type)};
      return "MAP(" + TypeName(key.t) + ", " + TypeName(value.t) + ")";
    }
    case DUCKDB_TYPE_UUID: return "UUID";
    case DUCKDB_TYPE_BIT: return "BIT";
    case DUCKDB_TYPE_TIME_TZ: return "TIME WITH TIME ZONE";
    case DUCKDB_TYPE_TIMESTAMP_TZ: return "TIMESTAMP WITH TIME ZONE";
    case DUCKDB_TYPE_BIGNUM: return "BIGNUM";
    case DUCKDB_TYPE_SQLNULL: return "\"NULL\"";
    case DUCKDB_TYPE_TIME_NS: return "TIME_NS";
    default: return "UNKNOWN";
  }
}

// ---- Cells -------------------------------------------------------------------------------------

bool IsValid(duckdb_vector vec, idx_t row) {
  uint64_t* validity = duckdb_vector_get_validity(vec);
  return validity == nullptr || duckdb_validity_row_is_valid(validity, row);
}

std::string_view StringAt(void* data, idx_t row) {
  auto* s = static_cast<duckdb_string_t*>(data) + row;
  return std::string_view(duckdb_string_t_data(s), duckdb_string_t_length(*s));
}

// An unsigned integer vector entry of the given physical width (ENUM indexes, UNION tags).
uint64_t UnsignedAt(void* data, duckdb_type physical, idx_t row) {
  switch (physical) {
    case DUCKDB_TYPE_UTINYINT: return static_cast<uint8_t*>(data)[row];
    case DUCKDB_TYPE_USMALLINT: return static_cast<uint16_t*>(data)[row];
    default: return static_cast<uint32_t*>(data)[row];
  }
}

__int128 DecimalAt(void* data, duckdb_logical_type type, idx_t row) {
  switch (duckdb_decimal_internal_type(type)) {
    case DUCKDB_TYPE_SMALLINT: return static_cast<int16_t*>(data)[row];
    case DUCKDB_TYPE_INTEGER: return static_cast<int32_t*>(data)[row];
    case DUCKDB_TYPE_BIGINT: return static_cast<int64_t*>(data)[row];
    default: return FromHugeint(static_cast<duckdb_hugeint*>(data)[row]);
  }
}

// One entry of a vector as a duckdb_value (owned by the caller), so that DuckDB's own cast to
// VARCHAR prints it: that is the only way to match DuckDB's text for TIMESTAMP, INTERVAL, BLOB,
// LIST, STRUCT, MAP and the rest exactly. nullptr for a type the C API cannot build.
duckdb_value MakeValue(duckdb_vector vec, duckdb_logical_type type, idx_t row) {
  if (!IsValid(vec, row)) return duckdb_create_null_value();
  void* data = duckdb_vector_get_data(vec);
  switch (duckdb_get_type_id(type)) {
    case DUCKDB_TYPE_BOOLEAN: return duckdb_create_bool(static_cast<bool*>(data)[row]);
    case DUCKDB_TYPE_TINYINT: return duckdb_create_int8(static_cast<int8_t*>(data)[row]);
    case DUCKDB_TYPE_SMALLINT: return duckdb_create_int16(static_cast<int16_t*>(data)[row]);
    case DUCKDB_TYPE_INTEGER: return duckdb_create_int32(static_cast<int32_t*>(data)[row]);
    case DUCKDB_TYPE_BIGINT: return duckdb_create_int64(static_cast<int64_t*>(data)[row]);
    case DUCKDB_TYPE_UTINYINT: return duckdb_create_uint8(static_cast<uint8_t*>(data)[row]);
    case DUCKDB_TYPE_USMALLINT: return duckdb_create_uint16(static_cast<uint16_t*>(data)[row]);
    case DUCKDB_TYPE_UINTEGER: return duckdb_create_uint32(static_cast<uint32_t*>(data)[row]);
    case DUCKDB_TYPE_UBIGINT: return duckdb_create_uint64(static_cast<uint64_t*>(data)[row]);
    case DUCKDB_TYPE_FLOAT: return duckdb_create_float(static_cast<float*>(data)[row]);
    case DUCKDB_TYPE_DOUBLE: return duckdb_create_double(static_cast<double*>(data)[row]);
    case DUCKDB_TYPE_HUGEINT: return duckdb_create_hugeint(static_cast<duckdb_hugeint*>(data)[row]);
    case DUCKDB_TYPE_UHUGEINT:
      return duckdb_create_uhugeint(static_cast<duckdb_uhugeint*>(data)[row]);
    case DUCKDB_TYPE_DECIMAL: {
      __int128 v = DecimalAt(data, type, row);
      duckdb_hugeint h{static_cast<uint64_t>(v), static_cast<int64_t>(v >> 64)};
      return duckdb_create_decimal(
          duckdb_decimal{duckdb_decimal_width(type), duckdb_decimal_scale(type), h});
    }
    case DUCKDB_TYPE_TIMESTAMP:
      return duckdb_create_timestamp(static_cast<duckdb_timestamp*>(data)[row]);
    case DUCKDB_TYPE_TIMESTAMP_TZ:
      return duckdb_create_timestamp_tz(static_cast<duckdb_timestamp*>(data)[row]);
    case DUCKDB_TYPE_TIMESTAMP_S:
      return duckdb_create_timestamp_s(static_cast<duckdb_timestamp_s*>(data)[row]);
    case DUCKDB_TYPE_TIMESTAMP_MS:
      return duckdb_create_timestamp_ms(static_cast<duckdb_timestamp_ms*>(data)[row]);
    case DUCKDB_TYPE_TIMESTAMP_NS:
      return duckdb_create_timestamp_ns(static_cast<duckdb_timestamp_ns*>(data)[row]);
    case DUCKDB_TYPE_DATE: return duckdb_create_date(static_cast<duckdb_date*>(data)[row]);
    case DUCKDB_TYPE_TIME: return duckdb_create_time(static_cast<duckdb_time*>(data)[row]);
    case DUCKDB_TYPE_TIME_NS: return duckdb_create_time_ns(static_cast<duckdb_time_ns*>(data)[row]);
    case DUCKDB_TYPE_TIME_TZ:
      return duckdb_create_time_tz_value(static_cast<duckdb_time_tz*>(data)[row]);
    case DUCKDB_TYPE_INTERVAL:
      return duckdb_create_interval(static_cast<duckdb_interval*>(data)[row]);
    case DUCKDB_TYPE_VARCHAR: {
      std::string_view s = StringAt(data, row);
      return duckdb_create_varchar_length(s.data(), s.size());
    }
    case DUCKDB_TYPE_BLOB: {
      std::string_view s = StringAt(data, row);
      return duckdb_create_blob(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    }
    case DUCKDB_TYPE_BIT: {
      std::string_view s = StringAt(data, row);
      return duckdb_create_bit(
          duckdb_bit{reinterpret_cast<uint8_t*>(const_cast<char*>(s.data())), s.size()});
    }
    case DUCKDB_TYPE_BIGNUM: {
      // Stored as a 3-byte header whose top bit is set for a positive number, then the magnitude
      // big-endian; a negative number has every byte inverted. The C API wants the magnitude.
      std::string_view s = StringAt(data, row);
      if (s.size() < 3) return nullptr;
      const bool negative = (static_cast<uint8_t>(s[0]) & 0x80) == 0;
      std::vector<uint8_t> magnitude(s.begin() + 3, s.end());
      if (negative) {
        for (uint8_t& b : magnitude) b = static_cast<uint8_t>(~b);
      }
      return duckdb_create_bignum(duckdb_bignum{magnitude.data(), magnitude.size(), negative});
    }
    case DUCKDB_TYPE_UUID: {
      // Stored as a hugeint with the top bit flipped so that UUIDs sort as unsigned numbers.
      duckdb_hugeint h = static_cast<duckdb_hugeint*>(data)[row];
      return duckdb_create_uuid(
          duckdb_uhugeint{h.lower, static_cast<uint64_t>(h.upper) ^ (uint64_t{1} << 63)});
    }
    case DUCKDB_TYPE_ENUM:
      return duckdb_create_enum_value(type, UnsignedAt(data, duckdb_enum_internal_type(type), row));
    case DUCKDB_TYPE_LIST:
    case DUCKDB_TYPE_MAP: {
      const duckdb_list_entry entry = static_cast<duckdb_list_entry*>(data)[row];
      duckdb_vector child = duckdb_list_vector_get_child(vec);
      if (duckdb_get_type_id(type) == DUCKDB_TYPE_LIST) {
        OwnedType child_type{duckdb_list_type_child_type(type)};
        OwnedValues items;
        for (idx_t k = 0; k < entry.length; ++k) {
          items.v.push_back(MakeValue(child, child_type.t, entry.offset + k));
        }
        if (!items.Complete()) return nullptr;
        return duckdb_create_list_value(child_type.t, items.v.data(), items.v.size());
      }
      // A MAP is a list of STRUCT(key, value).
      OwnedType key_type{duckdb_map_type_key_type(type)};
      OwnedType value_type{duckdb_map_type_value_type(type)};
      duckdb_vector key_vec = duckdb_struct_vector_get_child(child, 0);
      duckdb_vector value_vec = duckdb_struct_vector_get_child(child, 1);
      OwnedValues keys, values;
      for (idx_t k = 0; k < entry.length; ++k) {
        keys.v.push_back(MakeValue(key_vec, key_type.t, entry.offset + k));
        values.v.push_back(MakeValue(value_vec, value_type.t, entry.offset + k));
      }
      if (!keys.Complete() || !values.Complete()) return nullptr;
      return duckdb_create_map_value(type, keys.v.data(), values.v.data(), keys.v.size());
    }
    case DUCKDB_TYPE_ARRAY: {
      const idx_t size = duckdb_array_type_array_size(type);
      OwnedType child_type{duckdb_array_type_child_type(type)};
      duckdb_vector child = duckdb_array_vector_get_child(vec);
      OwnedValues items;
      for (idx_t k = 0; k < size; ++k) {
        items.v.push_back(MakeValue(child, child_type.t, row * size + k));
      }
      if (!items.Complete()) return nullptr;
      return duckdb_create_array_value(child_type.t, items.v.data(), items.v.size());
    }
    case DUCKDB_TYPE_STRUCT: {
      const idx_t n = duckdb_struct_type_child_count(type);
      OwnedValues fields;
      for (idx_t i = 0; i < n; ++i) {
        OwnedType child_type{duckdb_struct_type_child_type(type, i)};
        fields.v.push_back(MakeValue(duckdb_struct_vector_get_child(vec, i), child_type.t, row));
      }
      if (!fields.Complete()) return nullptr;
      return duckdb_create_struct_value(type, fields.v.data());
    }
    case DUCKDB_TYPE_UNION: {
      // A UNION is a STRUCT whose first child is the tag of the member that holds the value.
      duckdb_vector tags = duckdb_struct_vector_get_child(vec, 0);
      const idx_t tag = static_cast<uint8_t*>(duckdb_vector_get_data(tags))[row];
      OwnedType member_type{duckdb_union_type_member_type(type, tag)};
      OwnedValue member{
          MakeValue(duckdb_struct_vector_get_child(vec, tag + 1), member_type.t, row)};
      if (member.v == nullptr) return nullptr;
      return duckdb_create_union_value(type, tag, member.v);
    }
    default: return nullptr;
  }
}

// How a result column becomes Values; decided once per column.
struct ColumnReader {
  OwnedType type;
  duckdb_type id = DUCKDB_TYPE_INVALID;
  std::string type_name;
};

// Converts `count` entries of one column of a chunk into rows[base..][col].
void ReadColumn(const ColumnReader& reader, duckdb_vector vec, idx_t count,
                std::vector<std::vector<Value>>& rows, size_t base, size_t col) {
  void* data = duckdb_vector_get_data(vec);
  for (idx_t r = 0; r < count; ++r) {
    Value& out = rows[base + r][col];
    if (!IsValid(vec, r)) continue;  // Values start as null
    switch (reader.id) {
      case DUCKDB_TYPE_BOOLEAN: out = Value::Bool(static_cast<bool*>(data)[r]); break;
      case DUCKDB_TYPE_TINYINT: out = Value::Int(static_cast<int8_t*>(data)[r]); break;
      case DUCKDB_TYPE_SMALLINT: out = Value::Int(static_cast<int16_t*>(data)[r]); break;
      case DUCKDB_TYPE_INTEGER: out = Value::Int(static_cast<int32_t*>(data)[r]); break;
      case DUCKDB_TYPE_BIGINT: out = Value::Int(static_cast<int64_t*>(data)[r]); break;
      case DUCKDB_TYPE_UTINYINT: out = Value::Int(static_cast<uint8_t*>(data)[r]); break;
      case DUCKDB_TYPE_USMALLINT: out = Value::Int(static_cast<uint16_t*>(data)[r]); break;
      case DUCKDB_TYPE_UINTEGER: out = Value::Int(static_cast<uint32_t*>(data)[r]); break;
      case DUCKDB_TYPE_UBIGINT:
        out = Value::NumberText(std::to_string(static_cast<uint64_t*>(data)[r]));
        break;
      case DUCKDB_TYPE_HUGEINT:
        out = Value::NumberText(Int128ToString(FromHugeint(static_cast<duckdb_hugeint*>(data)[r])));
        break;
      case DUCKDB_TYPE_UHUGEINT: {
        duckdb_uhugeint u = static_cast<duckdb_uhugeint*>(data)[r];
        out = Value::NumberText(
            UInt128ToString((static_cast<unsigned __int128>(u.upper) << 64) | u.lower));
        break;
      }
      case DUCKDB_TYPE_DECIMAL:
        out = Value::NumberText(DecimalToString(DecimalAt(data, reader.type.t, r),
                                                duckdb_decimal_scale(reader.type.t)));
        break;
      case DUCKDB_TYPE_FLOAT:
        out = Value::Double(FloatToDouble(static_cast<float*>(data)[r]));
        break;
      case DUCKDB_TYPE_DOUBLE: out = Value::Double(static_cast<double*>(data)[r]); break;
      case DUCKDB_TYPE_BIGNUM: {
        OwnedValue v{MakeValue(vec, reader.type.t, r)};
        out = v.v == nullptr ? Value::String("(BIGNUM value)")
                             : Value::NumberText(TakeString(duckdb_get_varchar(v.v)));
        break;
      }
      case DUCKDB_TYPE_VARCHAR: out = Value::String(std::string(StringAt(data, r))); break;
      default: {
        OwnedValue v{MakeValue(vec, reader.type.t, r)};
        out = v.v == nullptr ? Value::String("(" + reader.type_name + " value)")
                             : Value::String(TakeString(duckdb_get_varchar(v.v)));
      }
    }
  }
}

// Reads a result chunk by chunk until it ends or `max_rows` are in (then `truncated` says if
// there were more).
Result<QueryResult> Materialize(duckdb_result* result, uint64_t max_rows) {
  QueryResult out;
  const idx_t columns = duckdb_column_count(result);
  std::vector<ColumnReader> readers(columns);
  for (idx_t c = 0; c < columns; ++c) {
    readers[c].type.t = duckdb_column_logical_type(result, c);
    readers[c].id = duckdb_get_type_id(readers[c].type.t);
    readers[c].type_name = TypeName(readers[c].type.t);
    const char* name = duckdb_column_name(result, c);
    out.columns.push_back({name != nullptr ? name : "", readers[c].type_name});
  }
  for (;;) {
    OwnedChunk chunk{duckdb_fetch_chunk(*result)};
    if (chunk.h == nullptr) {
      if (duckdb_result_error(result) != nullptr) return ErrorOfResult(result);
      break;
    }
    const idx_t size = duckdb_data_chunk_get_size(chunk.h);
    if (size == 0) continue;
    const uint64_t room = max_rows - out.rows.size();
    if (room == 0) {
      out.truncated = true;
      break;
    }
    const idx_t take = static_cast<idx_t>(std::min<uint64_t>(size, room));
    const size_t base = out.rows.size();
    out.rows.resize(base + take, std::vector<Value>(columns));
    for (idx_t c = 0; c < columns; ++c) {
      ReadColumn(readers[c], duckdb_data_chunk_get_vector(chunk.h, c), take, out.rows, base, c);
    }
    if (take < size) {
      out.truncated = true;
      break;
    }
  }
  return out;
}

// ---- Statement checks --------------------------------------------------------------------------

std::string_view StatementTypeName(duckdb_statement_type type) {
  switch (type) {
    case DUCKDB_STATEMENT_TYPE_SELECT: return "SELECT";
    case DUCKDB_STATEMENT_TYPE_INSERT: return "INSERT";
    case DUCKDB_STATEMENT_TYPE_UPDATE: return "UPDATE";
    case DUCKDB_STATEMENT_TYPE_EXPLAIN: return "EXPLAIN";
    case DUCKDB_STATEMENT_TYPE_DELETE: return "DELETE";
    case DUCKDB_STATEMENT_TYPE_PREPARE: return "PREPARE";
    case DUCKDB_STATEMENT_TYPE_CREATE: return "CREATE";
    case DUCKDB_STATEMENT_TYPE_EXECUTE: return "EXECUTE";
    case DUCKDB_STATEMENT_TYPE_ALTER: return "ALTER";
    case DUCKDB_STATEMENT_TYPE_TRANSACTION: return "TRANSACTION";
    case DUCKDB_STATEMENT_TYPE_COPY: return "COPY";
    case DUCKDB_STATEMENT_TYPE_ANALYZE: return "ANALYZE";
    case DUCKDB_STATEMENT_TYPE_VARIABLE_SET: return "SET VARIABLE";
    case DUCKDB_STATEMENT_TYPE_CREATE_FUNC: return "CREATE FUNCTION";
    case DUCKDB_STATEMENT_TYPE_DROP: return "DROP";
    case DUCKDB_STATEMENT_TYPE_EXPORT: return "EXPORT";
    case DUCKDB_STATEMENT_TYPE_PRAGMA: return "PRAGMA";
    case DUCKDB_STATEMENT_TYPE_VACUUM: return "VACUUM";
    case DUCKDB_STATEMENT_TYPE_CALL: return "CALL";
    case DUCKDB_STATEMENT_TYPE_SET: return "SET";
    case DUCKDB_STATEMENT_TYPE_LOAD: return "LOAD";
    case DUCKDB_STATEMENT_TYPE_RELATION: return "RELATION";
    case DUCKDB_STATEMENT_TYPE_EXTENSION: return "EXTENSION";
    case DUCKDB_STATEMENT_TYPE_LOGICAL_PLAN: return "LOGICAL PLAN";
    case DUCKDB_STATEMENT_TYPE_ATTACH: return "ATTACH";
    case DUCKDB_STATEMENT_TYPE_DETACH: return "DETACH";
    case DUCKDB_STATEMENT_TYPE_MULTI: return "MULTI";
    default: return "UNKNOWN";
  }
}

// Skips white space and SQL comments from `i`.
size_t SkipSpaceAndComments(std::string_view s, size_t i) {
  for (;;) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (s.substr(i, 2) == "--") {
      size_t end = s.find('\n', i);
      i = end == std::string_view::npos ? s.size() : end + 1;
    } else if (s.substr(i, 2) == "/*") {
      size_t end = s.find("*/", i + 2);
      i = end == std::string_view::npos ? s.size() : end + 2;
    } else {
      return i;
    }
  }
}

// Reads a keyword at `*i` (letters only) if it is `word`, case-insensitively.
bool ConsumeKeyword(std::string_view s, size_t* i, std::string_view word) {
  size_t j = *i;
  while (j < s.size() && std::isalpha(static_cast<unsigned char>(s[j]))) ++j;
  if (j - *i != word.size() ||
      (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_'))) {
    return false;
  }
  for (size_t k = 0; k < word.size(); ++k) {
    if (std::toupper(static_cast<unsigned char>(s[*i + k])) != word[k]) return false;
  }
  *i = j;
  return true;
}

// The statement an EXPLAIN shows: the text after "EXPLAIN [ANALYZE | ANALYSE | (options)]".
// EXPLAIN ANALYZE runs its statement, so the statement is what must be checked.
std::optional<std::string_view> ExplainedStatement(std::string_view sql) {
  size_t i = SkipSpaceAndComments(sql, 0);
  if (!ConsumeKeyword(sql, &i, "EXPLAIN")) return std::nullopt;
  i = SkipSpaceAndComments(sql, i);
  if (ConsumeKeyword(sql, &i, "ANALYZE") || ConsumeKeyword(sql, &i, "ANALYSE")) {
    return sql.substr(i);
  }
  if (i < sql.size() && sql[i] == '(') {
    char quote = 0;
    for (++i; i < sql.size(); ++i) {
      if (quote != 0) {
        if (sql[i] == quote) quote = 0;
      } else if (sql[i] == '\'' || sql[i] == '"') {
        quote = sql[i];
      } else if (sql[i] == ')') {
        return sql.substr(i + 1);
      } else if (sql[i] == '(') {
        return std::nullopt;  // options are flat; anything else is not understood
      }
    }
    return std::nullopt;
  }
  return sql.substr(i);
}

// The first word of the text, upper-cased ("" if it starts with something else, e.g. "(").
std::string LeadingKeyword(std::string_view sql) {
  size_t i = SkipSpaceAndComments(sql, 0);
  std::string word;
  while (i < sql.size() && std::isalpha(static_cast<unsigned char>(sql[i]))) {
    word.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(sql[i++]))));
  }
  return word;
}

// Words that start a statement that only reads. Used only when DuckDB cannot bind a lone
// statement (so it cannot tell its type), to refuse "DELETE FROM view" as a write rather than
// report the binder's complaint.
bool StartsAReadOnlyStatement(std::string_view sql) {
  static const std::string_view kReadWords[] = {
      "",     "SELECT", "WITH",      "FROM",   "VALUES",  "TABLE", "DESCRIBE",
      "DESC", "SHOW",   "SUMMARIZE", "PRAGMA", "EXPLAIN", "PIVOT", "UNPIVOT"};
  const std::string word = LeadingKeyword(sql);
  return std::find(std::begin(kReadWords), std::end(kReadWords), word) != std::end(kReadWords);
}

std::string RefusalMessage(bool allow_explain, idx_t n, idx_t i, std::string_view type) {
  std::string message = "only SELECT";
  if (allow_explain) message += " and EXPLAIN";
  message += " statements may run here; ";
  message += n == 1 ? std::string("the statement") : "statement " + std::to_string(i + 1);
  message += " is ";
  message += type;
  return message;
}

Status CheckStatements(duckdb_connection conn, std::string_view sql, bool allow_explain) {
  const std::string text(sql);
  OwnedExtracted extracted;
  const idx_t n = duckdb_extract_statements(conn, text.c_str(), &extracted.h);
  if (n == 0) {
    const char* error = duckdb_extract_statements_error(extracted.h);
    return ErrorOfMessage(error != nullptr ? error : "Parser Error: no SQL statement to run");
  }
  Status first_error;
  for (idx_t i = 0; i < n; ++i) {
    OwnedPrepared prepared;
    if (duckdb_prepare_extracted_statement(conn, extracted.h, i, &prepared.h) == DuckDBError) {
      if (n == 1 && !StartsAReadOnlyStatement(sql)) {
        return Error(ErrorCode::kAccessDenied,
                     RefusalMessage(allow_explain, n, i, LeadingKeyword(sql)));
      }
      // A later statement may fail to bind only because an earlier one was refused; keep looking
      // for a refusal before reporting the error.
      if (first_error.ok()) first_error = ErrorOfMessage(duckdb_prepare_error(prepared.h));
      continue;
    }
    const duckdb_statement_type type = duckdb_prepared_statement_type(prepared.h);
    if (type == DUCKDB_STATEMENT_TYPE_SELECT) continue;
    if (type == DUCKDB_STATEMENT_TYPE_EXPLAIN && allow_explain) {
      if (n != 1) {
        return Error(ErrorCode::kAccessDenied,
                     "EXPLAIN must be sent alone, not together with other statements");
      }
      std::optional<std::string_view> inner = ExplainedStatement(sql);
      if (!inner) {
        return Error(ErrorCode::kAccessDenied, "this form of EXPLAIN is not supported");
      }
      Status s = CheckStatements(conn, *inner, false);
      if (s.code() == ErrorCode::kAccessDenied) {
        return Error(ErrorCode::kAccessDenied, "EXPLAIN may only show a SELECT: " + s.message());
      }
      if (!s.ok() && first_error.ok()) first_error = s;
      continue;
    }
    return Error(ErrorCode::kAccessDenied,
                 RefusalMessage(allow_explain, n, i, StatementTypeName(type)));
  }
  return first_error;
}

}  // namespace

// ---- Value -------------------------------------------------------------------------------------

std::string Value::ToText() const {
  switch (kind) {
    case Kind::kNull: return "NULL";
    case Kind::kBool: return b ? "true" : "false";
    case Kind::kInt: return std::to_string(i);
    case Kind::kDouble: return DoubleToString(d);
    case Kind::kString:
    case Kind::kNumberText: return s;
  }
  return s;
}

std::string QuoteIdentifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string QuoteLiteral(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

// ---- DuckDb ------------------------------------------------------------------------------------

Result<std::unique_ptr<DuckDb>> DuckDb::Open(const DuckDbOptions& options) {
  duckdb_config config = nullptr;
  if (duckdb_create_config(&config) == DuckDBError) {
    return Error(ErrorCode::kInternal, "cannot create a DuckDB configuration");
  }
  std::vector<std::pair<std::string, std::string>> settings = {
      {"preserve_insertion_order", options.preserve_insertion_order ? "true" : "false"},
      // Basin never downloads code at run time; built-in extensions still load.
      {"autoinstall_known_extensions", "false"},
  };
  if (options.threads > 0) settings.emplace_back("threads", std::to_string(options.threads));
  if (!options.memory_limit.empty()) settings.emplace_back("memory_limit", options.memory_limit);
  for (const auto& [name, value] : settings) {
    if (duckdb_set_config(config, name.c_str(), value.c_str()) == DuckDBError) {
      duckdb_destroy_config(&config);
      return Error(ErrorCode::kInvalidArgument, "invalid DuckDB setting " + name + "=" + value);
    }
  }
  std::unique_ptr<DuckDb> db(new DuckDb());
  char* error = nullptr;
  const duckdb_state state = duckdb_open_ext(nullptr, &db->db_, config, &error);
  duckdb_destroy_config(&config);
  if (state == DuckDBError) {
    std::string message = TakeString(error);
    db->db_ = nullptr;
    return Error(ErrorCode::kInvalidArgument, "cannot open DuckDB: " + message);
  }
  if (duckdb_connect(db->db_, &db->conn_) == DuckDBError) {
    db->conn_ = nullptr;
    return Error(ErrorCode::kInternal, "cannot connect to DuckDB");
  }
  return db;
}

DuckDb::~DuckDb() {
  if (conn_ != nullptr) duckdb_disconnect(&conn_);
  if (db_ != nullptr) duckdb_close(&db_);
}

Status DuckDb::Execute(std::string_view sql) {
  const std::string text(sql);
  OwnedResult result;
  if (duckdb_query(conn_, text.c_str(), &result.r) == DuckDBError) {
    return ErrorOfResult(&result.r);
  }
  return Status::Ok();
}

Result<QueryResult> DuckDb::Query(std::string_view sql, uint64_t max_rows) {
  const std::string text(sql);
  OwnedExtracted extracted;
  const idx_t n = duckdb_extract_statements(conn_, text.c_str(), &extracted.h);
  if (n == 0) {
    const char* error = duckdb_extract_statements_error(extracted.h);
    return ErrorOfMessage(error != nullptr ? error : "Parser Error: no SQL statement to run");
  }
  // Statements are prepared one at a time: a later one may use what an earlier one created.
  for (idx_t i = 0; i + 1 < n; ++i) {
    OwnedPrepared prepared;
    if (duckdb_prepare_extracted_statement(conn_, extracted.h, i, &prepared.h) == DuckDBError) {
      return ErrorOfMessage(duckdb_prepare_error(prepared.h));
    }
    OwnedResult result;
    if (duckdb_execute_prepared(prepared.h, &result.r) == DuckDBError) {
      return ErrorOfResult(&result.r);
    }
  }
  OwnedPrepared prepared;
  if (duckdb_prepare_extracted_statement(conn_, extracted.h, n - 1, &prepared.h) == DuckDBError) {
    return ErrorOfMessage(duckdb_prepare_error(prepared.h));
  }
  // Streaming, so that a capped result stops the query after max_rows instead of materialising
  // all of it first. DuckDB 1.4 marks the streaming entry point deprecated but has no other.
  OwnedPending pending;
  if (duckdb_pending_prepared_streaming(prepared.h, &pending.h) == DuckDBError) {
    return ErrorOfMessage(duckdb_pending_error(pending.h));
  }
  OwnedResult result;
  if (duckdb_execute_pending(pending.h, &result.r) == DuckDBError) {
    return ErrorOfResult(&result.r);
  }
  return Materialize(&result.r, max_rows);
}

Status DuckDb::CheckReadOnly(std::string_view sql) { return CheckStatements(conn_, sql, true); }

Result<std::unique_ptr<Appender>> DuckDb::CreateAppender(const std::string& schema,
                                                         const std::string& table) {
  duckdb_appender appender = nullptr;
  if (duckdb_appender_create(conn_, schema.empty() ? nullptr : schema.c_str(), table.c_str(),
                             &appender) == DuckDBError) {
    std::string message = appender != nullptr && duckdb_appender_error(appender) != nullptr
                              ? duckdb_appender_error(appender)
                              : "cannot append to " + table;
    duckdb_appender_destroy(&appender);
    return ErrorOfMessage(message.c_str());
  }
  const std::string quoted =
      (schema.empty() ? std::string() : QuoteIdentifier(schema) + ".") + QuoteIdentifier(table);
  return std::unique_ptr<Appender>(
      new Appender(conn_, quoted, appender, duckdb_appender_column_count(appender)));
}

void DuckDb::Interrupt() { duckdb_interrupt(conn_); }

// ---- Appender ----------------------------------------------------------------------------------

Appender::~Appender() {
  // Destroying flushes the rows still buffered; a row left half-built would lose them all, so it
  // is discarded first.
  if (broken_.ok() && column_ != 0) (void)DiscardRow();
  duckdb_appender_destroy(&appender_);
}

void Appender::AfterAppend(bool ok) {
  if (ok) {
    ++column_;
    return;
  }
  const char* error = duckdb_appender_error(appender_);
  first_error_ =
      Error(ErrorCode::kInvalidArgument, "column " + std::to_string(column_ + 1) + ": " +
                                             (error != nullptr ? error : "value not accepted"));
}

// Each Append* does nothing once the row has an error (EndRow reports it) or has all its values
// (EndRow reports the extra one), so DuckDB never sees a value past the row's end.
#define BASIN_APPEND(call)                                                                   \
  do {                                                                                       \
    if (!first_error_.ok() || !broken_.ok()) return;                                         \
    if (column_ >= column_count_) {                                                          \
      first_error_ = Error(ErrorCode::kInvalidArgument, "row has more values than the " +    \
                                                            std::to_string(column_count_) +  \
                                                            " columns of " + quoted_table_); \
      return;                                                                                \
    }                                                                                        \
    AfterAppend((call) == DuckDBSuccess);                                                    \
  } while (false)

void Appender::AppendNull() { BASIN_APPEND(duckdb_append_null(appender_)); }
void Appender::AppendVarchar(std::string_view v) {
  BASIN_APPEND(duckdb_append_varchar_length(appender_, v.data(), v.size()));
}
void Appender::AppendBool(bool v) { BASIN_APPEND(duckdb_append_bool(appender_, v)); }
void Appender::AppendInt32(int32_t v) { BASIN_APPEND(duckdb_append_int32(appender_, v)); }
void Appender::AppendInt64(int64_t v) { BASIN_APPEND(duckdb_append_int64(appender_, v)); }
void Appender::AppendDouble(double v) { BASIN_APPEND(duckdb_append_double(appender_, v)); }
void Appender::AppendTimestampMicros(int64_t epoch_micros) {
  BASIN_APPEND(duckdb_append_timestamp(appender_, duckdb_timestamp{epoch_micros}));
}
void Appender::AppendDate(int32_t days_since_epoch) {
  BASIN_APPEND(duckdb_append_date(appender_, duckdb_date{days_since_epoch}));
}

#undef BASIN_APPEND

Status Appender::EndRow() {
  if (!broken_.ok()) return broken_;
  if (first_error_.ok() && column_ != column_count_) {
    first_error_ = Error(ErrorCode::kInvalidArgument,
                         "row has " + std::to_string(column_) + " values, " + quoted_table_ +
                             " has " + std::to_string(column_count_) + " columns");
  }
  if (first_error_.ok()) {
    if (duckdb_appender_end_row(appender_) == DuckDBSuccess) {
      column_ = 0;
      return Status::Ok();
    }
    const char* error = duckdb_appender_error(appender_);
    first_error_ = Error(ErrorCode::kInvalidArgument, error != nullptr ? error : "row rejected");
  }
  Status error = std::move(first_error_);
  first_error_ = Status::Ok();
  Status discarded = DiscardRow();
  if (!discarded.ok()) return discarded;
  return error;
}

Status Appender::DiscardRow() {
  auto fail = [&](std::string_view step) {
    const char* error = duckdb_appender_error(appender_);
    broken_ = Error(ErrorCode::kInternal,
                    "appender to " + quoted_table_ + " failed to " + std::string(step) +
                        " a rejected row: " + (error != nullptr ? error : "unknown error"));
    return broken_;
  };
  for (; column_ < column_count_; ++column_) {
    if (duckdb_append_default(appender_) == DuckDBError) return fail("complete");
  }
  column_ = 0;
  if (duckdb_appender_end_row(appender_) == DuckDBError) return fail("end");
  if (duckdb_appender_flush(appender_) == DuckDBError) return fail("flush");
  // The appender's rows get increasing row ids, so the row just flushed has the largest.
  const std::string sql = "DELETE FROM " + quoted_table_ +
                          " WHERE rowid = (SELECT max(rowid) FROM " + quoted_table_ + ")";
  OwnedResult result;
  if (duckdb_query(conn_, sql.c_str(), &result.r) == DuckDBError) {
    broken_ = Error(ErrorCode::kInternal, "cannot delete a rejected row from " + quoted_table_ +
                                              ": " + ErrorOfResult(&result.r).message());
    return broken_;
  }
  return Status::Ok();
}

Status Appender::Flush() {
  if (!broken_.ok()) return broken_;
  if (column_ != 0) {
    return Error(ErrorCode::kInvalidArgument, "flush in the middle of a row: call EndRow first");
  }
  if (duckdb_appender_flush(appender_) == DuckDBError) {
    // DuckDB drops everything it buffered when a flush fails; the appender cannot go on.
    const char* error = duckdb_appender_error(appender_);
    broken_ = Error(ErrorCode::kInvalidArgument, error != nullptr ? error : "flush failed");
    return broken_;
  }
  return Status::Ok();
}

}  // namespace basin::query
