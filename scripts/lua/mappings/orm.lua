-- ORM^O01 -> canonical Order, one per ORC (a split list: each order is its own queue entry).
-- Route: transform = "mappings/orm.lua:orders".
local u = require("mappings.hl7util")

local M = {}

-- ORC-1 order control codes the model records (Order.orderControl).
local controls = {
  NW = true, OK = true, CA = true, CR = true, DC = true, XO = true, XR = true, SC = true,
  HD = true, RL = true, OC = true, SN = true, NA = true,
}

-- A control that ends or suspends the order decides the status by itself: CA (cancel
-- request), CR (cancelled as requested), OC (cancelled unsolicited), DC/DR/OD (discontinue)
-- revoke it; HD/OH hold it.
local controlStatus = {
  CA = "revoked", CR = "revoked", OC = "revoked", DC = "revoked", DR = "revoked", OD = "revoked",
  HD = "on-hold", OH = "on-hold",
}

-- Otherwise ORC-5, the filler's order status (table 0038), as docs/model.md converts it:
-- in process or scheduled is active, CM completed; a cancelled/discontinued status revokes.
local orderStatus = {
  IP = "active", SC = "active", A = "active", HD = "on-hold", CA = "revoked", DC = "revoked",
  CM = "completed", ER = "entered-in-error",
}

-- And without ORC-5, the control itself: a new, accepted, changed or released order is active.
local activeControls = { NW = true, OK = true, XO = true, XR = true, SC = true, RL = true, SN = true, NA = true }

-- TQ1-9 / OBR-27.6 priority (table 0485) -> Order.priority; codes other than these (P preop,
-- C callback, T timing critical, PRN) have no model value and are left out.
local priorityOf = { R = "routine", S = "stat", A = "asap" }

local function status(control, filler)
  if controlStatus[control or ""] then return controlStatus[control] end
  if orderStatus[filler or ""] then return orderStatus[filler] end
  if activeControls[control or ""] then return "active" end
  return "unknown"
end

-- The message as orders: each ORC with the OBR, TQ1, DG1 and NTE segments that follow it.
local function groups(msg)
  local out, count, current = {}, {}, nil
  for seg, index in msg:each() do
    local name = seg.name
    count[name] = (count[name] or 0) + 1
    local path = name .. "[" .. count[name] .. "]"
    if name == "ORC" then
      current = { orc = path, dg1 = {}, notes = {} }
      out[#out + 1] = current
    elseif current then
      if name == "OBR" and not current.obr then
        current.obr = path
        current.notes[#current.notes + 1] = u.notesAfter(msg, index)
      elseif name == "TQ1" and not current.tq1 then
        current.tq1 = path
      elseif name == "DG1" then
        current.dg1[#current.dg1 + 1] = path
      end
    end
  end
  return out
end

-- Reasons: OBR-31 and the DG1 of the order; only ICD codes fit the model's DiagnosisCode.
local icd = { ["ICD-10-CM"] = true, ["ICD-9-CM"] = true, ["ICD-10"] = true }
local function reasons(msg, group)
  local out = {}
  local function add(path)
    local system = u.codeSystem(u.value(msg, path .. ".3"))
    local code = u.value(msg, path .. ".1")
    if code and icd[system] then
      out[#out + 1] = { system = system, code = code, display = u.value(msg, path .. ".2") }
    end
  end
  if group.obr then
    for i = 1, msg:repCount(group.obr .. "-31") do add(group.obr .. "-31[" .. i .. "]") end
  end
  for _, dg1 in ipairs(group.dg1) do add(dg1 .. "-3") end
  return out
end

local function order(msg, group)
  local orc, obr, tq1 = group.orc, group.obr, group.tq1
  local function obrValue(field) return obr and u.value(msg, obr .. "-" .. field) or nil end
  local control = u.value(msg, orc .. "-1")
  -- Timing: TQ1 (v2.5+), else the older quantity/timing fields OBR-27 and ORC-7 (the same TQ
  -- data type: 4 start, 6 priority), which senders still fill.
  local priority = (tq1 and u.value(msg, tq1 .. "-9.1")) or obrValue("27.6") or u.value(msg, orc .. "-7.6")
  local requested = (tq1 and u.value(msg, tq1 .. "-7.1")) or obrValue("27.4.1") or u.value(msg, orc .. "-7.4.1")
  return u.compact({
    resourceType = "Order",
    schemaVersion = "1",
    meta = u.meta(msg),
    placerOrderNumber = u.ei(msg, orc .. "-2", "PLAC") or (obr and u.ei(msg, obr .. "-2", "PLAC")),
    fillerOrderNumber = u.ei(msg, orc .. "-3", "FILL") or (obr and u.ei(msg, obr .. "-3", "FILL")),
    placerGroupNumber = u.ei(msg, orc .. "-4"),
    orderControl = controls[control or ""] and control or nil,
    status = status(control, u.value(msg, orc .. "-5")),
    code = obr and u.concept(msg, obr .. "-4") or nil,
    priority = priorityOf[priority or ""],
    patient = u.patientRef(msg),
    encounter = u.visitRef(msg),
    -- ORC-12 is the ordering provider of the order; OBR-16 repeats it for the service.
    orderingProvider = u.practitioner(msg, orc .. "-12") or (obr and u.practitioner(msg, obr .. "-16")),
    orderedAt = u.datetime(u.value(msg, orc .. "-9.1")),
    requestedStart = u.datetime(requested),
    collectedAt = u.datetime(obrValue("7.1")),
    reasons = reasons(msg, group),
    specimen = obr and u.concept(msg, obr .. "-15.1") or nil,
    note = #group.notes > 0 and table.concat(group.notes, "\n") or nil,
  })
end

function M.orders(msg)
  local out = {}
  for _, group in ipairs(groups(msg)) do
    out[#out + 1] = { body = order(msg, group) }
  end
  if #out == 0 then return nil end
  return out
end

return M
