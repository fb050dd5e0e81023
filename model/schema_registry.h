// The canonical model's validator: JSON Schemas (draft-04) compiled once, then used to check
// documents such as a Patient or a Claim before they are stored or sent on.
//
// Messages never contain field values, only pointers, keywords and schema constraints, because
// the documents carry PHI and validation results end up in logs.
#pragma once

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sb::model {

struct ValidationResult {
  bool ok = true;
  // JSON pointer of the failing value, e.g. "/identifiers/0/value". For a missing required
  // property it names the missing property; for a whole-document problem it is "".
  std::string pointer;
  // The JSON Schema keyword that failed ("required", "pattern", "additionalProperties", "enum",
  // "type", ...), or "parse" when the input is not JSON.
  std::string keyword;
  // Human readable, e.g. "/birthDate: does not match pattern ^[0-9]{4}-...$".
  std::string message;

  explicit operator bool() const { return ok; }
};

// Thrown by load() and builtin() when a schema folder is unusable: unreadable or invalid JSON,
// a $ref that does not resolve, a pattern the validator cannot compile, two files claiming the
// same resourceType and version.
class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One schema file as text; `version` is the folder it came from ("v1").
struct SchemaSource {
  std::string version;
  std::string name;  // file name, e.g. "Patient.json"
  std::string text;
};

class SchemaRegistry {
 public:
  // Loads the *.json files of a version folder (model/v1), or of every v<N> folder when `dir`
  // is a model root that contains them (model/, with v1 and v2 side by side).
  static SchemaRegistry load(const std::filesystem::path& dir);
  // The schemas compiled into the binary from the source tree's model/v*/ (see
  // model/CMakeLists.txt), so nothing has to be installed beside the executable.
  static const SchemaRegistry& builtin();
  // Builds a registry from schema texts; load() and builtin() use it, tests may too.
  static SchemaRegistry fromSources(const std::vector<SchemaSource>& sources);

  SchemaRegistry(SchemaRegistry&&) noexcept;
  SchemaRegistry& operator=(SchemaRegistry&&) noexcept;
  ~SchemaRegistry();

  // Picks the schema by the document's "resourceType" and "schemaVersion" (the newest loaded
  // version when schemaVersion is absent; the schema then reports it as required).
  ValidationResult validate(std::string_view json) const;
  // Validates against the named type; the document's resourceType must still match it.
  ValidationResult validate(std::string_view type, std::string_view json) const;

  // Resource types with at least one loaded version, sorted.
  std::vector<std::string> types() const;
  // Loaded schemaVersion values of a type, oldest first; empty for an unknown type.
  std::vector<std::string> versions(std::string_view type) const;

 private:
  struct Impl;
  explicit SchemaRegistry(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Second-opinion case workflow. A schema checks one document at a time, so the order of
// statuses across updates is checked here: Submitted -> AI Processing -> Professional Review
// -> Peer Review -> Final Report, plus Peer Review -> Professional Review when the peer reviewer
// returns the case. Final Report is terminal. Staying in the same status is not a transition.
bool caseTransitionAllowed(std::string_view from, std::string_view to);

}  // namespace sb::model
