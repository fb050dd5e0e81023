-- SIU^S12/S13/S14/S15 -> canonical Appointment (one per message).
-- Route: transform = "mappings/siu.lua:appointment". S12 books, S13 reschedules (new times),
-- S14 modifies, S15 cancels; each sends the whole appointment, so each maps the same way.
local u = require("mappings.hl7util")

local M = {}

-- SCH-25 filler status (table 0278) -> Appointment.status, as docs/model.md converts it.
local statusOf = {
  Booked = "booked", Pending = "pending", Waitlist = "waitlist", Cancelled = "cancelled",
  Deleted = "cancelled", Complete = "fulfilled", Noshow = "noshow",
}

-- The trigger wins where it states the outcome: S15 cancels and S26 reports a no-show whatever
-- SCH-25 still says. S13 (rescheduled) and S14 (modified) keep the appointment booked unless
-- SCH-25 says otherwise; without SCH-25 an S12/S13/S14 appointment is booked.
local triggerStatus = { S15 = "cancelled", S26 = "noshow" }

-- AIS-10/AIG-14/AIL-12/AIP-12 filler status (table 0278) -> participation status of a resource.
local participation = {
  Booked = "accepted", Complete = "accepted", Started = "accepted", Pending = "tentative",
  Waitlist = "needs-action", Cancelled = "declined", Deleted = "declined",
}

-- Each resource segment: where its fields are (they differ per segment).
local segments = {
  { name = "AIS", kind = "service", code = 3, start = 4, duration = 7, units = 8, status = 10 },
  { name = "AIG", kind = "general", code = 3, role = 4, start = 8, duration = 11, units = 12, status = 14 },
  { name = "AIL", kind = "location", location = 3, role = 4, start = 6, duration = 9, units = 10, status = 12 },
  { name = "AIP", kind = "personnel", person = 3, role = 4, start = 6, duration = 9, units = 10, status = 12 },
}

-- PL (AIL-3): facility, point of care, room and bed as one display text.
local function locationDisplay(msg, path)
  local parts = u.list(u.value(msg, path .. ".4.1"), u.value(msg, path .. ".1.1"), u.value(msg, path .. ".2"),
    u.value(msg, path .. ".3"))
  return #parts > 0 and { display = table.concat(parts, ", ") } or nil
end

local function resources(msg)
  local out = {}
  for _, s in ipairs(segments) do
    for i = 1, msg:count(s.name) do
      local p = s.name .. "[" .. i .. "]-"
      local f = function(n) return p .. n end
      out[#out + 1] = u.compact({
        kind = s.kind,
        code = s.code and u.concept(msg, f(s.code)) or nil,
        reference = (s.person and u.practitioner(msg, f(s.person)))
            or (s.location and locationDisplay(msg, f(s.location))) or nil,
        role = s.role and u.coding(msg, f(s.role)) or nil,
        start = u.datetime(u.value(msg, f(s.start) .. ".1")),
        durationMinutes = u.durationMinutes(u.value(msg, f(s.duration)), u.value(msg, f(s.units) .. ".1")),
        status = participation[u.value(msg, f(s.status) .. ".1") or ""],
      })
    end
  end
  return out
end

-- Start and end: TQ1-7/TQ1-8, else SCH-11.4/SCH-11.5 (SCH-11 is kept in v2.5+ only for
-- backward compatibility; TQ1 replaced it), else the earliest resource start.
local function times(msg)
  local start = u.value(msg, "TQ1-7.1") or u.value(msg, "SCH-11.4")
  local finish = u.value(msg, "TQ1-8.1") or (not u.value(msg, "TQ1-7.1") and u.value(msg, "SCH-11.5")) or nil
  if not start then
    for _, s in ipairs(segments) do
      for i = 1, msg:count(s.name) do
        local t = u.value(msg, s.name .. "[" .. i .. "]-" .. s.start .. ".1")
        if t and (not start or (u.minutesBetween(t, start) or 0) > 0) then start = t end
      end
    end
  end
  return start, finish
end

-- The appointment-level note: NTE right after SCH (and its TQ1), before PID.
local function comment(msg)
  for seg, index in msg:each() do
    if seg.name == "SCH" or seg.name == "TQ1" then
      local next = msg:segment(index + 1)
      if next and next.name == "NTE" then return u.notesAfter(msg, index) end
    elseif seg.name == "PID" or seg.name == "RGS" then
      break
    end
  end
  return nil
end

function M.appointment(msg)
  local trigger = u.value(msg, "MSH-9.2")
  local filler = u.value(msg, "SCH-25.1")
  local start, finish = times(msg)
  -- Duration: the span of start and end when both are known (it cannot disagree with them);
  -- else SCH-9 in SCH-10 units.
  local duration = (start and finish and u.minutesBetween(start, finish))
      or u.durationMinutes(u.value(msg, "SCH-9"), u.value(msg, "SCH-10.1"))
  return u.compact({
    resourceType = "Appointment",
    schemaVersion = "1",
    meta = u.meta(msg),
    identifiers = u.list(u.ei(msg, "SCH-1", "PLAC"), u.ei(msg, "SCH-2", "FILL")),
    status = triggerStatus[trigger] or statusOf[filler or ""] or "booked",
    start = u.datetime(start),
    ["end"] = u.datetime(finish),
    durationMinutes = duration,
    type = u.concept(msg, "SCH-8", "HL7-0277"),
    reason = u.concept(msg, "SCH-7", "HL7-0276"),
    patient = u.patientRef(msg),
    encounter = u.visitRef(msg),
    resources = resources(msg),
    -- SCH-6 is the reason for the event; on a cancellation that is the cancel reason.
    cancelReason = trigger == "S15" and u.concept(msg, "SCH-6") or nil,
    comment = comment(msg),
  })
end

return M
