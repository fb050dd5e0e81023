// SchemaRegistry: dispatch by resourceType and schemaVersion, parse errors, load() of folders
// and of broken schemas, messages, thread safety, and the Case workflow transitions.
#include "model/schema_registry.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/test_support.h"

namespace sb::model {
namespace {

namespace fs = std::filesystem;

fs::path modelDir() {
  return test::sourceDir() / "model";
}

std::string example(const std::string& type) {
  return test::readFile(modelDir() / "v1" / "examples" / (type + ".json"));
}

// Replaces the first occurrence of `from`; the tests edit example texts surgically.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::vector<SchemaSource> v1Sources() {
  std::vector<SchemaSource> out;
  for (const auto& entry : fs::directory_iterator(modelDir() / "v1")) {
    if (entry.path().extension() == ".json") {
      out.push_back({"v1", entry.path().filename().string(), test::readFile(entry.path())});
    }
  }
  return out;
}

constexpr const char* kMinimalCommon = R"({"definitions": {"Id": {"type": "string"}}})";

TEST(SchemaRegistry, DispatchesOnResourceType) {
  const auto& registry = SchemaRegistry::builtin();
  // An Encounter is not a valid Patient: dispatch must pick the Encounter schema.
  EXPECT_TRUE(registry.validate(example("Encounter")).ok);
  const auto asPatient = registry.validate("Patient", example("Encounter"));
  EXPECT_FALSE(asPatient.ok);
  EXPECT_EQ(asPatient.pointer, "/resourceType");
  EXPECT_EQ(asPatient.keyword, "enum");
  EXPECT_EQ(asPatient.message, "/resourceType: is not one of the allowed values [\"Patient\"]");
}

// Valid documents are settled without building them: the type and version are read from the
// top level wherever they stand (not from a nested object of the same member names), and the
// answer is the same as the full path's.
TEST(SchemaRegistry, TypeAndVersionAreFoundWhereverTheyStand) {
  const auto& registry = SchemaRegistry::builtin();
  const std::string patient = example("Patient");
  ASSERT_TRUE(registry.validate(patient).ok);
  // schemaVersion moved to the end, resourceType after it.
  std::string moved = replaced(patient, "\"schemaVersion\": \"1\",", "");
  moved = replaced(moved, "\"resourceType\": \"Patient\",", "");
  moved.insert(moved.rfind('}'), ", \"schemaVersion\": \"1\", \"resourceType\": \"Patient\"");
  EXPECT_TRUE(registry.validate(moved).ok) << registry.validate(moved).message;
  EXPECT_TRUE(registry.validate("Patient", moved).ok);
  // A first member decides, as in the full path: a second resourceType does not make an
  // Encounter a Patient.
  const std::string twice = replaced(example("Encounter"), "{", R"({"resourceType": "Encounter",)");
  EXPECT_EQ(registry.validate(twice).ok, registry.validate(example("Encounter")).ok);
  const auto mistyped =
      registry.validate(replaced(patient, "\"schemaVersion\": \"1\"", "\"schemaVersion\": 1"));
  EXPECT_EQ(mistyped.pointer, "/schemaVersion");
  EXPECT_EQ(mistyped.message, "/schemaVersion: expected string, got integer");
}

TEST(SchemaRegistry, UnknownResourceType) {
  const auto r =
      SchemaRegistry::builtin().validate(R"({"resourceType": "Patinet", "schemaVersion": "1"})");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.pointer, "/resourceType");
  EXPECT_EQ(r.keyword, "enum");
  EXPECT_EQ(r.message.find("Patinet"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("Patient"), std::string::npos) << r.message;

  const auto named = SchemaRegistry::builtin().validate("Invoice", example("Patient"));
  EXPECT_FALSE(named.ok);
  EXPECT_EQ(named.pointer, "/resourceType");
  EXPECT_NE(named.message.find("\"Invoice\""), std::string::npos) << named.message;
}

TEST(SchemaRegistry, MissingOrMistypedResourceType) {
  const auto missing = SchemaRegistry::builtin().validate(R"({"schemaVersion": "1"})");
  EXPECT_EQ(missing.pointer, "/resourceType");
  EXPECT_EQ(missing.keyword, "required");
  const auto number = SchemaRegistry::builtin().validate(R"({"resourceType": 7})");
  EXPECT_EQ(number.pointer, "/resourceType");
  EXPECT_EQ(number.keyword, "type");
  EXPECT_EQ(number.message, "/resourceType: expected string, got integer");
}

TEST(SchemaRegistry, SchemaVersion) {
  const auto& registry = SchemaRegistry::builtin();
  EXPECT_EQ(registry.versions("Patient"), std::vector<std::string>{"1"});
  EXPECT_TRUE(registry.versions("Nope").empty());

  const auto unknown = registry.validate(
      replaced(example("Patient"), "\"schemaVersion\": \"1\"", "\"schemaVersion\": \"9\""));
  EXPECT_EQ(unknown.pointer, "/schemaVersion");
  EXPECT_EQ(unknown.keyword, "enum");
  EXPECT_EQ(unknown.message, "/schemaVersion: not a loaded version of Patient; loaded: [1]");

  const auto missing =
      registry.validate(replaced(example("Patient"), "\"schemaVersion\": \"1\",", ""));
  EXPECT_EQ(missing.pointer, "/schemaVersion");
  EXPECT_EQ(missing.keyword, "required");
  EXPECT_EQ(missing.message, "/schemaVersion: required property is missing");
}

TEST(SchemaRegistry, InvalidJson) {
  const auto& registry = SchemaRegistry::builtin();
  const auto truncated = registry.validate(R"({"resourceType": "Patient", )");
  EXPECT_FALSE(truncated.ok);
  EXPECT_EQ(truncated.keyword, "parse");
  EXPECT_EQ(truncated.pointer, "");
  EXPECT_NE(truncated.message.find("invalid JSON at offset 28"), std::string::npos)
      << truncated.message;

  EXPECT_EQ(registry.validate("").keyword, "parse");
  EXPECT_EQ(registry.validate(example("Patient") + "x").keyword, "parse");
  EXPECT_EQ(registry.validate("{\"a\": \"\xff\"}").keyword, "parse");  // not UTF-8

  // ASCII documents skip the reader's UTF-8 check; others keep it, either way the answers match.
  const std::string patient = example("Patient");
  EXPECT_TRUE(registry.validate(patient).ok);
  const std::string accented =
      replaced(patient, "\"1980-01-01\"", "\"1980-01-01\", \"z\u00e9\": 1");
  EXPECT_EQ(
      registry.validate(accented).keyword,
      registry.validate(replaced(patient, "\"1980-01-01\"", "\"1980-01-01\", \"ze\": 1")).keyword);
  const std::string brokenLate =
      replaced(patient, "\"1980-01-01\"", "\"1980-01-01\", \"z\xc3\": 1");
  EXPECT_EQ(registry.validate(brokenLate).keyword, "parse");
  const auto badDateNonAscii =
      registry.validate(replaced(patient, "\"1980-01-01\"", "\"1980-01-0\u00e9\""));
  EXPECT_EQ(badDateNonAscii.pointer, "/birthDate");
  EXPECT_EQ(badDateNonAscii.keyword, "pattern");

  const auto array = registry.validate("[]");
  EXPECT_EQ(array.keyword, "type");
  EXPECT_EQ(array.message, "(document): expected object, got array");
}

TEST(SchemaRegistry, MessagesNameTheConstraint) {
  const auto& registry = SchemaRegistry::builtin();
  const auto date =
      registry.validate(replaced(example("Patient"), "\"1980-01-01\"", "\"01.01.1980\""));
  EXPECT_EQ(date.message,
            "/birthDate: does not match pattern "
            "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$");

  const auto gender = registry.validate(replaced(example("Patient"), "\"female\"", "\"F\""));
  EXPECT_EQ(gender.message,
            "/gender: is not one of the allowed values [\"male\", \"female\", \"other\", "
            "\"unknown\"]");

  const auto typo =
      registry.validate(replaced(example("Patient"), "\"birthDate\"", "\"birthdate\""));
  EXPECT_EQ(typo.message,
            "/birthdate: property is not allowed (additionalProperties is false); did you mean "
            "\"birthDate\"?");

  const auto missing = registry.validate(
      replaced(example("Patient"), "\"value\": \"MRN000123\"", "\"valu\": \"MRN000123\""));
  EXPECT_EQ(missing.pointer, "/identifiers/0/valu");
  EXPECT_EQ(missing.keyword, "additionalProperties");

  const auto status = registry.validate(
      replaced(example("Case"), "\"status\": \"Professional Review\"", "\"status\": \"Closed\""));
  EXPECT_EQ(status.message,
            "/status: is not one of the allowed values [\"Submitted\", \"AI Processing\", "
            "\"Professional Review\", \"Peer Review\", \"Final Report\"]");

  const auto twoValues = registry.validate(replaced(example("LabResult"), "\"abnormalFlags\"",
                                                    "\"valueString\": \"x\", \"abnormalFlags\""));
  EXPECT_EQ(twoValues.message,
            "(document): at most one of valueQuantity, valueString, valueCodeableConcept may be "
            "present");
}

TEST(SchemaRegistry, CaseNumberPattern) {
  const auto& registry = SchemaRegistry::builtin();
  for (const char* good :
       {"EU-2025-001234", "US-2024-000001", "APAC-2026-999999", "ABC-1999-123456"}) {
    EXPECT_TRUE(registry.validate(replaced(example("Case"), "EU-2025-001234", good)).ok) << good;
  }
  for (const char* bad :
       {"E-2025-001234", "EUROP-2025-001234", "EU-2025-0012345", "EU2025001234", "EU-2025-001234 ",
        " EU-2025-001234", "eu-2025-001234", "EU-202A-001234"}) {
    const auto r = registry.validate(replaced(example("Case"), "EU-2025-001234", bad));
    EXPECT_EQ(r.pointer, "/caseNumber") << bad;
    EXPECT_EQ(r.keyword, "pattern") << bad;
  }
}

TEST(SchemaRegistry, DateTimesNeedAnOffset) {
  const auto& registry = SchemaRegistry::builtin();
  const std::string from = "\"2025-03-10T08:00:00+01:00\"";
  for (const char* good :
       {"2025-03-10T08:00:00Z", "2025-03-10T08:00:00.123-05:00", "2025-12-31T23:59:59+14:00"}) {
    EXPECT_TRUE(
        registry.validate(replaced(example("Case"), from, std::string("\"") + good + "\"")).ok)
        << good;
  }
  for (const char* bad : {"2025-03-10T08:00:00", "2025-03-10 08:00:00Z", "2025-03-10T24:00:00Z",
                          "2025-03-10T08:00Z", "2025-03-10", "20250310080000+0100"}) {
    const auto r =
        registry.validate(replaced(example("Case"), from, std::string("\"") + bad + "\""));
    EXPECT_EQ(r.keyword, "pattern") << bad;
    EXPECT_EQ(r.pointer, "/statusHistory/0/at") << bad;
  }
}

TEST(SchemaRegistry, StringsWithNulAreRejected) {
  // The pattern matcher stops at U+0000, so without this check the junk would pass as a date.
  const auto r = SchemaRegistry::builtin().validate(
      replaced(example("Patient"), "\"1980-01-01\"", "\"1980-01-01\\u0000junk\""));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.pointer, "/birthDate");
  EXPECT_EQ(r.keyword, "nulCharacter");
}

TEST(SchemaRegistry, DeepNestingDoesNotExhaustTheStack) {
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  const auto asDocument = SchemaRegistry::builtin().validate(deep);
  EXPECT_EQ(asDocument.keyword, "type");

  const std::string inside =
      replaced(example("Patient"), "\"active\": true", "\"active\": " + deep);
  const auto r = SchemaRegistry::builtin().validate(inside);
  EXPECT_EQ(r.pointer, "/active");
  EXPECT_EQ(r.keyword, "type");
}

TEST(SchemaRegistry, LoadsAVersionFolderOrAModelRoot) {
  const auto folder = SchemaRegistry::load(modelDir() / "v1");
  const auto root = SchemaRegistry::load(modelDir());
  EXPECT_EQ(folder.types(), SchemaRegistry::builtin().types());
  EXPECT_EQ(root.types(), SchemaRegistry::builtin().types());
  EXPECT_TRUE(root.validate(example("Remittance")).ok);
  EXPECT_THROW(SchemaRegistry::load(modelDir() / "no-such-folder"), ModelError);
}

// Patient v2: schemaVersion "2" and birthDate required, edited on the parsed v1 schema so the
// test does not depend on how the file is laid out.
std::string patientV2(const std::string& v1) {
  rapidjson::Document d;
  d.Parse(v1.c_str());
  rapidjson::Pointer("/properties/schemaVersion/enum/0").Set(d, "2");
  rapidjson::Pointer("/id").Set(d, "https://switchboard.invalid/model/v2/Patient.json");
  rapidjson::Pointer("/required/-").Set(d, "birthDate");
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  d.Accept(w);
  return sb.GetString();
}

TEST(SchemaRegistry, TwoVersionsSideBySide) {
  auto sources = v1Sources();
  for (const auto& s : v1Sources()) {
    // v2 changes only Patient; the other types stay at v1. A version folder is self-contained,
    // so it has its own common.json.
    if (s.name == "Patient.json") sources.push_back({"v2", s.name, patientV2(s.text)});
    if (s.name == "common.json") sources.push_back({"v2", s.name, s.text});
  }
  const auto registry = SchemaRegistry::fromSources(sources);
  EXPECT_EQ(registry.versions("Patient"), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(registry.versions("Encounter"), std::vector<std::string>{"1"});

  const std::string v1 = example("Patient");
  const std::string v2NoBirthDate =
      replaced(replaced(v1, "\"schemaVersion\": \"1\"", "\"schemaVersion\": \"2\""),
               "\"birthDate\": \"1980-01-01\",", "");
  EXPECT_TRUE(registry.validate(v1).ok);
  const auto r = registry.validate(v2NoBirthDate);
  EXPECT_EQ(r.pointer, "/birthDate");
  EXPECT_EQ(r.keyword, "required");
  // Without schemaVersion the newest version is chosen, which then asks for schemaVersion.
  EXPECT_EQ(registry.validate(replaced(v1, "\"schemaVersion\": \"1\",", "")).pointer,
            "/schemaVersion");
}

// A schema that would be silently weakened by RapidJSON 1.1.0 must fail to load instead.
void expectLoadError(const std::string& patient, const std::string& expected) {
  try {
    SchemaRegistry::fromSources(
        {{"v1", "common.json", kMinimalCommon}, {"v1", "Patient.json", patient}});
    ADD_FAILURE() << "loaded: " << patient;
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  }
}

std::string patientSchema(const std::string& birthDate) {
  return R"({"type": "object", "properties": {
      "resourceType": {"enum": ["Patient"]}, "schemaVersion": {"enum": ["1"]},
      "birthDate": )" +
         birthDate + "}}";
}

TEST(SchemaRegistry, RefusesSchemasTheValidatorWouldIgnore) {
  EXPECT_NO_THROW(SchemaRegistry::fromSources(
      {{"v1", "common.json", kMinimalCommon},
       {"v1", "Patient.json", patientSchema(R"({"$ref": "common.json#/definitions/Id"})")}}));
  expectLoadError(
      patientSchema(R"({"type": "string", "pattern": "^\\d{4}$"})"),
      "v1/Patient.json#/properties/birthDate/pattern: pattern ^\\d{4}$ is not supported");
  expectLoadError(patientSchema(R"({"type": "string", "format": "date"})"),
                  "v1/Patient.json#/properties/birthDate/format: keyword is not enforced");
  expectLoadError(patientSchema(R"({"$ref": "common.json#/definitions/Date"})"),
                  "$ref common.json#/definitions/Date does not resolve");
  expectLoadError(patientSchema(R"({"$ref": "types.json#/definitions/Date"})"),
                  "$ref to types.json: no such file in the folder");
  expectLoadError(patientSchema(R"({"type": "string",)"),
                  "v1/Patient.json: invalid JSON at offset");
  // A property merely named like a keyword is fine.
  EXPECT_NO_THROW(SchemaRegistry::fromSources(
      {{"v1", "common.json", kMinimalCommon},
       {"v1", "Patient.json",
        patientSchema(R"({"type": "object", "properties": {"format": {"type": "string"}}})")}}));
}

TEST(SchemaRegistry, RefusesDuplicateTypesAndEmptyFolders) {
  const std::string schema = patientSchema(R"({"type": "string"})");
  EXPECT_THROW(SchemaRegistry::fromSources(
                   {{"v1", "Patient.json", schema}, {"v1", "Patient2.json", schema}}),
               ModelError);
  EXPECT_THROW(SchemaRegistry::fromSources({{"v1", "common.json", kMinimalCommon}}), ModelError);
}

TEST(SchemaRegistry, ConcurrentValidationGivesTheSameAnswers) {
  // Pattern-heavy documents, valid and invalid, from many threads at once: RapidJSON 1.1.0's
  // regex keeps scratch state in the compiled schema, which the registry must not share.
  const auto& registry = SchemaRegistry::builtin();
  const std::vector<std::string> types = {"Patient", "Claim",    "Remittance",
                                          "Case",    "Document", "ImagingStudy"};
  std::vector<std::string> good;
  for (const auto& t : types) good.push_back(example(t));
  const std::string bad =
      replaced(example("Case"), "\"2025-03-10T08:00:05+01:00\"", "\"2025-03-10T08:00:05\"");
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 150; ++i) {
        if ((i + t) % 3 == 0) {
          const auto r = registry.validate(bad);
          if (r.ok || r.pointer != "/statusHistory/1/at" || r.keyword != "pattern") ++wrong;
        } else if (!registry.validate(good[static_cast<std::size_t>(i + t) % good.size()]).ok) {
          ++wrong;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(SchemaRegistry, ResultIsUsableAsABool) {
  EXPECT_TRUE(static_cast<bool>(SchemaRegistry::builtin().validate(example("Order"))));
  EXPECT_FALSE(static_cast<bool>(SchemaRegistry::builtin().validate("{}")));
}

TEST(CaseWorkflow, Transitions) {
  EXPECT_TRUE(caseTransitionAllowed("Submitted", "AI Processing"));
  EXPECT_TRUE(caseTransitionAllowed("AI Processing", "Professional Review"));
  EXPECT_TRUE(caseTransitionAllowed("Professional Review", "Peer Review"));
  EXPECT_TRUE(caseTransitionAllowed("Peer Review", "Professional Review"));
  EXPECT_TRUE(caseTransitionAllowed("Peer Review", "Final Report"));

  EXPECT_FALSE(caseTransitionAllowed("Submitted", "Final Report"));
  EXPECT_FALSE(caseTransitionAllowed("Professional Review", "Final Report"));
  EXPECT_FALSE(caseTransitionAllowed("Final Report", "Submitted"));
  EXPECT_FALSE(caseTransitionAllowed("Submitted", "Submitted"));
  EXPECT_FALSE(caseTransitionAllowed("submitted", "AI Processing"));
  EXPECT_FALSE(caseTransitionAllowed("Closed", "Final Report"));
}

}  // namespace
}  // namespace sb::model
