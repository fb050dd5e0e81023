-- HL7 v2 timestamps (TS/DTM: YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ]) to and from ISO 8601.
-- The precision that was given is kept in both directions: "202601" <-> "2026-01".
local M = {}

local function zoneToIso(sign, zone)
  return sign .. zone:sub(1, 2) .. ":" .. zone:sub(3, 4)
end

local function inRange(text, low, high)
  local n = tonumber(text)
  return n ~= nil and n >= low and n <= high
end

-- HL7 TS -> ISO 8601. Dates without a time drop the zone, as ISO 8601 has no zoned dates.
function M.toIso(ts)
  if type(ts) ~= "string" then return nil, "timestamp must be a string" end
  local digits, rest = ts:match("^(%d+)(.*)$")
  if not digits then return nil, "not an HL7 timestamp: " .. ts end
  local n = #digits
  if n ~= 4 and n ~= 6 and n ~= 8 and n ~= 10 and n ~= 12 and n ~= 14 then
    return nil, "not an HL7 timestamp: " .. ts
  end
  local fraction, sign, zone = rest:match("^(%.?%d*)([%+%-]?)(%d*)$")
  if fraction == nil or (fraction ~= "" and (n ~= 14 or #fraction < 2)) or
      (sign ~= "" and #zone ~= 4) or (sign == "" and zone ~= "") then
    return nil, "not an HL7 timestamp: " .. ts
  end
  local y, mo, d, h, mi, s = digits:sub(1, 4), digits:sub(5, 6), digits:sub(7, 8),
      digits:sub(9, 10), digits:sub(11, 12), digits:sub(13, 14)
  if (mo ~= "" and not inRange(mo, 1, 12)) or (d ~= "" and not inRange(d, 1, 31)) or
      (h ~= "" and not inRange(h, 0, 23)) or (mi ~= "" and not inRange(mi, 0, 59)) or
      (s ~= "" and not inRange(s, 0, 60)) or (zone ~= "" and not inRange(zone:sub(3, 4), 0, 59)) then
    return nil, "not an HL7 timestamp: " .. ts
  end
  local out = y
  if mo ~= "" then out = out .. "-" .. mo end
  if d ~= "" then out = out .. "-" .. d end
  if h == "" then return out end
  out = out .. "T" .. h
  if mi ~= "" then out = out .. ":" .. mi end
  if s ~= "" then out = out .. ":" .. s .. fraction end
  if sign ~= "" then out = out .. zoneToIso(sign, zone) end
  return out
end

-- ISO 8601 (extended format) -> HL7 TS. "Z" becomes +0000.
function M.fromIso(iso)
  if type(iso) ~= "string" then return nil, "timestamp must be a string" end
  local pos = 1
  local function take(pattern)
    local a, b, c = iso:find("^" .. pattern, pos)
    if not a then return nil end
    pos = b + 1
    return c or iso:sub(a, b)
  end
  local bad = "not an ISO 8601 timestamp: " .. iso
  local y = take("(%d%d%d%d)")
  if not y then return nil, bad end
  local out = y
  local mo = take("%-(%d%d)")
  local d = mo and take("%-(%d%d)")
  local h = d and take("T(%d%d)")
  local mi = h and take(":(%d%d)")
  local s = mi and take(":(%d%d)")
  local fraction = s and take("(%.%d+)")
  out = out .. (mo or "") .. (d or "") .. (h or "") .. (mi or "") .. (s or "") .. (fraction or "")
  if h then
    if take("Z") then
      out = out .. "+0000"
    else
      local sign = take("([%+%-])")
      if sign then
        local zh = take("(%d%d)")
        local zm = take(":?(%d%d)")
        if not zh or not zm then return nil, bad end
        out = out .. sign .. zh .. zm
      end
    end
  end
  if pos <= #iso then return nil, bad end
  local ok = M.toIso(out)
  if not ok then return nil, bad end
  return out
end

-- HL7 TS -> FHIR dateTime: a time is completed to seconds and must carry a zone; without one
-- in the input, `defaultZone` ("+01:00", "Z") is used, else it is an error (a guessed zone
-- would silently shift the instant).
function M.toFhir(ts, defaultZone)
  local iso, err = M.toIso(ts)
  if not iso then return nil, err end
  local date, time = iso:match("^([^T]+)T?(.*)$")
  if time == "" then return date end
  local clock, zone = time:match("^([%d:%.]+)(.*)$")
  if #clock == 2 then clock = clock .. ":00:00" elseif #clock == 5 then clock = clock .. ":00" end
  if zone == "" then
    if not defaultZone then return nil, "timestamp has a time but no zone: " .. ts end
    zone = defaultZone
  end
  return date .. "T" .. clock .. zone
end

-- The current time as an HL7 TS in UTC: YYYYMMDDHHMMSS+0000.
function M.now()
  return os.date("!%Y%m%d%H%M%S") .. "+0000"
end

return M
