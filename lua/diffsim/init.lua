-- diffsim: differentiable physics from LuaJIT.
--
--   local ds = require("diffsim")              -- float32, CPU, all cores
--   ds.init{precision = "f64", threads = 2}     -- optional, before first use
--
-- The context is created on first use. Everything heavy happens in C: Lua
-- builds launches and never loops over elements.
local ffi = require("ffi")

local ds = {}
local initialised = false

-- Where the core libraries live: $DIFFSIM_LIB_DIR (set by the launcher and the
-- tests), else <repo>/build next to this file.
local function lib_dir()
  local env = os.getenv("DIFFSIM_LIB_DIR")
  if env and env ~= "" then return env end
  local src = debug.getinfo(1, "S").source:gsub("^@", "")
  local root = src:match("^(.*)/lua/diffsim/init%.lua$") or "."
  return root .. "/build"
end

function ds.root()
  local env = os.getenv("DIFFSIM_ROOT")
  if env and env ~= "" then return env end
  local src = debug.getinfo(1, "S").source:gsub("^@", "")
  return src:match("^(.*)/lua/diffsim/init%.lua$") or "."
end


local function check_threads(threads, what)
  if type(threads) ~= "number" or threads ~= math.floor(threads) or threads < 0 or threads > 1024 then
    error("ds.init: " .. what .. " must be 0 (all cores) or an integer in 1..1024, got " .. tostring(threads), 3)
  end
end

-- ds.init{precision = "f32" | "f64", threads = n, anomaly = bool}: every option
-- is optional; an unknown one is an error.
function ds.init(opts)
  opts = require("diffsim.options").check("ds.init", opts, {"anomaly", "precision", "threads"})
  local precision = opts.precision or os.getenv("DIFFSIM_PRECISION") or "f32"
  if precision ~= "f32" and precision ~= "f64" then
    error("ds.init: precision must be 'f32' or 'f64', got '" .. tostring(precision) .. "'", 2)
  end
  if opts.threads ~= nil then check_threads(opts.threads, "threads") end
  if opts.anomaly ~= nil and type(opts.anomaly) ~= "boolean" then
    error("ds.init: anomaly must be true or false, got " .. type(opts.anomaly), 2)
  end
  if initialised then
    if opts.precision and opts.precision ~= ds.precision then
      error("ds.init: already initialised with precision " .. ds.precision ..
            "; call ds.init before any other use of diffsim", 2)
    end
    if opts.threads then ds.set_threads(opts.threads) end
    if opts.anomaly ~= nil then ds.set_anomaly(opts.anomaly) end
    return ds
  end
  local threads = opts.threads
  if threads == nil then
    local env = os.getenv("DIFFSIM_THREADS")
    threads = env and env ~= "" and tonumber(env) or 0
    if env and env ~= "" and not tonumber(env) then
      error("ds.init: DIFFSIM_THREADS='" .. env .. "' is not a number", 2)
    end
    check_threads(threads, "DIFFSIM_THREADS")
  end
  local real = precision == "f64" and "double" or "float"
  ffi.cdef((require("diffsim.cdef")(real)))
  local path = lib_dir() .. "/libdiffsim_" .. precision .. ".so"
  local ok, lib = pcall(ffi.load, path)
  if not ok then
    error("ds.init: cannot load the core library " .. path .. " (build it, or set DIFFSIM_LIB_DIR): " .. tostring(lib), 2)
  end
  local ctx = lib.ds_ctx_new(threads)
  if ctx == nil then error("ds.init: could not create a context", 2) end
  ds.C, ds.ctx, ds.precision, ds.real = lib, ffi.gc(ctx, lib.ds_ctx_free), precision, real
  ds.eps = precision == "f64" and 2.220446049250313e-16 or 1.1920929e-07
  initialised = true
  -- Submodules install themselves into ds; order matters (tensor first).
  require("diffsim.tensor")(ds)
  require("diffsim.ops")(ds)
  require("diffsim.sparse")(ds)
  require("diffsim.tape")(ds)
  require("diffsim.gradcheck")(ds)
  ds.nn = require("diffsim.nn")(ds)
  ds.kit = require("diffsim.kit")(ds)
  ds.optim = require("diffsim.optim")(ds)
  ds.loss = require("diffsim.loss")(ds)
  ds.io = require("diffsim.io")(ds)
  ds.progress = require("diffsim.progress")
  ds.bench = require("diffsim.bench")(ds)
  if opts.anomaly then ds.set_anomaly(true) end
  return ds
end

-- Any other field triggers the default initialisation first.
setmetatable(ds, {__index = function(t, k)
  if not initialised then
    ds.init()
    return rawget(t, k)
  end
  return nil
end})

return ds
