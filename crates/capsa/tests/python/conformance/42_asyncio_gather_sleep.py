# expect: [[0,1,4],[2,1,0]]
import asyncio
async def work(n):
    await asyncio.sleep(0.01 * (3 - n))
    return n * n
async def main():
    done = []
    async def track(n):
        r = await work(n); done.append(n); return r
    results = await asyncio.gather(*(track(n) for n in range(3)))
    return [results, done]
asyncio.run(main())
