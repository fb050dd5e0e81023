-- Route tests for examples/clearinghouse: what the clearinghouse sends back (X12) becomes
-- canonical JSON for the PMS. The outbound mappings (Claim -> 837P, EligibilityRequest -> 270)
-- stamp the current date and reserve control numbers, so they are tested with fixed dates and
-- numbers in tests/unit/transforms/x12_mappings_test.cpp instead.
local config = "../../examples/clearinghouse/switchboard.lua"

test "271 becomes one EligibilityResponse per subscriber answered" {
  config = config,
  channel = "clearinghouse_in",
  input = "../../fixtures/x12/valid/271_eligibility_response.x12",
  expect = {
    pms_eligibility_responses = "golden/x12/routes/271.response-1.json",
  },
}

test "277 becomes one ClaimStatus per claim" {
  config = config,
  channel = "clearinghouse_in",
  input = "../../fixtures/x12/valid/277_claim_status_response.x12",
  expect = {
    pms_claim_status = { "golden/x12/routes/277.status-1.json", "golden/x12/routes/277.status-2.json" },
  },
}

test "835 becomes one balanced Remittance per claim" {
  config = config,
  channel = "clearinghouse_in",
  input = "../../fixtures/x12/valid/835_two_claims_balanced.x12",
  expect = {
    pms_remittances = { "golden/x12/routes/835.remittance-1.json", "golden/x12/routes/835.remittance-2.json" },
  },
}

test "An 835 that does not balance goes to the error queue with SB-606" {
  config = config,
  channel = "clearinghouse_in",
  input = "../../fixtures/x12/unbalanced/835_bpr_not_claims_minus_plb.x12",
  expect_status = "error",
  expect_error = "SB-606 835 does not balance",
  expect = {},
}

test "An interchange with a broken envelope is rejected at ingest" {
  config = config,
  channel = "clearinghouse_in",
  input = "../../fixtures/x12/invalid/env_iea02_not_isa13.x12",
  expect_status = "rejected",
  expect = {},
}

-- The clock is fixed in route tests (2026-01-01 12:00 UTC) and control numbers count from 1 per
-- partner within a test run (the store is not involved), so the envelopes are stable.
test "A Claim becomes an 837P for the clearinghouse" {
  config = config,
  channel = "pms_claims",
  input = "../../fixtures/x12/mappings/claim.json",
  expect = {
    clearinghouse_claims = "golden/x12/routes/claim.837p.x12",
  },
}

-- The payer's answer is mocked (`respond`, wrapped in the CORE envelope payer_realtime speaks):
-- the HTTP sender takes its 271 as the delivery's response. Busy and refusing payers are in
-- tests/routes/delivery/delivery.test.lua (control numbers here would move with every extra test).
test "An EligibilityRequest becomes a 270 for the payer, who answers with its 271" {
  config = config,
  channel = "pms_eligibility",
  input = "../../fixtures/x12/mappings/eligibility_request.json",
  expect = {
    payer_realtime = "golden/x12/routes/eligibility.270.x12",
  },
  respond = {
    payer_realtime = { status = 200, file = "../../fixtures/x12/valid/271_eligibility_response.x12" },
  },
  expect_delivery = { payer_realtime = "delivered" },
}
