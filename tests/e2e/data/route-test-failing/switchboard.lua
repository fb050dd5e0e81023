-- A config whose route test is wrong on purpose (see cli_test.cpp), plus a route with no test.
engine { script_folders = { "../../../../scripts/lua" } }
channel "in" { type = "mllp", listen = "127.0.0.1:2575" }
destination "patients" { type = "file", directory = "patients" }
destination "archive" { type = "file", directory = "archive" }
route "patient" {
  from = "in",
  filter = { message_type = "ADT" },
  transform = "mappings/adt.lua:patient",
  to = "patients",
}
route "untested" { from = "in", filter = { message_type = "ORU" }, to = "archive" }
