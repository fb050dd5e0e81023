-- Switchboard quickstart: receive HL7 v2 over MLLP on 127.0.0.1:2575 and write every message
-- to one file under <data dir>/out/. Start it with
--   switchboard run examples/quickstart/switchboard.lua
-- and send a message with
--   switchboard send --mllp 127.0.0.1:2575 fixtures/hl7v2/ADT-A01-01.hl7

engine {
  data_dir = "data",          -- store and outputs; `--data-dir` overrides
  durability = "process",     -- an ACKed message survives kill -9 of the engine
  retention_days = 30,
}

channel "hospital_in" {
  type = "mllp",
  listen = "127.0.0.1:2575",
}

destination "out_folder" {
  type = "file",
  directory = "out",                         -- inside the data directory
  filename = "{id}_{type}_{trigger}.hl7",
  retry = { max_attempts = 10, initial_backoff = 1, max_backoff = 60 },
}

route "everything_to_folder" {
  from = "hospital_in",
  to = "out_folder",
}
