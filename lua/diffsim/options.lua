-- Checks for the options tables and arguments of the public Lua API: an
-- unknown option name is an error, and so is a value of the wrong kind. Every
-- message names the function and the option, and its location is the line of
-- the caller outside the package (the first stack frame that is not diffsim's
-- own Lua code), however deep inside the package the check runs.
--
--   local O = require("diffsim.options")
--   opts = O.check("ds.optim.adam", opts, {"lr", "betas", "eps", "weight_decay"})
--   local lr = O.number("ds.optim.adam", "lr", opts.lr, 1e-3, {gt = 0})
--
-- Installed as ds.check_options(fn_name, opts, allowed) by M.install(ds), which
-- the package's own modules call (nn, optim and io, whichever loads first).
local M = {}

-- The package's own folder as a chunk source prefix: installed, it is
-- <prefix>/share/lua/5.1/diffsim/, which has no "lua/diffsim/" in it.
local own = debug.getinfo(1, "S").source:match("^(@.*/)options%.lua$")

-- Is this chunk source part of the package (lua/diffsim/ or a plugin's Lua:
-- plugins/<name>/<name>.lua in the source tree, <name>.lua beside a plugin
-- built in its own folder)?
local function internal(src)
  if type(src) ~= "string" or src:sub(1, 1) ~= "@" then return false end
  return src:find("lua/diffsim/", 1, true) ~= nil or (own ~= nil and src:sub(1, #own) == own) or
         src:find("/plugins/[^/]+/[^/]+%.lua$") ~= nil or src:find("^@plugins/[^/]+/[^/]+%.lua$") ~= nil or
         src:find("/plugins/[^/]+%.lua$") ~= nil
end
M.internal = internal

-- The error() level (as seen from the function calling M.level) of the first
-- frame outside the package.
function M.level()
  local l = 3
  while true do
    local info = debug.getinfo(l, "S")
    if not info then return 1 end
    if not internal(info.source) then return l - 1 end
    l = l + 1
  end
end

-- Raises msg located at the first caller outside the package.
function M.raise(msg)
  error(msg, M.level())
end
local raise = M.raise

local function describe(v)
  if type(v) == "string" then return "'" .. v .. "'" end
  if M.is_tensor and M.is_tensor(v) then return "a tensor" end
  if type(v) == "table" then return "a table" end
  return tostring(v)
end
M.describe = describe

local sets = setmetatable({}, {__mode = "k"})
local function as_set(allowed)
  local s = sets[allowed]
  if s then return s end
  s = {}
  for k, v in pairs(allowed) do
    if type(k) == "number" then s[v] = true else s[k] = true end
  end
  sets[allowed] = s
  return s
end

local function names(allowed)
  local list = {}
  for k in pairs(as_set(allowed)) do list[#list + 1] = k end
  table.sort(list)
  return #list > 0 and table.concat(list, ", ") or "none"
end
M.names = names

-- opts must be nil or a plain table whose keys are all in `allowed` (a list of
-- names, or a set). Returns opts (an empty table for nil).
function M.check(fn, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" or getmetatable(opts) ~= nil then
    raise(string.format("%s: options must be a table of named options (valid: %s), got %s", fn, names(allowed),
      type(opts) == "table" and describe(opts) or type(opts)))
  end
  local set = as_set(allowed)
  for k in pairs(opts) do
    if type(k) ~= "string" then
      raise(string.format("%s: options are named (valid: %s); got a positional entry [%s]", fn, names(allowed),
        tostring(k)))
    end
    if not set[k] then
      raise(string.format("%s: unknown option '%s' (valid: %s)", fn, k, names(allowed)))
    end
  end
  return opts
end

-- An entry that mixes positional values with named ones (a spring {1, 2, k =
-- 3e4}): its named keys must all be in `allowed`; positional ones are the
-- caller's to check. Returns t.
function M.check_entry(fn, t, allowed)
  if type(t) ~= "table" then return t end
  local set = as_set(allowed)
  for k in pairs(t) do
    if type(k) == "string" and not set[k] then
      raise(string.format("%s: unknown field '%s' (valid: %s)", fn, k, names(allowed)))
    end
  end
  return t
end

local function finite(x) return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge end
M.finite = finite

-- A number option: v (or the default when v is nil), checked against
-- spec = {gt =, ge =, lt =, le =, int = true, what = "an option"|"argument"}.
function M.number(fn, name, v, default, spec)
  if v == nil then v = default end
  spec = spec or {}
  local what = spec.arg and "argument" or "option"
  local function g(x) return string.format("%.10g", x) end
  local kind = spec.int and "an integer" or "a finite number"
  local need
  if spec.ge and spec.le and not spec.gt and not spec.lt then
    need = (spec.int and "an integer" or "a number") .. " from " .. g(spec.ge) .. " to " .. g(spec.le)
  else
    local b = {}
    if spec.gt then b[#b + 1] = "> " .. g(spec.gt) end
    if spec.ge then b[#b + 1] = ">= " .. g(spec.ge) end
    if spec.lt then b[#b + 1] = "< " .. g(spec.lt) end
    if spec.le then b[#b + 1] = "<= " .. g(spec.le) end
    need = kind .. (#b > 0 and " " .. table.concat(b, " and ") or "")
  end
  local ok = finite(v) and (not spec.int or v == math.floor(v)) and (spec.gt == nil or v > spec.gt) and
             (spec.ge == nil or v >= spec.ge) and (spec.lt == nil or v < spec.lt) and (spec.le == nil or v <= spec.le)
  if not ok then
    raise(string.format("%s: %s '%s' must be %s, got %s", fn, what, name, need, describe(v)))
  end
  return v
end

-- One of a list of strings.
function M.choice(fn, name, v, default, choices, spec)
  if v == nil then v = default end
  for _, c in ipairs(choices) do if v == c then return v end end
  local quoted = {}
  for i, c in ipairs(choices) do quoted[i] = "'" .. c .. "'" end
  raise(string.format("%s: %s '%s' must be one of %s, got %s", fn, spec and spec.arg and "argument" or "option",
    name, table.concat(quoted, ", "), describe(v)))
end

-- A boolean (nil -> default).
function M.boolean(fn, name, v, default)
  if v == nil then v = default end
  if type(v) ~= "boolean" then
    raise(string.format("%s: option '%s' must be true or false, got %s", fn, name, describe(v)))
  end
  return v
end

-- A non-empty string argument (paths, names).
function M.string(fn, name, v)
  if type(v) ~= "string" or v == "" then
    raise(string.format("%s: argument '%s' must be a non-empty string, got %s", fn, name,
      v == "" and "an empty string" or describe(v)))
  end
  return v
end

-- A function argument (nil allowed when optional).
function M.func(fn, name, v, optional)
  if v == nil and optional then return nil end
  if type(v) ~= "function" then
    raise(string.format("%s: argument '%s' must be a function, got %s", fn, name, describe(v)))
  end
  return v
end

function M.install(ds)
  M.is_tensor = ds.is_tensor
  ds.options = M
  return M
end

return M
