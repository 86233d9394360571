# expect: [8,[2,4]]
import asyncio
async def double(x):
    await asyncio.sleep(0)
    return 2 * x
a = await double(4)
[a, await asyncio.gather(double(1), double(2))]
