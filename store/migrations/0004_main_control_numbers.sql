-- X12 outbound control numbers (ISA13, GS06, ST02), one sequence per trading partner and kind.
-- `next` is the first number not yet handed out: a reservation reads it and moves it forward in
-- one write transaction on main.db, so the engine and the CLI (or two engines on one data
-- directory) never hand out the same number. Rows are never deleted or moved backwards.
CREATE TABLE control_numbers (
  partner TEXT    NOT NULL,
  kind    TEXT    NOT NULL,  -- ISA | GS | ST
  next    INTEGER NOT NULL,
  PRIMARY KEY (partner, kind)
) WITHOUT ROWID;
