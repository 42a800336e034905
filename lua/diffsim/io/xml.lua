-- A small XML reader on libexpat (LuaJIT FFI): a file or string in, a tree of
-- plain Lua elements out. Needs no diffsim context, so model loaders and tests
-- use it on their own.
--
--   local xml = require("diffsim.io.xml")
--   local root = xml.parse_file(path)          -- or xml.parse_string(text, name)
--   root = {tag = "mujoco", attr = {model = "x"}, order = {"model"},
--           children = {...}, text = "", line = 1, file = path, parent = nil}
--   xml.where(el)  -> "path:line" for messages about an element
--
-- Malformed XML is an error "xml: <file>:<line>:<col>: <expat's reason>";
-- a missing or unreadable file is an error naming the path. Namespaces are not
-- processed (a prefixed name stays "pre:name"); entities are expat's.
local ffi = require("ffi")

-- Declared here and not in diffsim.cdef: expat is this module's own library,
-- not the core's API (as save.lua declares zlib). pcall: a second load of the
-- module, or another module declaring the same names, is harmless.
pcall(ffi.cdef, [[
typedef struct XML_ParserStruct *XML_Parser;
typedef void (*XML_StartElementHandler)(void *ud, const char *name, const char **atts);
typedef void (*XML_EndElementHandler)(void *ud, const char *name);
typedef void (*XML_CharacterDataHandler)(void *ud, const char *s, int len);
XML_Parser XML_ParserCreate(const char *encoding);
void XML_ParserFree(XML_Parser p);
void XML_SetElementHandler(XML_Parser p, XML_StartElementHandler start, XML_EndElementHandler end);
void XML_SetCharacterDataHandler(XML_Parser p, XML_CharacterDataHandler h);
int XML_Parse(XML_Parser p, const char *s, int len, int isFinal);
int XML_GetErrorCode(XML_Parser p);
const char *XML_ErrorString(int code);
unsigned long XML_GetCurrentLineNumber(XML_Parser p);
unsigned long XML_GetCurrentColumnNumber(XML_Parser p);
]])

local M = {}

local lib
local function expat()
  if lib then return lib end
  local ok, l = pcall(ffi.load, "expat")
  if not ok then ok, l = pcall(ffi.load, "libexpat.so.1") end
  if not ok then
    error("xml: libexpat is not installed (apt-get install libexpat1-dev): " .. tostring(l), 0)
  end
  lib = l
  return lib
end

-- The builder the C callbacks write into: one parse at a time (callbacks are
-- few and made once; expat never calls back into a different parse).
local cur

local on_start = ffi.cast("XML_StartElementHandler", function(_, name, atts)
  local el = {tag = ffi.string(name), attr = {}, order = {}, children = {}, text = "",
              line = tonumber(lib.XML_GetCurrentLineNumber(cur.parser)), file = cur.file,
              parent = cur.stack[#cur.stack]}
  local i = 0
  while atts[i] ~= nil do
    local k, v = ffi.string(atts[i]), ffi.string(atts[i + 1])
    el.attr[k] = v
    el.order[#el.order + 1] = k
    i = i + 2
  end
  if el.parent then
    el.parent.children[#el.parent.children + 1] = el
  else
    cur.root = el
  end
  cur.stack[#cur.stack + 1] = el
  cur.text[#cur.stack] = {}
end)

local on_end = ffi.cast("XML_EndElementHandler", function()
  local n = #cur.stack
  cur.stack[n].text = table.concat(cur.text[n])
  cur.text[n] = nil
  cur.stack[n] = nil
end)

local on_text = ffi.cast("XML_CharacterDataHandler", function(_, s, len)
  local t = cur.text[#cur.stack]
  if t then t[#t + 1] = ffi.string(s, len) end
end)

-- Parses text (named `name` in messages) into the element tree.
function M.parse_string(text, name)
  if type(text) ~= "string" then
    error("xml.parse_string: text must be a string, got " .. type(text), 2)
  end
  name = name or "<string>"
  local L = expat()
  local p = L.XML_ParserCreate(nil)
  if p == nil then error("xml.parse_string: out of memory creating the parser", 2) end
  L.XML_SetElementHandler(p, on_start, on_end)
  L.XML_SetCharacterDataHandler(p, on_text)
  local saved = cur
  cur = {parser = p, file = name, stack = {}, text = {}}
  local ok = L.XML_Parse(p, text, #text, 1)
  local st = cur
  cur = saved
  if ok == 0 then
    local msg = string.format("xml: %s:%d:%d: %s", name, tonumber(L.XML_GetCurrentLineNumber(p)),
                              tonumber(L.XML_GetCurrentColumnNumber(p)) + 1,
                              ffi.string(L.XML_ErrorString(L.XML_GetErrorCode(p))))
    L.XML_ParserFree(p)
    error(msg, 0)
  end
  L.XML_ParserFree(p)
  if not st.root then error(string.format("xml: %s: no root element", name), 0) end
  return st.root
end

-- Reads and parses a file; the file's path names it in every message.
function M.parse_file(path)
  if type(path) ~= "string" then
    error("xml.parse_file: path must be a string, got " .. type(path), 2)
  end
  local f, err = io.open(path, "rb")
  if not f then error("xml.parse_file: cannot open '" .. path .. "': " .. tostring(err), 2) end
  local text = f:read("*a")
  f:close()
  return M.parse_string(text, path)
end

-- "file:line" of an element, for messages.
function M.where(el)
  return string.format("%s:%d", el.file or "?", el.line or 0)
end

return M
