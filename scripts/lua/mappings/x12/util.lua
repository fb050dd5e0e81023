-- Helpers the standard X12 mappings share (eligibility, claim, claim_status, remittance):
-- reading dates, amounts, names and addresses out of parsed segments, building the canonical
-- Person/Provider/Payer blocks, and money arithmetic in whole cents.
--
-- Segments come from x12.parse: seg:get(e [, c]) is the text of element e (component c), nil
-- when empty. Every helper here accepts a nil segment and then returns nil, so mappings can
-- write util.date(loop:segment("DTP", "472")) without checking first.
local time = require("sb.time")

local M = {}

-- Identifier systems for X12 qualifiers the model has no well-known system for:
-- "urn:switchboard:x12:<qualifier>" (e.g. urn:switchboard:x12:SV for a service provider number).
local NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
local SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
function M.qualifierSystem(qualifier) return "urn:switchboard:x12:" .. qualifier end

-- The text of element e (component c) of seg, nil when the segment or the value is absent.
function M.value(seg, e, c)
  if seg == nil then return nil end
  return seg:get(e, c)
end

-- Drops keys whose value is an empty table, so outputs carry no empty noise (the schemas
-- require at least one property in blocks such as Address and HumanName).
function M.compact(t)
  for k, v in pairs(t) do
    if type(v) == "table" and next(v) == nil then t[k] = nil end
  end
  return t
end

-- A list of the arguments that are not nil, in order.
function M.list(...)
  local out = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if v ~= nil then out[#out + 1] = v end
  end
  return out
end

-- Dates ------------------------------------------------------------------------------------

-- X12 D8 CCYYMMDD -> "YYYY-MM-DD"; nil for anything else.
function M.date(d8)
  if d8 == nil or not d8:match("^%d%d%d%d%d%d%d%d$") then return nil end
  return (time.toIso(d8))
end

-- A date/time qualifier and its value (DTP02/DTP03: D8 or RD8) -> DatePeriod. A single day
-- (D8) is a period that starts and ends on that day.
function M.datePeriod(format, text)
  if text == nil then return nil end
  if format == "RD8" or (format == nil and text:find("-", 1, true)) then
    local a, b = text:match("^(%d+)%-(%d+)$")
    local start, finish = M.date(a), M.date(b)
    if not start and not finish then return nil end
    return { start = start, ["end"] = finish }
  end
  local day = M.date(text)
  return day and { start = day, ["end"] = day } or nil
end

-- DTP segment -> DatePeriod.
function M.dtpPeriod(dtp)
  if dtp == nil then return nil end
  return M.datePeriod(dtp:get(2), dtp:get(3))
end

-- X12 date (CCYYMMDD) and time (HHMM[SS[D..]]) -> model DateTime. X12 carries no zone; like the
-- HL7 mappings the standard mappings take such times as UTC ("Z").
function M.datetime(date, hhmm)
  if M.date(date) == nil then return nil end
  local clock = hhmm and hhmm:match("^(%d%d%d%d%d?%d?)") or ""
  if #clock == 5 then clock = clock:sub(1, 4) end
  return (time.toFhir(date .. clock, "Z"))
end

-- Numbers and money -------------------------------------------------------------------------

-- An X12 decimal (R/N types: "120", "-2.5", ".2") as text split into sign, digits and scale;
-- nil when it is not a decimal.
local function decimalParts(text)
  if text == nil then return nil end
  local sign, whole, fraction = text:match("^([+-]?)(%d*)%.?(%d*)$")
  if sign == nil or (whole == "" and fraction == "") then return nil end
  return sign == "-" and -1 or 1, whole, fraction
end

-- An X12 decimal as a Lua number: an integer when the value is whole (so "120.00" is written
-- as 120), else a float. nil when the text is not a decimal.
function M.number(text)
  local sign, whole, fraction = decimalParts(text)
  if sign == nil then return nil end
  fraction = fraction:gsub("0+$", "")
  if fraction == "" then return sign * math.tointeger(tonumber(whole ~= "" and whole or "0")) end
  return sign * tonumber((whole ~= "" and whole or "0") .. "." .. fraction)
end

-- The decimal text moved `places` digits to the left of its point times ten (a fraction .2 with
-- places 2 is 20): done on the digits, so EB08 ".2" becomes exactly 20 and not 20.000000000000004.
function M.shiftDecimal(text, places)
  local sign, whole, fraction = decimalParts(text)
  if sign == nil then return nil end
  local padded = fraction .. string.rep("0", math.max(0, places - #fraction))
  local digits = whole .. padded:sub(1, places)
  local rest = padded:sub(places + 1)
  return M.number((sign < 0 and "-" or "") .. (digits ~= "" and digits or "0") .. (rest ~= "" and ("." .. rest) or ""))
end

-- Money from an X12 amount (R): {value, currency}; X12 amounts are US dollars unless a CUR
-- segment says otherwise (not used by the standard mappings).
function M.money(text, currency)
  local value = M.number(text)
  if value == nil then return nil end
  return { value = value, currency = currency or "USD" }
end

-- Whole cents of an amount: a Money table, a number or X12 decimal text. Rounds half away from
-- zero at the cent, so binary floats that came from two-decimal text are exact again.
function M.cents(amount)
  if type(amount) == "table" then amount = amount.value end
  if type(amount) == "string" then amount = M.number(amount) end
  if type(amount) ~= "number" then return 0 end
  if amount < 0 then return -math.floor(-amount * 100 + 0.5) end
  return math.floor(amount * 100 + 0.5)
end

-- Cents as text with two decimals: 42250 -> "422.50", -250 -> "-2.50".
function M.formatCents(cents)
  local sign = cents < 0 and "-" or ""
  cents = math.abs(cents)
  return string.format("%s%d.%02d", sign, cents // 100, cents % 100)
end

-- A model number (Money.value, units) as an X12 decimal: no exponent, no trailing zeros
-- ("120", "42.5"); amounts are written to the cent.
function M.amount(value)
  if type(value) == "table" then value = value.value end
  if type(value) ~= "number" then return nil end
  local cents = M.cents(value)
  local text = M.formatCents(cents)
  return (text:gsub("%.?0+$", ""))
end

-- A quantity (units): integers without a fraction, else up to 3 decimals without trailing zeros.
function M.quantity(value)
  if type(value) ~= "number" then return nil end
  if math.type(value) == "integer" or value == math.floor(value) then
    return string.format("%d", math.floor(value))
  end
  return (string.format("%.3f", value):gsub("0+$", ""):gsub("%.$", ""))
end

-- Names, addresses, people, providers, payers ------------------------------------------------

-- NM1 of a person (NM102 = 1) -> HumanName: NM103 family, NM104 and NM105 given, NM106
-- prefix, NM107 suffix.
function M.humanName(nm1)
  if nm1 == nil then return nil end
  local name = M.compact({
    family = nm1:get(3),
    given = M.list(nm1:get(4), nm1:get(5)),
    prefix = M.list(nm1:get(6)),
    suffix = M.list(nm1:get(7)),
  })
  return next(name) and name or nil
end

-- N3 and N4 -> Address: N301/N302 lines, N401 city, N402 state, N403 postal code, N404 country.
function M.address(n3, n4)
  local address = M.compact({
    line = M.list(M.value(n3, 1), M.value(n3, 2)),
    city = M.value(n4, 1),
    state = M.value(n4, 2),
    postalCode = M.value(n4, 3),
    country = M.value(n4, 4),
  })
  return next(address) and address or nil
end

-- DMG03 -> AdministrativeGender.
local genderOf = { F = "female", M = "male", U = "unknown" }
-- INS02/PAT01 individual relationship code -> Person.relationshipToSubscriber (docs/model.md).
local relationshipOf = { ["18"] = "self", ["01"] = "spouse", ["19"] = "child" }
M.relationshipOf = relationshipOf

-- The person of a name loop (2100C/2100D of a 271, 2010BA/2010CA of an 837, 2100D/2100E of a
-- 277) or of a lone NM1 (835 NM1*QC): NM1 name and id (NM108 MI -> memberId, 34 or REF*SY ->
-- SSN identifier, others -> identifiers with urn:switchboard:x12:<NM108>), N3/N4, DMG, INS.
function M.person(loop, nm1)
  nm1 = nm1 or (loop and loop:segment("NM1"))
  if nm1 == nil then return nil end
  local identifiers = {}
  local memberId
  local qualifier, id = nm1:get(8), nm1:get(9)
  if id then
    if qualifier == "MI" then
      memberId = id
    elseif qualifier == "34" then
      identifiers[#identifiers + 1] = { type = "SS", system = SSN_SYSTEM, value = id }
    else
      identifiers[#identifiers + 1] = { system = M.qualifierSystem(qualifier or "ZZ"), value = id }
    end
  end
  local dmg, ins, sy
  if loop then
    dmg, ins, sy = loop:segment("DMG"), loop:segment("INS"), loop:segment("REF", "SY")
    if sy and sy:get(2) then
      identifiers[#identifiers + 1] = { type = "SS", system = SSN_SYSTEM, value = sy:get(2) }
    end
  end
  local ins02 = M.value(ins, 2)
  local person = M.compact({
    memberId = memberId,
    identifiers = identifiers,
    name = M.humanName(nm1),
    birthDate = M.value(dmg, 1) == "D8" and M.date(dmg:get(2)) or nil,
    gender = genderOf[M.value(dmg, 3) or ""],
    address = loop and M.address(loop:segment("N3"), loop:segment("N4")) or nil,
    relationshipToSubscriber = ins02 and (relationshipOf[ins02] or "other") or nil,
  })
  return next(person) and person or nil
end

-- An NM108/NM109 (or N103/N104) provider id into the Provider block: XX -> npi, FI/24/34 ->
-- taxId (digits only), anything else -> reference.identifier with urn:switchboard:x12:<q>.
local function providerId(provider, qualifier, id)
  if id == nil then return end
  if qualifier == "XX" and id:match("^%d%d%d%d%d%d%d%d%d%d$") then
    provider.npi = id
    return
  end
  local digits = id:gsub("-", "")
  if (qualifier == "FI" or qualifier == "24" or qualifier == "34") and digits:match("^%d%d%d%d%d%d%d%d%d$") then
    provider.taxId = digits
    return
  end
  provider.reference = { identifier = { system = M.qualifierSystem(qualifier or "ZZ"), value = id } }
end

-- A provider name loop (2100B of a 270/271, 2010AA/2310B of an 837, 2100C of a 277):
-- NM102 1 person name / 2 organizationName, NM108/NM109 id, PRV03 taxonomy, N3/N4,
-- REF*EI (or REF*TJ) tax id.
function M.provider(loop, nm1)
  nm1 = nm1 or (loop and loop:segment("NM1"))
  if nm1 == nil then return nil end
  local provider = {}
  if nm1:get(2) == "1" then
    provider.name = M.humanName(nm1)
  else
    provider.organizationName = nm1:get(3)
  end
  providerId(provider, nm1:get(8), nm1:get(9))
  if loop then
    local taxonomy = M.value(loop:segment("PRV"), 3)
    if taxonomy and taxonomy:match("^[0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z][0-9A-Z]X$") then
      provider.taxonomy = taxonomy
    end
    provider.address = M.address(loop:segment("N3"), loop:segment("N4"))
    local ref = loop:segment("REF", "EI") or loop:segment("REF", "TJ")
    if ref and not provider.taxId then providerId(provider, "FI", ref:get(2)) end
  end
  return next(provider) and provider or nil
end
M.providerId = providerId

-- NM1*PR (271, 277, 837 2010BB) -> Payer: NM103 name, NM109 payerId (PI, XV or whatever
-- qualifier the sender used: the model has one payer id), N3/N4 address of the loop.
function M.payer(loop, nm1)
  nm1 = nm1 or (loop and loop:segment("NM1"))
  if nm1 == nil then return nil end
  local payer = M.compact({
    name = nm1:get(3),
    payerId = nm1:get(9),
    address = loop and M.address(loop:segment("N3"), loop:segment("N4")) or nil,
  })
  return next(payer) and payer or nil
end

-- Documents and lineage -----------------------------------------------------------------------

-- Lineage of a resource built from one transaction set: the interchange sender (ISA06) as
-- source, "ISA13-ST02" (interchange and set control numbers) as sourceMessageId.
function M.meta(ctx)
  return {
    source = ctx.interchange.sender.id,
    sourceMessageId = ctx.interchange.control .. "-" .. ctx.set.control,
    sourceFormat = "X12",
  }
end

-- The transaction sets of `doc` with id `setId` (and, when `guides` is given, one of those
-- guide labels), in document order, as {set, interchange, group}. Sets the parser rejected
-- (structure or syntax errors, the ones a 999 would reject) are skipped and logged without PHI.
-- The second result counts the matching sets including the rejected ones.
function M.sets(doc, setId, guides)
  local out, found = {}, 0
  for _, ic in ipairs(doc.interchanges) do
    for _, g in ipairs(ic.groups) do
      for _, s in ipairs(g.sets) do
        if s.id == setId and (guides == nil or guides[s.guide]) then
          found = found + 1
          if s.accepted then
            out[#out + 1] = { set = s, interchange = ic, group = g }
          else
            log.warn("x12", setId, "set", s.control, "of interchange", ic.control,
              "was rejected by validation; skipped")
          end
        end
      end
    end
  end
  return out, found
end

return M
