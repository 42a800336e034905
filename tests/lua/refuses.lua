-- refuses(fn, needle...): fn must raise, and its message must contain every
-- needle (plain substrings: the function or kernel, the argument, the value).
-- For bad-input specs whose errors are Lua errors in this process (probe.lua
-- runs code that might crash in a child process instead).
local assert = require("luassert")

return function(fn, ...)
  local needles = {...}
  local ok, err = pcall(fn)
  assert.is_false(ok, "accepted")
  err = tostring(err)
  for _, n in ipairs(needles) do
    assert.is_truthy(err:find(n, 1, true), "message '" .. err .. "' lacks '" .. n .. "'")
  end
end
