-- bench/run, case P1 floor: each connection alternates the POST of a wan2.5
-- image-to-video task and the GET of the task, as the clients do. The requests
-- are formatted once, on the first call (wrk.format takes the Host header
-- from wrk.headers, which is set only after the script is loaded).
local post, get
local n = 0
request = function()
  if not post then
    post = wrk.format("POST", "/v1/videos/generations",
      {["Authorization"] = "Bearer bench-key", ["Content-Type"] = "application/json"},
      '{"model":"wan2.5-image-to-video","prompt":"a lighthouse at dawn, waves rolling in",' ..
      '"image_urls":["https://example.com/lighthouse.png"]}')
    get = wrk.format("GET", "/v1/tasks/task-unified-1764688000-bench001", {["Authorization"] = "Bearer bench-key"})
  end
  n = n + 1
  if n % 2 == 1 then return post end
  return get
end
