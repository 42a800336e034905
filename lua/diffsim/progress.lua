-- A progress bar for loops a user waits on: iteration, rate, ETA and the
-- current loss, redrawn in place on stderr at most ten times a second.
--
--   local bar = ds.progress.new(opt.iters, "wave")
--   for it = 1, opt.iters do ...; bar:update(it, loss) end   -- loss: a number or a string
--   bar:done()                                               -- removes the bar
--
-- It draws only when both stdout and stderr are terminals (and CI is unset):
-- a pipeline that reads stdout, or a log file, never sees it. Lines printed
-- through cli.iter / cli.result / progress.clear() first erase the bar, so
-- result lines are never mixed with it; the next update draws it again.
local ffi = require("ffi")
local M = {}

local function tty()
  local ok, r = pcall(function() return ffi.C.isatty(1) == 1 and ffi.C.isatty(2) == 1 end)
  return ok and r and os.getenv("CI") == nil
end
M.tty = tty

local active -- the bar on screen, if any

-- Erases the bar on screen (if any) so that a line can be printed.
function M.clear()
  if active and active.drawn then
    io.stderr:write("\r\27[K")
    io.stderr:flush()
    active.drawn = false
  end
end

local function clock()
  local ok, ds = pcall(require, "diffsim")
  if ok and type(ds) == "table" and ds.now then return ds.now() end
  return os.clock()
end

local function hms(s)
  if s ~= s or s == math.huge then return "--:--" end
  s = math.floor(s + 0.5)
  if s >= 3600 then return string.format("%d:%02d:%02d", s / 3600, (s % 3600) / 60, s % 60) end
  return string.format("%02d:%02d", s / 60, s % 60)
end

function M.new(total, label)
  local O = require("diffsim.options")
  O.number("ds.progress.new", "total", total, nil, {ge = 0, arg = true})
  if label ~= nil and type(label) ~= "string" then
    O.raise("ds.progress.new: argument 'label' must be a string, got " .. O.describe(label))
  end
  local p = {total = total, label = label or "", on = tty(), t0 = clock(), shown = -1, drawn = false, i = 0}
  -- The line as it would be drawn (also used by the tests, which have no terminal).
  function p:line(i, extra, now)
    local frac = math.min(1, i / math.max(1, self.total))
    local w = 24
    local fill = math.floor(frac * w)
    local dt = (now or clock()) - self.t0
    local rate = dt > 0 and i / dt or 0
    local eta = rate > 0 and (self.total - i) / rate or 0 / 0
    local tail = ""
    if type(extra) == "number" then tail = string.format("  loss %.4g", extra)
    elseif type(extra) == "string" and extra ~= "" then tail = "  " .. extra end
    return string.format("%s [%s%s] %d/%d  %s  ETA %s%s", self.label, string.rep("#", fill), string.rep(".", w - fill),
      i, self.total, rate >= 1 and string.format("%.1f it/s", rate) or string.format("%.2f s/it", rate > 0 and 1 / rate or 0),
      hms(eta), tail)
  end
  function p:update(i, extra)
    if type(self) ~= "table" or self.total == nil then O.raise("progress:update: call it as a method (bar:update(i))") end
    if type(i) ~= "number" or i ~= i then
      O.raise("progress:update: argument 'i' must be a number, got " .. O.describe(i))
    end
    if extra ~= nil and type(extra) ~= "number" and type(extra) ~= "string" then
      O.raise("progress:update: argument 'extra' must be a number (the loss) or a string, got " .. O.describe(extra))
    end
    self.i = i
    if not self.on then return end
    local now = clock()
    if self.drawn and now - self.shown < 0.1 and i < self.total then return end
    self.shown = now
    active = self
    io.stderr:write("\r\27[K", self:line(i, extra, now))
    io.stderr:flush()
    self.drawn = true
  end
  -- The loop is over: the bar goes away (the result lines follow).
  function p:done()
    if active == self then M.clear(); active = nil end
  end
  return p
end

return M
