"""Python's websockets as a reference echo server for the differential: echo_py.py PORT."""
import asyncio
import sys

from websockets.asyncio.server import serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main():
    port = int(sys.argv[1])
    async with serve(echo, "127.0.0.1", port, max_size=16 * 1024 * 1024, compression=None):
        print("ready", flush=True)
        await asyncio.get_running_loop().create_future()


asyncio.run(main())
