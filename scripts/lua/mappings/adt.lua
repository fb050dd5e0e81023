-- ADT A01/A03/A04/A08/A31 -> canonical Patient and Encounter; ADT A40 -> patient merge.
-- Use one function per route: transform = "mappings/adt.lua:patient" (or :encounter, :merge).
-- Values are read with msg:values(path, ".c", ".c.s", ...): one call per field repetition gives
-- every component the mapping needs, nil when absent or empty (as u.value does).
local u = require("mappings.hl7util")

local M = {}

local repetitions = u.repetitions

-- repPath[field][i] is "PID-3[2]" for field "PID-3" and i 2, built once per state rather than
-- concatenated (with a number formatted) for every message.
local repPath = setmetatable({}, {
  __index = function(fields, field)
    local paths = setmetatable({}, {
      __index = function(known, i)
        local path = field .. "[" .. i .. "]"
        known[i] = path
        return path
      end,
    })
    fields[field] = paths
    return paths
  end,
})

local function meta(msg)
  return {
    source = msg:values("MSH-4", ".1") or msg:values("MSH-3", ".1"),
    sourceMessageId = msg:values("MSH-10"),
    sourceFormat = "HL7v2",
  }
end

local knownIdentifierTypes = {
  MR = true, PI = true, PT = true, PN = true, SS = true, DL = true, PPN = true, NPI = true,
  TAX = true, EI = true, MB = true, MC = true, MA = true, SN = true, VN = true, AN = true,
}

-- CX (PID-3, MRG-1): value, assigning authority (HD: namespace ^ universal id), type code.
local function identifier(msg, path)
  local value, namespace, oid, type = msg:values(path, ".1", ".4.1", ".4.2", ".5")
  if not value then return nil end
  local system = oid and ("urn:oid:" .. oid)
      or namespace and ("urn:switchboard:assigner:" .. namespace)
      or "urn:switchboard:assigner:unknown"
  return {
    value = value, system = system, assigner = namespace,
    type = knownIdentifierTypes[type] and type or nil,
  }
end

local function identifiers(msg, field)
  local out = {}
  for i = 1, repetitions(msg, field, 20) do
    local id = identifier(msg, repPath[field][i])
    if id then out[#out + 1] = id end
  end
  return out
end

local nameUse = { L = "official", D = "usual", M = "maiden", N = "nickname", A = "alias" }

local function names(msg)
  local out = {}
  for i = 1, repetitions(msg, "PID-5", 10) do
    local family, given1, given2, suffix, prefix, type =
        msg:values(repPath["PID-5"][i], ".1.1", ".2", ".3", ".4", ".5", ".7")
    local given = {}
    given[#given + 1] = given1
    given[#given + 1] = given2
    out[#out + 1] = u.compact({
      use = nameUse[type or "L"],
      family = family,
      given = given,
      suffix = { suffix },
      prefix = { prefix },
    })
  end
  return out
end

local function addresses(msg)
  local out = {}
  for i = 1, repetitions(msg, "PID-11", 5) do
    local line1, line2, city, state, postalCode, country =
        msg:values(repPath["PID-11"][i], ".1.1", ".2", ".3", ".4", ".5", ".6")
    local lines = {}
    lines[#lines + 1] = line1
    lines[#lines + 1] = line2
    out[#out + 1] = u.compact({
      line = lines,
      city = city,
      state = state,
      postalCode = postalCode,
      country = country,
    })
  end
  return out
end

local telecomFields = { "PID-13", "PID-14" }

local function telecoms(msg)
  local out = {}
  for _, field in ipairs(telecomFields) do
    for i = 1, repetitions(msg, field, 5) do
      -- XTN: .2 use code, .3 equipment type, .4 e-mail, .6/.7 area and local number,
      -- .12 unformatted number, .1 the number in older versions.
      local equipment, useCode, address, area, localNumber, unformatted, older =
          msg:values(repPath[field][i], ".3", ".2", ".4", ".6", ".7", ".12", ".1")
      local email = (equipment == "Internet" or useCode == "NET") and address or nil
      local number = unformatted
          or (localNumber and ((area and ("(" .. area .. ") ") or "") .. localNumber))
          or older
      if email then
        out[#out + 1] = { system = "email", value = email }
      elseif number then
        out[#out + 1] = {
          system = equipment == "FX" and "fax" or "phone",
          value = number,
          use = field == "PID-14" and "work" or (equipment == "CP" and "mobile" or "home"),
        }
      end
    end
  end
  return out
end

local function codings(msg, field)
  local out = {}
  for i = 1, repetitions(msg, field, 5) do
    local code, display, system = msg:values(repPath[field][i], ".1", ".2", ".3")
    if code then
      out[#out + 1] = { code = code, display = display, system = system }
    end
  end
  return out
end

function M.patient(msg)
  local ids = identifiers(msg, "PID-3")
  local marital, maritalDisplay = msg:values("PID-16", ".1", ".2")
  local patient = u.compact({
    resourceType = "Patient",
    schemaVersion = "1",
    meta = meta(msg),
    identifiers = ids,
    active = true,
    name = names(msg),
    birthDate = u.date(msg:values("PID-7", ".1")),
    gender = u.gender[msg:values("PID-8") or ""],
    race = codings(msg, "PID-10"),
    ethnicity = codings(msg, "PID-22"),
    maritalStatus = marital and { code = marital, display = maritalDisplay, system = "HL7-0002" } or nil,
    addresses = addresses(msg),
    telecoms = telecoms(msg),
    deceased = msg:values("PID-30") == "Y" or nil,
    deceasedDateTime = u.datetime(msg:values("PID-29", ".1")),
  })
  return patient
end

local classOf = {
  E = "emergency", I = "inpatient", O = "outpatient", P = "preadmit", R = "recurring",
  B = "obstetrics", C = "commercial", N = "not-applicable", U = "unknown",
}
local statusOf = { A01 = "in-progress", A04 = "arrived", A03 = "finished", A08 = "in-progress", A31 = "unknown" }

local function practitioner(msg, path)
  local id, family, given = msg:values(path, ".1", ".2.1", ".3")
  if not id and not family then return nil end
  return u.compact({
    -- References carry ids of at most 64 safe characters; others are kept only as display.
    reference = id and id:match("^[%w._-]+$") and #id <= 64 and ("Practitioner/" .. id) or nil,
    display = family and (given and (family .. ", " .. given) or family) or nil,
  })
end

function M.encounter(msg)
  local pid = identifier(msg, "PID-3[1]")
  local trigger = u.value(msg, "MSH-9.2") or u.value(msg, "EVN-1")
  local visit = identifier(msg, "PV1-19")
  local attending = practitioner(msg, "PV1-7")
  local admitting = practitioner(msg, "PV1-17")
  return u.compact({
    resourceType = "Encounter",
    schemaVersion = "1",
    meta = meta(msg),
    visitNumber = visit,
    status = statusOf[trigger] or "unknown",
    class = classOf[u.value(msg, "PV1-2") or "U"] or "unknown",
    patient = { identifier = pid, display = u.value(msg, "PID-5.1.1") },
    location = u.compact({
      pointOfCare = u.value(msg, "PV1-3.1.1"),
      room = u.value(msg, "PV1-3.2"),
      bed = u.value(msg, "PV1-3.3"),
      facility = u.value(msg, "PV1-3.4.1"),
    }),
    attending = { attending },
    admitting = { admitting },
    hospitalService = u.value(msg, "PV1-10") and { code = u.value(msg, "PV1-10") } or nil,
    admitTime = u.datetime(u.value(msg, "PV1-44.1")),
    dischargeTime = u.datetime(u.value(msg, "PV1-45.1")),
  })
end

-- A40: the surviving patient (PID-3) absorbs the one named in MRG-1. The PMS receives the
-- survivor with a `replaces` list; the merged-away record becomes inactive.
function M.merge(msg)
  local survivor = M.patient(msg)
  local replaced = identifiers(msg, "MRG-1")
  return {
    { body = survivor },
    {
      body = u.compact({
        resourceType = "Patient",
        schemaVersion = "1",
        meta = meta(msg),
        identifiers = replaced,
        active = false,
        name = { { text = "merged into " .. (survivor.identifiers[1] and survivor.identifiers[1].value or "?") } },
      }),
    },
  }
end

return M
