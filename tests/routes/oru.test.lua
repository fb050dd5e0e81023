-- Route tests for examples/pms: ORU^R01 results become LabResults (one per OBX that holds a
-- result, in message order) and a DiagnosticReport per OBR that references them by id.
local config = "../../examples/pms/switchboard.lua"

test "ORU R01 becomes LabResults, a DiagnosticReport and an archive copy" {
  config = config,
  channel = "hospital_in",
  input = "../../fixtures/hl7v2/ORU-R01-01-cr.hl7",
  expect = {
    archive = "../../fixtures/hl7v2/ORU-R01-01-cr.hl7",
    -- The CWE result (OBX 625-4) and the NM result (OBX 8867-4); the RP and ED OBX are
    -- documents and pointers, not results.
    pms_lab_results = { "golden/oru-r01.result-1.json", "golden/oru-r01.result-2.json" },
    pms_reports = "golden/oru-r01.report.json",
  },
}
