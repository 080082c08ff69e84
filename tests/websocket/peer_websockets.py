"""tests/websocket/peer_websockets.py: /ws/echo checked by Python's `websockets` (PyPI), an
independent client: its own framing, masking, UTF-8 checks and close handshake.

Usage: python peer_websockets.py URL [CA_FILE]   (run by tests/websocket/run, in its venv)

For wss:// the server's certificate is verified against CA_FILE (the self-signed certificate
the run made), host name included: nothing is skipped. Prints one line per check; exit status
0 if all passed.
"""

import asyncio
import ssl
import sys

from websockets.asyncio.client import connect

SIZES = [0, 125, 126, 65535, 65536, 16 << 20]
WAIT = 30  # seconds: the deadline of each check


async def checks(url: str, context):
    options = dict(max_size=None, ssl=context, open_timeout=WAIT, close_timeout=WAIT)
    results = []

    async def check(name, coroutine):
        try:
            await asyncio.wait_for(coroutine, WAIT)
            results.append((name, None))
        except Exception as error:  # noqa: BLE001: any failure is reported, not raised
            results.append((name, f"{type(error).__name__}: {error}"))

    async with connect(url, **options) as ws:
        # The client offers permessage-deflate; the server declines it: no extension header.
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions")

        async def declined():
            assert extensions is None, f"Sec-WebSocket-Extensions: {extensions}"

        await check("permessage-deflate offered and declined", declined())

        for size in SIZES:
            async def text_echo(size=size):
                sent = "é" * (size // 2) + "a" * (size % 2)
                await ws.send(sent)
                got = await ws.recv()
                assert isinstance(got, str) and got == sent, f"{len(got)} chars back"

            async def binary_echo(size=size):
                sent = bytes(range(256)) * (size // 256) + bytes(size % 256)
                await ws.send(sent)
                got = await ws.recv()
                assert isinstance(got, bytes) and got == sent, f"{len(got)} bytes back"

            await check(f"text echo, {size} bytes", text_echo())
            await check(f"binary echo, {size} bytes", binary_echo())

        async def fragmented_text():
            # An iterable is sent as one message in fragments, one per element.
            await ws.send(["frag", "mént", "", "ed 🎉"])
            got = await ws.recv()
            assert got == "fragménted 🎉", repr(got)

        async def fragmented_binary():
            await ws.send([b"\x00" * 70000, b"\x01" * 3, b"\x02" * 65536])
            got = await ws.recv()
            assert got == b"\x00" * 70000 + b"\x01" * 3 + b"\x02" * 65536, f"{len(got)} bytes"

        await check("fragmented text", fragmented_text())
        await check("fragmented binary", fragmented_binary())

        async def ping():
            # The waiter resolves when the pong with this very payload comes back.
            waiter = await ws.ping(b"\x00\xffping payload")
            await waiter

        await check("ping answered by a pong with its payload", ping())

        async def close_with_code():
            await ws.close(4000, "done here")
            # The code of the close frame the server sent back (None: no close frame).
            assert ws.close_code == 4000, f"close code {ws.close_code}"

        await check("close handshake with code 4000 echoed", close_with_code())
    return results


def main() -> int:
    url = sys.argv[1]
    context = None
    if url.startswith("wss://"):
        context = ssl.create_default_context(cafile=sys.argv[2])
    results = asyncio.run(checks(url, context))
    for name, error in results:
        print(f"{'ok' if error is None else 'FAIL'}  {name}" + (f": {error}" if error else ""))
    return 0 if all(error is None for _, error in results) else 1


if __name__ == "__main__":
    sys.exit(main())
