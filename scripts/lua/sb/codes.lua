-- Code tables from CSV files in the script folders (read through sb_read_script_file, the only
-- file access scripts have). The first row names the columns; the first column is the key.
--
--   local codes = require("sb.codes")
--   local sex = codes.load("tables/sex.csv")   -- code,display,fhir
--   sex:lookup("F")                 --> "Female" (second column)
--   sex:lookup("F", "fhir")         --> "female"
--   sex:lookup("X", "fhir", "unknown") --> "unknown"
local M = {}

-- Parses CSV (RFC 4180: quoted fields, doubled quotes, CRLF or LF) into a list of rows.
function M.parseCsv(text)
  local rows, row, field = {}, {}, {}
  local i, n = 1, #text
  local quoted = false
  while i <= n do
    local c = text:sub(i, i)
    if quoted then
      if c == '"' then
        if text:sub(i + 1, i + 1) == '"' then
          field[#field + 1] = '"'
          i = i + 1
        else
          quoted = false
        end
      else
        field[#field + 1] = c
      end
    elseif c == '"' then
      quoted = true
    elseif c == "," then
      row[#row + 1] = table.concat(field)
      field = {}
    elseif c == "\n" or c == "\r" then
      if c == "\r" and text:sub(i + 1, i + 1) == "\n" then i = i + 1 end
      row[#row + 1] = table.concat(field)
      rows[#rows + 1] = row
      row, field = {}, {}
    else
      field[#field + 1] = c
    end
    i = i + 1
  end
  if quoted then error("codes: unterminated quoted field", 2) end
  if #field > 0 or #row > 0 then
    row[#row + 1] = table.concat(field)
    rows[#rows + 1] = row
  end
  -- Blank lines are not rows.
  local out = {}
  for _, r in ipairs(rows) do
    if not (#r == 1 and r[1] == "") then out[#out + 1] = r end
  end
  return out
end

local Table = {}
Table.__index = Table

-- The value in `column` (a name, default the second column) for `code`, else `default`.
function Table:lookup(code, column, default)
  local row = self.byCode[code]
  if not row then return default end
  local value = row[column or self.columns[2]]
  if value == nil then return default end
  return value
end

-- The whole row for `code` as {column = value}, or nil.
function Table:row(code) return self.byCode[code] end

-- Builds a table from CSV text; `name` is used in messages.
function M.fromCsv(text, name)
  local rows = M.parseCsv(text)
  if #rows == 0 then error("codes: " .. (name or "table") .. " is empty", 2) end
  local columns = rows[1]
  local t = setmetatable({name = name, columns = columns, rows = {}, byCode = {}}, Table)
  for r = 2, #rows do
    local row = {}
    for c, column in ipairs(columns) do row[column] = rows[r][c] or "" end
    t.rows[#t.rows + 1] = row
    local key = rows[r][1]
    -- The first occurrence of a code wins, as in a lookup table read top to bottom.
    if t.byCode[key] == nil then t.byCode[key] = row end
  end
  return t
end

local cache = {}

-- Loads (once per runtime) a CSV file from the script folders.
function M.load(name)
  local t = cache[name]
  if t then return t end
  local text, err = sb_read_script_file(name)
  if not text then error("codes.load: " .. err, 2) end
  t = M.fromCsv(text, name)
  cache[name] = t
  return t
end

return M
