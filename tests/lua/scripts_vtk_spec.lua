-- --vtk in the scripts: a short run writes one VTK file per frame and a .pvd
-- series that lists them (ParaView opens it as one time-dependent data set);
-- without --vtk nothing of it is written, and the printed lines are the same.
local root = os.getenv("DIFFSIM_ROOT") or "."
local launcher = (os.getenv("DIFFSIM_LIB_DIR") or (root .. "/build")) .. "/diffsim"
local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p '" .. tmp .. "'")

local function sh(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return nil end
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
  return rc, read_all(o) or "", read_all(e) or ""
end

-- the printed lines without the timing ones
local function stable(out) return (out:gsub("result ms_per_iter [^\n]*\n", "")) end

-- the .pvd's data sets: {file =, timestep =} in order
local function series(path)
  local text = assert(read_all(path), "no " .. path)
  assert.matches('<VTKFile type="Collection"', text, 1, true)
  local list = {}
  for ts, file in text:gmatch('<DataSet timestep="([^"]+)" group="" part="0" file="([^"]+)"/>') do
    list[#list + 1] = {file = file, timestep = tonumber(ts)}
  end
  return list
end

local CASES = {
  {script = "scripts/billiards.lua", args = "--iters 2 --steps 20", pvd = "billiards.pvd", frames = 21, ext = "vtp",
   has = 'Name="radius"'},
  {script = "scripts/smoke3d.lua", args = "--iters 1 --n 8 --steps 3 --no-gif", pvd = "smoke3d.pvd", frames = 4, ext = "vti",
   has = 'Name="density"', also = "velocity.vti"},
  {script = "scripts/diffmpm_simple.lua", args = "--iters 1 --steps 20 --frames 4 --no-gif", pvd = "particles.pvd",
   frames = 5, ext = "vtp", has = 'Name="velocity"'},
}

describe("scripts --vtk", function()
  for _, c in ipairs(CASES) do
    it(c.script .. " writes a .pvd listing one file per frame", function()
      local out = tmp .. "/" .. c.pvd:gsub("%.pvd$", "")
      local rc, text, err = run(c.script, c.args .. " --vtk --out " .. sh(out))
      assert.are.equal(0, rc, err)
      local list = series(out .. "/" .. c.pvd)
      assert.are.equal(c.frames, #list)
      local stem = c.pvd:gsub("%.pvd$", "")
      for i, e in ipairs(list) do
        assert.are.equal(string.format("%s_%04d.%s", stem, i - 1, c.ext), e.file)
        if i > 1 then assert.is_true(e.timestep > list[i - 1].timestep, "timesteps increase") end
        local body = assert(read_all(out .. "/" .. e.file), "missing " .. e.file)
        assert.matches(c.has, body, 1, true)
      end
      assert.are.equal(0, list[1].timestep)
      if c.also then assert.is_truthy(read_all(out .. "/" .. c.also), "missing " .. c.also) end
      -- without --vtk: no series, and the same printed lines
      local plain = out .. "_plain"
      local rc2, text2, err2 = run(c.script, c.args .. " --out " .. sh(plain))
      assert.are.equal(0, rc2, err2)
      assert.is_nil(read_all(plain .. "/" .. c.pvd))
      assert.are.equal(stable(text2), stable(text))
    end)
  end
end)
