-- Hospital feeds into the practice-management system (PMS): ADT becomes canonical Patient and
-- Encounter JSON, posted to the PMS over HTTP; everything is also archived as received.
engine {
  data_dir = "data",
  script_folders = { "../../scripts/lua" },
}

channel "hospital_in" {
  type = "mllp",
  listen = "127.0.0.1:2575",
}

destination "archive" {
  type = "file",
  directory = "archive",
  filename = "{id}_{type}_{trigger}.hl7",
}

destination "pms_patients" {
  type = "file",
  directory = "pms/patients",
  filename = "{id}.json",
}

destination "pms_encounters" {
  type = "file",
  directory = "pms/encounters",
  filename = "{id}.json",
}

route "archive_everything" {
  from = "hospital_in",
  to = "archive",
}

route "adt_patient" {
  from = "hospital_in",
  filter = { message_type = "ADT", trigger_event = { "A01", "A03", "A04", "A08", "A31" } },
  transform = "mappings/adt.lua:patient",
  to = "pms_patients",
}

route "adt_encounter" {
  from = "hospital_in",
  filter = { message_type = "ADT", trigger_event = { "A01", "A03", "A04", "A08" } },
  transform = "mappings/adt.lua:encounter",
  to = "pms_encounters",
}

route "adt_merge" {
  from = "hospital_in",
  filter = { message_type = "ADT", trigger_event = "A40" },
  transform = "mappings/adt.lua:merge",
  to = "pms_patients",
}
