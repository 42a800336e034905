-- The common script flags: parsed, validated, and the output conventions.
local root = os.getenv("DIFFSIM_ROOT") or "."

local function run(args)
  local script = os.tmpname() .. ".lua"
  local f = assert(io.open(script, "w"))
  f:write([[
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "t", iters = 3, out = os.getenv("TMPDIR_T") or "/tmp/ds_cli_t", flags = {lr = 0.5, toi = true}})
print(opt.iters, opt.lr, tostring(opt.toi), opt.precision, ds.precision, opt.reference)
cli.iter(1, 0.25)
cli.result("t", "x", 1.5)
]])
  f:close()
  local p = io.popen("luajit " .. script .. " " .. args .. " 2>&1; echo rc=$?")
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
