-- Route tests for examples/pms: DFT^P03 becomes one Charge per FT1, in order.
local config = "../../examples/pms/switchboard.lua"

test "DFT P03 becomes one Charge per FT1" {
  config = config,
  channel = "hospital_in",
  input = "../../fixtures/hl7v2/DFT-P03-01-cr.hl7",
  expect = {
    archive = "../../fixtures/hl7v2/DFT-P03-01-cr.hl7",
    -- FT1 1: CPT 71045 from FT1-25; FT1 2 has no FT1-2, so its id is MSH-10 and FT1-1.
    pms_charges = { "golden/dft-p03.charge-1.json", "golden/dft-p03.charge-2.json" },
  },
}
