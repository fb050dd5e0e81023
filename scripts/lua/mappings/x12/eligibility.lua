-- Eligibility: canonical EligibilityRequest -> X12 270 (005010X279A1), and X12 271 ->
-- canonical EligibilityResponse (one per subscriber or dependent answered).
--
-- Routes: the 271 side takes the parsed interchange as it arrives,
--   transform = "mappings/x12/eligibility.lua:response_from_271"
-- (a list: one queue entry per response). The 270 side needs the interchange identities, so a
-- route calls it through a two-line script that passes them (docs/x12-mappings.md).
local util = require("mappings.x12.util")
local time = require("sb.time")

local M = {}

-- 270 ---------------------------------------------------------------------------------------

-- AdministrativeGender -> DMG03 (X12 has F, M and U only).
local dmgGender = { female = "F", male = "M", other = "U", unknown = "U" }
-- Person.relationshipToSubscriber -> INS02 of a dependent (270: 01 spouse, 19 child, 34 other
-- adult).
local insRelationship = { spouse = "01", child = "19", other = "34" }

local function need(value, what)
  if value == nil or value == "" then error("request_to_270: " .. what .. " is required", 3) end
  return value
end

-- NM1 of a person or an organisation: {"NM1", entity, type, last, first, middle, prefix, suffix,
-- qualifier, id}. Prefixes are not used by the 270 guide and are left out.
local function nm1(entity, name, organization, qualifier, id)
  if organization then
    return {"NM1", entity, "2", organization, "", "", "", "", qualifier or "", id or ""}
  end
  name = name or {}
  local given = name.given or {}
  return {"NM1", entity, "1", name.family or name.text or "", given[1] or "", given[2] or "", "",
    (name.suffix or {})[1] or "", qualifier or "", id or ""}
end

-- Address -> N3 and N4 (N404 country only outside the US, as the guide asks).
local function addAddress(segments, address)
  if address == nil then return end
  local line = address.line or {}
  if line[1] then segments[#segments + 1] = {"N3", line[1], line[2] or ""} end
  if address.city or address.state or address.postalCode then
    local country = address.country
    if country == "US" or country == "USA" then country = nil end
    segments[#segments + 1] = {"N4", address.city or "", address.state or "", address.postalCode or "", country or ""}
  end
end

-- "2026-01-02" -> "20260102".
local function d8(date) return date and (date:gsub("-", "")) or nil end

local function addPersonDetails(segments, person, dependent)
  for _, id in ipairs(person.identifiers or {}) do
    if id.type == "SS" then segments[#segments + 1] = {"REF", "SY", id.value} end
  end
  addAddress(segments, person.address)
  if person.birthDate or person.gender then
    segments[#segments + 1] = {"DMG", person.birthDate and "D8" or "", d8(person.birthDate) or "",
      dmgGender[person.gender or ""] or ""}
  end
  local relationship = dependent and insRelationship[person.relationshipToSubscriber or ""]
  if relationship then segments[#segments + 1] = {"INS", "N", relationship} end
end

local function addDates(segments, period)
  if period == nil then return end
  local start, finish = d8(period.start), d8(period["end"])
  if start and finish and start ~= finish then
    segments[#segments + 1] = {"DTP", "291", "RD8", start .. "-" .. finish}
  elseif start or finish then
    segments[#segments + 1] = {"DTP", "291", "D8", start or finish}
  end
end

-- Canonical EligibilityRequest -> 270 interchange text (005010X279A1), built with x12.build.
-- opts: sender and receiver ({qualifier, id}: ISA05-08, required), usage ("P" or "T"), date
-- (CCYYMMDD) and time (HHMM) for the envelope and BHT (default now, UTC), control
-- ({interchange, group, set}; default reserved per partner by x12.build), application_sender and
-- application_receiver (GS02/GS03), originator (TRN03; default "1" + the provider's tax id).
function M.request_to_270(req, opts)
  opts = opts or {}
  if type(opts.sender) ~= "table" or type(opts.receiver) ~= "table" then
    error("request_to_270: opts.sender and opts.receiver are required (ISA05-ISA08)", 2)
  end
  local payer = need(req.payer, "payer")
  local provider = need(req.provider, "provider")
  local subscriber = need(req.subscriber, "subscriber")
  local trace = need(req.traceNumber, "traceNumber")
  local codes = req.serviceTypeCodes or {}
  if #codes == 0 then error("request_to_270: serviceTypeCodes needs at least one code", 2) end
  local now = time.now()
  local date = opts.date or now:sub(1, 8)
  local clock = opts.time or now:sub(9, 12)
  local dependent = req.dependent

  local segments = {
    {"BHT", "0022", "13", trace, date, clock},
    -- 2000A/2100A information source: the payer.
    {"HL", "1", "", "20", "1"},
    nm1("PR", nil, need(payer.name, "payer.name"), "PI", need(payer.payerId, "payer.payerId")),
    -- 2000B/2100B information receiver: the provider asking.
    {"HL", "2", "1", "21", "1"},
  }
  local qualifier, id = "XX", provider.npi
  if not id then qualifier, id = "FI", provider.taxId end
  need(id, "provider.npi or provider.taxId")
  if not provider.organizationName then need(provider.name and provider.name.family, "provider.organizationName or provider.name.family") end
  segments[#segments + 1] = nm1("1P", provider.name, provider.organizationName, qualifier, id)
  addAddress(segments, provider.address)
  if provider.taxonomy then segments[#segments + 1] = {"PRV", "PE", "PXC", provider.taxonomy} end

  -- The trace goes on the level of the patient: the subscriber, or the dependent when there is
  -- one (the guide's placement of TRN in 2000C/2000D).
  local trn = {"TRN", "1", trace}
  local originator = opts.originator or (provider.taxId and ("1" .. provider.taxId))
  if originator then trn[4] = originator end

  -- 2000C/2100C subscriber.
  segments[#segments + 1] = {"HL", "3", "2", "22", dependent and "1" or "0"}
  if not dependent then segments[#segments + 1] = trn end
  segments[#segments + 1] = nm1("IL", subscriber.name, nil, subscriber.memberId and "MI", subscriber.memberId)
  addPersonDetails(segments, subscriber, false)
  if dependent then
    -- 2000D/2100D dependent: the dates and questions belong to the patient.
    segments[#segments + 1] = {"HL", "4", "3", "23", "0"}
    segments[#segments + 1] = trn
    segments[#segments + 1] = nm1("03", dependent.name)
    addPersonDetails(segments, dependent, true)
  end
  addDates(segments, req.serviceDates)
  -- 2110C/2110D: one EQ loop per service type asked about.
  for _, code in ipairs(codes) do segments[#segments + 1] = {"EQ", code} end

  return x12.build{
    sender = opts.sender, receiver = opts.receiver, usage = opts.usage, date = date, time = clock,
    control = opts.control, partner = opts.partner, delimiters = opts.delimiters,
    groups = {{
      functional_id = "HS", version = "005010X279A1",
      application_sender = opts.application_sender, application_receiver = opts.application_receiver,
      sets = {{ id = "270", segments = segments }},
    }},
  }
end

-- 271 ---------------------------------------------------------------------------------------

-- EB01 -> Benefit.category. 1-5 are kinds of active coverage, 6-8 kinds of inactive; U is
-- "contact the following entity".
local categoryOf = {
  ["1"] = "active-coverage", ["2"] = "active-coverage", ["3"] = "active-coverage",
  ["4"] = "active-coverage", ["5"] = "active-coverage",
  ["6"] = "inactive", ["7"] = "inactive", ["8"] = "inactive",
  A = "coinsurance", B = "copay", C = "deductible", G = "out-of-pocket", F = "limitation",
  I = "non-covered", U = "contact",
}
local activeCodes = { ["1"] = true, ["2"] = true, ["3"] = true, ["4"] = true, ["5"] = true }
local inactiveCodes = { ["6"] = true, ["7"] = true, ["8"] = true }

local coverageLevelOf = {
  IND = "individual", FAM = "family", ESP = "employee-and-spouse", ECH = "employee-and-children",
  EMP = "employee-only", CHD = "children-only", SPO = "spouse-only",
}
-- EB06 time period qualifier -> Benefit.timePeriod; the ones not listed are "other".
local timePeriodOf = {
  ["23"] = "calendar-year", ["22"] = "plan-year", ["29"] = "remaining", ["33"] = "remaining",
  ["24"] = "year-to-date", ["32"] = "lifetime", ["27"] = "visit", ["7"] = "day", ["6"] = "hour",
  ["26"] = "episode",
}
local networkOf = { Y = "in", N = "out", W = "both", U = "not-applicable" }
-- EB09 quantity qualifier -> Quantity.unit in words (the code itself goes to Quantity.code).
local quantityUnitOf = {
  VS = "visits", DY = "days", HS = "hours", MN = "months", YY = "years", ["99"] = "years",
  P6 = "services", DB = "units", D3 = "days", CA = "days", CE = "days", LA = "days", LE = "days",
  QA = "units", M2 = "maximum", S7 = "years", S8 = "years",
}

-- AAA03 reject reason codes (X12 element 901) -> description.
local rejectReason = {
  ["04"] = "Authorized Quantity Exceeded", ["15"] = "Required application data missing",
  ["41"] = "Authorization/Access Restrictions", ["42"] = "Unable to Respond at Current Time",
  ["43"] = "Invalid/Missing Provider Identification", ["44"] = "Invalid/Missing Provider Name",
  ["45"] = "Invalid/Missing Provider Specialty", ["46"] = "Invalid/Missing Provider Phone Number",
  ["47"] = "Invalid/Missing Provider State", ["48"] = "Invalid/Missing Referring Provider Identification Number",
  ["49"] = "Provider is Not Primary Care Physician", ["50"] = "Provider Ineligible for Inquiries",
  ["51"] = "Provider Not on File", ["52"] = "Service Dates Not Within Provider Plan Enrollment",
  ["53"] = "Inquired Benefit Inconsistent with Provider Type",
  ["54"] = "Inappropriate Product/Service ID Qualifier", ["55"] = "Inappropriate Product/Service ID",
  ["56"] = "Inappropriate Date", ["57"] = "Invalid/Missing Date(s) of Service",
  ["58"] = "Invalid/Missing Date-of-Birth", ["60"] = "Date of Birth Follows Date(s) of Service",
  ["61"] = "Date of Death Precedes Date(s) of Service",
  ["62"] = "Date of Service Not Within Allowable Inquiry Period", ["63"] = "Date of Service in Future",
  ["64"] = "Invalid/Missing Patient ID", ["65"] = "Invalid/Missing Patient Name",
  ["66"] = "Invalid/Missing Patient Gender Code", ["67"] = "Patient Not Found",
  ["68"] = "Duplicate Patient ID Number", ["69"] = "Inconsistent with Patient's Age",
  ["70"] = "Inconsistent with Patient's Gender",
  ["71"] = "Patient Birth Date Does Not Match That for the Patient on the Database",
  ["72"] = "Invalid/Missing Subscriber/Insured ID", ["73"] = "Invalid/Missing Subscriber/Insured Name",
  ["74"] = "Invalid/Missing Subscriber/Insured Gender Code", ["75"] = "Subscriber/Insured Not Found",
  ["76"] = "Duplicate Subscriber/Insured ID Number", ["77"] = "Subscriber Found, Patient Not Found",
  ["78"] = "Subscriber/Insured Not in Group/Plan Identified", ["79"] = "Invalid Participant Identification",
  ["80"] = "No Response received - Transaction Terminated", ["97"] = "Invalid or Missing Provider Address",
  T4 = "Payer Name or Identifier Missing",
}

-- Every repetition of element e (EB03 repeats in 5010).
local function repetitions(seg, e)
  local out = {}
  local r = 1
  while true do
    local v = seg:get(e, nil, r)
    if v == nil then return out end
    out[#out + 1] = v
    r = r + 1
  end
end

local function benefit(loop)
  local eb = loop:segment("EB")
  local messages = {}
  for _, msg in ipairs(loop:segments("MSG")) do messages[#messages + 1] = msg:get(1) end
  local quantity
  local q = util.number(eb:get(10))
  if q then
    local code = eb:get(9)
    quantity = { value = q, unit = code and (quantityUnitOf[code] or code), code = code }
  end
  local auth
  if eb:get(11) == "Y" then auth = true elseif eb:get(11) == "N" then auth = false end
  local period = eb:get(6)
  return util.compact({
    category = categoryOf[eb:get(1)] or "other",
    coverageLevel = coverageLevelOf[eb:get(2) or ""],
    serviceTypeCodes = repetitions(eb, 3),
    timePeriod = period and (timePeriodOf[period] or "other"),
    amount = util.money(eb:get(7)),
    percent = util.shiftDecimal(eb:get(8), 2),
    quantity = quantity,
    authorizationRequired = auth,
    network = networkOf[eb:get(12) or ""],
    messages = messages,
  })
end

-- AAA segments of a loop -> Error list (appended to `out`).
local function addErrors(out, loop)
  if loop == nil then return end
  for _, aaa in ipairs(loop:segments("AAA")) do
    local code = aaa:get(3)
    if code then
      out[#out + 1] = { code = code, followUp = aaa:get(4), description = rejectReason[code] }
    end
  end
end

local function copy(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = v end
  return out
end

-- The first TRN*2 (the request's trace echoed back) of an HL level.
local function traceOf(level)
  if level == nil then return nil end
  local trn = level:segment("TRN", "2")
  return trn and trn:get(2) or nil
end

-- Plan dates: DTP*346/347 plan begin/end, else DTP*291 plan, else 356/357 eligibility begin/
-- end, else 307 eligibility; from the name loop first, then the summary EB loop. A single D8 on
-- 291/307 is the start.
local function planPeriod(loops)
  local function find(qualifier)
    for _, loop in ipairs(loops) do
      local dtp = loop:segment("DTP", qualifier)
      if dtp then return dtp end
    end
  end
  local function pair(begin, finish)
    local a, b = find(begin), find(finish)
    if not a and not b then return nil end
    return { start = a and util.date(a:get(3)), ["end"] = b and util.date(b:get(3)) }
  end
  local function range(qualifier)
    local dtp = find(qualifier)
    if not dtp then return nil end
    if dtp:get(2) == "RD8" then return util.dtpPeriod(dtp) end
    return { start = util.date(dtp:get(3)) }
  end
  local period = pair("346", "347") or range("291") or pair("356", "357") or range("307")
  if period and next(period) == nil then return nil end
  return period
end

-- Coverage summary: EB04/EB05 of the first active (else inactive) EB; group number REF*6P
-- (else REF*1L) of the name loop, else of that EB loop.
local function coverage(nameLoop, ebLoops)
  local summary
  for _, codes in ipairs({ activeCodes, inactiveCodes }) do
    for _, loop in ipairs(ebLoops) do
      if not summary and codes[loop:segment("EB"):get(1)] then summary = loop end
    end
  end
  local places = util.list(nameLoop, summary)
  local group
  for _, qualifier in ipairs({ "6P", "1L" }) do
    for _, loop in ipairs(places) do
      local ref = loop:segment("REF", qualifier)
      if not group and ref then group = ref:get(2) end
    end
  end
  local eb = summary and summary:segment("EB")
  local result = util.compact({
    insuranceType = util.value(eb, 4),
    planName = util.value(eb, 5),
    groupNumber = group,
    period = planPeriod(places),
  })
  return next(result) and result or nil
end

-- One EligibilityResponse for a subscriber (2000C) or dependent (2000D) level.
local function response(ctx, answer)
  local level, nameLoop = answer.level, answer.nameLoop
  local ebLoops = nameLoop:loops(answer.benefitLoop)
  local active = false
  local benefits = {}
  local errors = copy(answer.errors)
  addErrors(errors, nameLoop)
  for _, loop in ipairs(ebLoops) do
    if activeCodes[loop:segment("EB"):get(1)] then active = true end
    benefits[#benefits + 1] = benefit(loop)
    addErrors(errors, loop)
  end
  local person = util.person(nameLoop)
  return util.compact({
    resourceType = "EligibilityResponse",
    schemaVersion = "1",
    meta = util.meta(ctx),
    -- The request's trace comes back in TRN*2 of the patient's level (a dependent without one
    -- uses the subscriber's); without any, the BHT03 reference keeps the field filled.
    traceNumber = traceOf(level) or traceOf(answer.parent) or util.value(ctx.set.BHT, 3),
    created = util.datetime(util.value(ctx.set.BHT, 4), util.value(ctx.set.BHT, 5)),
    payer = answer.payer,
    provider = answer.provider,
    subscriber = answer.subscriber or person,
    dependent = answer.subscriber and person or nil,
    active = active,
    coverage = coverage(nameLoop, ebLoops),
    benefits = benefits,
    errors = errors,
  })
end

local function setResponses(ctx, out)
  local set = ctx.set
  for _, source in ipairs(set:loops("2000A")) do
    local sourceErrors = {}
    addErrors(sourceErrors, source)
    addErrors(sourceErrors, source["2100A"])
    local payer = util.payer(source["2100A"])
    local answered = false
    for _, receiver in ipairs(source:loops("2000B")) do
      local receiverErrors = copy(sourceErrors)
      addErrors(receiverErrors, receiver["2100B"])
      local provider = util.provider(receiver["2100B"])
      for _, sub in ipairs(receiver:loops("2000C")) do
        answered = true
        local nameLoop = sub["2100C"]
        local dependents = sub:loops("2000D")
        -- The subscriber gets an answer unless the payer answered only for dependents.
        if #dependents == 0 or #nameLoop:loops("2110C") > 0 or nameLoop:segment("AAA") then
          out[#out + 1] = response(ctx, { level = sub, nameLoop = nameLoop, benefitLoop = "2110C",
            payer = payer, provider = provider, errors = receiverErrors })
        end
        local subscriber = util.person(nameLoop)
        for _, dep in ipairs(dependents) do
          out[#out + 1] = response(ctx, { level = dep, parent = sub, nameLoop = dep["2100D"],
            benefitLoop = "2110D", payer = payer, provider = provider, errors = receiverErrors,
            subscriber = subscriber })
        end
      end
    end
    if not answered then
      -- Rejected at the source or receiver level (AAA there): there is no person to answer
      -- about and EligibilityResponse needs a subscriber, but dropping the answer would lose the
      -- rejection, so the message goes to the error queue with the reject reasons.
      local codes = {}
      for _, aaa in ipairs(source:all("AAA")) do codes[#codes + 1] = aaa:get(3) or "?" end
      error(string.format("271 set %s: the payer answered without a subscriber level (AAA %s)",
        set.control, #codes > 0 and table.concat(codes, ",") or "none"), 0)
    end
  end
end

-- 271 document -> list of EligibilityResponse, one per subscriber (2100C) and dependent
-- (2100D) answered, across every accepted 271 set; rejected sets are skipped (logged).
function M.response_from_271(doc)
  local sets, found = util.sets(doc, "271")
  if found == 0 then error("response_from_271: the interchange holds no 271 transaction set", 2) end
  if #sets == 0 then error("SB-603 every 271 transaction set was rejected", 2) end
  local out = {}
  for _, ctx in ipairs(sets) do setResponses(ctx, out) end
  return out
end

return M
