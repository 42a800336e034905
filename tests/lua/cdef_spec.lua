-- The Lua FFI declarations must match the public C header.
describe("cdef", function()
  it("declares every function of core.h, device.h and media.h, and nothing that is not there", function()
    local root = os.getenv("DIFFSIM_ROOT") or "."
    local function read(name)
      local f = assert(io.open(root .. "/core/include/diffsim/" .. name))
      local text = f:read("*a")
      f:close()
      return text
    end
    local header = read("core.h") .. read("device.h") .. read("media.h")
    local cdef = require("diffsim.cdef")("double")
    local function names(text)
      text = text:gsub("/%*.-%*/", "")
      local out = {}
      for name in text:gmatch("[%w_]+%s*%*?%s*(ds_[%w_]+)%s*%(") do out[name] = true end
      return out
    end
    local h, c = names(header), names(cdef)
    for n in pairs(h) do assert.is_true(c[n] ~= nil, n .. " is in the headers but not in cdef.lua") end
    for n in pairs(c) do assert.is_true(h[n] ~= nil, n .. " is in cdef.lua but not in core.h, device.h or media.h") end
    -- and the tensor struct has the same fields in the same order
    local function fields(text)
      local body = text:match("typedef struct ds_tensor {(.-)} ds_tensor;")
      local out = {}
      for name in body:gmatch("([%w_]+)%[?%d*%]?;") do out[#out + 1] = name end
      return table.concat(out, ",")
    end
    assert.are.equal(fields(header), fields(cdef))
  end)
end)
