-- Every script in scripts/ validates its flags before doing any work: a bad
-- flag exits with code 2 and one line on stderr naming the flag, with no Lua
-- stack traceback; an error during a run exits 1 with one line; --help exits 0.
-- The scripts run as child processes through the build's launcher.
local root = os.getenv("DIFFSIM_ROOT") or "."
local launcher = (os.getenv("DIFFSIM_LIB_DIR") or (root .. "/build")) .. "/diffsim"
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

local function run(script, args)
  local o, e = tmp .. "/stdout", tmp .. "/stderr"
  local p = io.popen("cd " .. sh(root) .. " && " .. sh(launcher) .. " " .. sh(script) .. " " .. args .. " >" .. sh(o) ..
                     " 2>" .. sh(e) .. "; echo $?")
  local rc = tonumber(p:read("*a"))
  p:close()
  return rc, read_all(o), read_all(e)
end

local scripts = {}
for _, dir in ipairs({"scripts", "scripts/bench"}) do
  local p = io.popen("ls " .. sh(root .. "/" .. dir))
  for name in p:lines() do
    if name:match("%.lua$") and name ~= "poisson_solves.lua" then scripts[#scripts + 1] = dir .. "/" .. name end
  end
  p:close()
end

local BAD = {
  {"--iters -1", "--iters expects an integer"},
  {"--iters 1.5", "--iters expects an integer"},
  {"--threads 5000", "--threads expects an integer from 0 to 1024"},
  {"--precision f16", "--precision expects one of f32, f64"},
  {"--no-such-flag 3", "unknown flag --no-such-flag"},
  {"--seed", "--seed needs a value"},
  {"--out /proc/diffsim_no/out", "--out '/proc/diffsim_no/out' is not a writable directory"},
}

describe("scripts", function()
  it("finds the scripts", function()
    assert.is_true(#scripts >= 12, "found " .. #scripts)
  end)

  for _, script in ipairs(scripts) do
    it(script .. ": bad flags exit 2 with one line and no traceback", function()
      for _, case in ipairs(BAD) do
        local rc, out, err = run(script, case[1])
        assert.are.equal(2, rc, script .. " " .. case[1] .. ":\n" .. err)
        local _, lines = err:gsub("\n", "")
        assert.are.equal(1, lines, script .. " " .. case[1] .. ": expected one line on stderr, got:\n" .. err)
        assert.matches(case[2], err, 1, true)
        assert.is_nil(err:find("traceback", 1, true), err)
        assert.are.equal("", out)
      end
    end)
    it(script .. ": --help prints the flags", function()
      local rc, out = run(script, "--help")
      assert.are.equal(0, rc)
      assert.matches("--iters", out, 1, true)
      assert.matches("--threads", out, 1, true)
    end)
    it(script .. ": --help describes every flag", function()
      local rc, out, err = run(script, "--help")
      assert.are.equal(0, rc, err)
      local n = 0
      for line in out:gmatch("[^\n]+") do
        local flag, value, rest = line:match("^  (%-%-[%w%-]+)( ?[NXS]?)%s+(.*)$")
        if flag and flag ~= "--help" then
          n = n + 1
          -- "<description>; [<allowed values>; ](default ...)": a flag that takes a
          -- value lists its description and its allowed values, a switch its description
          local before = rest:match("^(.-)%(default ")
          assert.is_truthy(before, script .. ": " .. flag .. " shows no default: " .. line)
          local parts = {}
          for part in before:gmatch("([^;]+);") do
            if part:match("%a%a") then parts[#parts + 1] = part end
          end
          assert.is_true(#parts >= (value:match("[NXS]") and 2 or 1), script .. ": " .. flag .. " has no description: " .. line)
        end
      end
      assert.is_true(n >= 7, script .. ": expected the common flags and the script's own, got " .. n .. "\n" .. out)
    end)
  end

  it("the scripts' own flags are range-checked", function()
    local cases = {
      {"scripts/mass_spring.lua", "--robot 9", "--robot expects an integer from 0 to 3"},
      {"scripts/mass_spring.lua", "--lr 0", "--lr expects a finite number > 0"},
      {"scripts/smoke.lua", "--solver sor", "--solver expects one of jacobi, cg"},
      {"scripts/smoke.lua", "--n -5", "--n expects an integer from 4 to 8192"},
      {"scripts/wave.lua", "--boundary open", "--boundary expects one of dirichlet, reflect"},
      {"scripts/water_renderer.lua", "--optimizer lbfgs", "--optimizer expects one of '', adam, gd"},
      {"scripts/projectile.lua", "--n 1", "--n expects an integer"},
      {"scripts/toi.lua", "--scan 0", "--scan expects an integer"},
      {"scripts/cage.lua", "--gif", "unknown flag --gif"},
    }
    for _, c in ipairs(cases) do
      local rc, _, err = run(c[1], c[2])
      assert.are.equal(2, rc, c[1] .. " " .. c[2] .. ":\n" .. err)
      local _, lines = err:gsub("\n", "")
      assert.are.equal(1, lines, err)
      assert.matches(c[3], err, 1, true)
    end
  end)

  it("an error during a run exits 1 with one line and no traceback", function()
    local rc, _, err = run("scripts/water_renderer.lua",
      "--iters 1 --n 16 --steps 4 --background /nonexistent/bg.png --out " .. sh(tmp .. "/wr"))
    assert.are.equal(1, rc, err)
    local _, lines = err:gsub("\n", "")
    assert.are.equal(1, lines, err)
    assert.matches("water_renderer: error: ", err, 1, true)
    assert.matches("cannot read '/nonexistent/bg.png'", err, 1, true)
    assert.is_nil(err:find("traceback", 1, true))
  end)
end)
