-- A progress bar on stderr when it is a terminal; silent otherwise (CI, pipes).
local ffi = require("ffi")
local M = {}

local function tty()
  local ok, r = pcall(function() return ffi.C.isatty(2) end)
  return ok and r == 1 and os.getenv("CI") == nil
end

function M.new(total, label)
  local O = require("diffsim.options")
  O.number("ds.progress.new", "total", total, nil, {ge = 0, arg = true})
  if label ~= nil and type(label) ~= "string" then
    O.raise("ds.progress.new: argument 'label' must be a string, got " .. O.describe(label))
  end
  local p = {total = total, label = label or "", on = tty(), last = -1}
  function p:update(i, extra)
    if type(self) ~= "table" or self.total == nil then O.raise("progress:update: call it as a method (bar:update(i))") end
    if type(i) ~= "number" or i ~= i then
      O.raise("progress:update: argument 'i' must be a number, got " .. O.describe(i))
    end
    if not self.on then return end
    local frac = math.min(1, i / math.max(1, self.total))
    local pct = math.floor(frac * 100)
    if pct == self.last and i < self.total then return end
    self.last = pct
    local w = 30
    local fill = math.floor(frac * w)
    io.stderr:write(string.format("\r%s [%s%s] %3d%% %s", self.label, string.rep("#", fill),
      string.rep(".", w - fill), pct, extra or ""))
    if i >= self.total then io.stderr:write("\n") end
    io.stderr:flush()
  end
  function p:done() if self.on and self.last < 100 then self:update(self.total) end end
  return p
end

return M
