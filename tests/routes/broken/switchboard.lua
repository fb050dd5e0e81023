-- A one-route config whose mapping breaks the Patient schema on purpose (see
-- scripts/lua/mappings/examples/broken_patient.lua): tests that schema failures are errors.
engine {
  data_dir = "data",
  script_folders = { "../../../scripts/lua" },
}

channel "adt_in" {
  type = "mllp",
  listen = "127.0.0.1:2576",
}

destination "patients" {
  type = "file",
  directory = "patients",
  filename = "{id}.json",
}

route "broken_patient" {
  from = "adt_in",
  filter = { message_type = "ADT" },
  transform = "mappings/examples/broken_patient.lua:patient",
  to = "patients",
}
