-- The practice-management system (PMS) and a clearinghouse / payer, over X12 5010:
--   * claims (canonical Claim JSON posted by the PMS) go out as 837P files for the clearinghouse;
--   * eligibility requests (EligibilityRequest JSON) go to the payer in real time as 270s in a
--     CAQH CORE envelope; the payer's 271 comes back as the delivery's response;
--   * what the clearinghouse sends back (271, 277/277CA, 835, posted as X12) becomes canonical
--     EligibilityResponse, ClaimStatus and Remittance JSON (one per claim) for the PMS.
-- Each inbound interchange is answered with its 999 (and TA1) after it is stored.
--
-- Tokens come from the environment; the defaults are for trying it out on one machine only.
-- Files from the clearinghouse often come by SFTP instead: see channels/sftp/README.md
-- (type = "sftp", format = "x12", reply_folder for the 999s).
engine {
  data_dir = "data",
  script_folders = { "../../scripts/lua", "scripts" },
}

channel "pms_claims" {
  type = "http",
  listen = "127.0.0.1:8081",
  path = "/claims",
  bearer_token = env("PMS_TOKEN", "dev-only-pms-token"),
}

channel "pms_eligibility" {
  type = "http",
  listen = "127.0.0.1:8082",
  path = "/eligibility",
  bearer_token = env("PMS_TOKEN", "dev-only-pms-token"),
}

channel "clearinghouse_in" {
  type = "http",
  listen = "127.0.0.1:8083",
  path = "/x12",
  bearer_token = env("CLEARINGHOUSE_TOKEN", "dev-only-clearinghouse-token"),
}

destination "clearinghouse_claims" {
  type = "file",
  directory = "outbox/claims",
  filename = "{control_id}-{seq}.x12",
}

destination "payer_realtime" {
  type = "http",
  url = env("PAYER_CORE_URL", "http://127.0.0.1:9090/core"),
  envelope = "core",
  core_sender_id = "SWITCHBOARD",
  core_receiver_id = "EXAMPLEPAYER",
  bearer_token = env("PAYER_TOKEN", "dev-only-payer-token"),
}

destination "pms_eligibility_responses" {
  type = "file",
  directory = "pms/eligibility",
  filename = "{control_id}-{seq}.json",
}

destination "pms_claim_status" {
  type = "file",
  directory = "pms/claim_status",
  filename = "{control_id}-{seq}.json",
}

destination "pms_remittances" {
  type = "file",
  directory = "pms/remittances",
  filename = "{control_id}-{seq}.json",
}

route "claims_837p" {
  from = "pms_claims",
  filter = { message_type = "Claim" },
  transform = "partners/example_clearinghouse.lua:claim_837p",
  to = "clearinghouse_claims",
}

route "eligibility_270" {
  from = "pms_eligibility",
  filter = { message_type = "EligibilityRequest" },
  transform = "partners/example_clearinghouse.lua:eligibility_270",
  to = "payer_realtime",
}

route "eligibility_answers" {
  from = "clearinghouse_in",
  filter = { message_type = "271" },
  transform = "mappings/x12/eligibility.lua:response_from_271",
  to = "pms_eligibility_responses",
}

route "claim_status" {
  from = "clearinghouse_in",
  filter = { message_type = "277" },
  transform = "mappings/x12/claim_status.lua:status_from_277",
  to = "pms_claim_status",
}

route "remittances" {
  from = "clearinghouse_in",
  filter = { message_type = "835" },
  transform = "mappings/x12/remittance.lua:remittance_by_claim",
  to = "pms_remittances",
}
