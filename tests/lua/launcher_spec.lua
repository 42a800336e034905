-- The launcher answers --help and --version itself (LuaJIT would take them as
-- its own options), and ds.version is the CMake project version.
local ds = require("diffsim")

local function run(args)
  local launcher = (os.getenv("DIFFSIM_LIB_DIR") or "build") .. "/diffsim"
  local f = io.popen(launcher .. " " .. args .. " 2>&1; echo \"rc=$?\"")
  local out = f:read("*a")
  f:close()
  return out
end

local function project_version()
  local f = assert(io.open((os.getenv("DIFFSIM_ROOT") or ".") .. "/CMakeLists.txt"))
  local v = f:read("*a"):match("project%(diffsim VERSION ([%d%.]+)")
  f:close()
  return v
end

describe("launcher", function()
  it("--version prints 'diffsim major.minor.patch' and ds.version matches", function()
    local v = project_version()
    assert.is_truthy(v:match("^%d+%.%d+%.%d+$"), "the project version must be major.minor.patch, got " .. v)
    assert.are.equal("diffsim " .. v .. "\nrc=0\n", run("--version"))
    assert.are.equal(v, ds.version)
  end)

  it("--help and -h print the usage and exit 0; no arguments is a usage error", function()
    for _, a in ipairs({"--help", "-h"}) do
      local out = run(a)
      assert.is_truthy(out:find("usage: diffsim SCRIPT.lua", 1, true), out)
      assert.is_truthy(out:find("DIFFSIM_PLUGIN_PATH", 1, true), out)
      assert.is_truthy(out:find("rc=0\n", 1, true), out)
    end
    local out = run("")
    assert.is_truthy(out:find("usage: diffsim SCRIPT.lua", 1, true), out)
    assert.is_truthy(out:find("rc=2\n", 1, true), out)
  end)

  it("a script's --help is the script's, not the launcher's", function()
    local out = run((os.getenv("DIFFSIM_ROOT") or ".") .. "/scripts/projectile.lua --help")
    assert.is_truthy(out:find("--iters", 1, true), out)
    assert.is_falsy(out:find("usage: diffsim SCRIPT.lua", 1, true), out)
  end)
end)
