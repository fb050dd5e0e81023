-- Small helpers the standard HL7 v2 mappings share. Values come from msg:get(path), which
-- returns the decoded text, "" for an empty component of a present field, and nil when the
-- segment or field is absent.
local M = {}

-- The text at `path`, or nil when absent or empty.
function M.value(msg, path)
  local v = msg:get(path)
  if v == nil or v == "" then return nil end
  return v
end

-- How many repetitions field `path` (e.g. "PID-3") has; stops at `max`.
function M.repetitions(msg, path, max)
  local n = 0
  for i = 1, max or 50 do
    local v = msg:get(path .. "[" .. i .. "]")
    if v == nil or v == "" then break end
    n = i
  end
  return n
end

-- HL7 DT/TS "YYYYMMDD[HHMM[SS[.S]]][+ZZZZ]" -> "YYYY-MM-DD" (nil when shorter than a day).
function M.date(ts)
  if ts == nil then return nil end
  local y, m, d = ts:match("^(%d%d%d%d)(%d%d)(%d%d)")
  if not y then return nil end
  return y .. "-" .. m .. "-" .. d
end

-- HL7 TS -> ISO 8601 date-time with offset; a TS without a zone is taken as UTC ("Z"), the
-- documented assumption of the standard mappings. Precision below minutes is padded.
function M.datetime(ts)
  if ts == nil then return nil end
  local y, mo, d, rest = ts:match("^(%d%d%d%d)(%d%d)(%d%d)(.*)$")
  if not y then return nil end
  local hh, mm, ss = rest:match("^(%d%d)(%d%d)(%d%d)")
  if not hh then
    hh, mm = rest:match("^(%d%d)(%d%d)")
    ss = "00"
  end
  if not hh then hh, mm, ss = "00", "00", "00" end
  local frac = rest:match("^%d%d%d%d%d%d(%.%d+)") or ""
  local sign, zh, zm = rest:match("([+-])(%d%d)(%d%d)$")
  local zone = sign and (sign .. zh .. ":" .. zm) or "Z"
  return string.format("%s-%s-%sT%s:%s:%s%s%s", y, mo, d, hh, mm, ss, frac, zone)
end

-- Drops keys whose value is nil or an empty table, so outputs carry no empty noise.
function M.compact(t)
  for k, v in pairs(t) do
    if type(v) == "table" and next(v) == nil then t[k] = nil end
  end
  return t
end

M.gender = { M = "male", F = "female", O = "other", U = "unknown", A = "other", N = "unknown" }

return M
