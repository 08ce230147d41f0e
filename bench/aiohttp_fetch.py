#!/usr/bin/env python3
"""The Python peer of `corral fetch`: GET every URL of a file (one a line) with aiohttp, at most
C at once with asyncio.Semaphore(C) and gather, one shared ClientSession.

    python bench/aiohttp_fetch.py FILE [-c 100] [--uvloop]

Prints `ok OK of TOTAL in SECONDS s` on stderr; exits 1 if any request failed.
"""

import argparse
import asyncio
import sys
import time

import aiohttp


async def run(urls, concurrency):
    sem = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def get(url):
            async with sem:
                try:
                    async with session.get(url) as resp:
                        await resp.read()
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

        return await asyncio.gather(*(get(u) for u in urls))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("-c", type=int, default=100)
    ap.add_argument("--uvloop", action="store_true")
    args = ap.parse_args()
    with open(args.file) as f:
        urls = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    if args.uvloop:
        import uvloop

        factory = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop
    t0 = time.perf_counter()
    with asyncio.Runner(loop_factory=factory) as runner:
        results = runner.run(run(urls, args.c))
    dt = time.perf_counter() - t0
    ok = sum(results)
    print(f"ok {ok} of {len(urls)} in {dt:.3f} s", file=sys.stderr)
    sys.exit(0 if ok == len(urls) else 1)


if __name__ == "__main__":
    main()
