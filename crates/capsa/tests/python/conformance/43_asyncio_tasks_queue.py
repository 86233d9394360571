# expect: [10,true]
import asyncio
async def producer(q):
    for i in range(5):
        await q.put(i)
    await q.put(None)
async def consumer(q):
    total = 0
    while (item := await q.get()) is not None:
        total += item
    return total
async def main():
    q = asyncio.Queue()
    _, total = await asyncio.gather(producer(q), consumer(q))
    try:
        await asyncio.wait_for(asyncio.sleep(1), timeout=0.01)
        timed_out = False
    except TimeoutError:
        timed_out = True
    return [total, timed_out]
asyncio.run(main())
