-- Plugin names and paths: nil or non-string names, and files that are not a
-- shared object of this platform, are refused before dlopen with a message
-- saying what is wrong.
local probe = require("probe")
local P = probe.prelude
local prec = os.getenv("PROBE_PRECISION") or "f64"

local function find_example()
  for dir in (os.getenv("DIFFSIM_PLUGIN_PATH") or ""):gmatch("[^:]+") do
    local path = dir .. "/libds_example_" .. prec .. ".so"
    local f = io.open(path, "rb")
    if f then
      local data = f:read("*a")
      f:close()
      return data
    end
  end
end

local function write(name, bytes)
  local path = os.tmpname() .. name
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  return path
end

describe("bad plugin names and paths", function()
  local cases = {
    {"ds.add_plugin_path(nil)", "ds.add_plugin_path: dir must be a directory path (a non-empty string), got nil"},
    {"ds.add_plugin_path(42)", "ds.add_plugin_path: dir must be a directory path (a non-empty string), got number"},
    {"ds.add_plugin_path('')", "ds.add_plugin_path: dir must be a directory path (a non-empty string), got an empty string"},
    {"ds.plugin(nil)", "ds.plugin: name must be a plugin name or a path to a shared object, got nil"},
    {"ds.plugin(42)", "ds.plugin: name must be a plugin name or a path to a shared object, got number"},
    {"ds.plugin('')", "ds.plugin: name must be a plugin name or a path to a shared object, got an empty string"},
    {"ds.plugin({})", "ds.plugin: name must be a plugin name or a path to a shared object, got table"},
    {"ds.load_plugin(false)", "ds.load_plugin: name must be a plugin name or a path to a shared object, got boolean"},
    {"ds.kernel(nil)", "ds.kernel: name must be a string like 'plugin.op', got nil"},
    {"ds.kernel(42)", "ds.kernel: name must be a string like 'plugin.op', got number"},
    {"ds.kernel('nope')", "unknown kernel 'nope'"},
    {"ds.plugin('no_such_plugin')", "ds.plugin: plugin 'no_such_plugin' not found"},
    {"ds.plugin('/tmp')", "/tmp is a directory, not a shared object"},
    {"ds.plugin('/nonexistent/libds_x.so')", "cannot open /nonexistent/libds_x.so: no such file"},
  }
  for _, c in ipairs(cases) do
    it(c[1], function() probe.fails_cleanly(P .. c[1], c[2]) end)
  end

  it("an empty file, a text file, a truncated or foreign shared object", function()
    local so = find_example()
    assert.is_not_nil(so, "libds_example_" .. prec .. ".so not found on DIFFSIM_PLUGIN_PATH")
    local files = {
      {write("empty.so", ""), "is empty, not a shared object"},
      {write("text.so", "this is not an ELF file"), "is not an ELF shared object"},
      {write("short.so", so:sub(1, 10)), "is truncated"},
      {write("trunc.so", so:sub(1, 4096)), "is truncated"},
      {write("half.so", so:sub(1, math.floor(#so / 2))), "is truncated"},
      {write("arm.so", so:sub(1, 18) .. string.char(183, 0) .. so:sub(21)), "is built for AArch64"},
      {write("elf32.so", so:sub(1, 4) .. string.char(1) .. so:sub(6)), "is a 32-bit ELF object"},
      {write("exec.so", so:sub(1, 16) .. string.char(2, 0) .. so:sub(19)), "is an ELF executable, not a shared object"},
    }
    for _, f in ipairs(files) do
      probe.fails_cleanly(P .. "ds.plugin('" .. f[1] .. "')", f[2])
      os.remove(f[1])
    end
  end)

  it("a plugin without a Lua front end is legitimate: an empty table, kernels by name", function()
    local r = probe.run(P .. [[
      local front = ds.plugin("example")
      assert(type(front) == "table")
      assert(ds.kernel("example.step"))
      print("fine")]])
    assert.is_true(r.ok, r.output)
  end)

  it("a Lua front end that exists but fails to load is an error", function()
    local dir = os.tmpname() .. "_front"
    os.execute("mkdir -p " .. dir)
    local f = assert(io.open(dir .. "/example.lua", "w"))
    f:write("error('broken front end')\n")
    f:close()
    probe.fails_cleanly("package.path = '" .. dir .. "/?.lua;' .. package.path\n" .. P .. "ds.plugin('example')",
      "ds.plugin: the Lua front end of plugin 'example' failed to load")
    os.remove(dir .. "/example.lua")
    os.remove(dir)
  end)
end)
