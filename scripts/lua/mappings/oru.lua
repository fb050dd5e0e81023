-- ORU^R01 -> canonical LabResult (one per OBX) and DiagnosticReport (one per OBR).
-- Use one function per route: transform = "mappings/oru.lua:labResults" (or :diagnosticReport).
-- Both return a split list, so every result and every report is its own queue entry.
local u = require("mappings.hl7util")

local M = {}

-- LabResult ids are derived (UUID v5) from the sending facility, the order number and the
-- OBX position in its order, so re-processing the same message gives the same ids and the
-- DiagnosticReport can reference results it did not embed.
local namespace = uuid.v5("url", "https://switchboard.invalid/model/v1/LabResult.json")

-- OBX-11 (table 0085) -> LabResult.status, as docs/model.md converts it. R (not verified) and
-- S (partial) are not final yet, hence preliminary; D (deleted) and W (wrong) both mean the
-- result must not be used.
local resultStatus = {
  I = "registered", P = "preliminary", R = "preliminary", S = "preliminary", F = "final",
  C = "corrected", X = "cancelled", W = "entered-in-error", D = "entered-in-error",
}

-- OBR-25 (table 0123) -> DiagnosticReport.status: I (no results yet) and O (order received)
-- are registered; A (some results available) is partial.
local reportStatus = {
  I = "registered", O = "registered", P = "preliminary", A = "partial", F = "final",
  C = "corrected", X = "cancelled",
}

-- OBX-8 values the model accepts (table 0078).
local flags = {}
for _, f in ipairs({ "L", "H", "LL", "HH", "<", ">", "N", "A", "AA", "U", "D", "B", "W", "S",
  "R", "I", "MS", "VS", "NEG", "POS", "IND", "DET", "ND" }) do
  flags[f] = true
end

-- OBX value types the model holds as a value; ED (documents) and RP (pointers to content
-- elsewhere) are Documents in the model, not results, so those OBX are not mapped here.
local notResults = { ED = true, RP = true }

-- The message as order groups: each OBR with its OBX (and the OBX before the first OBR,
-- which HL7 attaches to the patient, in a group without an OBR).
local function groups(msg)
  local out, count = {}, { OBR = 0, OBX = 0, ORC = 0 }
  local current = { results = {} }
  local lastOrc
  out[1] = current
  for seg, index in msg:each() do
    if count[seg.name] then count[seg.name] = count[seg.name] + 1 end
    if seg.name == "ORC" then
      lastOrc = "ORC[" .. count.ORC .. "]"
    elseif seg.name == "OBR" then
      current = { obr = "OBR[" .. count.OBR .. "]", orc = lastOrc, index = index, results = {} }
      out[#out + 1] = current
      lastOrc = nil
    elseif seg.name == "OBX" then
      current.results[#current.results + 1] = { obx = "OBX[" .. count.OBX .. "]", index = index }
    end
  end
  if #out[1].results == 0 then table.remove(out, 1) end
  return out
end

-- Placer and filler order numbers of a group: OBR-2/OBR-3, else ORC-2/ORC-3.
local function orderNumbers(msg, group)
  if not group.obr then return nil, nil end
  local placer = u.ei(msg, group.obr .. "-2", "PLAC") or (group.orc and u.ei(msg, group.orc .. "-2", "PLAC"))
  local filler = u.ei(msg, group.obr .. "-3", "FILL") or (group.orc and u.ei(msg, group.orc .. "-3", "FILL"))
  return placer, filler
end

local function resultId(msg, group, position)
  local placer, filler = orderNumbers(msg, group)
  local order = (filler and filler.value) or (placer and placer.value) or u.value(msg, "MSH-10") or ""
  local key = table.concat({ u.value(msg, "MSH-4.1") or u.value(msg, "MSH-3.1") or "", order, tostring(position) }, "|")
  return uuid.v5(namespace, key)
end

-- OBX-6 unit: the text as sent, plus system and code when the sender names UCUM.
local function quantity(value, msg, obx)
  local unit = u.value(msg, obx .. "-6.1")
  local ucum = u.value(msg, obx .. "-6.3") == "UCUM"
  return {
    value = value,
    unit = unit,
    system = ucum and unit and "http://unitsofmeasure.org" or nil,
    code = ucum and unit or nil,
  }
end

-- OBX-2 selects which value OBX-5 is. A numeric OBX-5 should not repeat; when it does only the
-- first repetition fits the single value the model allows (logged without the values).
local function setValue(result, msg, obx)
  local type = u.value(msg, obx .. "-2")
  local first = obx .. "-5[1]"
  if type == "NM" then
    local n = u.number(u.value(msg, first))
    if n then result.valueQuantity = quantity(n, msg, obx) end
    if msg:repCount(obx .. "-5") > 1 then
      log.warn("ORU", u.value(msg, "MSH-10"), obx, "has", msg:repCount(obx .. "-5"), "NM values; the first is mapped")
    end
  elseif type == "SN" then
    -- SN: comparator ^ number ^ separator ^ number; a single number (with an optional
    -- comparator) is a quantity, a ratio or range stays text.
    local comparator, n1, sep, n2 = u.value(msg, first .. ".1"), u.value(msg, first .. ".2"),
        u.value(msg, first .. ".3"), u.value(msg, first .. ".4")
    local n = u.number(n1)
    if n and not sep and not n2 then
      result.valueQuantity = quantity(n, msg, obx)
      local comparators = { ["<"] = true, ["<="] = true, [">="] = true, [">"] = true }
      result.valueQuantity.comparator = comparators[comparator or ""] and comparator or nil
    elseif n1 then
      result.valueString = (comparator or "") .. n1 .. (sep or "") .. (n2 or "")
    end
  elseif type == "ST" or type == "TX" or type == "FT" then
    local texts = {}
    for i = 1, msg:repCount(obx .. "-5") do
      texts[#texts + 1] = u.value(msg, obx .. "-5[" .. i .. "]")
    end
    result.valueString = #texts > 0 and table.concat(texts, "\n") or nil
  elseif type == "CE" or type == "CWE" or type == "CNE" then
    result.valueCodeableConcept = u.concept(msg, first)
  end
end

-- OBX-7 "3.5-5.1", "<5", ">10": low/high when numeric, the text always.
local function referenceRange(msg, obx)
  local text = u.value(msg, obx .. "-7")
  if not text then return nil end
  local unit = u.value(msg, obx .. "-6.1")
  local range = { text = text }
  local low, high = text:match("^%s*([%d.]+)%s*%-%s*([%d.]+)%s*$")
  if not low then high = text:match("^%s*<=?%s*([%d.]+)%s*$") end
  if not low and not high then low = text:match("^%s*>=?%s*([%d.]+)%s*$") end
  if u.number(low) then range.low = { value = u.number(low), unit = unit } end
  if u.number(high) then range.high = { value = u.number(high), unit = unit } end
  return { range }
end

local function abnormalFlags(msg, obx)
  local out = {}
  for i = 1, msg:repCount(obx .. "-8") do
    local flag = u.value(msg, obx .. "-8[" .. i .. "].1")
    if flag and flags[flag] then out[#out + 1] = flag end
  end
  return out
end

-- OBX-23 performing organisation (XON: 1 name, 6 assigning authority, 10 identifier).
local function performingLab(msg, obx)
  local name = u.value(msg, obx .. "-23.1")
  local id = u.value(msg, obx .. "-23.10")
  if not name and not id then return nil end
  local namespace, oid = u.value(msg, obx .. "-23.6.1"), u.value(msg, obx .. "-23.6.2")
  return u.compact({
    display = name,
    identifier = id and {
      value = id,
      system = oid and ("urn:oid:" .. oid) or namespace and ("urn:switchboard:assigner:" .. namespace)
          or "urn:switchboard:assigner:unknown",
      assigner = namespace,
    } or nil,
  })
end

-- Whether an OBX becomes a LabResult: it needs a code (OBX-3) and a value type that is a result.
local function isResult(msg, obx)
  return u.concept(msg, obx .. "-3") ~= nil and not notResults[u.value(msg, obx .. "-2") or ""]
end

local function labResult(msg, group, result, position)
  local obx = result.obx
  local placer = orderNumbers(msg, group)
  local observationId = u.ei(msg, obx .. "-21")
  local out = u.compact({
    resourceType = "LabResult",
    schemaVersion = "1",
    id = resultId(msg, group, position),
    meta = u.meta(msg),
    identifiers = u.list(observationId),
    status = resultStatus[u.value(msg, obx .. "-11") or ""] or "unknown",
    code = u.concept(msg, obx .. "-3"),
    patient = u.patientRef(msg),
    encounter = u.visitRef(msg),
    order = placer and { identifier = placer } or nil,
    -- OBX-14 is when the observation was made; without it, the specimen collection (OBR-7).
    effective = u.datetime(u.value(msg, obx .. "-14.1"))
        or (group.obr and u.datetime(u.value(msg, group.obr .. "-7.1"))),
    issued = u.datetime(u.value(msg, obx .. "-19.1")),
    referenceRange = referenceRange(msg, obx),
    abnormalFlags = abnormalFlags(msg, obx),
    method = u.concept(msg, obx .. "-17"),
    performer = u.list(performingLab(msg, obx), u.practitioner(msg, obx .. "-16")),
    note = u.notesAfter(msg, result.index),
  })
  setValue(out, msg, obx)
  return out
end

function M.labResults(msg)
  local out = {}
  for _, group in ipairs(groups(msg)) do
    for position, result in ipairs(group.results) do
      if isResult(msg, result.obx) then
        out[#out + 1] = { body = labResult(msg, group, result, position) }
      end
    end
  end
  if #out == 0 then return nil end
  return out
end

-- OBR-32 principal result interpreter (NDL: its first component is a CNN, whose
-- subcomponents are id & family & given).
local function interpreter(msg, obr)
  local id = u.value(msg, obr .. "-32.1.1")
  local family = u.value(msg, obr .. "-32.1.2")
  if not id and not family then return nil end
  local given = u.value(msg, obr .. "-32.1.3")
  return u.compact({
    reference = u.safeId(id) and ("Practitioner/" .. id) or nil,
    display = family and (given and (family .. ", " .. given) or family) or nil,
  })
end

function M.diagnosticReport(msg)
  local out = {}
  for _, group in ipairs(groups(msg)) do
    if group.obr then
      local obr = group.obr
      local placer, filler = orderNumbers(msg, group)
      local results = {}
      -- The same ids labResults gives its LabResults (same OBX, same position).
      for position, result in ipairs(group.results) do
        if isResult(msg, result.obx) then
          results[#results + 1] = { reference = "LabResult/" .. resultId(msg, group, position) }
        end
      end
      local section = u.value(msg, obr .. "-24")
      out[#out + 1] = {
        body = u.compact({
          resourceType = "DiagnosticReport",
          schemaVersion = "1",
          meta = u.meta(msg),
          identifiers = u.list(placer, filler),
          status = reportStatus[u.value(msg, obr .. "-25") or ""] or "unknown",
          category = u.list(section and { code = section, system = "HL7-0074" } or nil),
          code = u.concept(msg, obr .. "-4"),
          patient = u.patientRef(msg),
          encounter = u.visitRef(msg),
          -- The order this report fulfils, by its placer number (Order.placerOrderNumber).
          basedOn = u.list(placer and { identifier = placer } or nil),
          effective = u.datetime(u.value(msg, obr .. "-7.1")),
          issued = u.datetime(u.value(msg, obr .. "-22.1")),
          performer = u.list(interpreter(msg, obr)),
          results = results,
        }),
      }
    end
  end
  if #out == 0 then return nil end
  return out
end

return M
