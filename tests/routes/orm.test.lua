-- Route tests for examples/pms: ORM^O01 becomes one Order per ORC.
local config = "../../examples/pms/switchboard.lua"

test "ORM O01 becomes an Order" {
  config = config,
  channel = "hospital_in",
  input = "../../fixtures/hl7v2/ORM-O01-01.hl7",
  expect = {
    archive = "../../fixtures/hl7v2/ORM-O01-01.hl7",
    pms_orders = "golden/orm-o01.order.json",
  },
}
