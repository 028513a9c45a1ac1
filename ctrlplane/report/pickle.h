// A minimal encoder for Python's pickle protocol 2, the format HBlink and FreeDMR send their
// CONFIG and BRIDGES dictionaries in (`pickle.dumps(..., protocol=2)`), which HBmonitor (Python 2,
// cPickle) and FDMR-Monitor (Python 3) load. It writes values only (no classes): None, bool, int
// (any size), float, str, bytes, list, tuple and dict (insertion order kept). Like CPython's
// pickler it memoizes what repeats: dict keys made with Key() (and Set(string_view, ...)) and the
// globals that rebuild bytes are written once and referred to by index afterwards, which keeps a
// dict of many same-shaped dicts small (the dashboards' 99,999-byte limit).
//
// `bytes` are written as Python 3 writes them at protocol 2, `_codecs.encode(<latin-1 text>,
// 'latin1')` (and `__builtin__.bytes()` when empty), so Python 3 loads them as bytes and Python 2
// as str — the types those dashboards compare against.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dmrswitch::cp::report {

class PyValue {
 public:
  enum class Kind : uint8_t {
    kNone,
    kBool,
    kInt,
    kBigInt,
    kFloat,
    kStr,
    kBytes,
    kList,
    kTuple,
    kDict
  };

  PyValue() = default;  // None
  static PyValue None() { return PyValue(); }
  static PyValue Bool(bool v);
  static PyValue Int(int64_t v);
  static PyValue UInt(uint64_t v);  // values above INT64_MAX become big ints
  // An int of any size: two's complement, little-endian, as many bytes as given.
  static PyValue BigInt(std::string little_endian_twos_complement);
  static PyValue Float(double v);
  // Invalid UTF-8 is replaced by U+FFFD: Python refuses to load a str that is not UTF-8.
  static PyValue Str(std::string_view utf8);
  // A str that repeats (a dict key): written once, then referred to through the memo.
  static PyValue Key(std::string_view utf8);
  static PyValue Bytes(std::string_view bytes);
  static PyValue List(std::vector<PyValue> items = {});
  static PyValue Tuple(std::vector<PyValue> items = {});
  static PyValue Dict();

  // Dict: appends a key/value pair (keys are not checked for duplicates; Python keeps the last).
  PyValue& Set(PyValue key, PyValue value);
  PyValue& Set(std::string_view key, PyValue value) { return Set(Key(key), std::move(value)); }
  // List/tuple: appends an item.
  PyValue& Append(PyValue item);

  Kind kind() const { return kind_; }
  // Dict: the number of pairs; list/tuple: the number of items.
  size_t size() const { return kind_ == Kind::kDict ? items_.size() / 2 : items_.size(); }
  const std::vector<PyValue>& items() const { return items_; }  // dict: k0, v0, k1, v1, ...

 private:
  friend class PickleWriter;
  Kind kind_ = Kind::kNone;
  bool bool_ = false;
  bool interned_ = false;  // kStr: memoized
  int64_t int_ = 0;
  double float_ = 0;
  std::string text_;  // str (UTF-8), bytes, big int bytes
  std::vector<PyValue> items_;
};

// Appends values' pickle opcodes (no header, no STOP) to a buffer, keeping one memo across
// calls as one pickle does. EncodePickle() writes a whole pickle.
class PickleWriter {
 public:
  explicit PickleWriter(std::string* out) : out_(out) {}
  void Write(const PyValue& value);
  // What Write(value) would add now, given what is memoized already; memoizes like Write.
  size_t Measure(const PyValue& value);

 private:
  void WriteInt(int64_t v);
  void WriteStr(std::string_view utf8);
  // Writes a memoized item: a reference if seen, else `write` followed by a PUT.
  template <typename WriteFn>
  void Memoized(const std::string& memo_key, WriteFn write);
  std::string* out_;
  std::string scratch_;
  std::map<std::string, uint32_t, std::less<>> memo_;
};

// `text` with every invalid UTF-8 sequence replaced by U+FFFD.
std::string ValidUtf8(std::string_view text);

// PROTO 2, the value, STOP.
std::string EncodePickle(const PyValue& value);
// The encoded size of one dict pair (key and value) written with a fresh memo; without memoized
// items it is exactly what the pair adds to the enclosing dict's size.
size_t EncodedPairSize(const PyValue& key, const PyValue& value);
// Bytes of a pickle around a non-empty dict's pairs: PROTO 2 (2), EMPTY_DICT and MARK (2),
// SETITEMS (1), STOP (1).
inline constexpr size_t kPickleDictOverhead = 6;

// Twisted's NetstringReceiver framing: "<decimal length>:<payload>,".
std::string EncodeNetstring(std::string_view payload);

// Reads netstrings from a byte stream as Twisted's NetstringReceiver does: a length of at most
// `max_length` (Twisted's default MAX_LENGTH is 99,999), digits only; anything else is an error
// after which the reader stays failed (Twisted drops the connection).
class NetstringReader {
 public:
  explicit NetstringReader(size_t max_length = 99999) : max_length_(max_length) {}
  // Appends bytes; complete payloads are appended to *out. Returns false once the stream is bad.
  bool Feed(std::string_view bytes, std::vector<std::string>* out);
  bool failed() const { return failed_; }
  size_t buffered() const { return buffer_.size(); }

 private:
  size_t max_length_;
  std::string buffer_;
  bool failed_ = false;
};

}  // namespace dmrswitch::cp::report
