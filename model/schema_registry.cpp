#include "model/schema_registry.h"

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/internal/regex.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/pointer.h>
#include <rapidjson/reader.h>
#include <rapidjson/schema.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <utility>

#include "model/schemas_embedded.h"

namespace sb::model {

namespace {

using rapidjson::Document;
using rapidjson::Pointer;
using rapidjson::SchemaDocument;
using rapidjson::SizeType;
using rapidjson::Value;

// Untrusted documents are parsed without recursion (deep nesting cannot exhaust the stack) and
// must be valid UTF-8 (the pattern matcher decodes UTF-8).
constexpr unsigned kParseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag;

// Orders "1" < "2" < "10": versions are whole numbers, compared as such.
struct VersionLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const {
    if (a.size() != b.size()) return a.size() < b.size();
    return a < b;
  }
};

std::string jsonPointerToken(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string pointerString(const Pointer& p) {
  rapidjson::StringBuffer sb;
  p.Stringify(sb);
  return std::string(sb.GetString(), sb.GetSize());
}

std::string shown(const std::string& pointer) {
  return pointer.empty() ? std::string("(document)") : pointer;
}

std::string toJson(const Value& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

const Value* member(const Value* v, const char* name) {
  if (v == nullptr || !v->IsObject()) return nullptr;
  auto it = v->FindMember(name);
  return it == v->MemberEnd() ? nullptr : &it->value;
}

std::string_view str(const Value& v) {
  return std::string_view(v.GetString(), v.GetStringLength());
}

// The file part of a $ref ("common.json" in "common.json#/definitions/Id"), reduced to its
// last path segment because a version folder is flat: "./common.json" and the schema's full
// "https://switchboard.invalid/model/v1/common.json" name the same file.
std::string refFile(std::string_view ref) {
  std::string_view file = ref.substr(0, ref.find('#'));
  const auto slash = file.rfind('/');
  if (slash != std::string_view::npos) file = file.substr(slash + 1);
  return std::string(file);
}

std::string refFragment(std::string_view ref) {
  const auto hash = ref.find('#');
  return hash == std::string_view::npos ? std::string() : std::string(ref.substr(hash + 1));
}

// One version folder's files as parsed JSON, kept for the life of the registry: compiled
// schemas are rebuilt from them, and error messages read patterns and enums from them.
struct Folder {
  std::string name;     // "v1"
  std::string version;  // schemaVersion of its resource schemas, "1"
  std::map<std::string, std::unique_ptr<Document>, std::less<>> files;

  const Document* file(std::string_view fileName) const {
    auto it = files.find(fileName);
    return it == files.end() ? nullptr : it->second.get();
  }
};

// Resolves "other.json#/..." while a schema of the folder is compiled. RapidJSON 1.1.0 passes
// a length one short of the file part (it stops before the '#', then subtracts one), so the
// name is re-read from the $ref text itself up to the '#' or its end.
class FolderProvider : public rapidjson::IRemoteSchemaDocumentProvider {
 public:
  explicit FolderProvider(const Folder& folder) : folder_(folder) {}

  const SchemaDocument* GetRemoteDocument(const char* uri, SizeType /*length*/) override {
    return get(refFile(uri));
  }

  const SchemaDocument* get(std::string_view fileName) {
    if (auto it = compiled_.find(fileName); it != compiled_.end()) return it->second.get();
    const Document* raw = folder_.file(fileName);
    if (raw == nullptr) return nullptr;
    // A cycle of files referring to each other cannot be compiled this way (each document
    // needs the other finished first); load() reports it rather than leave a $ref unchecked.
    if (!compiling_.insert(std::string(fileName)).second) {
      cycle_ = std::string(fileName);
      return nullptr;
    }
    auto doc = std::make_unique<SchemaDocument>(*raw, this);
    compiling_.erase(std::string(fileName));
    return compiled_.emplace(std::string(fileName), std::move(doc)).first->second.get();
  }

  const std::string& cycle() const { return cycle_; }

 private:
  const Folder& folder_;
  std::map<std::string, std::unique_ptr<SchemaDocument>, std::less<>> compiled_;
  std::set<std::string> compiling_;
  std::string cycle_;
};

// Every schema of every folder, compiled. RapidJSON 1.1.0's pattern matcher keeps its scratch
// state inside the compiled regex, so two threads validating against the same SchemaDocument
// at once can corrupt each other's matches. Each concurrent validate() therefore borrows a
// whole set of its own from a pool; sets are compiled on demand, so there are never more than
// the peak number of concurrent callers.
struct CompiledSet {
  std::vector<std::unique_ptr<FolderProvider>> folders;  // parallel to Impl::folders
};

struct TypeEntry {
  std::size_t folder;
  std::string fileName;
};

// A schema value together with the file it sits in, so that local "#/..." refs resolve
// against the right document.
struct SchemaLoc {
  const Folder* folder = nullptr;
  const Document* doc = nullptr;
  const Value* value = nullptr;
};

SchemaLoc resolveRefs(SchemaLoc loc) {
  // The bound stops a $ref loop; load() rejects refs that do not resolve, not loops.
  for (int hops = 0; hops < 32 && loc.value != nullptr; ++hops) {
    const Value* ref = member(loc.value, "$ref");
    if (ref == nullptr || !ref->IsString()) return loc;
    const std::string file = refFile(str(*ref));
    if (!file.empty()) loc.doc = loc.folder->file(file);
    if (loc.doc == nullptr) return {};
    const Pointer pointer(refFragment(str(*ref)).c_str());
    loc.value = pointer.IsValid() ? pointer.Get(*loc.doc) : nullptr;
  }
  return loc;
}

// Follows an instance pointer through the schema: properties, items, additionalProperties.
SchemaLoc schemaAt(SchemaLoc loc, const Document& instance, const Pointer& pointer,
                   std::size_t tokenCount) {
  const Value* inst = &instance;
  const auto* tokens = pointer.GetTokens();
  for (std::size_t i = 0; i < tokenCount && loc.value != nullptr && inst != nullptr; ++i) {
    loc = resolveRefs(loc);
    if (loc.value == nullptr) return {};
    const std::string_view name(tokens[i].name, tokens[i].length);
    if (inst->IsArray()) {
      const Value* items = member(loc.value, "items");
      if (items != nullptr && items->IsObject()) {
        loc.value = items;
      } else if (items != nullptr && items->IsArray() && tokens[i].index < items->Size()) {
        loc.value = &(*items)[tokens[i].index];
      } else {
        loc.value = member(loc.value, "additionalItems");
      }
      inst = tokens[i].index < inst->Size() ? &(*inst)[tokens[i].index] : nullptr;
    } else if (inst->IsObject()) {
      const Value* props = member(loc.value, "properties");
      const Value key(rapidjson::StringRef(name.data(), static_cast<SizeType>(name.size())));
      const Value* next = nullptr;
      if (props != nullptr && props->IsObject()) {
        auto it = props->FindMember(key);
        if (it != props->MemberEnd()) next = &it->value;
      }
      if (next == nullptr) next = member(loc.value, "additionalProperties");
      loc.value = next;
      auto it = inst->FindMember(key);
      inst = it == inst->MemberEnd() ? nullptr : &it->value;
    } else {
      return {};
    }
  }
  return resolveRefs(loc);
}

const char* instanceType(const Value* v) {
  if (v == nullptr) return "nothing";
  switch (v->GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return "boolean";
    case rapidjson::kObjectType:
      return "object";
    case rapidjson::kArrayType:
      return "array";
    case rapidjson::kStringType:
      return "string";
    case rapidjson::kNumberType:
      return v->IsDouble() ? "number" : "integer";
  }
  return "unknown";
}

std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The declared property closest to a rejected one, for "did you mean" on typos. Only property
// names from the schema are shown, never values.
std::string closestProperty(const Value* schema, std::string_view name) {
  const Value* props = member(schema, "properties");
  if (props == nullptr || !props->IsObject()) return {};
  std::string best;
  std::size_t bestDistance = std::max<std::size_t>(2, name.size() / 3) + 1;
  for (auto it = props->MemberBegin(); it != props->MemberEnd(); ++it) {
    const std::string_view candidate = str(it->name);
    // A truncated name ("algo" for "algorithm") is as likely a typo as a misspelt one.
    const bool prefix = name.size() >= 3 && candidate.size() > name.size() &&
                        editDistance(name, candidate.substr(0, name.size())) == 0;
    const std::size_t d = prefix ? 1 : editDistance(name, candidate);
    if (d < bestDistance) {
      bestDistance = d;
      best = std::string(str(it->name));
    }
  }
  return best;
}

std::string alternatives(const Value* list) {
  if (list == nullptr || !list->IsArray()) return {};
  std::vector<std::string> parts;
  for (const auto& alt : list->GetArray()) {
    const Value* d = member(&alt, "description");
    if (d != nullptr && d->IsString()) parts.emplace_back(str(*d));
  }
  return parts.empty() ? std::string() : fmt::format(": {}", fmt::join(parts, "; "));
}

std::string numberText(const Value* v) {
  return v == nullptr ? std::string("?") : toJson(*v);
}

// Turns RapidJSON's (keyword, instance pointer) into the pointer a reader needs and a message
// built only from the schema: patterns, allowed values, limits. Field values are never echoed.
ValidationResult describe(const std::string& keyword, const Pointer& at, const SchemaLoc& root,
                          const Document& instance) {
  ValidationResult r;
  r.ok = false;
  r.keyword = keyword;
  r.pointer = pointerString(at);
  const SchemaLoc loc = schemaAt(root, instance, at, at.GetTokenCount());
  const Value* schema = loc.value;
  const Value* value = at.Get(instance);
  const std::string where = shown(r.pointer);

  if (keyword == "required") {
    const Value* required = member(schema, "required");
    if (value != nullptr && value->IsObject() && required != nullptr && required->IsArray()) {
      for (const auto& name : required->GetArray()) {
        if (name.IsString() && !value->HasMember(name)) {
          r.pointer += "/" + jsonPointerToken(str(name));
          r.message = fmt::format("{}: required property is missing", r.pointer);
          return r;
        }
      }
    }
    r.message = fmt::format("{}: a required property is missing", where);
  } else if (keyword == "additionalProperties") {
    const std::size_t n = at.GetTokenCount();
    std::string hint;
    if (n > 0) {
      const SchemaLoc parent = schemaAt(root, instance, at, n - 1);
      const auto& last = at.GetTokens()[n - 1];
      const std::string suggestion =
          closestProperty(parent.value, std::string_view(last.name, last.length));
      if (!suggestion.empty()) hint = fmt::format("; did you mean \"{}\"?", suggestion);
    }
    r.message =
        fmt::format("{}: property is not allowed (additionalProperties is false){}", where, hint);
  } else if (keyword == "pattern") {
    const Value* pattern = member(schema, "pattern");
    r.message = pattern != nullptr && pattern->IsString()
                    ? fmt::format("{}: does not match pattern {}", where, str(*pattern))
                    : fmt::format("{}: does not match the required pattern", where);
  } else if (keyword == "enum") {
    const Value* values = member(schema, "enum");
    std::vector<std::string> allowed;
    if (values != nullptr && values->IsArray()) {
      for (const auto& v : values->GetArray()) {
        if (allowed.size() == 12) {
          allowed.emplace_back("...");
          break;
        }
        allowed.push_back(toJson(v));
      }
    }
    r.message =
        fmt::format("{}: is not one of the allowed values [{}]", where, fmt::join(allowed, ", "));
  } else if (keyword == "type") {
    const Value* type = member(schema, "type");
    std::vector<std::string> expected;
    if (type != nullptr && type->IsString()) expected.emplace_back(str(*type));
    if (type != nullptr && type->IsArray()) {
      for (const auto& t : type->GetArray()) {
        if (t.IsString()) expected.emplace_back(str(t));
      }
    }
    r.message = fmt::format("{}: expected {}, got {}", where, fmt::join(expected, " or "),
                            instanceType(value));
  } else if (keyword == "minLength" || keyword == "maxLength") {
    r.message = fmt::format("{}: {} than {} characters ({})", where,
                            keyword == "minLength" ? "shorter" : "longer",
                            numberText(member(schema, keyword.c_str())), keyword);
  } else if (keyword == "minimum" || keyword == "maximum") {
    const bool min = keyword == "minimum";
    const Value* exclusive = member(schema, min ? "exclusiveMinimum" : "exclusiveMaximum");
    const bool isExclusive = exclusive != nullptr && exclusive->IsBool() && exclusive->GetBool();
    r.message = fmt::format(
        "{}: must be {} {} ({})", where,
        min ? (isExclusive ? "greater than" : "at least") : (isExclusive ? "less than" : "at most"),
        numberText(member(schema, keyword.c_str())), keyword);
  } else if (keyword == "minItems" || keyword == "maxItems") {
    r.message = fmt::format("{}: has {} items; {} is {}", where,
                            value != nullptr && value->IsArray() ? value->Size() : 0, keyword,
                            numberText(member(schema, keyword.c_str())));
  } else if (keyword == "minProperties" || keyword == "maxProperties") {
    r.message = fmt::format("{}: has {} properties; {} is {}", where,
                            value != nullptr && value->IsObject() ? value->MemberCount() : 0,
                            keyword, numberText(member(schema, keyword.c_str())));
  } else if (keyword == "uniqueItems") {
    r.message = fmt::format("{}: repeats an earlier item of the array (uniqueItems)", where);
  } else if (keyword == "not") {
    const Value* d = member(member(schema, "not"), "description");
    r.message = d != nullptr && d->IsString()
                    ? fmt::format("{}: {}", where, str(*d))
                    : fmt::format("{}: matches a schema it must not match", where);
  } else if (keyword == "oneOf") {
    r.message = fmt::format("{}: must match exactly one alternative{}", where,
                            alternatives(member(schema, "oneOf")));
  } else if (keyword == "anyOf") {
    r.message = fmt::format("{}: must match at least one alternative{}", where,
                            alternatives(member(schema, "anyOf")));
  } else if (keyword == "allOf") {
    r.message = fmt::format("{}: must match every alternative{}", where,
                            alternatives(member(schema, "allOf")));
  } else {
    r.message = fmt::format("{}: fails the \"{}\" constraint", where, keyword);
  }
  return r;
}

ValidationResult failure(std::string pointer, std::string keyword, std::string message) {
  ValidationResult r;
  r.ok = false;
  r.pointer = std::move(pointer);
  r.keyword = std::move(keyword);
  r.message = std::move(message);
  return r;
}

// Forwards parse events to the schema validator, refusing strings that contain U+0000: the
// pattern matcher stops at the first NUL, so "2025-01-01\u0000anything" would pass a date
// pattern.
template <typename Validator>
class NulGuard : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, NulGuard<Validator>> {
 public:
  explicit NulGuard(Validator& v) : v_(v) {}
  bool Null() { return v_.Null(); }
  bool Bool(bool b) { return v_.Bool(b); }
  bool Int(int i) { return v_.Int(i); }
  bool Uint(unsigned u) { return v_.Uint(u); }
  bool Int64(int64_t i) { return v_.Int64(i); }
  bool Uint64(uint64_t u) { return v_.Uint64(u); }
  bool Double(double d) { return v_.Double(d); }
  bool String(const char* s, SizeType n, bool copy) {
    if (std::memchr(s, '\0', n) != nullptr) {
      nul_ = true;
      return false;
    }
    return v_.String(s, n, copy);
  }
  bool StartObject() { return v_.StartObject(); }
  bool Key(const char* s, SizeType n, bool copy) { return v_.Key(s, n, copy); }
  bool EndObject(SizeType n) { return v_.EndObject(n); }
  bool StartArray() { return v_.StartArray(); }
  bool EndArray(SizeType n) { return v_.EndArray(n); }
  bool sawNul() const { return nul_; }

 private:
  Validator& v_;
  bool nul_ = false;
};

// Whether every byte is below 0x80 (then the text is valid UTF-8 whatever it says), eight bytes
// at a time.
bool allAscii(std::string_view text) {
  std::size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    std::uint64_t word = 0;
    std::memcpy(&word, text.data() + i, 8);
    if ((word & 0x8080808080808080ull) != 0) return false;
  }
  for (; i < text.size(); ++i) {
    if (static_cast<unsigned char>(text[i]) >= 0x80) return false;
  }
  return true;
}

// Streams `json` through `handler` with the flags untrusted input is read with. True when it was
// read to the end without an error (a handler that stops early counts as an error). An ASCII
// text skips the reader's UTF-8 check, which decodes every string byte by byte: it was a third
// of validating a Patient (callgrind), and canonical documents mapped from HL7 are almost
// always ASCII.
template <typename Handler>
bool readText(std::string_view json, Handler& handler) {
  rapidjson::MemoryStream ms(json.data(), json.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(ms);
  rapidjson::Reader reader;
  if (allAscii(json)) {
    return !reader.Parse<kParseFlags & ~rapidjson::kParseValidateEncodingFlag>(in, handler)
                .IsError();
  }
  return !reader.Parse<kParseFlags>(in, handler).IsError();
}

// Reads the top level of a document for its first "resourceType" and "schemaVersion" members
// without building it, and stops as soon as it has what it was asked for. A member whose value is
// not a string is remembered as such.
class HeaderScan : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, HeaderScan> {
 public:
  enum class Found { kAbsent, kString, kOther };
  struct Member {
    Found found = Found::kAbsent;
    std::string value;  // copied: the reader's string buffer is reused for the next string
  };
  explicit HeaderScan(bool needType) : needType_(needType) {}

  bool Default() { return scalar(); }
  bool String(const char* s, SizeType n, bool) {
    if (depth_ == 1 && pending_ != nullptr) {
      pending_->found = Found::kString;
      pending_->value.assign(s, n);
      pending_ = nullptr;
      return !done();
    }
    return true;
  }
  bool Key(const char* s, SizeType n, bool) {
    if (depth_ != 1) return true;
    const std::string_view key(s, n);
    pending_ = nullptr;
    if (key == "resourceType" && type.found == Found::kAbsent) pending_ = &type;
    if (key == "schemaVersion" && version.found == Found::kAbsent) pending_ = &version;
    return true;
  }
  bool StartObject() {
    if (depth_ == 0) rootIsObject = true;
    return open();
  }
  bool StartArray() { return open(); }
  bool EndObject(SizeType) { return close(); }
  bool EndArray(SizeType) { return close(); }

  bool rootIsObject = false;
  Member type, version;

 private:
  bool open() {
    scalar();
    ++depth_;
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }
  bool scalar() {
    if (depth_ == 1 && pending_ != nullptr) {
      pending_->found = Found::kOther;
      pending_ = nullptr;
    }
    return true;
  }
  bool done() const {
    return (!needType_ || type.found != Found::kAbsent) && version.found != Found::kAbsent;
  }
  bool needType_;
  int depth_ = 0;
  Member* pending_ = nullptr;
};

// Pointer of the first string value containing U+0000, found without recursion.
std::string firstNulString(const Document& doc) {
  std::vector<std::pair<const Value*, std::string>> stack{{&doc, std::string()}};
  while (!stack.empty()) {
    auto [v, path] = std::move(stack.back());
    stack.pop_back();
    if (v->IsString() && std::memchr(v->GetString(), '\0', v->GetStringLength()) != nullptr) {
      return path;
    }
    if (v->IsObject()) {
      for (auto it = v->MemberEnd(); it != v->MemberBegin();) {
        --it;
        stack.emplace_back(&it->value, path + "/" + jsonPointerToken(str(it->name)));
      }
    } else if (v->IsArray()) {
      for (SizeType i = v->Size(); i > 0; --i) {
        stack.emplace_back(&(*v)[i - 1], fmt::format("{}/{}", path, i - 1));
      }
    }
  }
  return {};
}

// Schema keywords RapidJSON 1.1.0 (a draft-04 validator) ignores. A schema author writing one
// expects it to be enforced, so load() refuses them instead of silently accepting anything.
constexpr std::array<std::string_view, 7> kUnenforcedKeywords = {
    "format", "const", "contains", "propertyNames", "if", "then", "else"};

class SchemaChecker {
 public:
  SchemaChecker(const Folder& folder, std::string file) : folder_(folder), file_(std::move(file)) {}

  // Walks schema positions only (not property names or enum values) so a property called
  // "pattern" or "format" is not mistaken for a keyword.
  void check(const Value& schema, const std::string& at) {
    if (!schema.IsObject()) throw error(at, "a schema must be an object");
    for (auto it = schema.MemberBegin(); it != schema.MemberEnd(); ++it) {
      const std::string_view key = str(it->name);
      const Value& v = it->value;
      const std::string here = at + "/" + jsonPointerToken(key);
      if (std::find(kUnenforcedKeywords.begin(), kUnenforcedKeywords.end(), key) !=
          kUnenforcedKeywords.end()) {
        throw error(here, "keyword is not enforced by the draft-04 validator; use pattern or enum");
      }
      if (key == "$ref") {
        checkRef(v, here);
      } else if (key == "pattern") {
        checkPattern(v, here);
      } else if (key == "properties" || key == "definitions" || key == "patternProperties") {
        if (!v.IsObject()) throw error(here, "must be an object");
        for (auto p = v.MemberBegin(); p != v.MemberEnd(); ++p) {
          if (key == "patternProperties") checkPattern(p->name, here);
          check(p->value, here + "/" + jsonPointerToken(str(p->name)));
        }
      } else if (key == "additionalProperties" || key == "additionalItems" || key == "not") {
        if (v.IsObject()) check(v, here);
      } else if (key == "items") {
        if (v.IsObject()) check(v, here);
        if (v.IsArray()) checkEach(v, here);
      } else if (key == "allOf" || key == "anyOf" || key == "oneOf") {
        if (!v.IsArray() || v.Empty()) throw error(here, "must be a non-empty array");
        checkEach(v, here);
      } else if (key == "dependencies" && v.IsObject()) {
        for (auto d = v.MemberBegin(); d != v.MemberEnd(); ++d) {
          if (d->value.IsObject()) check(d->value, here + "/" + jsonPointerToken(str(d->name)));
        }
      }
    }
  }

 private:
  ModelError error(const std::string& at, std::string_view what) const {
    return ModelError(fmt::format("{}/{}#{}: {}", folder_.name, file_, at, what));
  }

  void checkEach(const Value& list, const std::string& at) {
    for (SizeType i = 0; i < list.Size(); ++i) check(list[i], fmt::format("{}/{}", at, i));
  }

  // RapidJSON drops a pattern it cannot compile and then accepts every string; its own regex
  // dialect has no \d, \w or \s, so those are caught here.
  void checkPattern(const Value& v, const std::string& at) const {
    if (!v.IsString()) throw error(at, "pattern must be a string");
    const rapidjson::internal::GenericRegex<rapidjson::UTF8<>> regex(v.GetString());
    if (!regex.IsValid()) {
      throw error(at, fmt::format("pattern {} is not supported (RapidJSON regex: no \\d, \\w, \\s; "
                                  "use [0-9] and explicit classes)",
                                  str(v)));
    }
  }

  // RapidJSON treats an unresolvable $ref as "anything goes"; refuse it instead.
  void checkRef(const Value& v, const std::string& at) const {
    if (!v.IsString()) throw error(at, "$ref must be a string");
    const std::string file = refFile(str(v));
    if (file == file_) {
      // A file compiled by name from inside itself would need itself finished first.
      throw error(at, fmt::format("$ref {} names its own file; write it as #...", str(v)));
    }
    const Document* target = file.empty() ? folder_.file(file_) : folder_.file(file);
    if (target == nullptr)
      throw error(at, fmt::format("$ref to {}: no such file in the folder", file));
    const Pointer pointer(refFragment(str(v)).c_str());
    if (!pointer.IsValid() || pointer.Get(*target) == nullptr) {
      throw error(at, fmt::format("$ref {} does not resolve", str(v)));
    }
  }

  const Folder& folder_;
  std::string file_;
};

const std::string* singleEnum(const Value& schema, const char* property, std::string& out) {
  const Value* e = member(member(member(&schema, "properties"), property), "enum");
  if (e == nullptr || !e->IsArray() || e->Size() != 1 || !(*e)[0].IsString()) return nullptr;
  out = std::string(str((*e)[0]));
  return &out;
}

}  // namespace

struct SchemaRegistry::Impl {
  std::vector<std::unique_ptr<Folder>> folders;
  std::map<std::string, std::map<std::string, TypeEntry, VersionLess>, std::less<>> types;

  mutable std::mutex poolMutex;
  mutable std::vector<std::unique_ptr<CompiledSet>> pool;

  std::unique_ptr<CompiledSet> compile() const {
    auto set = std::make_unique<CompiledSet>();
    for (const auto& folder : folders) {
      auto provider = std::make_unique<FolderProvider>(*folder);
      for (const auto& [name, doc] : folder->files) {
        if (provider->get(name) == nullptr || !provider->cycle().empty()) {
          throw ModelError(fmt::format("{}/{}: $ref cycle through {} between files", folder->name,
                                       name, provider->cycle()));
        }
      }
      set->folders.push_back(std::move(provider));
    }
    return set;
  }

  std::unique_ptr<CompiledSet> acquire() const {
    {
      std::lock_guard lock(poolMutex);
      if (!pool.empty()) {
        auto set = std::move(pool.back());
        pool.pop_back();
        return set;
      }
    }
    return compile();
  }

  void release(std::unique_ptr<CompiledSet> set) const {
    std::lock_guard lock(poolMutex);
    pool.push_back(std::move(set));
  }

  std::string typeList() const {
    std::vector<std::string_view> names;
    for (const auto& [name, versions] : types) names.push_back(name);
    return fmt::format("{}", fmt::join(names, ", "));
  }

  // Runs the entry's validator over the text with a schema set borrowed from the pool, and lets
  // `inspect(validator, guard, readToTheEnd)` read the outcome before the set goes back (on every
  // exit path, exceptions included). Validated from the text by the streaming reader, not by
  // walking a DOM: Document::Accept recurses once per nesting level and untrusted input may nest
  // arbitrarily deep.
  template <typename Inspect>
  auto validateText(const TypeEntry& entry, std::string_view json, Inspect&& inspect) const {
    struct Lease {
      const Impl& impl;
      std::unique_ptr<CompiledSet> set;
      ~Lease() { impl.release(std::move(set)); }
    } lease{*this, acquire()};
    const SchemaDocument* schema = lease.set->folders[entry.folder]->get(entry.fileName);
    rapidjson::SchemaValidator validator(*schema);
    NulGuard<rapidjson::SchemaValidator> guard(validator);
    const bool read = readText(json, guard);
    return inspect(validator, guard, read);
  }

  ValidationResult run(const std::string* forcedType, std::string_view json) const;
  bool validWithoutDom(const std::string* forcedType, std::string_view json) const;
  ValidationResult explain(const std::string* forcedType, std::string_view json) const;
};

ValidationResult SchemaRegistry::Impl::run(const std::string* forcedType,
                                           std::string_view json) const {
  // Almost every document the engine validates is valid: that is settled with the streaming
  // reader alone. Anything else takes the full path, which builds the document to name what is
  // wrong and where, so both paths give the same answer.
  if (validWithoutDom(forcedType, json)) return {};
  return explain(forcedType, json);
}

bool SchemaRegistry::Impl::validWithoutDom(const std::string* forcedType,
                                           std::string_view json) const {
  HeaderScan header(forcedType == nullptr);
  readText(json, header);  // stops early (as an error) once both members are found
  if (!header.rootIsObject) return false;
  std::string_view typeName;
  if (forcedType != nullptr) {
    typeName = *forcedType;
  } else if (header.type.found == HeaderScan::Found::kString) {
    typeName = header.type.value;
  } else {
    return false;
  }
  const auto type = types.find(typeName);
  if (type == types.end()) return false;
  const TypeEntry* entry = &type->second.rbegin()->second;
  if (header.version.found == HeaderScan::Found::kOther) return false;
  if (header.version.found == HeaderScan::Found::kString) {
    const auto v = type->second.find(header.version.value);
    if (v == type->second.end()) return false;
    entry = &v->second;
  }
  return validateText(*entry, json, [](const auto& validator, const auto& guard, bool read) {
    return read && !guard.sawNul() && validator.IsValid();
  });
}

ValidationResult SchemaRegistry::Impl::explain(const std::string* forcedType,
                                               std::string_view json) const {
  Document doc;
  doc.Parse<kParseFlags>(json.data(), json.size());
  if (doc.HasParseError()) {
    return failure("", "parse",
                   fmt::format("invalid JSON at offset {}: {}", doc.GetErrorOffset(),
                               rapidjson::GetParseError_En(doc.GetParseError())));
  }
  if (!doc.IsObject()) {
    return failure("", "type",
                   fmt::format("(document): expected object, got {}", instanceType(&doc)));
  }

  // Pick the type: the caller's, or the document's resourceType.
  std::string typeName;
  if (forcedType != nullptr) {
    typeName = *forcedType;
  } else {
    const Value* rt = member(&doc, "resourceType");
    if (rt == nullptr) {
      return failure("/resourceType", "required", "/resourceType: required property is missing");
    }
    if (!rt->IsString()) {
      return failure("/resourceType", "type",
                     fmt::format("/resourceType: expected string, got {}", instanceType(rt)));
    }
    typeName = std::string(str(*rt));
  }
  auto type = types.find(typeName);
  if (type == types.end()) {
    // Only the caller's own argument is echoed; a document's resourceType is input and stays out.
    return failure(
        "/resourceType", "enum",
        forcedType != nullptr
            ? fmt::format("/resourceType: unknown resource type \"{}\"; known: {}", typeName,
                          typeList())
            : fmt::format("/resourceType: unknown resource type; known: {}", typeList()));
  }

  // Pick the version: the document's schemaVersion, else the newest (whose schema then reports
  // the missing schemaVersion as required).
  const TypeEntry* entry = &type->second.rbegin()->second;
  if (const Value* sv = member(&doc, "schemaVersion")) {
    if (!sv->IsString()) {
      return failure("/schemaVersion", "type",
                     fmt::format("/schemaVersion: expected string, got {}", instanceType(sv)));
    }
    auto v = type->second.find(str(*sv));
    if (v == type->second.end()) {
      std::vector<std::string_view> loaded;
      for (const auto& [name, e] : type->second) loaded.push_back(name);
      return failure("/schemaVersion", "enum",
                     fmt::format("/schemaVersion: not a loaded version of {}; loaded: [{}]",
                                 type->first, fmt::join(loaded, ", ")));
    }
    entry = &v->second;
  }

  return validateText(*entry, json, [&](const auto& validator, const auto& guard, bool) {
    if (guard.sawNul()) {
      const std::string at = firstNulString(doc);
      return failure(
          at, "nulCharacter",
          fmt::format("{}: string contains U+0000, which the model does not allow", shown(at)));
    }
    if (validator.IsValid()) return ValidationResult{};
    const Folder& folder = *folders[entry->folder];
    const Document* raw = folder.file(entry->fileName);
    const SchemaLoc root{&folder, raw, raw};
    const char* keyword = validator.GetInvalidSchemaKeyword();
    return describe(keyword != nullptr ? keyword : "schema", validator.GetInvalidDocumentPointer(),
                    root, doc);
  });
}

SchemaRegistry::SchemaRegistry(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SchemaRegistry::SchemaRegistry(SchemaRegistry&&) noexcept = default;
SchemaRegistry& SchemaRegistry::operator=(SchemaRegistry&&) noexcept = default;
SchemaRegistry::~SchemaRegistry() = default;

SchemaRegistry SchemaRegistry::fromSources(const std::vector<SchemaSource>& sources) {
  auto impl = std::make_unique<Impl>();
  std::map<std::string, Folder*> byName;
  for (const auto& source : sources) {
    Folder*& folder = byName[source.version];
    if (folder == nullptr) {
      impl->folders.push_back(std::make_unique<Folder>());
      folder = impl->folders.back().get();
      folder->name = source.version;
    }
    auto doc = std::make_unique<Document>();
    doc->Parse<kParseFlags>(source.text.data(), source.text.size());
    if (doc->HasParseError()) {
      throw ModelError(fmt::format("{}/{}: invalid JSON at offset {}: {}", source.version,
                                   source.name, doc->GetErrorOffset(),
                                   rapidjson::GetParseError_En(doc->GetParseError())));
    }
    if (!folder->files.emplace(source.name, std::move(doc)).second) {
      throw ModelError(fmt::format("{}/{}: file given twice", source.version, source.name));
    }
  }

  for (std::size_t index = 0; index < impl->folders.size(); ++index) {
    Folder& folder = *impl->folders[index];
    for (const auto& [name, doc] : folder.files) {
      SchemaChecker(folder, name).check(*doc, "");
      // A file with a one-value resourceType enum is a resource schema; the others (common.json)
      // only hold definitions for it.
      std::string typeName;
      std::string version;
      if (singleEnum(*doc, "resourceType", typeName) == nullptr) continue;
      if (singleEnum(*doc, "schemaVersion", version) == nullptr) {
        throw ModelError(
            fmt::format("{}/{}: a resource schema needs properties.schemaVersion "
                        "with a single-value enum",
                        folder.name, name));
      }
      if (folder.version.empty()) folder.version = version;
      if (folder.version != version) {
        throw ModelError(
            fmt::format("{}/{}: schemaVersion \"{}\" differs from \"{}\" of the "
                        "folder's other schemas",
                        folder.name, name, version, folder.version));
      }
      auto& versions = impl->types[typeName];
      if (!versions.emplace(version, TypeEntry{index, name}).second) {
        throw ModelError(fmt::format("{}/{}: {} version {} is defined twice", folder.name, name,
                                     typeName, version));
      }
    }
  }
  if (impl->types.empty()) throw ModelError("no resource schemas found");

  // Compile once now so that a broken folder fails here, not at the first validate(); the set
  // becomes the pool's first entry.
  impl->release(impl->compile());
  return SchemaRegistry(std::move(impl));
}

SchemaRegistry SchemaRegistry::load(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw ModelError(fmt::format("{}: not a directory", dir.string()));
  }
  auto isVersionFolder = [](const fs::path& p) {
    const std::string name = p.filename().string();
    return name.size() > 1 && name[0] == 'v' &&
           std::all_of(name.begin() + 1, name.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  std::vector<fs::path> folders;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory() && isVersionFolder(entry.path())) folders.push_back(entry.path());
  }
  if (folders.empty()) folders.push_back(dir);
  std::sort(folders.begin(), folders.end());

  std::vector<SchemaSource> sources;
  for (const auto& folder : folders) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(folder)) {
      if (entry.is_regular_file() && entry.path().extension() == ".json") {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      std::ifstream in(file, std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      if (!in) throw ModelError(fmt::format("{}: cannot read", file.string()));
      sources.push_back({folder.filename().string(), file.filename().string(), text.str()});
    }
  }
  return fromSources(sources);
}

const SchemaRegistry& SchemaRegistry::builtin() {
  static const SchemaRegistry registry = [] {
    std::vector<SchemaSource> sources;
    for (const auto& s : kEmbeddedSchemas) sources.push_back({s.version, s.name, s.text});
    return fromSources(sources);
  }();
  return registry;
}

ValidationResult SchemaRegistry::validate(std::string_view json) const {
  return impl_->run(nullptr, json);
}

ValidationResult SchemaRegistry::validate(std::string_view type, std::string_view json) const {
  const std::string name(type);
  return impl_->run(&name, json);
}

std::vector<std::string> SchemaRegistry::types() const {
  std::vector<std::string> out;
  for (const auto& [name, versions] : impl_->types) out.push_back(name);
  return out;
}

std::vector<std::string> SchemaRegistry::versions(std::string_view type) const {
  std::vector<std::string> out;
  auto it = impl_->types.find(type);
  if (it == impl_->types.end()) return out;
  for (const auto& [version, entry] : it->second) out.push_back(version);
  return out;
}

bool caseTransitionAllowed(std::string_view from, std::string_view to) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 5> kAllowed = {{
      {"Submitted", "AI Processing"},
      {"AI Processing", "Professional Review"},
      {"Professional Review", "Peer Review"},
      {"Peer Review", "Professional Review"},
      {"Peer Review", "Final Report"},
  }};
  return std::find(kAllowed.begin(), kAllowed.end(), std::pair{from, to}) != kAllowed.end();
}

}  // namespace sb::model
