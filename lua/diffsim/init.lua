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

-- This file's folder (the package's own), and the folder above lua/ in a
-- source tree.
local here = debug.getinfo(1, "S").source:gsub("^@", ""):match("^(.*)/init%.lua$") or "."
local function readable(p)
  local f = io.open(p, "rb")
  if f then f:close() return true end
  return false
end
local installed = readable(here .. "/config.lua")
local src_root = not installed and here:match("^(.*)/lua/diffsim$") or nil

-- The generated config (lua/diffsim/config.lua.in): an installed package has
-- it beside this file; a source tree finds its build's copy through
-- $DIFFSIM_LIB_DIR (set by the build's launcher and the tests) or <repo>/build.
-- Loaded by path, never through require, so another diffsim installed on the
-- Lua path cannot lend its config to this one.
local function load_config()
  local candidates = {here .. "/config.lua"}
  local env = os.getenv("DIFFSIM_LIB_DIR")
  if env and env ~= "" then candidates[#candidates + 1] = env .. "/diffsim_config.lua" end
  if src_root then candidates[#candidates + 1] = src_root .. "/build/diffsim_config.lua" end
  for _, p in ipairs(candidates) do
    local chunk = readable(p) and loadfile(p)
    if chunk then
      local ok, cfg = pcall(chunk)
      if ok and type(cfg) == "table" then cfg.file = p return cfg end
    end
  end
  return {}
end
local config = load_config()

-- A config path relative to the config file's folder, when that place exists.
local function relative(rel, probe)
  if not rel or rel == "" or not config.file then return nil end
  local dir = config.file:match("^(.*)/[^/]*$") or "."
  local p = dir .. "/" .. rel
  if readable(p .. "/" .. probe) then return p end
  return nil
end

-- Where the core libraries live: $DIFFSIM_LIB_DIR when set (an explicit
-- override), else the config's (next to a moved install first), else
-- <repo>/build next to this file.
local function lib_dir()
  local env = os.getenv("DIFFSIM_LIB_DIR")
  if env and env ~= "" then return env end
  local rel = relative(config.rel_lib_dir, "libdiffsim_f32.so")
  if rel then return rel end
  if config.lib_dir and config.lib_dir ~= "" and readable(config.lib_dir .. "/libdiffsim_f32.so") then
    return config.lib_dir
  end
  -- LuaRocks deploys a rock's lib/ into <tree>/lib/lua/5.1, apart from the
  -- prefix the build was configured for; this file is <tree>/share/lua/5.1/diffsim.
  local rock = here .. "/../../../../lib/lua/5.1"
  if installed and readable(rock .. "/libdiffsim_f32.so") then return rock end
  if config.lib_dir and config.lib_dir ~= "" then return config.lib_dir end
  return (src_root or ".") .. "/build"
end

-- The folder holding scenes/ (the source tree, or <prefix>/share/diffsim).
function ds.root()
  local env = os.getenv("DIFFSIM_ROOT")
  if env and env ~= "" then return env end
  if src_root then return src_root end
  local rel = relative(config.rel_data_dir, "scenes")
  if rel then return rel end
  return config.data_dir or "."
end

-- "major.minor.patch", from the CMake project version (through the config);
-- read from the top-level CMakeLists.txt when no build has been configured.
local function version()
  if config.version then return config.version end
  local f = src_root and io.open(src_root .. "/CMakeLists.txt", "rb")
  if f then
    local text = f:read("*a")
    f:close()
    local v = text:match("project%s*%(%s*diffsim%s+VERSION%s+([%d%.]+)")
    if v then return v end
  end
  return "0.0.0"
end
ds.version = version()

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
    error("ds.init: cannot load the core library " .. path .. " (build it, or set DIFFSIM_LIB_DIR to the folder " ..
      "holding libdiffsim_" .. precision .. ".so): " .. tostring(lib), 2)
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
  require("diffsim.save")(ds) -- ds.save, ds.load, and m:state() / m:load_state()
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
