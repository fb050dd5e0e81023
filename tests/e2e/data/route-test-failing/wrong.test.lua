test "golden with a wrong birth date" {
  config = "switchboard.lua",
  channel = "in",
  input = "../../../../fixtures/hl7v2/ADT-A08-01.hl7",
  expect = { patients = "wrong-patient.json" },
}
