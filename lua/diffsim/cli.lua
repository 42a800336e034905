-- The flags every script shares, and its output conventions.
--
--   local cli = require("diffsim.cli")
--   local opt, ds = cli.parse(arg, {name = "wave", iters = 200, out = "out/wave",
--                                   flags = {lr = 1.0, solver = "jacobi", toi = true}})
--
-- Common flags: --iters N --out DIR --seed S --threads T --precision f32|f64
-- --reference, plus the script's own (--name value, or --name / --no-name for
-- booleans). It initialises diffsim with the precision and threads asked for,
-- creates the output directory, and returns the options and the ds module.
-- Scripts print `iter <n> loss <value>` per iteration and `result <name> <value>`
-- lines at the end; cli.iter and cli.result keep that format in one place.
local M = {}

local function usage(spec)
  local lines = {"usage: diffsim " .. (spec.script or "script.lua") ..
    " [--iters N] [--out DIR] [--seed S] [--threads T] [--precision f32|f64] [--reference]"}
  local names = {}
  for k in pairs(spec.flags or {}) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do
    lines[#lines + 1] = string.format("  --%s (default %s)", k:gsub("_", "-"), tostring(spec.flags[k]))
  end
  return table.concat(lines, "\n")
end

function M.parse(argv, spec)
  spec = spec or {}
  local opt = {iters = spec.iters or 10, out = spec.out or ("out/" .. (spec.name or "run")), seed = spec.seed or 0,
               threads = nil, precision = spec.precision or "f32", reference = false}
  local flags = spec.flags or {}
  for k, v in pairs(flags) do opt[k] = v end
  local known = {iters = "number", out = "string", seed = "number", threads = "number", precision = "string",
                 reference = "boolean"}
  for k, v in pairs(flags) do known[k] = type(v) end
  local i = 1
  argv = argv or {}
  while i <= #argv do
    local a = argv[i]
    if a == "-h" or a == "--help" then
      print(usage(spec))
      os.exit(0)
    end
    local name = a:match("^%-%-([%w%-_]+)$")
    if not name then
      io.stderr:write("error: unexpected argument '" .. a .. "'\n" .. usage(spec) .. "\n")
      os.exit(2)
    end
    local key = name:gsub("-", "_")
    local neg = key:match("^no_(.+)$")
    if neg and known[neg] == "boolean" then
      opt[neg] = false
    elseif known[key] == "boolean" then
      opt[key] = true
    elseif known[key] then
      local v = argv[i + 1]
      if v == nil then
        io.stderr:write("error: --" .. name .. " needs a value\n")
        os.exit(2)
      end
      if known[key] == "number" then
        v = tonumber(v)
        if not v then
          io.stderr:write("error: --" .. name .. " needs a number, got '" .. argv[i + 1] .. "'\n")
          os.exit(2)
        end
      end
      opt[key] = v
      i = i + 1
    else
      io.stderr:write("error: unknown flag --" .. name .. "\n" .. usage(spec) .. "\n")
      os.exit(2)
    end
    i = i + 1
  end
  if opt.precision ~= "f32" and opt.precision ~= "f64" then
    io.stderr:write("error: --precision must be f32 or f64\n")
    os.exit(2)
  end
  local ds = require("diffsim")
  ds.init{precision = opt.precision, threads = opt.threads}
  ds.io.mkdir(opt.out)
  return opt, ds
end

function M.iter(n, loss, extra)
  print(string.format("iter %d loss %.9g%s", n, loss, extra and (" " .. extra) or ""))
  io.stdout:flush()
end

function M.result(name, ...)
  local parts = {"result", name}
  for _, v in ipairs({...}) do parts[#parts + 1] = type(v) == "number" and string.format("%.9g", v) or tostring(v) end
  print(table.concat(parts, " "))
  io.stdout:flush()
end

-- Writes loss.csv and loss.png for a list of losses (one per iteration).
function M.write_losses(ds, out, losses, extra_cols)
  local rows = {}
  for i, l in ipairs(losses) do rows[i] = {i, l} end
  ds.io.write_csv(out .. "/loss.csv", {"iter", "loss"}, rows)
  local positive = true
  for _, l in ipairs(losses) do if l <= 0 then positive = false end end
  ds.io.plot_png(out .. "/loss.png", losses, {log = positive})
end

-- The optimisation loop of a script: each iteration zeroes the grads, records
-- loss_fn(tape) on the tape, back-propagates, stops on a NaN loss, calls
-- on_iter(it, loss, extra...) with whatever loss_fn returned after the loss,
-- prints the iter line, advances the progress bar and steps the optimizer.
-- Returns the losses and the seconds the loop took.
function M.train(ds, opt, name, optimizer, loss_fn, on_iter)
  local losses, tape = {}, ds.tape()
  local bar = ds.progress.new(opt.iters, name)
  local t0 = ds.now()
  for it = 1, opt.iters do
    optimizer:zero_grad()
    local res = {tape:record(loss_fn, tape)}
    tape:backward(res[1])
    local l = res[1]:item()
    M.check_loss(name, it, l)
    losses[it] = l
    if on_iter then on_iter(it, l, unpack(res, 2, table.maxn(res))) end
    M.iter(it, l)
    bar:update(it)
    optimizer:step()
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

-- The end of an optimisation script: loss.csv and loss.png, the standard
-- result lines (first and final loss, their ratio, ms per iteration), the
-- script's own `extra` result lines ({name, values...} each), and exit 1 when
-- iterations ran but the loss did not fall.
function M.finish(ds, opt, name, losses, final_loss, secs, extra)
  if #losses > 0 then M.write_losses(ds, opt.out, losses) end
  local l0 = losses[1] or final_loss
  M.result("loss_initial", l0)
  M.result("loss_final", final_loss)
  M.result("loss_reduction", l0 / final_loss)
  M.result("ms_per_iter", 1000 * secs / math.max(opt.iters, 1))
  for _, r in ipairs(extra or {}) do M.result(unpack(r)) end
  if opt.iters > 0 and not (final_loss < l0) then
    io.stderr:write(name .. ": the loss did not decrease\n")
    os.exit(1)
  end
end

return M
