# bench/run, case P1 peer: the same POST + GET pairs with Python's aiohttp.
# Usage: p1_aiohttp.py BASE_URL CA_FILE TASKS CONCURRENCY
import asyncio, json, ssl, sys
import aiohttp

BODY = {"model": "wan2.5-image-to-video", "prompt": "a lighthouse at dawn, waves rolling in",
        "image_urls": ["https://example.com/lighthouse.png"]}

async def main(base, ca, tasks, conc):
    ctx = ssl.create_default_context(cafile=ca)
    headers = {"Authorization": "Bearer bench-key"}
    left = [tasks]
    failed = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=conc)) as s:
        async def worker():
            nonlocal failed
            while left[0] > 0:
                left[0] -= 1
                async with s.post(base + "/v1/videos/generations", json=BODY, headers=headers) as r:
                    created = json.loads(await r.text())
                async with s.get(base + "/v1/tasks/" + created["id"], headers=headers) as r:
                    if json.loads(await r.text())["status"] != "completed":
                        failed += 1
        await asyncio.gather(*(worker() for _ in range(conc)))
    print(f"tasks={tasks} failed={failed}")

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
