-- The docs' Lua examples run as written, and every `ds.*` name that
-- docs/lua-api.md mentions exists. A ```lua block is an example unless its
-- fence says ```lua sig: a block of signatures (placeholders such as `...`,
-- names the reader supplies) that shows calls rather than a program. Each
-- example runs in its own child process (tests/lua/probe.lua) in an empty
-- directory, since examples write files where they run (quickstart's v0.npy).
local probe = require("probe")
local root = os.getenv("DIFFSIM_ROOT") or "."
local DOCS = {"docs/quickstart.md", "docs/lua-api.md"}

local function read(path)
  local f = assert(io.open(root .. "/" .. path, "rb"), "cannot read " .. path)
  local s = f:read("*a")
  f:close()
  return s
end

-- {line =, info =, code =} for every ```lua block of a Markdown file
local function lua_blocks(text)
  local blocks, cur, n = {}, nil, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    if cur then
      if line:match("^```%s*$") then
        blocks[#blocks + 1] = cur
        cur = nil
      else
        cur.code = cur.code .. line .. "\n"
      end
    else
      local info = line:match("^```lua(.*)$")
      if info then cur = {line = n, info = info, code = ""} end
    end
  end
  assert(cur == nil, "a ```lua block is not closed")
  return blocks
end

local function is_signatures(b) return b.info:match("%f[%w]sig%f[%W]") ~= nil end

describe("doc snippets", function()
  local tmp = os.tmpname()
  os.remove(tmp)

  for _, doc in ipairs(DOCS) do
    local blocks = lua_blocks(read(doc))
    it(doc .. " has Lua examples", function()
      local runnable = 0
      for _, b in ipairs(blocks) do if not is_signatures(b) then runnable = runnable + 1 end end
      assert.is_true(runnable >= 1, doc .. ": no runnable ```lua block")
    end)
    for _, b in ipairs(blocks) do
      if not is_signatures(b) then
        it(doc .. ":" .. b.line .. " runs", function()
          local dir = tmp .. "_" .. b.line
          os.execute("rm -rf '" .. dir .. "' && mkdir -p '" .. dir .. "'")
          -- two threads: the suite shares the machine's cores
          local r = probe.run(b.code, {dir = dir, env = {DIFFSIM_THREADS = "2"}})
          os.execute("rm -rf '" .. dir .. "'")
          assert(r.ok, doc .. ":" .. b.line .. " exited " .. r.status .. ":\n" .. r.output)
        end)
      end
    end
  end

  it("every ds.* name in docs/lua-api.md exists", function()
    local ds = require("diffsim")
    ds.init{precision = "f64", threads = 2}
    local text = read("docs/lua-api.md")
    local names, seen = {}, {}
    for name in text:gmatch("%f[%w_]ds%.([%a_][%w_%.]*)") do
      name = name:gsub("%.+$", "")
      if not seen[name] then seen[name] = true; names[#names + 1] = name end
    end
    assert.is_true(#names > 50, "found only " .. #names .. " names")
    local missing = {}
    for _, name in ipairs(names) do
      local v = ds
      for part in name:gmatch("[^%.]+") do
        v = type(v) == "table" and v[part] or nil
      end
      if v == nil then missing[#missing + 1] = "ds." .. name end
    end
    assert.are.same({}, missing)
  end)
end)
