-- String helpers for mappings. All functions take and return plain Lua strings (bytes); case
-- changes apply to ASCII letters only.
local M = {}

function M.trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end
function M.ltrim(s) return (s:gsub("^%s+", "")) end
function M.rtrim(s) return (s:gsub("%s+$", "")) end

-- Splits on a plain separator (not a pattern); empty pieces are kept: split("a,,b", ",") ->
-- {"a", "", "b"}.
function M.split(s, sep)
  sep = sep or ","
  if sep == "" then error("str.split: empty separator", 2) end
  local out, start = {}, 1
  while true do
    local a, b = s:find(sep, start, true)
    if not a then
      out[#out + 1] = s:sub(start)
      return out
    end
    out[#out + 1] = s:sub(start, a - 1)
    start = b + 1
  end
end

function M.join(list, sep) return table.concat(list, sep or "") end
function M.startsWith(s, prefix) return s:sub(1, #prefix) == prefix end
function M.endsWith(s, suffix) return suffix == "" or s:sub(-#suffix) == suffix end

-- Pads to `width` characters (bytes) with `ch` (default " "); longer strings are unchanged.
function M.padLeft(s, width, ch)
  ch = ch or " "
  if #s >= width then return s end
  return ch:rep(width - #s) .. s
end
function M.padRight(s, width, ch)
  ch = ch or " "
  if #s >= width then return s end
  return s .. ch:rep(width - #s)
end

-- "mary-ann O'BRIEN" -> "Mary-Ann O'Brien": a letter after a non-letter is upper case.
function M.title(s)
  return (s:lower():gsub("()(%a)", function(pos, letter)
    if pos == 1 or not s:sub(pos - 1, pos - 1):match("%a") then return letter:upper() end
    return letter
  end))
end

function M.isBlank(s) return s == nil or s:match("^%s*$") ~= nil end

-- Plain replacement of every occurrence (no patterns).
function M.replace(s, old, new)
  if old == "" then return s end
  local out, start = {}, 1
  while true do
    local a, b = s:find(old, start, true)
    if not a then
      out[#out + 1] = s:sub(start)
      return table.concat(out)
    end
    out[#out + 1] = s:sub(start, a - 1)
    out[#out + 1] = new
    start = b + 1
  end
end

function M.truncate(s, n) return #s > n and s:sub(1, n) or s end

return M
