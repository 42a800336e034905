-- Script flags through diffsim.cli: every bad flag ends the process before any
-- work with exit code 2 and ONE line on stderr naming the flag and what it
-- expects; an error during the run ends it with exit code 1 and one line, no
-- stack traceback; --help prints the flags.
local root = os.getenv("DIFFSIM_ROOT") or "."
local luajit = arg and arg[-1] or "luajit"
if not luajit:find("luajit") then luajit = "luajit" end
local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p '" .. tmp .. "'")

local function sh(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end

-- A script that parses flags, then does what its --what flag says.
local script = tmp .. "/t.lua"
do
  local f = assert(io.open(script, "w"))
  f:write([[
local cli = require("diffsim.cli")
local opt, ds = cli.parse(arg, {name = "t", iters = 3, out = os.getenv("T_OUT"), precision = "f64",
  flags = {lr = 0.5, toi = true, n = 8, solver = "jacobi", what = "ok"},
  checks = {lr = {gt = 0, help = "learning rate"}, n = {int = true, ge = 2, help = "size"},
            solver = {"jacobi", "cg", help = "solver"}, toi = {help = "contact"}, what = {help = "what to do"}}})
io.stderr:write("started\n")
if opt.what == "raise" then ds.optim.adam({ds.zeros{2}}, {learning_rate = 1}) end
if opt.what == "index" then local t = nil; return t.x end
if opt.what == "deep" then local function f(d) if d == 0 then error("deep failure") end return f(d - 1) + 1 end f(50) end
print(opt.iters, opt.lr, tostring(opt.toi), opt.n, opt.solver, opt.precision, ds.precision, opt.threads)
]])
  f:close()
end

local function run(args, out)
  local o, e = tmp .. "/stdout", tmp .. "/stderr"
  local cmd = "T_OUT=" .. sh(out or (tmp .. "/out")) .. " " .. sh(luajit) .. " " .. sh(script) .. " " .. args ..
              " >" .. sh(o) .. " 2>" .. sh(e) .. "; echo $?"
  local p = io.popen(cmd)
  local rc = tonumber(p:read("*a"))
  p:close()
  return rc, read_all(o), read_all(e)
end

-- exit code 2, one line on stderr holding `text`, nothing started
local function refused(args, text, out)
  local rc, _, err = run(args, out)
  assert.are.equal(2, rc, args .. ": " .. err)
  local _, lines = err:gsub("\n", "")
  assert.are.equal(1, lines, "expected one line on stderr, got:\n" .. err)
  assert.matches(text, err, 1, true)
  assert.is_nil(err:find("traceback", 1, true))
  assert.is_nil(err:find("started", 1, true))
end

describe("cli flags", function()
  it("good flags, --name=value and --no-name", function()
    local rc, out, err = run("--iters 7 --lr=0.1 --no-toi --n 16 --solver cg --threads 2")
    assert.are.equal(0, rc, err)
    assert.matches("7\t0.1\tfalse\t16\tcg\tf64\tf64\t2", out, 1, true)
  end)

  it("bad common flags", function()
    refused("--iters -1", "t: error: --iters expects an integer from 0 to 1000000000, got '-1'")
    refused("--iters 2.5", "--iters expects an integer")
    refused("--iters many", "--iters expects an integer")
    refused("--iters nan", "--iters expects an integer")
    refused("--iters 1e999", "--iters expects an integer")
    refused("--iters", "--iters needs a value")
    refused("--iters --lr 1", "--iters needs a value")
    refused("--threads 5000", "--threads expects an integer from 0 to 1024, got '5000'")
    refused("--threads -2", "--threads expects an integer")
    refused("--seed -1", "--seed expects an integer")
    refused("--precision f16", "--precision expects one of f32, f64, got 'f16'")
    refused("--out ''", "--out expects a non-empty string")
    refused("--reference=maybe", "--reference is a switch")
    refused("--no-iters", "unknown flag --no-iters")
  end)

  it("unknown flags and stray arguments", function()
    refused("--bogus", "t: error: unknown flag --bogus (known: ")
    refused("--learning-rate 0.1", "unknown flag --learning-rate")
    refused("extra", "unexpected argument 'extra'")
    refused("-i 3", "unexpected argument '-i'")
  end)

  it("the script's own flags are checked too", function()
    refused("--lr -1", "--lr expects a finite number > 0, got '-1'")
    refused("--lr abc", "--lr expects a finite number > 0")
    refused("--n 3.5", "--n expects an integer >= 2")
    refused("--solver sor", "--solver expects one of jacobi, cg, got 'sor'")
    refused("--toi yes", "unexpected argument 'yes': --toi is a switch and takes no value")
  end)

  it("an --out directory that cannot be created or written", function()
    refused("", "--out '/proc/nope/out' is not a writable directory", "/proc/nope/out")
    local file = tmp .. "/afile"
    local f = assert(io.open(file, "w"))
    f:write("x")
    f:close()
    refused("", "is not a writable directory: it exists and is not a directory", file)
    refused("", "is not a writable directory", file .. "/sub")
    -- a directory that can be created is created
    local rc = run("", tmp .. "/new/deeper")
    assert.are.equal(0, rc)
    assert.is_truthy(io.open(tmp .. "/new/deeper/.", "rb"))
  end)

  it("errors during the run: exit 1, one line, no traceback", function()
    for what, text in pairs({raise = "ds.optim.adam: unknown option 'learning_rate'", index = "attempt to index",
                             deep = "deep failure"}) do
      local rc, _, err = run("--what " .. what)
      assert.are.equal(1, rc, what .. ": " .. err)
      err = err:gsub("^started\n", "")
      local _, lines = err:gsub("\n", "")
      assert.are.equal(1, lines, what .. ": expected one line, got:\n" .. err)
      assert.matches("t: error: ", err, 1, true)
      assert.matches(text, err, 1, true)
      assert.is_nil(err:find("traceback", 1, true))
    end
  end)

  it("--help prints every flag and exits 0", function()
    local rc, out = run("--help")
    assert.are.equal(0, rc)
    for _, flag in ipairs({"--iters", "--out", "--seed", "--threads", "--precision", "--reference", "--lr", "--toi",
                           "--n", "--solver"}) do
      assert.matches(flag, out, 1, true)
    end
    assert.matches("one of jacobi, cg", out, 1, true)
  end)
end)
