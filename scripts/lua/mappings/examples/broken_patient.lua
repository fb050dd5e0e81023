-- Deliberately broken: writes the birth date as HL7 sends it (PID-7, e.g. 198808181126+0215)
-- instead of the model's YYYY-MM-DD, so the Patient fails its schema at /birthDate.
-- tests/routes/broken uses it to show that such an output goes to the error queue instead of a
-- destination. Do not route real traffic through it.
local u = require("mappings.hl7util")

local M = {}

function M.patient(msg)
  return {
    resourceType = "Patient",
    schemaVersion = "1",
    meta = u.meta(msg),
    identifiers = { u.cx(msg, "PID-3[1]") },
    birthDate = u.value(msg, "PID-7.1"),
  }
end

return M
