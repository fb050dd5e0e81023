-- Hospital feeds into the practice-management system (PMS): ADT becomes canonical Patient and
-- Encounter JSON, ORU LabResult and DiagnosticReport, SIU Appointment, DFT Charge and ORM Order
-- JSON, each written for the PMS to pick up; everything is also archived as received.
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

destination "pms_lab_results" {
  type = "file",
  directory = "pms/lab_results",
  filename = "{id}.json",
}

destination "pms_reports" {
  type = "file",
  directory = "pms/reports",
  filename = "{id}.json",
}

destination "pms_appointments" {
  type = "file",
  directory = "pms/appointments",
  filename = "{id}.json",
}

destination "pms_charges" {
  type = "file",
  directory = "pms/charges",
  filename = "{id}.json",
}

destination "pms_orders" {
  type = "file",
  directory = "pms/orders",
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

route "oru_lab_results" {
  from = "hospital_in",
  filter = { message_type = "ORU", trigger_event = "R01" },
  transform = "mappings/oru.lua:labResults",
  to = "pms_lab_results",
}

route "oru_report" {
  from = "hospital_in",
  filter = { message_type = "ORU", trigger_event = "R01" },
  transform = "mappings/oru.lua:diagnosticReport",
  to = "pms_reports",
}

route "siu_appointment" {
  from = "hospital_in",
  filter = { message_type = "SIU", trigger_event = { "S12", "S13", "S14", "S15" } },
  transform = "mappings/siu.lua:appointment",
  to = "pms_appointments",
}

route "dft_charges" {
  from = "hospital_in",
  filter = { message_type = "DFT", trigger_event = "P03" },
  transform = "mappings/dft.lua:charges",
  to = "pms_charges",
}

route "orm_order" {
  from = "hospital_in",
  filter = { message_type = "ORM", trigger_event = "O01" },
  transform = "mappings/orm.lua:orders",
  to = "pms_orders",
}
