-- Route tests with mocked destination answers (`respond`): what each destination's real sender
-- decides from that answer (`expect_delivery`), and what the client of a CORE RealTime channel
-- gets back (`expect_reply`). Nothing is sent: the answers are data.
local config = "switchboard.lua"
local adt = "../../../fixtures/hl7v2/ADT-A01-01.hl7"
local oru = "../../../fixtures/hl7v2/ORU-R01-01-cr.hl7"
local x270 = "../../../fixtures/x12/valid/270_eligibility_request.x12"
local x271 = "../../../fixtures/x12/valid/271_eligibility_response.x12"

test "The PMS takes the patient (201)" {
  config = config,
  channel = "hospital_in",
  input = adt,
  expect = { archive = adt, pms_patients = "../golden/adt-a01.patient.json" },
  respond = { pms_patients = { status = 201, body = '{"id":"p-1"}' } },
  expect_delivery = { pms_patients = "delivered" },
}

test "The PMS refuses the patient (400): dead at once, its answer kept" {
  config = config,
  channel = "hospital_in",
  input = adt,
  expect = { archive = adt, pms_patients = "../golden/adt-a01.patient.json" },
  respond = {
    pms_patients = {
      status = 400,
      body = '{"error":"birthDate is required"}',
      headers = { ["Content-Type"] = "application/json" },
    },
  },
  expect_delivery = { pms_patients = { outcome = "dead", error = "HTTP 400" } },
}

test "The PMS is down (503, Retry-After: 120): retried when it says" {
  config = config,
  channel = "hospital_in",
  input = adt,
  expect = { archive = adt, pms_patients = "../golden/adt-a01.patient.json" },
  respond = { pms_patients = { status = 503, headers = { ["Retry-After"] = "120" } } },
  expect_delivery = { pms_patients = { outcome = "retry", error = "HTTP 503", retry_after = 120 } },
}

test "The PMS cannot be reached and the archive disk is full: both retried" {
  config = config,
  channel = "hospital_in",
  input = adt,
  expect = { archive = adt, pms_patients = "../golden/adt-a01.patient.json" },
  respond = {
    pms_patients = { error = "connection refused" },
    archive = { error = "No space left on device" },
  },
  expect_delivery = { pms_patients = "retry", archive = "retry" },
}

test "A lab answering AE: retried, dead or accepted as each destination's on_ae says" {
  config = config,
  channel = "hospital_in",
  input = oru,
  expect = { archive = oru, lab_retry = oru, lab_dead = oru, lab_accept = oru },
  respond = {
    lab_retry = { ack = "AE", text = "Specimen not registered" },
    lab_dead = { file = "responses/ack-ae.hl7" },
    lab_accept = { ack = "AE" },
  },
  expect_delivery = {
    lab_retry = { outcome = "retry", error = "peer answered AE: Specimen not registered" },
    lab_dead = { outcome = "dead", error = "peer answered AE: Specimen not registered" },
    lab_accept = "delivered",
  },
}

test "A lab answering AR: dead by default, retried where on_ar = retry" {
  config = config,
  channel = "hospital_in",
  input = oru,
  expect = { archive = oru, lab_retry = oru, lab_dead = oru, lab_accept = oru },
  respond = {
    lab_retry = { ack = "AR" },
    lab_dead = { ack = "CA" },
    lab_accept = { ack = "AR" },
  },
  expect_delivery = { lab_retry = "dead", lab_dead = "delivered", lab_accept = "retry" },
}

test "The payer's 271 goes back to the CORE client" {
  config = config,
  channel = "core_in",
  input = x270,
  expect = { payer_realtime = x270 },
  respond = { payer_realtime = { status = 200, file = x271 } },
  expect_delivery = { payer_realtime = "delivered" },
  expect_reply = x271,
}

test "A busy payer is retried and the CORE client gets 504 ReceiverTimeout" {
  config = config,
  channel = "core_in",
  input = x270,
  expect = { payer_realtime = x270 },
  respond = {
    payer_realtime = {
      status = 503,
      core_error = "ReceiverBusy",
      core_error_message = "try again later",
      headers = { ["Retry-After"] = "30" },
    },
  },
  expect_delivery = {
    payer_realtime = { outcome = "retry", error = "HTTP 503: CORE ReceiverBusy", retry_after = 30 },
  },
  expect_reply = { status = 504, core_error = "ReceiverTimeout" },
}

test "A payer refusing the envelope is dead and the CORE client gets 502 ReceiverError" {
  config = config,
  channel = "core_in",
  input = x270,
  expect = { payer_realtime = x270 },
  respond = {
    payer_realtime = { status = 200, core_error = "PayloadTypeIllegal", core_error_message = "no 270 here" },
  },
  expect_delivery = { payer_realtime = { outcome = "dead", error = "CORE PayloadTypeIllegal: no 270 here" } },
  expect_reply = { status = 502, core_error = "ReceiverError" },
}
