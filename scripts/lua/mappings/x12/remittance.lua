-- Remittance: X12 835 (005010X221A1) -> canonical Remittance, with the 835 balancing check.
-- Routes:
--   transform = "mappings/x12/remittance.lua:remittance_from_835"   -- one Remittance per 835
--   transform = "mappings/x12/remittance.lua:remittance_by_claim"   -- one Remittance per claim
-- An 835 that does not balance raises "SB-606 835 does not balance: ...", so the message goes
-- to the error queue instead of posting wrong money (docs/x12-mappings.md).
local util = require("mappings.x12.util")

local M = {}

-- SVC01-1 product/service id qualifier -> ProcedureCode.system. HC (CPT and HCPCS level II) is
-- written HCPCS as in the model's examples; N4 is an NDC, NU a revenue code.
local procedureSystem = { HC = "HCPCS", N4 = "NDC", NU = "REV" }

-- CAS segments of a loop -> Adjustment list: one entry per reason/amount/quantity triple
-- (CAS02-04, 05-07, ... 17-19), all with the group code of CAS01.
local function adjustments(loop)
  local out = {}
  for _, cas in ipairs(loop:segments("CAS")) do
    local group = cas:get(1)
    for e = 2, 17, 3 do
      local reason = cas:get(e)
      if reason then
        out[#out + 1] = {
          group = group,
          reason = reason,
          amount = util.money(cas:get(e + 1)),
          quantity = util.number(cas:get(e + 2)),
        }
      end
    end
  end
  return out
end

local function serviceLine(loop)
  local svc = loop:segment("SVC")
  local qualifier = svc:get(1, 1)
  local system = procedureSystem[qualifier or ""]
  if not system then
    error("835 SVC01 qualifier " .. tostring(qualifier) .. " has no ProcedureCode system (HC, N4, NU)", 0)
  end
  local modifiers = {}
  for c = 3, 6 do modifiers[#modifiers + 1] = svc:get(1, c) end
  local remarks = {}
  for _, lq in ipairs(loop:segments("LQ", "HE")) do remarks[#remarks + 1] = lq:get(2) end
  return util.compact({
    procedure = { system = system, code = svc:get(1, 2), display = svc:get(1, 7) },
    modifiers = modifiers,
    chargeAmount = util.money(svc:get(2)),
    paidAmount = util.money(svc:get(3)),
    units = util.number(svc:get(5)),
    serviceDate = util.date(util.value(loop:segment("DTM", "472"), 2)),
    adjustments = adjustments(loop),
    remarkCodes = remarks,
  })
end

local function claimPayment(loop)
  local clp = loop:segment("CLP")
  local lines = {}
  for _, line in ipairs(loop:loops("2110")) do lines[#lines + 1] = serviceLine(line) end
  local start = util.date(util.value(loop:segment("DTM", "232"), 2))
  local finish = util.date(util.value(loop:segment("DTM", "233"), 2))
  return util.compact({
    claimId = clp:get(1),
    status = clp:get(2),
    totalCharge = util.money(clp:get(3)),
    paidAmount = util.money(clp:get(4)),
    patientResponsibility = util.money(clp:get(5)),
    filingIndicator = clp:get(6),
    payerClaimControlNumber = clp:get(7),
    facilityType = clp:get(8),
    frequencyCode = clp:get(9),
    patient = util.person(nil, loop:segment("NM1", "QC")),
    serviceDates = (start or finish) and { start = start, ["end"] = finish } or nil,
    adjustments = adjustments(loop),
    serviceLines = lines,
  })
end

-- PLB segments -> ProviderAdjustment list: one entry per PLB03/04 ... PLB13/14 pair.
local function providerAdjustments(set)
  local out = {}
  for _, plb in ipairs(set.tree:segments("PLB")) do
    for e = 3, 13, 2 do
      local reason = plb:get(e, 1)
      if reason then
        out[#out + 1] = {
          providerId = plb:get(1),
          fiscalPeriodDate = util.date(plb:get(2)),
          reasonCode = reason,
          reference = plb:get(e, 2),
          amount = util.money(plb:get(e + 1)),
        }
      end
    end
  end
  return out
end

-- 1000A payer: N102 name, N104 when N103 is XV (CMS plan id), else REF*2U payer id; N3/N4.
local function payer(loop)
  local n1 = loop:segment("N1")
  local id = n1:get(3) == "XV" and n1:get(4) or util.value(loop:segment("REF", "2U"), 2)
  return util.compact({
    name = n1:get(2),
    payerId = id,
    address = util.address(loop:segment("N3"), loop:segment("N4")),
  })
end

-- 1000B payee: N102 organisation name, N103/N104 (XX NPI, FI tax id), REF*TJ tax id, N3/N4.
local function payee(loop)
  local n1 = loop:segment("N1")
  local provider = { organizationName = n1:get(2) }
  util.providerId(provider, n1:get(3), n1:get(4))
  local tj = loop:segment("REF", "TJ")
  if tj and not provider.taxId then util.providerId(provider, "FI", tj:get(2)) end
  provider.address = util.address(loop:segment("N3"), loop:segment("N4"))
  return util.compact(provider)
end

local function remittance(ctx)
  local set = ctx.set
  local bpr, trn = set.BPR, set.TRN
  local claims = {}
  for _, loop in ipairs(set:loops("2100")) do claims[#claims + 1] = claimPayment(loop) end
  return util.compact({
    resourceType = "Remittance",
    schemaVersion = "1",
    meta = util.meta(ctx),
    payment = util.compact({
      amount = util.money(bpr:get(2)),
      creditDebit = bpr:get(3),
      method = bpr:get(4),
      date = util.date(bpr:get(16)),
      traceNumber = util.value(trn, 2),
      originatorId = util.value(trn, 3),
    }),
    payer = payer(set["1000A"]),
    payee = payee(set["1000B"]),
    productionDate = util.date(util.value(set.tree:segment("DTM", "405"), 2)),
    -- Kept even when empty: a remittance of provider adjustments only has no claims.
    claims = json.array(claims),
    providerAdjustments = providerAdjustments(set),
  })
end

local function sum(list, field)
  local total = 0
  for _, item in ipairs(list or {}) do total = total + util.cents(item[field]) end
  return total
end

local function money(cents) return util.formatCents(cents) end

-- The 835 balancing rules, in whole cents, on a canonical Remittance (a whole one, before any
-- split):
--   payment.amount = sum(claims[].paidAmount) - sum(providerAdjustments[].amount)
--   per claim:  totalCharge - paidAmount = sum(claim adjustments) + sum(line adjustments)
--   per claim with lines: paidAmount = sum(lines[].paidAmount) - sum(claim adjustments)
--   per line:   chargeAmount - paidAmount = sum(line adjustments)
-- Returns ok and the list of problems (readable, naming the claim and line; no PHI).
function M.balance(r)
  local problems = {}
  local paid = sum(r.claims, "paidAmount")
  local plb = sum(r.providerAdjustments, "amount")
  local payment = util.cents(r.payment and r.payment.amount)
  if payment ~= paid - plb then
    problems[#problems + 1] = string.format(
      "payment %s is not the claims' paid total %s less provider adjustments %s (= %s)",
      money(payment), money(paid), money(plb), money(paid - plb))
  end
  for _, claim in ipairs(r.claims or {}) do
    local id = claim.claimId or "?"
    local claimAdjusted = sum(claim.adjustments, "amount")
    local lineAdjusted, linePaid = 0, 0
    for n, line in ipairs(claim.serviceLines or {}) do
      local adjusted = sum(line.adjustments, "amount")
      local charge, linePay = util.cents(line.chargeAmount), util.cents(line.paidAmount)
      if charge - linePay ~= adjusted then
        problems[#problems + 1] = string.format(
          "claim %s line %d (%s): charge %s - paid %s = %s but line adjustments total %s",
          id, n, line.procedure and line.procedure.code or "?", money(charge), money(linePay),
          money(charge - linePay), money(adjusted))
      end
      lineAdjusted = lineAdjusted + adjusted
      linePaid = linePaid + linePay
    end
    local charge, claimPaid = util.cents(claim.totalCharge), util.cents(claim.paidAmount)
    if charge - claimPaid ~= claimAdjusted + lineAdjusted then
      problems[#problems + 1] = string.format(
        "claim %s: charge %s - paid %s = %s but adjustments total %s",
        id, money(charge), money(claimPaid), money(charge - claimPaid), money(claimAdjusted + lineAdjusted))
    end
    if claim.serviceLines and #claim.serviceLines > 0 and claimPaid ~= linePaid - claimAdjusted then
      problems[#problems + 1] = string.format(
        "claim %s: paid %s but its service lines paid %s less claim adjustments %s (= %s)",
        id, money(claimPaid), money(linePaid), money(claimAdjusted), money(linePaid - claimAdjusted))
    end
  end
  return #problems == 0, problems
end

-- One Remittance per claim, each with the payment, payer and payee of the whole; the provider
-- adjustments go with the first (so they are counted once when the pieces are added up). An 835
-- without claims stays one Remittance.
local function split(r)
  if #r.claims == 0 then return { r } end
  local out = {}
  for i, claim in ipairs(r.claims) do
    local piece = {}
    for k, v in pairs(r) do piece[k] = v end
    piece.claims = { claim }
    piece.providerAdjustments = i == 1 and r.providerAdjustments or nil
    out[#out + 1] = piece
  end
  return out
end

-- 835 document -> Remittance. One per accepted 835 set: the Remittance itself when the
-- interchange holds one set (the usual case), else a list. opts.split: a list with one
-- Remittance per claim instead. Each set must balance (M.balance), else the error
-- "SB-606 835 does not balance: <problems>" is raised, unless opts.allow_unbalanced.
-- Rejected sets are skipped (logged).
function M.remittance_from_835(doc, opts)
  opts = opts or {}
  local sets, found = util.sets(doc, "835")
  if found == 0 then error("remittance_from_835: the interchange holds no 835 transaction set", 2) end
  if #sets == 0 then error("SB-603 every 835 transaction set was rejected", 2) end
  local out = {}
  for _, ctx in ipairs(sets) do
    local r = remittance(ctx)
    local ok, problems = M.balance(r)
    if not ok then
      if not opts.allow_unbalanced then
        error("SB-606 835 does not balance: " .. table.concat(problems, "; "), 0)
      end
      log.warn("835 set", ctx.set.control, "of interchange", ctx.interchange.control,
        "does not balance; mapped anyway (allow_unbalanced)")
    end
    if opts.split then
      for _, piece in ipairs(split(r)) do out[#out + 1] = piece end
    else
      out[#out + 1] = r
    end
  end
  if not opts.split and #out == 1 then return out[1] end
  return out
end

-- Route entry point for split mode: one Remittance per claim.
function M.remittance_by_claim(doc)
  return M.remittance_from_835(doc, { split = true })
end

return M
