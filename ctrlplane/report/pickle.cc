#include "ctrlplane/report/pickle.h"

#include <cstring>

namespace dmrswitch::cp::report {
namespace {

// Pickle opcodes used (Lib/pickle.py names).
constexpr char kProto = '\x80';
constexpr char kStop = '.';
constexpr char kNone = 'N';
constexpr char kNewTrue = '\x88';
constexpr char kNewFalse = '\x89';
constexpr char kBinInt = 'J';   // 4-byte signed
constexpr char kBinInt1 = 'K';  // 1-byte unsigned
constexpr char kBinInt2 = 'M';  // 2-byte unsigned
constexpr char kLong1 = '\x8a';
constexpr char kLong4 = '\x8b';
constexpr char kBinFloat = 'G';
constexpr char kBinUnicode = 'X';
constexpr char kGlobal = 'c';
constexpr char kReduce = 'R';
constexpr char kMark = '(';
constexpr char kEmptyList = ']';
constexpr char kAppends = 'e';
constexpr char kEmptyTuple = ')';
constexpr char kTuple = 't';
constexpr char kTuple1 = '\x85';
constexpr char kTuple2 = '\x86';
constexpr char kTuple3 = '\x87';
constexpr char kEmptyDict = '}';
constexpr char kSetItems = 'u';
constexpr char kBinPut = 'q';
constexpr char kLongBinPut = 'r';
constexpr char kBinGet = 'h';
constexpr char kLongBinGet = 'j';

void PutLe32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Minimal two's complement little-endian bytes of v (Python's encode_long): 0 is empty.
std::string LongBytes(int64_t v) {
  std::string bytes;
  if (v == 0) return bytes;
  uint64_t u = static_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  // Drop redundant sign bytes.
  while (bytes.size() > 1) {
    uint8_t last = static_cast<uint8_t>(bytes.back());
    uint8_t prev = static_cast<uint8_t>(bytes[bytes.size() - 2]);
    if ((last == 0x00 && !(prev & 0x80)) || (last == 0xff && (prev & 0x80))) {
      bytes.pop_back();
    } else {
      break;
    }
  }
  return bytes;
}

}  // namespace

std::string ValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    uint8_t c = static_cast<uint8_t>(text[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xe  ? 3
                 : (c >> 3) == 0x1e ? 4
                                    : 0;
    bool ok = len > 0 && i + len <= text.size();
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; ok && k < len; ++k) {
      uint8_t cc = static_cast<uint8_t>(text[i + k]);
      ok = (cc & 0xc0) == 0x80;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and values above U+10FFFF are invalid too.
    if (ok) {
      ok = !(len == 2 && cp < 0x80) && !(len == 3 && cp < 0x800) && !(len == 4 && cp < 0x10000) &&
           !(cp >= 0xd800 && cp <= 0xdfff) && cp <= 0x10ffff;
    }
    if (ok) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

PyValue PyValue::Bool(bool v) {
  PyValue p;
  p.kind_ = Kind::kBool;
  p.bool_ = v;
  return p;
}

PyValue PyValue::Int(int64_t v) {
  PyValue p;
  p.kind_ = Kind::kInt;
  p.int_ = v;
  return p;
}

PyValue PyValue::UInt(uint64_t v) {
  if (v <= static_cast<uint64_t>(INT64_MAX)) return Int(static_cast<int64_t>(v));
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  bytes.push_back('\0');  // positive: a zero sign byte
  return BigInt(std::move(bytes));
}

PyValue PyValue::BigInt(std::string little_endian_twos_complement) {
  PyValue p;
  p.kind_ = Kind::kBigInt;
  p.text_ = std::move(little_endian_twos_complement);
  return p;
}

PyValue PyValue::Float(double v) {
  PyValue p;
  p.kind_ = Kind::kFloat;
  p.float_ = v;
  return p;
}

PyValue PyValue::Str(std::string_view utf8) {
  PyValue p;
  p.kind_ = Kind::kStr;
  p.text_ = ValidUtf8(utf8);
  return p;
}

PyValue PyValue::Key(std::string_view utf8) {
  PyValue p = Str(utf8);
  p.interned_ = true;
  return p;
}

PyValue PyValue::Bytes(std::string_view bytes) {
  PyValue p;
  p.kind_ = Kind::kBytes;
  p.text_ = std::string(bytes);
  return p;
}

PyValue PyValue::List(std::vector<PyValue> items) {
  PyValue p;
  p.kind_ = Kind::kList;
  p.items_ = std::move(items);
  return p;
}

PyValue PyValue::Tuple(std::vector<PyValue> items) {
  PyValue p;
  p.kind_ = Kind::kTuple;
  p.items_ = std::move(items);
  return p;
}

PyValue PyValue::Dict() {
  PyValue p;
  p.kind_ = Kind::kDict;
  return p;
}

PyValue& PyValue::Set(PyValue key, PyValue value) {
  items_.push_back(std::move(key));
  items_.push_back(std::move(value));
  return *this;
}

PyValue& PyValue::Append(PyValue item) {
  items_.push_back(std::move(item));
  return *this;
}

void PickleWriter::WriteInt(int64_t v) {
  if (v >= 0 && v < 0x100) {
    out_->push_back(kBinInt1);
    out_->push_back(static_cast<char>(v));
  } else if (v >= 0 && v < 0x10000) {
    out_->push_back(kBinInt2);
    out_->push_back(static_cast<char>(v & 0xff));
    out_->push_back(static_cast<char>(v >> 8));
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    out_->push_back(kBinInt);
    PutLe32(out_, static_cast<uint32_t>(static_cast<int32_t>(v)));
  } else {
    std::string bytes = LongBytes(v);
    out_->push_back(kLong1);
    out_->push_back(static_cast<char>(bytes.size()));
    *out_ += bytes;
  }
}

void PickleWriter::WriteStr(std::string_view utf8) {
  out_->push_back(kBinUnicode);
  PutLe32(out_, static_cast<uint32_t>(utf8.size()));
  out_->append(utf8);
}

template <typename WriteFn>
void PickleWriter::Memoized(const std::string& memo_key, WriteFn write) {
  auto it = memo_.find(memo_key);
  if (it != memo_.end()) {
    if (it->second < 0x100) {
      out_->push_back(kBinGet);
      out_->push_back(static_cast<char>(it->second));
    } else {
      out_->push_back(kLongBinGet);
      PutLe32(out_, it->second);
    }
    return;
  }
  write();
  uint32_t index = static_cast<uint32_t>(memo_.size());
  memo_.emplace(memo_key, index);
  if (index < 0x100) {
    out_->push_back(kBinPut);
    out_->push_back(static_cast<char>(index));
  } else {
    out_->push_back(kLongBinPut);
    PutLe32(out_, index);
  }
}

size_t PickleWriter::Measure(const PyValue& value) {
  std::string* saved = out_;
  scratch_.clear();
  out_ = &scratch_;
  Write(value);
  out_ = saved;
  return scratch_.size();
}

void PickleWriter::Write(const PyValue& v) {
  switch (v.kind_) {
    case PyValue::Kind::kNone:
      out_->push_back(kNone);
      break;
    case PyValue::Kind::kBool:
      out_->push_back(v.bool_ ? kNewTrue : kNewFalse);
      break;
    case PyValue::Kind::kInt:
      WriteInt(v.int_);
      break;
    case PyValue::Kind::kBigInt:
      if (v.text_.size() < 256) {
        out_->push_back(kLong1);
        out_->push_back(static_cast<char>(v.text_.size()));
      } else {
        out_->push_back(kLong4);
        PutLe32(out_, static_cast<uint32_t>(v.text_.size()));
      }
      *out_ += v.text_;
      break;
    case PyValue::Kind::kFloat: {
      uint64_t bits;
      std::memcpy(&bits, &v.float_, sizeof(bits));
      out_->push_back(kBinFloat);
      for (int i = 7; i >= 0; --i) out_->push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
      break;
    }
    case PyValue::Kind::kStr:
      if (v.interned_) {
        Memoized("s" + v.text_, [&] { WriteStr(v.text_); });
      } else {
        WriteStr(v.text_);
      }
      break;
    case PyValue::Kind::kBytes:
      if (v.text_.empty()) {
        Memoized("g__builtin__.bytes", [&] {
          *out_ += kGlobal;
          *out_ += "__builtin__\nbytes\n";
        });
        out_->push_back(kEmptyTuple);
      } else {
        // _codecs.encode(<each byte as the code point of the same value>, 'latin1')
        Memoized("g_codecs.encode", [&] {
          *out_ += kGlobal;
          *out_ += "_codecs\nencode\n";
        });
        std::string latin1;
        latin1.reserve(v.text_.size() * 2);
        for (char c : v.text_) {
          uint8_t b = static_cast<uint8_t>(c);
          if (b < 0x80) {
            latin1.push_back(static_cast<char>(b));
          } else {
            latin1.push_back(static_cast<char>(0xc0 | (b >> 6)));
            latin1.push_back(static_cast<char>(0x80 | (b & 0x3f)));
          }
        }
        WriteStr(latin1);
        Memoized("slatin1", [&] { WriteStr("latin1"); });
        out_->push_back(kTuple2);
      }
      out_->push_back(kReduce);
      break;
    case PyValue::Kind::kList:
      out_->push_back(kEmptyList);
      if (!v.items_.empty()) {
        out_->push_back(kMark);
        for (const PyValue& item : v.items_) Write(item);
        out_->push_back(kAppends);
      }
      break;
    case PyValue::Kind::kTuple:
      if (v.items_.empty()) {
        out_->push_back(kEmptyTuple);
      } else if (v.items_.size() <= 3) {
        for (const PyValue& item : v.items_) Write(item);
        out_->push_back(v.items_.size() == 1 ? kTuple1 : v.items_.size() == 2 ? kTuple2 : kTuple3);
      } else {
        out_->push_back(kMark);
        for (const PyValue& item : v.items_) Write(item);
        out_->push_back(kTuple);
      }
      break;
    case PyValue::Kind::kDict:
      out_->push_back(kEmptyDict);
      if (!v.items_.empty()) {
        out_->push_back(kMark);
        for (const PyValue& item : v.items_) Write(item);
        out_->push_back(kSetItems);
      }
      break;
  }
}

std::string EncodePickle(const PyValue& value) {
  std::string out;
  out.push_back(kProto);
  out.push_back('\x02');
  PickleWriter(&out).Write(value);
  out.push_back(kStop);
  return out;
}

size_t EncodedPairSize(const PyValue& key, const PyValue& value) {
  std::string out;
  PickleWriter writer(&out);
  writer.Write(key);
  writer.Write(value);
  return out.size();
}

std::string EncodeNetstring(std::string_view payload) {
  std::string out = std::to_string(payload.size());
  out.reserve(out.size() + payload.size() + 2);
  out += ':';
  out.append(payload);
  out += ',';
  return out;
}

bool NetstringReader::Feed(std::string_view bytes, std::vector<std::string>* out) {
  if (failed_) return false;
  buffer_.append(bytes);
  // Twisted reads at most len(str(MAX_LENGTH)) + 1 length characters before the colon.
  const size_t max_digits = std::to_string(max_length_).size() + 1;
  size_t pos = 0;
  while (true) {
    size_t colon = buffer_.find(':', pos);
    if (colon == std::string::npos) {
      if (buffer_.size() - pos > max_digits) failed_ = true;
      break;
    }
    size_t digits = colon - pos;
    if (digits == 0 || digits > max_digits) {
      failed_ = true;
      break;
    }
    size_t length = 0;
    for (size_t i = pos; i < colon; ++i) {
      char c = buffer_[i];
      if (c < '0' || c > '9') {
        failed_ = true;
        break;
      }
      length = length * 10 + static_cast<size_t>(c - '0');
    }
    if (failed_) break;
    if (length > max_length_) {
      failed_ = true;
      break;
    }
    if (buffer_.size() < colon + 1 + length + 1) break;  // incomplete
    if (buffer_[colon + 1 + length] != ',') {
      failed_ = true;
      break;
    }
    out->push_back(buffer_.substr(colon + 1, length));
    pos = colon + 1 + length + 1;
  }
  buffer_.erase(0, pos);
  return !failed_;
}

}  // namespace dmrswitch::cp::report
