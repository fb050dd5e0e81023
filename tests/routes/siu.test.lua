-- Route tests for examples/pms: SIU S12 (booked), S13 (rescheduled), S14 (modified) and S15
-- (cancelled) each become the whole Appointment as it now stands.
local config = "../../examples/pms/switchboard.lua"

for _, case in ipairs({
  { "S12 books", "SIU-S12-01-crlf.hl7", "siu-s12" },
  { "S13 reschedules", "SIU-S13-01.hl7", "siu-s13" },
  { "S14 modifies (the location moves to Room02)", "SIU-S14-01.hl7", "siu-s14" },
  { "S15 cancels", "SIU-S15-01.hl7", "siu-s15" },
}) do
  local what, input, golden = case[1], case[2], case[3]
  test("SIU " .. what .. " an Appointment") {
    config = config,
    channel = "hospital_in",
    input = "../../fixtures/hl7v2/" .. input,
    expect = {
      archive = "../../fixtures/hl7v2/" .. input,
      pms_appointments = "golden/" .. golden .. ".appointment.json",
    },
  }
end
