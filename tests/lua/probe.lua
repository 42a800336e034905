-- Runs a snippet of Lua in a child LuaJIT process, so a probe that crashes the
-- process is a failed test instead of a dead suite.
--
--   local probe = require("probe")
--   local r = probe.run([[ local ds = require("diffsim"); ds.zeros({-1}) ]])
--   r.crashed   -- killed by a signal, a LuaJIT panic or a sanitizer report
--   r.ok        -- exited 0
--   r.output    -- stdout and stderr together
--   probe.run(code, {dir = "/tmp/x", env = {DIFFSIM_THREADS = "2"}})  -- where and with what it runs
--   probe.fails_cleanly(code, "ds.zeros: dimension 1")  -- asserts a clean Lua error with that text
--
-- The child inherits the environment (LUA_PATH, DIFFSIM_*), including the
-- sanitizer preload of the ASan build.
local M = {}

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local luajit = arg and arg[-1] or "luajit"
if not luajit:find("luajit") then luajit = "luajit" end

-- opts.dir: run in that directory (for code that writes files where it runs);
-- opts.env: {NAME = value} added to the child's environment.
function M.run(code, opts)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local cd = opts and opts.dir and ("cd " .. shell_quote(opts.dir) .. " && ") or ""
  for k, v in pairs(opts and opts.env or {}) do cd = cd .. k .. "=" .. shell_quote(v) .. " " end
  local p = io.popen(cd .. shell_quote(luajit) .. " " .. shell_quote(path) .. " 2>&1; echo \"__status $?\"")
  local out = p:read("*a")
  p:close()
  os.remove(path)
  local status = tonumber(out:match("__status (%d+)%s*$")) or -1
  out = out:gsub("__status %d+%s*$", "")
  local crashed = status >= 128 or status < 0 or out:find("PANIC", 1, true) ~= nil or
                  out:find("AddressSanitizer", 1, true) ~= nil or out:find("runtime error:", 1, true) ~= nil or
                  out:find("Segmentation fault", 1, true) ~= nil
  return {status = status, ok = status == 0, crashed = crashed, output = out}
end

-- Asserts that code ends in a Lua error (exit 1, no crash) whose message holds
-- `text` (plain), and that no stack traceback from inside the package leaks as
-- the message.
function M.fails_cleanly(code, text)
  local r = M.run(code)
  assert(not r.crashed, "the probe crashed:\n" .. r.output)
  assert(not r.ok, "the probe did not fail:\n" .. r.output)
  assert(r.output:find(text, 1, true), "expected '" .. text .. "' in:\n" .. r.output)
  return r
end

-- The preamble most probes start with.
M.prelude = 'local ds = require("diffsim"); ds.init{precision = os.getenv("PROBE_PRECISION") or "f64", threads = 2}\n'

return M
