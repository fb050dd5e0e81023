// Every type has a valid example, and each example breaks in the ways the model promises to
// catch, with the exact pointer and keyword an analyst would be shown.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/pointer.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "model/schema_registry.h"
#include "tests/support/test_support.h"

namespace sb::model {
namespace {

namespace fs = std::filesystem;

fs::path examplesDir() {
  return test::sourceDir() / "model" / "v1" / "examples";
}

std::string example(const std::string& type) {
  return test::readFile(examplesDir() / (type + ".json"));
}

std::string toJson(const rapidjson::Document& doc) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  doc.Accept(w);
  return sb.GetString();
}

using Edit = std::function<void(rapidjson::Document&)>;

Edit set(const char* pointer, const char* value) {
  return [=](rapidjson::Document& d) {
    rapidjson::Pointer(pointer).Set(d, rapidjson::Value(value, d.GetAllocator()).Move());
  };
}
Edit setJson(const char* pointer, const char* json) {
  return [=](rapidjson::Document& d) {
    rapidjson::Document v(&d.GetAllocator());
    v.Parse(json);
    rapidjson::Pointer(pointer).Set(d, v);
  };
}
Edit erase(const char* pointer) {
  return [=](rapidjson::Document& d) { ASSERT_TRUE(rapidjson::Pointer(pointer).Erase(d)); };
}
// Renames a top-level property, the typo an analyst makes when hand-writing a mapping.
Edit rename(const char* from, const char* to) {
  return [=](rapidjson::Document& d) {
    rapidjson::Value v(d[from], d.GetAllocator());
    d.RemoveMember(from);
    d.AddMember(rapidjson::Value(to, d.GetAllocator()).Move(), v, d.GetAllocator());
  };
}

std::string edited(const std::string& type, const std::vector<Edit>& edits) {
  rapidjson::Document doc;
  doc.Parse(example(type).c_str());
  EXPECT_FALSE(doc.HasParseError()) << type;
  for (const auto& e : edits) e(doc);
  return toJson(doc);
}

TEST(ModelExamples, EveryTypeHasAnExampleAndEveryExampleAType) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(examplesDir())) {
    files.push_back(entry.path().stem().string());
  }
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, SchemaRegistry::builtin().types());
  EXPECT_EQ(files.size(), 18u);
}

TEST(ModelExamples, EveryExampleValidates) {
  const auto& registry = SchemaRegistry::builtin();
  for (const auto& type : registry.types()) {
    const auto r = registry.validate(example(type));
    EXPECT_TRUE(r.ok) << type << ": " << r.message;
    EXPECT_TRUE(registry.validate(type, example(type)).ok) << type;
  }
}

struct Broken {
  const char* type;
  const char* what;
  std::vector<Edit> edits;
  const char* pointer;
  const char* keyword;
};

class ModelBroken : public ::testing::TestWithParam<Broken> {};

TEST_P(ModelBroken, IsRejectedAtThePointerWithTheKeyword) {
  const Broken& b = GetParam();
  const auto r = SchemaRegistry::builtin().validate(edited(b.type, b.edits));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.pointer, b.pointer) << r.message;
  EXPECT_EQ(r.keyword, b.keyword) << r.message;
  EXPECT_EQ(r.message.rfind(r.pointer.empty() ? "(document)" : r.pointer, 0), 0u) << r.message;
}

// Values used below are chosen to be distinctive so the PHI test can look for them.
const std::vector<Broken> kBroken = {
    // Patient
    {"Patient",
     "identifier without value",
     {erase("/identifiers/0/value")},
     "/identifiers/0/value",
     "required"},
    {"Patient",
     "second identifier without system",
     {erase("/identifiers/1/system")},
     "/identifiers/1/system",
     "required"},
    {"Patient", "no identifiers", {erase("/identifiers")}, "/identifiers", "required"},
    {"Patient", "birth date not ISO", {set("/birthDate", "19800101")}, "/birthDate", "pattern"},
    {"Patient", "impossible month", {set("/birthDate", "1980-13-01")}, "/birthDate", "pattern"},
    {"Patient", "HL7 gender code", {set("/gender", "F")}, "/gender", "enum"},
    {"Patient",
     "typo birthdate",
     {rename("birthDate", "birthdate")},
     "/birthdate",
     "additionalProperties"},
    {"Patient",
     "typo inside an address",
     {set("/addresses/0/zip", "62701")},
     "/addresses/0/zip",
     "additionalProperties"},
    {"Patient", "name as a string", {set("/name", "Example")}, "/name", "type"},
    {"Patient", "rank zero", {setJson("/telecoms/0/rank", "0")}, "/telecoms/0/rank", "minimum"},
    {"Patient",
     "unknown identifier type",
     {set("/identifiers/0/type", "XYZ")},
     "/identifiers/0/type",
     "enum"},
    {"Patient",
     "next of kin contact typo",
     {set("/nextOfKin/0/relation", "x")},
     "/nextOfKin/0/relation",
     "additionalProperties"},
    // Encounter
    {"Encounter", "class as HL7 code", {set("/class", "I")}, "/class", "enum"},
    {"Encounter", "no patient", {erase("/patient")}, "/patient", "required"},
    {"Encounter",
     "admit time without offset",
     {set("/admitTime", "2025-03-01T22:40:00")},
     "/admitTime",
     "pattern"},
    {"Encounter",
     "empty reference",
     {setJson("/attending/0", "{}")},
     "/attending/0",
     "minProperties"},
    // Practitioner
    {"Practitioner", "no names", {setJson("/name", "[]")}, "/name", "minItems"},
    {"Practitioner",
     "identifier without system",
     {erase("/identifiers/0/system")},
     "/identifiers/0/system",
     "required"},
    // Organization
    {"Organization", "no name", {erase("/name")}, "/name", "required"},
    {"Organization",
     "country not ISO",
     {set("/addresses/0/country", "Usa")},
     "/addresses/0/country",
     "pattern"},
    // Coverage
    {"Coverage", "relationship code", {set("/relationship", "18")}, "/relationship", "enum"},
    {"Coverage", "period date", {set("/period/start", "2025-01-32")}, "/period/start", "pattern"},
    {"Coverage", "no member id", {erase("/memberId")}, "/memberId", "required"},
    // Appointment
    {"Appointment", "status no-show", {set("/status", "no-show")}, "/status", "enum"},
    {"Appointment",
     "duration as text",
     {set("/durationMinutes", "30")},
     "/durationMinutes",
     "type"},
    {"Appointment",
     "resource without kind",
     {erase("/resources/1/kind")},
     "/resources/1/kind",
     "required"},
    // Order
    {"Order", "priority in capitals", {set("/priority", "STAT")}, "/priority", "enum"},
    {"Order", "no placer number", {erase("/placerOrderNumber")}, "/placerOrderNumber", "required"},
    {"Order",
     "coding without code",
     {erase("/code/coding/1/code")},
     "/code/coding/1/code",
     "required"},
    // LabResult
    {"LabResult", "two values", {set("/valueString", "high")}, "", "not"},
    {"LabResult",
     "quantity as text",
     {set("/valueQuantity/value", "182")},
     "/valueQuantity/value",
     "type"},
    {"LabResult", "abnormal flag", {set("/abnormalFlags/0", "HIGH")}, "/abnormalFlags/0", "enum"},
    {"LabResult", "status", {set("/status", "F")}, "/status", "enum"},
    // DiagnosticReport
    {"DiagnosticReport",
     "embedded result status",
     {set("/embeddedResults/0/status", "done")},
     "/embeddedResults/0/status",
     "enum"},
    {"DiagnosticReport",
     "embedded result typo",
     {set("/embeddedResults/0/valueQty", "1")},
     "/embeddedResults/0/valueQty",
     "additionalProperties"},
    {"DiagnosticReport",
     "reference without id",
     {set("/results/0/reference", "LabResult")},
     "/results/0/reference",
     "pattern"},
    // Charge
    {"Charge", "CPT code with dash", {set("/code/code", "80-053")}, "/code/code", "pattern"},
    {"Charge",
     "amount without currency",
     {erase("/amount/currency")},
     "/amount/currency",
     "required"},
    {"Charge",
     "five modifiers",
     {setJson("/modifiers", R"(["25","59","LT","RT","XS"])")},
     "/modifiers",
     "maxItems"},
    {"Charge", "negative quantity", {setJson("/quantity", "-1")}, "/quantity", "minimum"},
    // EligibilityRequest
    {"EligibilityRequest",
     "no service types",
     {setJson("/serviceTypeCodes", "[]")},
     "/serviceTypeCodes",
     "minItems"},
    {"EligibilityRequest",
     "subscriber birth date",
     {set("/subscriber/birthDate", "01/01/1980")},
     "/subscriber/birthDate",
     "pattern"},
    // EligibilityResponse
    {"EligibilityResponse",
     "network code",
     {set("/benefits/1/network", "Y")},
     "/benefits/1/network",
     "enum"},
    {"EligibilityResponse", "active as text", {set("/active", "yes")}, "/active", "type"},
    {"EligibilityResponse",
     "benefit without category",
     {erase("/benefits/2/category")},
     "/benefits/2/category",
     "required"},
    // Claim
    {"Claim",
     "diagnosis pointer 13",
     {setJson("/serviceLines/0/diagnosisPointers/0", "13")},
     "/serviceLines/0/diagnosisPointers/0",
     "maximum"},
    {"Claim",
     "short NPI",
     {set("/billingProvider/npi", "12345")},
     "/billingProvider/npi",
     "pattern"},
    {"Claim",
     "charge as text",
     {set("/serviceLines/1/charge/value", "42.50")},
     "/serviceLines/1/charge/value",
     "type"},
    {"Claim", "no service lines", {setJson("/serviceLines", "[]")}, "/serviceLines", "minItems"},
    // ClaimStatus
    {"ClaimStatus",
     "category lower case",
     {set("/statusCategory", "f1")},
     "/statusCategory",
     "pattern"},
    {"ClaimStatus", "no effective date", {erase("/effectiveDate")}, "/effectiveDate", "required"},
    // Remittance
    {"Remittance",
     "CAS group",
     {set("/claims/0/serviceLines/0/adjustments/1/group", "XX")},
     "/claims/0/serviceLines/0/adjustments/1/group",
     "enum"},
    {"Remittance", "payment method", {set("/payment/method", "EFT")}, "/payment/method", "enum"},
    {"Remittance",
     "PLB without amount",
     {erase("/providerAdjustments/0/amount")},
     "/providerAdjustments/0/amount",
     "required"},
    {"Remittance",
     "CARC too long",
     {set("/claims/0/serviceLines/1/adjustments/0/reason", "4545455")},
     "/claims/0/serviceLines/1/adjustments/0/reason",
     "pattern"},
    // Case
    {"Case",
     "case number short year",
     {set("/caseNumber", "EU-25-001234")},
     "/caseNumber",
     "pattern"},
    {"Case",
     "case number lower case",
     {set("/caseNumber", "eu-2025-001234")},
     "/caseNumber",
     "pattern"},
    {"Case",
     "case number short sequence",
     {set("/caseNumber", "EU-2025-1234")},
     "/caseNumber",
     "pattern"},
    {"Case", "status not in workflow", {set("/status", "Closed")}, "/status", "enum"},
    {"Case", "status in lower case", {set("/status", "final report")}, "/status", "enum"},
    {"Case",
     "history entry without time",
     {erase("/statusHistory/1/at")},
     "/statusHistory/1/at",
     "required"},
    {"Case",
     "no requesting physician",
     {erase("/requestingPhysician")},
     "/requestingPhysician",
     "required"},
    // Document
    {"Document", "no content", {erase("/data")}, "", "oneOf"},
    {"Document", "url and data", {set("/url", "https://dms.example.invalid/doc/1")}, "", "oneOf"},
    {"Document", "hash upper case", {set("/hash/value", "ABCDEF")}, "/hash/value", "pattern"},
    {"Document", "data not base64", {set("/data", "not base64!")}, "/data", "pattern"},
    {"Document", "size negative", {setJson("/size", "-5")}, "/size", "minimum"},
    // ImagingStudy
    {"ImagingStudy",
     "UID with leading zero",
     {set("/studyInstanceUid", "1.2.03")},
     "/studyInstanceUid",
     "pattern"},
    {"ImagingStudy",
     "modality twice",
     {setJson("/modalities", R"(["CT","CT"])")},
     "/modalities/1",
     "uniqueItems"},
    {"ImagingStudy", "modality unknown", {set("/modalities/0", "CAT")}, "/modalities/0", "enum"},
    {"ImagingStudy",
     "series count",
     {setJson("/numberOfSeries", "-1")},
     "/numberOfSeries",
     "minimum"},
    {"ImagingStudy",
     "accession too long",
     {set("/accessionNumber", "ACC0003210000000000")},
     "/accessionNumber",
     "maxLength"},
};

INSTANTIATE_TEST_SUITE_P(AllTypes, ModelBroken, ::testing::ValuesIn(kBroken),
                         [](const ::testing::TestParamInfo<Broken>& info) {
                           std::string name = std::string(info.param.type) + "_" + info.param.what;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(ModelExamples, EveryTypeHasABrokenCase) {
  for (const auto& type : SchemaRegistry::builtin().types()) {
    EXPECT_TRUE(std::any_of(kBroken.begin(), kBroken.end(), [&](const Broken& b) {
      return b.type == type;
    })) << type;
  }
}

// Messages go to logs; the rejected values are patient data and must not appear in them.
TEST(ModelExamples, MessagesNeverContainTheRejectedValue) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"birth date not ISO", "19800101"},
      {"HL7 gender code", "\"F\""},
      {"short NPI", "12345"},
      {"case number short year", "EU-25-001234"},
      {"data not base64", "not base64!"},
      {"CARC too long", "4545455"}};
  for (const auto& [what, value] : cases) {
    auto b = std::find_if(kBroken.begin(), kBroken.end(),
                          [&](const Broken& x) { return x.what == what; });
    ASSERT_NE(b, kBroken.end()) << what;
    const auto r = SchemaRegistry::builtin().validate(edited(b->type, b->edits));
    ASSERT_FALSE(r.ok) << what;
    EXPECT_EQ(r.message.find(value), std::string::npos) << r.message;
  }
}

}  // namespace
}  // namespace sb::model
