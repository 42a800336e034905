-- The flags every script shares, and its output conventions.
--
--   local cli = require("diffsim.cli")
--   local opt, ds = cli.parse(arg, {name = "wave", iters = 200, out = "out/wave",
--                                   flags = {lr = 1.0, solver = "jacobi", toi = true},
--                                   checks = {lr = {gt = 0, help = "GD learning rate"},
--                                             solver = {"jacobi", "cg", help = "pressure solver"},
--                                             toi = {help = "time-of-impact contact"}}})
--
-- Common flags: --iters N --out DIR --seed S --threads T --precision f32|f64
-- --reference --check, plus the script's own (--name value or --name=value, or --name /
-- --no-name for booleans). A flag's type is its default's; `checks` narrows a
-- flag: {int = true, ge =, gt =, le =, lt =} for numbers, a list of strings for
-- a choice, {nonempty = true} for strings, and `help`: the one-line text
-- --help shows, required for every script flag (a flag without one is a spec
-- error naming the script and the flag).
--
-- Every flag is validated before any work: an unknown flag, a missing or
-- malformed value, a value out of range (--iters -1, --threads 5000), or an
-- --out directory that cannot be created or written (checked by writing a probe
-- file) ends the process with exit code 2 and ONE line on stderr naming the flag
-- and what is expected. --help prints the flags and exits 0. Then diffsim is
-- initialised with the precision and threads asked for.
--
-- When a script calls cli.parse(arg, ...) from its main chunk, the rest of the
-- script runs under an error handler: an error raised anywhere in the run ends
-- the process with exit code 1 and one line on stderr, `<name>: error: <message>`,
-- without a Lua stack traceback (set DIFFSIM_TRACEBACK=1 to get one).
-- Scripts print `iter <n> loss <value>` per iteration and `result <name> <value>`
-- lines at the end; cli.iter and cli.result keep that format in one place. The
-- result names follow one scheme (docs/scripts.md): loss_initial, loss_final,
-- loss_reduction, ms_per_iter, peak_mb, then the script's own in snake_case.
--
-- opt.check says whether the script's built-in success check ("the loss fell",
-- "fell tenfold") should run: --check / --no-check decide; without either it
-- runs only at the script's default --iters, because a short smoke run
-- (--iters 3) cannot be expected to reach what the full run does.
local M = {}

local COMMON = {
  iters = {type = "number", int = true, ge = 0, le = 1e9, help = "iterations"},
  out = {type = "string", nonempty = true, help = "output directory (created; must be writable)"},
  seed = {type = "number", int = true, ge = 0, le = 2147483647, help = "random seed"},
  threads = {type = "number", int = true, ge = 0, le = 1024, help = "worker threads (0: all free cores)"},
  precision = {type = "string", choices = {"f32", "f64"}, help = "floating-point precision"},
  reference = {type = "boolean", help = "reference-suite semantics (SCENES.md)"},
  check = {type = "boolean", help = "run the script's success check (exit 1 when the run falls short)"},
}
local COMMON_ORDER = {"iters", "out", "seed", "threads", "precision", "reference", "check"}
local SPEC_KEYS = {name = true, script = true, iters = true, out = true, seed = true, precision = true,
                   threads = true, flags = true, checks = true, help = true, wrap = true}
local CHECK_KEYS = {int = true, ge = true, gt = true, le = true, lt = true, nonempty = true, help = true}

local function spec_error(msg) require("diffsim.options").raise("cli.parse: " .. msg) end

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Creates dir and checks that a file can be written in it (by writing and then
-- removing a probe file). Returns nil when it can, else the reason.
function M.writable_dir(dir)
  if type(dir) ~= "string" or dir == "" then return "not a directory name" end
  local r = os.execute("mkdir -p " .. quote(dir) .. " 2>/dev/null")
  if not (r == 0 or r == true) then
    local f = io.open(dir, "rb")
    if f then
      f:close()
      local d = io.open(dir .. "/.", "rb")
      if d then d:close() else return "it exists and is not a directory" end
    end
    return "cannot create the directory"
  end
  local probe = dir .. "/.diffsim_write_probe"
  local f, err = io.open(probe, "wb")
  if not f then
    local why = tostring(err):match(":%s*([^:]+)$") or tostring(err)
    return "cannot write a file in it (" .. why .. ")"
  end
  local ok = f:write("x")
  local closed = f:close()
  os.remove(probe)
  if not ok or not closed then return "cannot write a file in it" end
  return nil
end

-- What a flag accepts, in words (for errors and --help).
local function expects(c)
  if c.type == "boolean" then return "no value (use --name or --no-name)" end
  if c.choices then
    local q = {}
    for i, v in ipairs(c.choices) do q[i] = v == "" and "''" or v end
    return "one of " .. table.concat(q, ", ")
  end
  if c.type == "string" then return c.nonempty and "a non-empty string" or "a string" end
  local function g(x) return string.format("%.10g", x) end
  if c.ge and c.le and not c.gt and not c.lt then
    return (c.int and "an integer" or "a number") .. " from " .. g(c.ge) .. " to " .. g(c.le)
  end
  local parts = {c.int and "an integer" or "a finite number"}
  local bounds = {}
  if c.ge then bounds[#bounds + 1] = ">= " .. g(c.ge) end
  if c.gt then bounds[#bounds + 1] = "> " .. g(c.gt) end
  if c.le then bounds[#bounds + 1] = "<= " .. g(c.le) end
  if c.lt then bounds[#bounds + 1] = "< " .. g(c.lt) end
  if #bounds > 0 then parts[#parts + 1] = table.concat(bounds, " and ") end
  return table.concat(parts, " ")
end

-- The checks of every flag: {type, int, ge, ..., choices, help}.
local function flag_table(spec)
  local flags = spec.flags or {}
  if type(flags) ~= "table" then spec_error("'flags' must be a table of defaults") end
  local checks = spec.checks or {}
  if type(checks) ~= "table" then spec_error("'checks' must be a table") end
  local out = {}
  for k, c in pairs(COMMON) do
    local t = {}
    for kk, v in pairs(c) do t[kk] = v end
    out[k] = t
  end
  for k, v in pairs(flags) do
    if type(k) ~= "string" or not k:match("^[%a][%w_]*$") then spec_error("flag name " .. tostring(k) .. " is not a name") end
    if COMMON[k] then spec_error("flag '" .. k .. "' is a common flag; set its default in the spec") end
    local tv = type(v)
    if tv ~= "number" and tv ~= "string" and tv ~= "boolean" then
      spec_error("the default of flag '" .. k .. "' must be a number, string or boolean")
    end
    out[k] = {type = tv}
  end
  for k, c in pairs(checks) do
    local f = out[k]
    if not f then spec_error("checks name an unknown flag '" .. tostring(k) .. "'") end
    if type(c) ~= "table" then spec_error("checks." .. k .. " must be a table") end
    if c[1] ~= nil then
      if f.type ~= "string" then spec_error("checks." .. k .. ": a list of choices needs a string flag") end
      f.choices = {}
      for i, v in ipairs(c) do f.choices[i] = v end
    end
    for kk, v in pairs(c) do
      if type(kk) == "string" then
        if not CHECK_KEYS[kk] then spec_error("checks." .. k .. ": unknown check '" .. kk .. "'") end
        f[kk] = v
      end
    end
  end
  -- every script flag says what it does in --help
  local own = {}
  for k in pairs(flags) do own[#own + 1] = k end
  table.sort(own)
  for _, k in ipairs(own) do
    local h = out[k].help
    if type(h) ~= "string" or not h:match("%S") or h:find("\n") then
      spec_error(string.format("%s: flag --%s has no help text (give checks.%s = {help = \"what it does, its unit\"})",
        spec.script or spec.name or "script", k:gsub("_", "-"), k))
    end
  end
  return out
end

local function usage(spec, fl)
  local lines = {"usage: diffsim " .. (spec.script or "script.lua") .. " [flags]"}
  if spec.help then lines[#lines + 1] = spec.help end
  lines[#lines + 1] = "flags:"
  local names = {}
  for _, k in ipairs(COMMON_ORDER) do names[#names + 1] = k end
  local own = {}
  for k in pairs(fl) do if not COMMON[k] then own[#own + 1] = k end end
  table.sort(own)
  for _, k in ipairs(own) do names[#names + 1] = k end
  for _, k in ipairs(names) do
    local c = fl[k]
    local flag = "--" .. k:gsub("_", "-")
    local arg = c.type == "boolean" and "" or (c.type == "number" and (c.int and " N" or " X") or " S")
    local def = c.default
    local dtext
    if k == "check" then dtext = "on at the default --iters, else off"
    elseif c.type == "boolean" then dtext = def and "on; --no-" .. k:gsub("_", "-") .. " turns it off" or "off"
    elseif def == nil then dtext = k == "threads" and "all free cores" or "none"
    else dtext = type(def) == "string" and (def == "" and "''" or def) or string.format("%.10g", def) end
    local what = c.type ~= "boolean" and expects(c) or nil
    lines[#lines + 1] = string.format("  %-22s %s%s(default %s)", flag .. arg, c.help and (c.help .. "; ") or "",
      what and (what .. "; ") or "", dtext)
  end
  lines[#lines + 1] = "  --help                 print this and exit"
  return table.concat(lines, "\n")
end

-- The one line a usage error prints, then exit 2.
local function fail(spec, msg)
  io.stderr:write((spec.name or "diffsim") .. ": error: " .. msg .. " (see --help)\n")
  io.stderr:flush()
  os.exit(2)
end

local function finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end

-- Is v acceptable for flag c? (number flags get numbers, etc.)
local function valid(c, v)
  if c.type == "boolean" then return type(v) == "boolean" end
  if c.type == "string" then
    if type(v) ~= "string" then return false end
    if c.nonempty and v == "" then return false end
    if c.choices then
      for _, x in ipairs(c.choices) do if x == v then return true end end
      return false
    end
    return true
  end
  if not finite(v) then return false end
  if c.int and v ~= math.floor(v) then return false end
  if c.ge and not (v >= c.ge) then return false end
  if c.gt and not (v > c.gt) then return false end
  if c.le and not (v <= c.le) then return false end
  if c.lt and not (v < c.lt) then return false end
  return true
end

local running -- {opt, ds} while cli.parse runs the script body under its handler

-- The script's main chunk called cli.parse(arg, ...): rerun its body under the
-- error handler (the body's own call to cli.parse returns the parsed options).
local function wrappable(argv, spec)
  if spec.wrap == false or argv ~= _G.arg or type(argv) ~= "table" or type(argv[0]) ~= "string" then return false end
  local info = debug.getinfo(3, "S")
  return info and info.what == "main" and info.source == "@" .. argv[0]
end

local function run_wrapped(argv, spec, opt, ds)
  local chunk, err = loadfile(argv[0])
  if not chunk then
    io.stderr:write((spec.name or "diffsim") .. ": error: " .. tostring(err) .. "\n")
    os.exit(1)
  end
  running = {opt = opt, ds = ds}
  local trace = os.getenv("DIFFSIM_TRACEBACK")
  trace = trace ~= nil and trace ~= "" and trace ~= "0"
  local ok, msg = xpcall(chunk, function(e)
    local m = type(e) == "string" and e or tostring(e)
    if trace then m = debug.traceback(m, 2) end
    return m
  end, unpack(argv, 1, #argv))
  io.stdout:flush()
  if not ok then
    if not trace then msg = msg:gsub("%s*\n%s*", "; ") end
    io.stderr:write((spec.name or "diffsim") .. ": error: " .. msg .. "\n")
    io.stderr:flush()
    os.exit(1)
  end
  os.exit(0)
end

function M.parse(argv, spec)
  if running then return running.opt, running.ds end
  spec = spec or {}
  if type(spec) ~= "table" then spec_error("the spec must be a table") end
  for k in pairs(spec) do
    if not SPEC_KEYS[k] then
      local names = {}
      for n in pairs(SPEC_KEYS) do names[#names + 1] = n end
      table.sort(names)
      spec_error("unknown spec key '" .. tostring(k) .. "' (valid: " .. table.concat(names, ", ") .. ")")
    end
  end
  argv = argv or {}
  if type(argv) ~= "table" then spec_error("argv must be a list of strings (the script's arg)") end
  local fl = flag_table(spec)
  local opt = {iters = spec.iters or 10, out = spec.out or ("out/" .. (spec.name or "run")), seed = spec.seed or 0,
               threads = spec.threads, precision = spec.precision or "f32", reference = false, check = false}
  for k, v in pairs(spec.flags or {}) do opt[k] = v end
  for k, c in pairs(fl) do c.default = opt[k] end
  -- the defaults must pass the checks too (a script's own mistake)
  for k, c in pairs(fl) do
    if opt[k] ~= nil and not valid(c, opt[k]) then
      spec_error("the default of --" .. k .. " (" .. tostring(opt[k]) .. ") is not " .. expects(c))
    end
  end
  local function name_of(key)
    local list = {}
    for k in pairs(fl) do list[#list + 1] = "--" .. k:gsub("_", "-") end
    table.sort(list)
    return table.concat(list, " ")
  end
  local given = {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if type(a) ~= "string" then fail(spec, "argument " .. i .. " is not a string") end
    if a == "-h" or a == "--help" then
      print(usage(spec, fl))
      io.stdout:flush()
      os.exit(0)
    end
    local name, inline = a:match("^%-%-([%w][%w%-_]*)=(.*)$")
    if not name then name = a:match("^%-%-([%w][%w%-_]*)$") end
    if not name then
      local prev = i > 1 and type(argv[i - 1]) == "string" and argv[i - 1]:match("^%-%-([%w][%w%-_]*)$")
      local pk = prev and prev:gsub("-", "_")
      local pneg = pk and pk:match("^no_(.+)$")
      if pk and ((fl[pk] and fl[pk].type == "boolean") or (pneg and fl[pneg] and fl[pneg].type == "boolean")) then
        local base = (fl[pk] and pk or pneg):gsub("_", "-")
        fail(spec, "unexpected argument '" .. a .. "': --" .. base .. " is a switch and takes no value (use --" ..
          base .. " or --no-" .. base .. ")")
      end
      fail(spec, "unexpected argument '" .. a .. "'; flags start with -- (" .. name_of() .. ")")
    end
    local key = name:gsub("-", "_")
    local neg = key:match("^no_(.+)$")
    local c = fl[key]
    if not c and neg and fl[neg] and fl[neg].type == "boolean" then
      if inline then fail(spec, "--" .. name .. " takes no value") end
      opt[neg], given[neg] = false, true
    elseif not c then
      fail(spec, "unknown flag --" .. name .. " (known: " .. name_of() .. ")")
    elseif c.type == "boolean" then
      if inline == nil then
        opt[key] = true
      elseif inline == "true" or inline == "1" or inline == "yes" or inline == "on" then
        opt[key] = true
      elseif inline == "false" or inline == "0" or inline == "no" or inline == "off" then
        opt[key] = false
      else
        fail(spec, "--" .. name .. " is a switch: use --" .. name .. " or --no-" .. name .. ", got '" .. inline .. "'")
      end
      given[key] = true
    else
      local v = inline
      if v == nil then
        v = argv[i + 1]
        if v == nil or (type(v) == "string" and v:match("^%-%-[%a]")) then
          fail(spec, "--" .. name .. " needs a value: " .. expects(c))
        end
        i = i + 1
      end
      if c.type == "number" then
        local x = tonumber(v)
        if x == nil or not finite(x) then
          fail(spec, "--" .. name .. " expects " .. expects(c) .. ", got '" .. tostring(v) .. "'")
        end
        v = x
      end
      if not valid(c, v) then
        fail(spec, "--" .. name .. " expects " .. expects(c) .. ", got '" .. tostring(v) .. "'")
      end
      opt[key], given[key] = v, true
    end
    i = i + 1
  end
  -- the success check: asked for, refused, or on exactly at the default length
  if not given.check then opt.check = opt.iters == (spec.iters or 10) end
  -- the output directory: created, and a file must be writable in it
  local why = M.writable_dir(opt.out)
  if why then fail(spec, "--out '" .. opt.out .. "' is not a writable directory: " .. why) end
  local ok, ds = pcall(require, "diffsim")
  if ok then ok, ds = pcall(ds.init, {precision = opt.precision, threads = opt.threads}) end
  if not ok then
    io.stderr:write((spec.name or "diffsim") .. ": error: " .. tostring(ds):gsub("%s*\n%s*", "; ") .. "\n")
    os.exit(1)
  end
  if wrappable(argv, spec) then run_wrapped(argv, spec, opt, ds) end
  return opt, ds
end

local function arg_check(who, name, ok, want, v)
  if not ok then
    require("diffsim.options").raise(string.format("%s: argument '%s' must be %s, got %s", who, name, want,
      type(v) == "string" and "'" .. v .. "'" or tostring(v)))
  end
end

-- A new options table: base's entries, then extra's (a script's shared step
-- options plus one call's own, e.g. frames = {}); options tables are plain.
function M.with(base, extra)
  local out = {}
  for k, v in pairs(base or {}) do out[k] = v end
  for k, v in pairs(extra or {}) do out[k] = v end
  return out
end

function M.iter(n, loss, extra)
  arg_check("cli.iter", "n", type(n) == "number" and n == math.floor(n), "an integer", n)
  arg_check("cli.iter", "loss", type(loss) == "number", "a number", loss)
  arg_check("cli.iter", "extra", extra == nil or type(extra) == "string", "a string", extra)
  require("diffsim.progress").clear() -- a bar on the terminal is redrawn below the line
  print(string.format("iter %d loss %.9g%s", n, loss, extra and (" " .. extra) or ""))
  io.stdout:flush()
end

function M.result(name, ...)
  arg_check("cli.result", "name", type(name) == "string" and name ~= "", "a non-empty string", name)
  require("diffsim.progress").clear()
  local parts = {"result", name}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    arg_check("cli.result", "value " .. i, type(v) == "number" or type(v) == "string" or type(v) == "boolean",
      "a number, string or boolean", v)
    parts[#parts + 1] = type(v) == "number" and string.format("%.9g", v) or tostring(v)
  end
  print(table.concat(parts, " "))
  io.stdout:flush()
end

-- Writes loss.csv and loss.png for a list of losses (one per iteration).
-- NaN losses are written as "nan" in the CSV and left out of the plot. The
-- plot is titled with the script's name (opts.title, else the --out folder's
-- name) and uses a log y axis when every loss is positive and they span more
-- than a decade. opts: title, ylabel (default "loss").
function M.write_losses(ds, out, losses, opts)
  arg_check("cli.write_losses", "ds", type(ds) == "table" and ds.io ~= nil, "the diffsim module", ds)
  arg_check("cli.write_losses", "out", type(out) == "string" and out ~= "", "a directory name", out)
  arg_check("cli.write_losses", "losses", type(losses) == "table", "a list of numbers", losses)
  opts = opts or {}
  arg_check("cli.write_losses", "opts", type(opts) == "table", "a table {title =, ylabel =}", opts)
  local rows = {}
  for i, l in ipairs(losses) do rows[i] = {i, l} end
  ds.io.write_csv(out .. "/loss.csv", {"iter", "loss"}, rows)
  if #losses == 0 then return end
  local positive, lo, hi = true, math.huge, -math.huge
  for _, l in ipairs(losses) do
    if not (l > 0) then positive = false end
    if l == l and math.abs(l) ~= math.huge then lo, hi = math.min(lo, l), math.max(hi, l) end
  end
  local log = positive and hi > 10 * lo
  local name = opts.title or (out:gsub("/+$", ""):match("([^/]+)$") or out)
  ds.io.plot_png(out .. "/loss.png", losses, {log = log, title = name .. ": loss per iteration",
    xlabel = "iteration", ylabel = opts.ylabel or "loss"})
end

-- The optimisation loop of a script: each iteration zeroes the grads, records
-- loss_fn(tape) on the tape, back-propagates, stops on a NaN loss, calls
-- on_iter(it, loss, extra...) with whatever loss_fn returned after the loss,
-- prints the iter line, advances the progress bar and steps the optimizer.
-- Returns the losses and the seconds the loop took.
-- train_opts.reject (a Lua pattern): a rollout failing with a matching error
-- (a physics check refusing the state the last update led to) undoes that
-- update, halves optimizer.lr, steps again along the last gradient and reruns
-- the iteration (at most 10 times in a row; an `iter N rejected: ...` line
-- says so). Any other error propagates.
function M.train(ds, opt, name, optimizer, loss_fn, on_iter, train_opts)
  train_opts = ds.check_options("cli.train", train_opts, {"reject"})
  local reject = train_opts.reject
  arg_check("cli.train", "train_opts.reject", reject == nil or type(reject) == "string",
    "a Lua pattern of the errors that reject an update", reject)
  local losses, tape = {}, ds.tape()
  local bar = ds.progress.new(opt.iters, name)
  local t0 = ds.now()
  -- With `reject`, the parameters before each update are kept: when the next
  -- rollout fails with a matching error (a physics check refusing the state
  -- the update led to, e.g. MPM's CFL limit), the update is undone, the
  -- learning rate halved and the iteration run again.
  local before, tries = nil, 0
  local it = 1
  while it <= opt.iters do
    local ok, res = pcall(function() return {tape:record(loss_fn, tape)} end)
    if not ok then
      tape:clear()
      local msg = tostring(res)
      if not (reject and before and msg:match(reject) and tries < 10) then error(res, 0) end
      tries = tries + 1
      for i, p in ipairs(optimizer.params) do p:copy_(before[i]) end
      optimizer.lr = optimizer.lr / 2
      require("diffsim.progress").clear()
      print(string.format("iter %d rejected: the update led to: %s; learning rate halved to %.6g", it,
        msg:gsub("\n.*", ""), optimizer.lr))
      optimizer:step() -- the last gradient again, half the step (meant for plain gradient descent)
    else
      tries = 0
      optimizer:zero_grad()
      tape:backward(res[1])
      local l = res[1]:item()
      M.check_loss(name, it, l)
      losses[it] = l
      if on_iter then on_iter(it, l, unpack(res, 2, table.maxn(res))) end
      M.iter(it, l)
      bar:update(it, l)
      if reject then
        before = before or {}
        for i, p in ipairs(optimizer.params) do
          if before[i] then before[i]:copy_(p) else before[i] = p:detach() end
        end
      end
      optimizer:step()
      it = it + 1
    end
  end
  bar:done()
  return losses, ds.now() - t0
end

-- Stops the script (exit 1) when an iteration's loss is NaN.
function M.check_loss(name, it, loss)
  if loss ~= loss then
    io.stderr:write(string.format("%s: the loss became NaN at iteration %d (learning rate too large?)\n", name, it))
    os.exit(1)
  end
end

-- A script's success check: when opt.check is on (see cli.parse) and ok is
-- false, one line `<name>: check failed: <why>` on stderr and exit 1.
function M.check(opt, name, ok, why)
  arg_check("cli.check", "opt", type(opt) == "table", "the options from cli.parse", opt)
  if opt.check and not ok then
    require("diffsim.progress").clear()
    io.stdout:flush()
    io.stderr:write(name .. ": check failed: " .. why .. "\n")
    io.stderr:flush()
    os.exit(1)
  end
end

-- The end of an optimisation script: loss.csv and loss.png, the standard
-- result lines (first and final loss, their ratio, ms per iteration), the
-- script's own `extra` result lines ({name, values...} each), and, under
-- opt.check, exit 1 when iterations ran but the loss did not fall.
function M.finish(ds, opt, name, losses, final_loss, secs, extra)
  if #losses > 0 then M.write_losses(ds, opt.out, losses, {title = name}) end
  local l0 = losses[1] or final_loss
  M.result("loss_initial", l0)
  M.result("loss_final", final_loss)
  M.result("loss_reduction", l0 / final_loss)
  M.result("ms_per_iter", 1000 * secs / math.max(opt.iters, 1))
  for _, r in ipairs(extra or {}) do M.result(unpack(r)) end
  M.check(opt, name, opt.iters == 0 or final_loss < l0, "the loss did not decrease")
end

return M
