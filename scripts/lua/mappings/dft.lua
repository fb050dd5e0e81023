-- DFT^P03 -> canonical Charge, one per FT1 (a split list: each charge is its own queue entry).
-- Route: transform = "mappings/dft.lua:charges".
local u = require("mappings.hl7util")

local M = {}

-- FT1-6 (table 0017) -> Charge.transactionType.
local typeOf = { CG = "charge", CD = "credit", PY = "payment", AJ = "adjustment" }

-- FT1-25 procedure coding systems the model's ProcedureCode takes.
local procedureSystems = { CPT = true, HCPCS = true }

-- FT1-19 diagnosis systems the model's DiagnosisCode takes (ICD only; a SNOMED diagnosis
-- cannot be carried on a Charge and is left out).
local diagnosisSystems = { ["ICD-10-CM"] = true, ["ICD-9-CM"] = true, ["ICD-10"] = true }

-- MO "value & currency" in component 1 of FT1-11/FT1-12 (CP); the currency defaults to USD.
local function money(msg, path)
  local value = u.number(u.value(msg, path .. ".1.1"))
  if not value then return nil end
  return { value = value, currency = u.value(msg, path .. ".1.2") or "USD" }
end

-- FT1-25 procedure code (CPT/HCPCS); FT1-25 is bound to table 0088, which in the US is CPT-4,
-- so a code without a coding system is taken as CPT. Anything else (another system, or no
-- FT1-25) falls back to the FT1-7 transaction code from the charge master (CDM).
local function procedure(msg, ft1)
  local code = u.value(msg, ft1 .. "-25.1")
  local system = u.codeSystem(u.value(msg, ft1 .. "-25.3")) or "CPT"
  if code and procedureSystems[system] then
    return { system = system, code = code, display = u.value(msg, ft1 .. "-25.2") }
  end
  code = u.value(msg, ft1 .. "-7.1")
  if not code then return nil end
  return { system = "CDM", code = code, display = u.value(msg, ft1 .. "-7.2") or u.value(msg, ft1 .. "-8") }
end

local function diagnoses(msg, ft1)
  local out = {}
  for i = 1, msg:repCount(ft1 .. "-19") do
    local p = ft1 .. "-19[" .. i .. "]"
    local system = u.codeSystem(u.value(msg, p .. ".3"))
    local code = u.value(msg, p .. ".1")
    if code and diagnosisSystems[system] then
      out[#out + 1] = { system = system, code = code, display = u.value(msg, p .. ".2") }
    end
  end
  return out
end

local function modifiers(msg, ft1)
  local out = {}
  for i = 1, math.min(msg:repCount(ft1 .. "-26"), 4) do
    out[#out + 1] = u.value(msg, ft1 .. "-26[" .. i .. "].1")
  end
  return out
end

local function charge(msg, i)
  local ft1 = "FT1[" .. i .. "]"
  local department = u.value(msg, ft1 .. "-13.1")
  local placeOfService = u.value(msg, ft1 .. "-16.1")
  return u.compact({
    resourceType = "Charge",
    schemaVersion = "1",
    meta = u.meta(msg),
    -- FT1-2 is optional in HL7 but the charge needs an id: without one it is the message
    -- control id and the FT1 set id (FT1-1, else the FT1's position), unique per message.
    transactionId = u.value(msg, ft1 .. "-2")
        or ((u.value(msg, "MSH-10") or "") .. "-" .. (u.value(msg, ft1 .. "-1") or tostring(i))),
    batchId = u.value(msg, ft1 .. "-3"),
    transactionType = typeOf[u.value(msg, ft1 .. "-6") or ""],
    transactionDate = u.date(u.value(msg, ft1 .. "-4.1")),
    postingDate = u.date(u.value(msg, ft1 .. "-5.1")),
    code = procedure(msg, ft1),
    modifiers = modifiers(msg, ft1),
    quantity = u.number(u.value(msg, ft1 .. "-10")),
    amount = money(msg, ft1 .. "-11"),
    unitAmount = money(msg, ft1 .. "-12"),
    diagnosisCodes = diagnoses(msg, ft1),
    performingProvider = u.practitioner(msg, ft1 .. "-20"),
    orderingProvider = u.practitioner(msg, ft1 .. "-21"),
    patient = u.patientRef(msg),
    encounter = u.visitRef(msg),
    department = department and {
      code = department,
      display = u.value(msg, ft1 .. "-13.2"),
      system = u.codeSystem(u.value(msg, ft1 .. "-13.3")),
    } or nil,
    -- FT1-16 is a location; only a two-digit CMS place of service code fits the model.
    placeOfService = placeOfService and placeOfService:match("^%d%d$") or nil,
  })
end

function M.charges(msg)
  local out = {}
  for i = 1, msg:count("FT1") do
    out[#out + 1] = { body = charge(msg, i) }
  end
  if #out == 0 then return nil end
  return out
end

return M
