"""httperf/conf/ws-broadcast.py: the Python `websockets` reference server for
httperf/websocket/run. The chat of stage08 in its plainest form: /ws/chat/<room>?name=<nick>
takes {"text": "..."} and sends every member of the room
{"type":"message","room","from","text","ts"} (with websockets' broadcast(), which frames the
message once); /ws/echo echoes. No compression. Usage: python ws-broadcast.py PORT"""
import asyncio
import json
import sys
import time
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import broadcast, serve

rooms: dict[str, set] = {}


async def handler(ws):
    url = urlsplit(ws.request.path)
    if url.path == "/ws/echo":
        async for message in ws:
            await ws.send(message)
        return
    room = url.path.removeprefix("/ws/chat/")
    sender = parse_qs(url.query).get("name", [""])[0]
    members = rooms.setdefault(room, set())
    members.add(ws)
    try:
        async for message in ws:
            try:
                text = json.loads(message)["text"]
            except (ValueError, KeyError, TypeError):
                continue
            out = json.dumps({"type": "message", "room": room, "from": sender, "text": text,
                              "ts": int(time.time() * 1000)}, separators=(",", ":"))
            broadcast(members, out)
    finally:
        members.discard(ws)


async def main(port: int):
    async with serve(handler, "127.0.0.1", port, compression=None, max_size=16 << 20,
                     ping_interval=None) as server:
        print(f"ws-broadcast listening on {port}", flush=True)
        await server.serve_forever()


asyncio.run(main(int(sys.argv[1])))
