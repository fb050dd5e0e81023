-- Route tests for examples/pms: ADT feeds into canonical Patient and Encounter JSON.
-- Run with `switchboard test tests/routes` (ctest runs it too).
local config = "../../examples/pms/switchboard.lua"

for _, case in ipairs({
  { "A01", "ADT-A01-01.hl7", "adt-a01" },
  { "A03", "ADT-A03-01-cr.hl7", "adt-a03" },
  { "A04", "ADT-A04-01-crlf.hl7", "adt-a04" },
  { "A08", "ADT-A08-01.hl7", "adt-a08" },
}) do
  local trigger, input, golden = case[1], case[2], case[3]
  test("ADT " .. trigger .. " becomes a Patient, an Encounter and an archive copy") {
    config = config,
    channel = "hospital_in",
    input = "../../fixtures/hl7v2/" .. input,
    expect = {
      archive = "../../fixtures/hl7v2/" .. input,
      pms_patients = "golden/" .. golden .. ".patient.json",
      pms_encounters = "golden/" .. golden .. ".encounter.json",
    },
  }
end

test "ADT A31 updates the Patient only" {
  config = config,
  channel = "hospital_in",
  input = "../../fixtures/hl7v2/ADT-A31-01-cr.hl7",
  expect = {
    archive = "../../fixtures/hl7v2/ADT-A31-01-cr.hl7",
    pms_patients = "golden/adt-a31.patient.json",
  },
}

test "ADT A40 merges two patients" {
  config = config,
  channel = "hospital_in",
  input = "../../fixtures/hl7v2/ADT-A40-01-crlf.hl7",
  expect = {
    archive = "../../fixtures/hl7v2/ADT-A40-01-crlf.hl7",
    pms_patients = { "golden/adt-a40.survivor.json", "golden/adt-a40.merged.json" },
  },
}

test "A message no route maps is only archived" {
  config = config,
  channel = "hospital_in",
  input = "../../fixtures/hl7v2/minimal-v21.hl7",
  expect = {
    archive = "../../fixtures/hl7v2/minimal-v21.hl7",
  },
}
