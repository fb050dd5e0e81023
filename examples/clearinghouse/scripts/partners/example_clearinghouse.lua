-- The trading-partner identities of one clearinghouse/payer, around the standard mappings: a
-- route calls its transform with the message only, and the 837P/270 envelopes need them.
local claim = require("mappings.x12.claim")
local eligibility = require("mappings.x12.eligibility")

local partner = {
  sender = { qualifier = "ZZ", id = "SWITCHBOARD" },
  receiver = { qualifier = "ZZ", id = "EXAMPLECH" },
  usage = "P",
}

local M = {}

-- Claim JSON in, 837P interchange out; ISA13/GS06/ST02 are reserved per partner in the store.
function M.claim_837p(c)
  return claim.claim_to_837p(c, {
    sender = partner.sender,
    receiver = partner.receiver,
    usage = partner.usage,
    submitter = { name = "LARKSPUR BILLING SERVICE", id = "SUB0001", contact = "ROWAN HALE",
                  phone = "5550100001" },
    receiver_name = "EXAMPLE CLEARINGHOUSE",
    receiver_id = "RCV0001",
  })
end

-- EligibilityRequest JSON in, 270 interchange out (sent in a CORE envelope by the destination).
function M.eligibility_270(req)
  return eligibility.request_to_270(req, {
    sender = partner.sender,
    receiver = { qualifier = "ZZ", id = "EXAMPLEPAYER" },
    usage = partner.usage,
  })
end

return M
