-- Guard: every kernel with an adjoint — the core's and every plugin's — has a
-- float64 finite-difference check somewhere in the suite. Specs log what they
-- checked (ds.gradcheck_kernel, and every kernel on the tape of a passing
-- ds.gradcheck) to $DIFFSIM_GRADCHECK_DIR/<spec>.txt; this reads the logs.
local ds = require("diffsim")
ds.init{precision = "f64", threads = 1}

local function plugins_in(dir)
  local names = {}
  local p = io.popen('ls "' .. dir .. '" 2>/dev/null')
  for f in p:lines() do
    local n = f:match("^libds_(.+)_f64%.so$")
    if n then names[#names + 1] = n end
  end
  p:close()
  return names
end

describe("float64 gradient checks", function()
  it("cover every kernel that has an adjoint", function()
    local dir = os.getenv("DIFFSIM_GRADCHECK_DIR")
    assert.is_not_nil(dir, "DIFFSIM_GRADCHECK_DIR is not set (run through ctest)")
    local checked, nlogs = {}, 0
    local p = io.popen('ls "' .. dir .. '" 2>/dev/null')
    for f in p:lines() do
      local h = io.open(dir .. "/" .. f)
      if h then
        nlogs = nlogs + 1
        for line in h:lines() do checked[line] = true end
        h:close()
      end
    end
    p:close()
    assert.is_true(nlogs > 0, "no gradient-check logs in " .. dir)
    local plugins = plugins_in(os.getenv("DIFFSIM_PLUGIN_PATH"):match("^[^:]+"))
    assert.is_true(#plugins >= 4, "expected the plugins to be built")
    for _, name in ipairs(plugins) do ds.load_plugin(name) end
    local missing = {}
    for _, name in ipairs(ds.kernels()) do
      local k = ds.kernel(name)
      if ds.C.ds_kernel_has_device(k.ptr, 0, 1) ~= 0 and not checked[name] then missing[#missing + 1] = name end
    end
    assert.are.same({}, missing, "kernels with an adjoint but no float64 gradient check: " .. table.concat(missing, ", "))
  end)
end)
