-- Small helpers the standard HL7 v2 mappings share. Values come from msg:get(path), which
-- returns the decoded text, "" for an empty component of a present field, and nil when the
-- segment or field is absent, or from msg:values(path, ".c", ...), which reads several
-- components of one field in one call and gives nil for both absent and empty (as M.value).
local M = {}

-- The text at `path`, or nil when absent or empty.
function M.value(msg, path)
  local v = msg:get(path)
  if v == nil or v == "" then return nil end
  return v
end

-- How many repetitions field `path` (e.g. "PID-3") has; stops at `max`.
function M.repetitions(msg, path, max)
  -- One call into the parser instead of probing each repetition by path.
  local n = msg:repCount(path)
  if n == 1 and not msg:values(path) then return 0 end
  if max and n > max then n = max end
  return n
end

-- HL7 DT/TS "YYYYMMDD[HHMM[SS[.S]]][+ZZZZ]" -> "YYYY-MM-DD" (nil when shorter than a day).
function M.date(ts)
  if ts == nil then return nil end
  local y, m, d = ts:match("^(%d%d%d%d)(%d%d)(%d%d)")
  if not y then return nil end
  return y .. "-" .. m .. "-" .. d
end

-- HL7 TS -> ISO 8601 date-time with offset; a TS without a zone is taken as UTC ("Z"), the
-- documented assumption of the standard mappings. Precision below minutes is padded.
function M.datetime(ts)
  if ts == nil then return nil end
  local y, mo, d, rest = ts:match("^(%d%d%d%d)(%d%d)(%d%d)(.*)$")
  if not y then return nil end
  local hh, mm, ss = rest:match("^(%d%d)(%d%d)(%d%d)")
  if not hh then
    hh, mm = rest:match("^(%d%d)(%d%d)")
    ss = "00"
  end
  if not hh then hh, mm, ss = "00", "00", "00" end
  local frac = rest:match("^%d%d%d%d%d%d(%.%d+)") or ""
  local sign, zh, zm = rest:match("([+-])(%d%d)(%d%d)$")
  local zone = sign and (sign .. zh .. ":" .. zm) or "Z"
  return string.format("%s-%s-%sT%s:%s:%s%s%s", y, mo, d, hh, mm, ss, frac, zone)
end

-- Drops keys whose value is nil or an empty table, so outputs carry no empty noise.
function M.compact(t)
  for k, v in pairs(t) do
    if type(v) == "table" and next(v) == nil then t[k] = nil end
  end
  return t
end

M.gender = { M = "male", F = "female", O = "other", U = "unknown", A = "other", N = "unknown" }

-- The helpers below are shared by the ORU, SIU, DFT and ORM mappings (adt.lua keeps its own).

-- A list of the arguments that are not nil, in order ({a, b} would leave a hole for a nil a).
function M.list(...)
  local out = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if v ~= nil then out[#out + 1] = v end
  end
  return out
end

-- Lineage of every resource built from an HL7 v2 message.
function M.meta(msg)
  return {
    source = msg:values("MSH-4", ".1") or msg:values("MSH-3", ".1"),
    sourceMessageId = msg:values("MSH-10"),
    sourceFormat = "HL7v2",
  }
end

-- HL7 table 0396 coding system names -> the model's well-known short names (common.json
-- Coding.system); names not listed are kept as sent.
local systems = {
  LN = "LOINC", SCT = "SNOMED", SNM = "SNOMED", SNM3 = "SNOMED", C4 = "CPT", C5 = "CPT",
  HCPCS = "HCPCS", HPC = "HCPCS", I10 = "ICD-10", I10C = "ICD-10-CM", ["ICD10CM"] = "ICD-10-CM",
  I9 = "ICD-9-CM", I9C = "ICD-9-CM", NDC = "NDC", UCUM = "UCUM", L = "LOCAL", ["99zzz"] = "LOCAL",
}
function M.codeSystem(name)
  if name == nil then return nil end
  if systems[name] then return systems[name] end
  local number = name:match("^HL7(%d%d%d%d)$")
  if number then return "HL7-" .. number end
  return name
end

-- CWE/CE at `path` (e.g. "OBX[2]-3"): the code (components 1-3, version 7), the alternate
-- code (4-6, version 8) and the original text (9) as a CodeableConcept; nil when all are empty.
-- `defaultSystem` names the HL7 table a field is bound to, used when the sender gives none.
-- Appends one Coding to `coding` when `code` is present (the primary and the alternate triplet).
local function addCoding(coding, code, display, system, version, defaultSystem)
  if not code then return end
  coding[#coding + 1] = {
    code = code,
    display = display,
    system = M.codeSystem(system) or defaultSystem,
    version = version,
  }
end

function M.concept(msg, path, defaultSystem)
  local code, display, system, altCode, altDisplay, altSystem, version, altVersion, text =
      msg:values(path, ".1", ".2", ".3", ".4", ".5", ".6", ".7", ".8", ".9")
  local coding = {}
  addCoding(coding, code, display, system, version, defaultSystem)
  addCoding(coding, altCode, altDisplay, altSystem, altVersion, defaultSystem)
  if #coding == 0 and not text then return nil end
  return M.compact({ coding = coding, text = text })
end

-- The first coding of a CWE at `path` as a Coding, or nil.
function M.coding(msg, path, defaultSystem)
  local concept = M.concept(msg, path, defaultSystem)
  return concept and concept.coding and concept.coding[1] or nil
end

-- The system of an identifier from its assigning authority (HD: namespace, universal id).
local function authority(namespace, oid)
  return oid and ("urn:oid:" .. oid)
      or namespace and ("urn:switchboard:assigner:" .. namespace)
      or "urn:switchboard:assigner:unknown"
end

local identifierTypes = {
  MR = true, PI = true, PT = true, PN = true, SS = true, DL = true, PPN = true, NPI = true,
  TAX = true, EI = true, MB = true, MC = true, MA = true, SN = true, VN = true, AN = true,
  ACSN = true, PLAC = true, FILL = true, PRN = true, XX = true, SB = true, U = true,
}

-- CX at `path` (PID-3[1], PV1-19): value, assigning authority, type code (table 0203).
function M.cx(msg, path)
  local value, namespace, oid, type = msg:values(path, ".1", ".4.1", ".4.2", ".5")
  if not value then return nil end
  return {
    value = value,
    system = authority(namespace, oid),
    assigner = namespace,
    type = identifierTypes[type] and type or nil,
  }
end

-- EI at `path` (order and appointment numbers): 1 id, 2 namespace, 3 universal id; `type` is
-- the role the field gives it (PLAC, FILL).
function M.ei(msg, path, type)
  local value, namespace, universalId = msg:values(path, ".1", ".2", ".3")
  if not value then return nil end
  return { value = value, system = authority(namespace, universalId), assigner = namespace, type = type }
end

-- A reference id must be at most 64 safe characters; other ids are kept only as identifiers.
local function safeId(id)
  return id and id:match("^[%w._-]+$") and #id <= 64 and id or nil
end
M.safeId = safeId

-- XCN at `path` (ORC-12, FT1-20, AIP-3, ...) -> Reference to a Practitioner: the id as
-- reference, "Family, Given" as display, and the NPI as identifier when XCN-13 says NPI or the
-- assigning authority is the NPI OID.
function M.practitioner(msg, path)
  local id, family, given, idType, authorityOid = msg:values(path, ".1", ".2.1", ".3", ".13", ".9.2")
  if not id and not family then return nil end
  local npi = id and (idType == "NPI" or authorityOid == "2.16.840.1.113883.4.6")
  return M.compact({
    reference = safeId(id) and ("Practitioner/" .. id) or nil,
    identifier = npi and { type = "NPI", system = "http://hl7.org/fhir/sid/us-npi", value = id } or nil,
    display = family and (given and (family .. ", " .. given) or family) or nil,
  })
end

-- The patient of a message: PID-3 (first repetition) as identifier, the family name as display
-- (as the ADT Encounter does).
function M.patientRef(msg)
  local id = M.cx(msg, "PID-3[1]")
  local display = msg:values("PID-5", ".1.1")
  if not id and not display then return nil end
  return { identifier = id, display = display }
end

-- The visit of a message: PV1-19 visit number, the same identifier the ADT Encounter carries
-- as visitNumber; nil without one.
function M.visitRef(msg)
  local id = M.cx(msg, "PV1-19")
  return id and { identifier = id } or nil
end

-- A decimal number written as text ("12", "-3.5", "+.5"); nil for anything else (no hex,
-- exponents, or spaces inside).
function M.number(text)
  if text == nil then return nil end
  local t = text:match("^%s*(.-)%s*$")
  if not (t:match("^[+-]?%d+%.?%d*$") or t:match("^[+-]?%.%d+$")) then return nil end
  return tonumber((t:gsub("^%+", "")))
end

-- Days since 1970-01-01 of a civil date (proleptic Gregorian).
local function days(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- Whole minutes from HL7 TS `from` to `to`, each with its own offset (none taken as UTC, as in
-- M.datetime); nil when either lacks a time of day.
function M.minutesBetween(from, to)
  local function minutes(ts)
    if ts == nil then return nil end
    local y, mo, d, hh, mm, rest = ts:match("^(%d%d%d%d)(%d%d)(%d%d)(%d%d)(%d%d)(.*)$")
    if not y then return nil end
    local sign, zh, zm = rest:match("([+-])(%d%d)(%d%d)$")
    local offset = sign and ((tonumber(zh) * 60 + tonumber(zm)) * (sign == "-" and -1 or 1)) or 0
    return days(tonumber(y), tonumber(mo), tonumber(d)) * 1440 + tonumber(hh) * 60 + tonumber(mm) - offset
  end
  local a, b = minutes(from), minutes(to)
  return a and b and (b - a) or nil
end

-- A duration in `units` (CWE-1: "min", "s", "h", "d", as UCUM or ISO+ codes) as whole minutes;
-- without units it is minutes (the HL7 default of SCH-10 and the AIS/AIG/AIL/AIP duration
-- units). nil when the units are unknown or the result is not whole.
local perMinute = { min = 1, MIN = 1, m = 1, s = 1 / 60, S = 1 / 60, h = 60, H = 60, hr = 60, d = 1440, D = 1440 }
function M.durationMinutes(amount, units)
  local n = M.number(amount)
  local factor = perMinute[units or "min"]
  if not n or not factor then return nil end
  local minutes = n * factor
  if minutes < 0 or minutes ~= math.floor(minutes) then return nil end
  return math.tointeger(minutes)
end

-- The NTE-3 texts of the NTE segments that follow segment `index`, joined by newlines; PRT
-- segments between (v2.7+ participations) are skipped. nil when there are none.
function M.notesAfter(msg, index)
  local texts = {}
  local i = index + 1
  while i <= #msg do
    local seg = msg:segment(i)
    if seg.name == "NTE" then
      local text = seg[3]:value()
      if text and text ~= "" then texts[#texts + 1] = text end
    elseif seg.name ~= "PRT" then
      break
    end
    i = i + 1
  end
  return #texts > 0 and table.concat(texts, "\n") or nil
end

return M
