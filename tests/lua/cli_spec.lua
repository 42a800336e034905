-- The common script flags: parsed, validated, and the output conventions.
local root = os.getenv("DIFFSIM_ROOT") or "."

local function run(args, env)
  local script = os.tmpname() .. ".lua"
  local f = assert(io.open(script, "w"))
  f:write([[
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "t", iters = 3, out = os.getenv("TMPDIR_T") or "/tmp/ds_cli_t", flags = {lr = 0.5, toi = true}, checks = {lr = {help = "rate"}, toi = {help = "contact"}}})
print(opt.iters, opt.lr, tostring(opt.toi), opt.precision, ds.precision, opt.reference)
cli.iter(1, 0.25)
cli.result("t", "x", 1.5)
print("check " .. tostring(opt.check))
cli.check(opt, "t", os.getenv("T_CHECK_OK") == "1", "the loss did not fall")
print("after check")
]])
  f:close()
  local p = io.popen((env or "") .. " luajit " .. script .. " " .. args .. " 2>&1; echo rc=$?")
  local out = p:read("*a")
  p:close()
  os.remove(script)
  return out
end

describe("cli", function()
  it("parses common and script flags", function()
    local out = run("--iters 7 --lr 0.1 --no-toi --precision f64 --reference")
    assert.matches("7\t0.1\tfalse\tf64\tf64\ttrue", out, 1, true)
    assert.matches("iter 1 loss 0.25", out, 1, true)
    assert.matches("result t x 1.5", out, 1, true)
    assert.matches("rc=0", out, 1, true)
  end)
  it("runs the success check at the default --iters or with --check, not otherwise", function()
    -- the spec's default is --iters 3
    local out = run("")
    assert.matches("check true", out, 1, true)
    assert.matches("t: check failed: the loss did not fall", out, 1, true)
    assert.matches("rc=1", out, 1, true)
    out = run("", "T_CHECK_OK=1")
    assert.matches("after check", out, 1, true)
    assert.matches("rc=0", out, 1, true)
    out = run("--iters 2")
    assert.matches("check false", out, 1, true)
    assert.matches("after check", out, 1, true)
    assert.matches("rc=0", out, 1, true)
    out = run("--iters 2 --check")
    assert.matches("check failed", out, 1, true)
    assert.matches("rc=1", out, 1, true)
    out = run("--no-check")
    assert.matches("check false", out, 1, true)
    assert.matches("rc=0", out, 1, true)
  end)
  it("rejects unknown flags and bad values with exit code 2", function()
    local out = run("--bogus")
    assert.matches("unknown flag --bogus", out, 1, true)
    assert.matches("rc=2", out, 1, true)
    out = run("--iters many")
    assert.matches("--iters expects an integer", out, 1, true)
    out = run("--precision f16")
    assert.matches("--precision expects one of f32, f64", out, 1, true)
  end)
end)

-- cli.train's `reject`: an update whose rollout a physics check refuses is
-- undone and retried at half the learning rate; other errors propagate.
describe("cli.train reject", function()
  local ds = require("diffsim")
  local cli = require("diffsim.cli")
  local function quiet_opt(iters) return {iters = iters, out = "/tmp/ds_cli_reject"} end
  -- loss (p - 3)^2 from p = 0 with lr 2 jumps past 3 to 12: refused beyond 5
  local function loss_fn(p)
    return function()
      local v = p:item()
      if v > 5 then error("mpm.substep: argument 'v': particle 0 moves too far (CFL limit); reduce 'dt'") end
      local d = p - 3
      return ds.sum(d * d)
    end
  end
  it("undoes a refused update, halves the rate and reaches the minimum", function()
    local p = ds.tensor{0}:requires_grad()
    local gd = ds.optim.gd({p}, {lr = 2})
    local losses = cli.train(ds, quiet_opt(8), "t", gd, loss_fn(p), nil, {reject = "CFL limit"})
    assert.equals(8, #losses)
    assert.is_true(gd.lr < 2)                       -- halved at least once
    assert.is_true(losses[8] < 1e-6)                -- and it still converged
    for i = 1, 8 do assert.is_true(losses[i] == losses[i]) end
  end)
  it("lets other errors through, and without `reject` every error", function()
    local p = ds.tensor{0}:requires_grad()
    local gd = ds.optim.gd({p}, {lr = 2})
    assert.has_error(function() cli.train(ds, quiet_opt(4), "t", gd, loss_fn(p), nil, {reject = "NaN state"}) end)
    p:copy_(ds.tensor{0})
    gd.lr = 2
    assert.has_error(function() cli.train(ds, quiet_opt(4), "t", gd, loss_fn(p)) end)
  end)
  it("refuses unknown options and a non-string pattern", function()
    local p = ds.tensor{0}:requires_grad()
    local gd = ds.optim.gd({p}, {lr = 0.1})
    assert.has_error(function() cli.train(ds, quiet_opt(1), "t", gd, loss_fn(p), nil, {retry = 3}) end,
      nil)
    local ok, err = pcall(cli.train, ds, quiet_opt(1), "t", gd, loss_fn(p), nil, {reject = 5})
    assert.is_false(ok)
    assert.matches("cli.train", tostring(err), 1, true)
  end)
end)
