-- Claim status: X12 277 (005010X212, the answer to a 276) and 277CA (005010X214, the claim
-- acknowledgment) -> canonical ClaimStatus, one per claim status loop (2200D/2200E).
-- Route: transform = "mappings/x12/claim_status.lua:status_from_277" (a list: one queue entry
-- per claim).
local util = require("mappings.x12.util")

local M = {}

local guides = { ["277"] = true, ["277CA"] = true }

-- STC01 (or STC10/STC11) composite: category:status:entity as "A7:562:85".
local function statusText(stc, e)
  local parts = util.list(stc:get(e, 1), stc:get(e, 2), stc:get(e, 3))
  return #parts > 0 and table.concat(parts, ":") or nil
end

local function status(ctx, who, claimLoop)
  local stcs = claimLoop:segments("STC")
  local first = stcs[1]
  -- The first STC is the claim's status; any further status (STC10, STC11, later STC
  -- segments) and the free text of STC12 are kept as messages, in order.
  local messages = {}
  for i, stc in ipairs(stcs) do
    local extras = i == 1 and { 10, 11 } or { 1, 10, 11 }
    for _, e in ipairs(extras) do
      local text = statusText(stc, e)
      if text then messages[#messages + 1] = "additional status " .. text end
    end
    if stc:get(12) then messages[#messages + 1] = stc:get(12) end
  end
  local trace = util.value(claimLoop:segment("TRN"), 2)
  -- REF*EJ is the patient account number (CLM01) a 277 repeats; without it TRN02 is the claim's
  -- id (in a 277CA TRN02 is the patient control number itself).
  local claimId = util.value(claimLoop:segment("REF", "EJ"), 2) or trace
  local claimRef
  if trace and trace ~= claimId then
    -- The trace of the 276 this status answers: the model has no trace field, so it is kept as
    -- a business identifier of the claim reference.
    claimRef = { identifier = { system = util.qualifierSystem("TRN"), value = trace } }
  end
  local bht = ctx.set.BHT
  local dtp = claimLoop:segment("DTP", "472")
  return util.compact({
    resourceType = "ClaimStatus",
    schemaVersion = "1",
    meta = util.meta(ctx),
    claimId = claimId,
    payerClaimControlNumber = util.value(claimLoop:segment("REF", "1K"), 2),
    claim = claimRef,
    payer = who.payer,
    provider = who.provider,
    patient = who.patient,
    statusCategory = util.value(first, 1, 1),
    statusCode = util.value(first, 1, 2),
    entityCode = util.value(first, 1, 3),
    -- STC02 is required on a claim status; BHT04 (the date the 277 was made) stands in when a
    -- sender leaves it out, as effectiveDate is required.
    effectiveDate = util.date(util.value(first, 2)) or util.date(util.value(bht, 4)),
    totalCharge = util.money(util.value(first, 4)),
    paidAmount = util.money(util.value(first, 5)),
    adjudicatedDate = util.date(util.value(first, 6)),
    paidDate = util.date(util.value(first, 8)),
    checkOrEftNumber = util.value(first, 9),
    serviceDates = dtp and util.dtpPeriod(dtp) or nil,
    messages = messages,
  })
end

local function setStatuses(ctx, out)
  for _, source in ipairs(ctx.set:loops("2000A")) do
    local payerLoop = source["2100A"]
    local nm1 = payerLoop and payerLoop:segment("NM1")
    -- 2100A is the payer in a 277; a 277CA may come from a clearinghouse (NM1*AY), which is
    -- not a payer.
    local payer = nm1 and nm1:get(1) == "PR" and util.payer(payerLoop) or nil
    for _, provider in ipairs(source:loops("2000C")) do
      local who = { payer = payer, provider = util.provider(provider["2100C"]) }
      for _, subscriber in ipairs(provider:loops("2000D")) do
        who.patient = util.person(subscriber["2100D"])
        for _, claimLoop in ipairs(subscriber:loops("2200D")) do
          out[#out + 1] = status(ctx, who, claimLoop)
        end
        for _, dependent in ipairs(subscriber:loops("2000E")) do
          local dep = { payer = who.payer, provider = who.provider, patient = util.person(dependent["2100E"]) }
          for _, claimLoop in ipairs(dependent:loops("2200E")) do
            out[#out + 1] = status(ctx, dep, claimLoop)
          end
        end
      end
    end
  end
end

-- 277 or 277CA document -> list of ClaimStatus, one per claim (2200D under a subscriber or a
-- 277CA patient, 2200E under a dependent), in document order; rejected sets are skipped
-- (logged). Receiver and provider level statuses (2200B/2200C) and service lines (2220D/E) are
-- not claims and are not mapped.
function M.status_from_277(doc)
  local sets, found = util.sets(doc, "277", guides)
  if found == 0 then error("status_from_277: the interchange holds no 277 or 277CA transaction set", 2) end
  if #sets == 0 then error("SB-603 every 277 transaction set was rejected", 2) end
  local out = {}
  for _, ctx in ipairs(sets) do setStatuses(ctx, out) end
  return out
end

return M
