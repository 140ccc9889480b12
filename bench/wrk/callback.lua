-- bench/run, case P3: EvoLink's callback for a finished task, a new task id
-- each time (the receiver ignores repeated deliveries). PATH is set by bench/run.
local n = 0
local path = os.getenv("CALLBACK_PATH")
request = function()
  n = n + 1
  local id = string.format("task-unified-1764688000-cb%08d", n)
  return wrk.format("POST", path, {["Content-Type"] = "application/json"},
    '{"id":"' .. id .. '","object":"video.generation.task","created":1764688000,' ..
    '"model":"wan2.5-image-to-video","status":"completed","progress":100,"type":"video",' ..
    '"results":["https://cdn.example.com/' .. id .. '.mp4"]}')
end
