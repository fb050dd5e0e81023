-- A config for route tests of delivery outcomes (delivery.test.lua): the PMS takes patients over
-- an HTTP API, three lab systems take ORU over MLLP with different answers to an AE, and a CORE
-- RealTime listener forwards each 270 to the payer and answers with the payer's 271. Nothing here
-- is started: route tests mock what each destination answers (`respond`).
engine {
  data_dir = "data",
  script_folders = { "../../../scripts/lua" },
}

channel "hospital_in" {
  type = "mllp",
  listen = "127.0.0.1:2575",
}

channel "core_in" {
  type = "http",
  listen = "127.0.0.1:8084",
  path = "/core",
  mode = "core",
  reply_from = "payer_realtime",
  basic_auth = { user = "provider", password = env("CORE_PASSWORD", "dev-only-core-password") },
}

destination "pms_patients" {
  type = "http",
  url = "http://127.0.0.1:9080/patients/{patient_id}",
  method = "PUT",
  bearer_token = env("PMS_TOKEN", "dev-only-pms-token"),
}

-- The default policy: an AE (application error) is retried, an AR is dead.
destination "lab_retry" {
  type = "mllp",
  connect = "127.0.0.1:2581",
}

destination "lab_dead" {
  type = "mllp",
  connect = "127.0.0.1:2582",
  on_ae = "dead",
}

destination "lab_accept" {
  type = "mllp",
  connect = "127.0.0.1:2583",
  on_ae = "accept",
  on_ar = "retry",
}

destination "archive" {
  type = "file",
  directory = "archive",
  filename = "{id}.hl7",
}

destination "payer_realtime" {
  type = "http",
  url = "http://127.0.0.1:9090/core",
  envelope = "core",
  core_sender_id = "SWITCHBOARD",
  core_receiver_id = "EXAMPLEPAYER",
}

route "archive_everything" {
  from = "hospital_in",
  to = "archive",
}

route "adt_patient" {
  from = "hospital_in",
  filter = { message_type = "ADT", trigger_event = { "A01", "A04", "A08" } },
  transform = "mappings/adt.lua:patient",
  to = "pms_patients",
}

route "oru_to_labs" {
  from = "hospital_in",
  filter = { message_type = "ORU", trigger_event = "R01" },
  to = { "lab_retry", "lab_dead", "lab_accept" },
}

route "eligibility_realtime" {
  from = "core_in",
  to = "payer_realtime",
}
