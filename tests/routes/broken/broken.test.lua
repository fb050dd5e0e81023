-- A mapping output that breaks its schema is not delivered: the message goes to the error
-- queue, and the error names the schema and the JSON pointer of the bad value.
test "A Patient with an HL7 birth date fails its schema and is an error" {
  config = "switchboard.lua",
  channel = "adt_in",
  input = "../../../fixtures/hl7v2/ADT-A01-01.hl7",
  expect_status = "error",
  expect_error = "schema Patient /birthDate",
}
