-- Professional claims: canonical Claim -> X12 837P (005010X222A1), and back (837P -> Claim, one
-- per claim loop 2300), so a claim can be checked by reading what was written.
--
-- The outbound side needs the interchange identities and the submitter, which a Claim does not
-- carry, so a route calls claim_to_837p through a short script that passes them
-- (docs/x12-mappings.md). claim_from_837p takes the parsed interchange as it arrives:
--   transform = "mappings/x12/claim.lua:claim_from_837p"
local util = require("mappings.x12.util")
local time = require("sb.time")

local M = {}

-- Claim -> 837P --------------------------------------------------------------------------------

local dmgGender = { female = "F", male = "M", other = "U", unknown = "U" }
-- Person.relationshipToSubscriber of a patient who is not the subscriber -> PAT01.
local patRelationship = { spouse = "01", child = "19", other = "G8" }
-- DiagnosisCode.system -> HI qualifiers (principal, other).
local hiQualifiers = {
  ["ICD-10-CM"] = { "ABK", "ABF" }, ["ICD-10"] = { "ABK", "ABF" }, ["ICD-9-CM"] = { "BK", "BF" },
}
-- ProcedureCode.system values SV101 can carry: both are sent with qualifier HC.
local procedureQualifier = { CPT = "HC", HCPCS = "HC" }

local function fail(message) error("claim_to_837p: " .. message, 0) end

local function need(value, what)
  if value == nil or value == "" then fail(what .. " is required") end
  return value
end

local function d8(date) return date and (date:gsub("-", "")) or nil end

-- NM1 for a provider or person: organisation when organizationName is set, else a person.
local function nm1(entity, who, qualifier, id)
  if who.organizationName then
    return {"NM1", entity, "2", who.organizationName, "", "", "", "", qualifier or "", id or ""}
  end
  local name = who.name or {}
  local given = name.given or {}
  return {"NM1", entity, "1", need(name.family, entity .. " name.family"), given[1] or "", given[2] or "", "",
    (name.suffix or {})[1] or "", qualifier or "", id or ""}
end

local function addAddress(segments, address, required, what)
  if address == nil then
    if required then fail(what .. ".address is required") end
    return
  end
  local line = address.line or {}
  if required then need(line[1], what .. ".address.line") end
  if line[1] then segments[#segments + 1] = {"N3", line[1], line[2] or ""} end
  if required or address.city or address.state or address.postalCode then
    local country = address.country
    if country == "US" or country == "USA" then country = nil end
    segments[#segments + 1] = {"N4", address.city or "", address.state or "", address.postalCode or "", country or ""}
  end
end

local function addDemographics(segments, person, required, what)
  if not (person.birthDate or person.gender) then
    if required then fail(what .. ".birthDate and gender are required (DMG)") end
    return
  end
  segments[#segments + 1] = {"DMG", person.birthDate and "D8" or "", d8(person.birthDate) or "",
    dmgGender[person.gender or ""] or ""}
end

-- Rendering (82), referring (DN) providers: NM1 with the NPI, PRV*PE with the taxonomy.
local function addProvider(segments, entity, provider, withTaxonomy)
  segments[#segments + 1] = nm1(entity, provider, provider.npi and "XX", provider.npi)
  if withTaxonomy and provider.taxonomy then segments[#segments + 1] = {"PRV", "PE", "PXC", provider.taxonomy} end
end

-- DTP*472 of a line: a date, or a period (RD8) when it spans days.
local function serviceDate(line, n)
  local period = line.servicePeriod
  if period and period.start and period["end"] and period.start ~= period["end"] then
    return {"DTP", "472", "RD8", d8(period.start) .. "-" .. d8(period["end"])}
  end
  local day = line.serviceDate or (period and (period.start or period["end"]))
  return {"DTP", "472", "D8", d8(need(day, "serviceLines[" .. n .. "].serviceDate"))}
end

local function addClaim(segments, claim)
  local diagnoses = claim.diagnoses or {}
  if #diagnoses == 0 then fail("diagnoses needs at least one code") end
  local lines = claim.serviceLines or {}
  if #lines == 0 then fail("serviceLines needs at least one line") end
  -- The guide requires CLM02 to be the sum of the line charges; a claim that does not add up
  -- would be rejected by the payer, so it is refused here, naming both totals.
  local sum = 0
  for _, line in ipairs(lines) do sum = sum + util.cents(line.charge) end
  if util.cents(claim.totalCharge) ~= sum then
    fail(string.format("totalCharge %s is not the sum of the service line charges %s",
      util.formatCents(util.cents(claim.totalCharge)), util.formatCents(sum)))
  end

  segments[#segments + 1] = {"CLM", claim.claimId, util.amount(claim.totalCharge), "", "",
    {need(claim.placeOfService, "placeOfService"), "B", claim.frequencyCode or "1"}, "Y", "A", "Y", "Y"}
  if claim.onsetDate then segments[#segments + 1] = {"DTP", "431", "D8", d8(claim.onsetDate)} end
  if claim.priorAuthorization then segments[#segments + 1] = {"REF", "G1", claim.priorAuthorization} end
  local hi = {"HI"}
  for i, dx in ipairs(diagnoses) do
    local qualifiers = hiQualifiers[dx.system] or fail("diagnoses[" .. i .. "] system " .. tostring(dx.system) .. " cannot be sent in HI")
    -- X12 carries ICD codes without the dot.
    hi[#hi + 1] = { qualifiers[i == 1 and 1 or 2], (dx.code:gsub("%.", "")) }
  end
  segments[#segments + 1] = hi
  if claim.referringProvider then addProvider(segments, "DN", claim.referringProvider, false) end
  if claim.renderingProvider then addProvider(segments, "82", claim.renderingProvider, true) end

  for n, line in ipairs(lines) do
    local procedure = need(line.procedure, "serviceLines[" .. n .. "].procedure")
    local qualifier = procedureQualifier[procedure.system]
        or fail("serviceLines[" .. n .. "] procedure system " .. tostring(procedure.system) .. " cannot be sent on SV1 (CPT or HCPCS)")
    local composite = { qualifier, procedure.code }
    for _, modifier in ipairs(line.modifiers or {}) do composite[#composite + 1] = modifier end
    local pointers = {}
    for _, p in ipairs(line.diagnosisPointers or {}) do pointers[#pointers + 1] = tostring(p) end
    if #pointers == 0 then fail("serviceLines[" .. n .. "].diagnosisPointers needs at least one pointer") end
    -- SV105 only when the line's place of service differs from the claim's (the guide's rule).
    local pos = line.placeOfService
    if pos == claim.placeOfService then pos = nil end
    segments[#segments + 1] = {"LX", tostring(line.lineNumber or n)}
    segments[#segments + 1] = {"SV1", composite, util.amount(line.charge), line.unitType or "UN",
      util.quantity(need(line.units, "serviceLines[" .. n .. "].units")), pos or "", "", pointers}
    segments[#segments + 1] = serviceDate(line, n)
    if line.ndc then
      -- 2410: the drug and its quantity; the model has no drug quantity, so the line's units
      -- are sent as the quantity in units (UN).
      segments[#segments + 1] = {"LIN", "", "N4", line.ndc}
      segments[#segments + 1] = {"CTP", "", "", "", util.quantity(line.units), "UN"}
    end
    if line.renderingProvider then addProvider(segments, "82", line.renderingProvider, true) end
  end
end

-- Canonical Claim -> 837P interchange text (005010X222A1, one claim), built with x12.build.
-- opts: sender, receiver ({qualifier, id}: ISA05-08, required); submitter ({name, id, contact,
-- phone, email}: loop 1000A, required, with a phone or an e-mail); receiver_name, receiver_id
-- (1000B; default the payer's name and the ISA receiver id); payer_responsibility (SBR01,
-- default "P"); filing_indicator (SBR09, default "CI"); group_number (SBR03); reference
-- (BHT03, default claimId); usage, date, time, control, partner, application_sender,
-- application_receiver as for x12.build.
function M.claim_to_837p(claim, opts)
  opts = opts or {}
  if type(opts.sender) ~= "table" or type(opts.receiver) ~= "table" then
    fail("opts.sender and opts.receiver are required (ISA05-ISA08)")
  end
  local submitter = opts.submitter
  if type(submitter) ~= "table" or not submitter.name or not submitter.id then
    fail("opts.submitter {name, id, phone or email} is required (loop 1000A)")
  end
  if not submitter.phone and not submitter.email then fail("opts.submitter needs a phone or an email (PER*IC)") end
  need(claim.claimId, "claimId")
  local billing = need(claim.billingProvider, "billingProvider")
  local payer = need(claim.payer, "payer")
  local subscriber = need(claim.subscriber, "subscriber")
  local patient = claim.patient
  if patient and (patient.relationshipToSubscriber == nil or patient.relationshipToSubscriber == "self") then
    patient = nil
  end
  local now = time.now()
  local date = opts.date or now:sub(1, 8)
  local clock = opts.time or now:sub(9, 12)

  local per = {"PER", "IC", submitter.contact or ""}
  if submitter.phone then per[#per + 1] = "TE"; per[#per + 1] = submitter.phone end
  if submitter.email then per[#per + 1] = "EM"; per[#per + 1] = submitter.email end
  local segments = {
    {"BHT", "0019", "00", opts.reference or claim.claimId, date, clock, "CH"},
    -- 1000A submitter, 1000B receiver.
    {"NM1", "41", "2", submitter.name, "", "", "", "", "46", submitter.id},
    per,
    {"NM1", "40", "2", opts.receiver_name or need(payer.name, "payer.name"), "", "", "", "", "46",
      opts.receiver_id or opts.receiver.id},
    -- 2000A/2010AA billing provider.
    {"HL", "1", "", "20", "1"},
  }
  if billing.taxonomy then segments[#segments + 1] = {"PRV", "BI", "PXC", billing.taxonomy} end
  segments[#segments + 1] = nm1("85", billing, "XX", need(billing.npi, "billingProvider.npi"))
  addAddress(segments, billing.address, true, "billingProvider")
  segments[#segments + 1] = {"REF", "EI", need(billing.taxId, "billingProvider.taxId")}

  -- 2000B subscriber, 2010BA, 2010BB payer.
  segments[#segments + 1] = {"HL", "2", "1", "22", patient and "1" or "0"}
  segments[#segments + 1] = {"SBR", opts.payer_responsibility or "P", patient and "" or "18",
    opts.group_number or "", "", "", "", "", "", opts.filing_indicator or "CI"}
  segments[#segments + 1] = nm1("IL", subscriber, subscriber.memberId and "MI",
    need(subscriber.memberId, "subscriber.memberId"))
  addAddress(segments, subscriber.address, false, "subscriber")
  addDemographics(segments, subscriber, not patient, "subscriber")
  segments[#segments + 1] = {"NM1", "PR", "2", need(payer.name, "payer.name"), "", "", "", "", "PI",
    need(payer.payerId, "payer.payerId")}
  addAddress(segments, payer.address, false, "payer")

  if patient then
    -- 2000C/2010CA: the patient is someone else on the subscriber's policy.
    segments[#segments + 1] = {"HL", "3", "2", "23", "0"}
    segments[#segments + 1] = {"PAT", patRelationship[patient.relationshipToSubscriber] or "G8"}
    segments[#segments + 1] = nm1("QC", patient)
    addAddress(segments, patient.address, true, "patient")
    addDemographics(segments, patient, true, "patient")
  end
  addClaim(segments, claim)

  return x12.build{
    sender = opts.sender, receiver = opts.receiver, usage = opts.usage, date = date, time = clock,
    control = opts.control, partner = opts.partner, delimiters = opts.delimiters,
    groups = {{
      functional_id = "HC", version = "005010X222A1",
      application_sender = opts.application_sender, application_receiver = opts.application_receiver,
      sets = {{ id = "837", segments = segments }},
    }},
  }
end

-- 837P -> Claim --------------------------------------------------------------------------------

local diagnosisSystem = { ABK = "ICD-10-CM", ABF = "ICD-10-CM", BK = "ICD-9-CM", BF = "ICD-9-CM" }
local principal = { ABK = true, BK = true }
-- SV101-1 / SVC01-1 qualifiers the model's ProcedureCode can hold. HC covers CPT and HCPCS
-- level II; the model's examples write it as HCPCS.
local procedureSystem = { HC = "HCPCS" }
local unitTypes = { UN = true, MJ = true }

-- Loops `id` directly inside `loop` (loop:loops() also finds nested ones: the 2300 loops of a
-- 2000C patient must not be taken as the subscriber's).
local function children(loop, id)
  local out = {}
  for _, item in ipairs(loop.content) do
    if rawget(item, "content") and item.id == id then out[#out + 1] = item end
  end
  return out
end

local function diagnoses(claimLoop)
  local out = {}
  for _, hi in ipairs(claimLoop:segments("HI")) do
    for e = 1, 12 do
      local qualifier, code = hi:get(e, 1), hi:get(e, 2)
      if qualifier and code and diagnosisSystem[qualifier] then
        -- The principal diagnosis comes first, whatever position it was sent in.
        local dx = { system = diagnosisSystem[qualifier], code = code }
        if principal[qualifier] then table.insert(out, 1, dx) else out[#out + 1] = dx end
      end
    end
  end
  return out
end

local function lineProvider(loop)
  return loop and util.provider(loop) or nil
end

local function serviceLine(loop, claimPos, n)
  local sv1 = loop:segment("SV1")
  local lx = loop:segment("LX")
  local modifiers = {}
  for c = 3, 6 do modifiers[#modifiers + 1] = sv1:get(1, c) end
  local pointers = {}
  for c = 1, 4 do pointers[#pointers + 1] = math.tointeger(tonumber(sv1:get(7, c) or "")) end
  local dtp = loop:segment("DTP", "472")
  local date, period
  if dtp and dtp:get(2) == "RD8" then period = util.dtpPeriod(dtp) else date = util.date(util.value(dtp, 3)) end
  local lin = loop:segment("LIN")
  local qualifier = sv1:get(1, 1)
  local unitType = sv1:get(3)
  return util.compact({
    lineNumber = math.tointeger(tonumber(util.value(lx, 1) or "")) or n,
    procedure = { system = procedureSystem[qualifier] or error("837P SV101 qualifier " .. tostring(qualifier) ..
      " has no ProcedureCode system", 0), code = sv1:get(1, 2) },
    modifiers = modifiers,
    charge = util.money(sv1:get(2)),
    unitType = unitTypes[unitType or ""] and unitType or nil,
    units = util.number(sv1:get(4)),
    placeOfService = sv1:get(5) ~= claimPos and sv1:get(5) or nil,
    diagnosisPointers = pointers,
    serviceDate = date,
    servicePeriod = period,
    renderingProvider = lineProvider(loop["2420A"]),
    ndc = lin and lin:get(2) == "N4" and lin:get(3) or nil,
  })
end

local function claimOf(ctx, billing, payer, subscriber, patient, claimLoop)
  local clm = claimLoop:segment("CLM")
  local pos = clm:get(5, 1)
  local lines = {}
  for n, line in ipairs(claimLoop:loops("2400")) do lines[#lines + 1] = serviceLine(line, pos, n) end
  local onset = claimLoop:segment("DTP", "431")
  local bht = ctx.set.BHT
  return util.compact({
    resourceType = "Claim",
    schemaVersion = "1",
    meta = util.meta(ctx),
    claimId = clm:get(1),
    created = util.datetime(util.value(bht, 4), util.value(bht, 5)),
    billingProvider = billing,
    renderingProvider = lineProvider(claimLoop["2310B"]),
    referringProvider = lineProvider(claimLoop["2310A"]),
    payer = payer,
    subscriber = subscriber,
    patient = patient,
    totalCharge = util.money(clm:get(2)),
    placeOfService = pos,
    frequencyCode = clm:get(5, 3),
    priorAuthorization = util.value(claimLoop:segment("REF", "G1"), 2),
    onsetDate = onset and util.date(onset:get(3)) or nil,
    diagnoses = diagnoses(claimLoop),
    serviceLines = lines,
  })
end

-- 837P document -> list of Claim, one per claim loop 2300 (under the subscriber or the patient),
-- in document order; rejected sets are skipped (logged). Other-payer loops (2320/2330), line
-- adjudication (2430) and the pay-to loops are not part of the model and are not read.
function M.claim_from_837p(doc)
  local sets, found = util.sets(doc, "837", { ["837P"] = true })
  if found == 0 then error("claim_from_837p: the interchange holds no 837P transaction set", 2) end
  if #sets == 0 then error("SB-603 every 837P transaction set was rejected", 2) end
  local out = {}
  for _, ctx in ipairs(sets) do
    for _, a in ipairs(ctx.set:loops("2000A")) do
      local billing = util.provider(a["2010AA"]) or {}
      -- PRV*BI sits on the billing provider's HL level, not in 2010AA.
      local taxonomy = util.value(a:segment("PRV", "BI"), 3)
      if taxonomy then billing.taxonomy = taxonomy end
      for _, b in ipairs(a:loops("2000B")) do
        local subscriber = util.person(b["2010BA"]) or {}
        local sbr = b:segment("SBR")
        if util.value(sbr, 2) == "18" then subscriber.relationshipToSubscriber = "self" end
        local payer = util.payer(b["2010BB"])
        for _, claimLoop in ipairs(children(b, "2300")) do
          out[#out + 1] = claimOf(ctx, billing, payer, subscriber, nil, claimLoop)
        end
        for _, c in ipairs(children(b, "2000C")) do
          local patient = util.person(c["2010CA"]) or {}
          local pat01 = util.value(c:segment("PAT"), 1)
          if pat01 then patient.relationshipToSubscriber = util.relationshipOf[pat01] or "other" end
          for _, claimLoop in ipairs(children(c, "2300")) do
            out[#out + 1] = claimOf(ctx, billing, payer, subscriber, patient, claimLoop)
          end
        end
      end
    end
  end
  return out
end

return M
