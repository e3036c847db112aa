"""Drives the MCP Python SDK's own store, InMemoryTaskStore (mcp==1.30.0), through
the workload the Rust runner gives every store, and prints the measurements as JSON.

Same workload as bench/benches/compare/workload.rs: fill to --size, then time each operation
over a fixed number of calls on random existing tasks (seeded), in batches that keep the store at
its size, each operation time-boxed by --budget seconds. Run by
`cargo bench --manifest-path bench/Cargo.toml`.
"""

import argparse
import asyncio
import json
import math
import random
import sys
import time
import tracemalloc
from datetime import datetime, timedelta, timezone

import mcp
from mcp.shared.experimental.tasks.helpers import cancel_task, create_task_state
from mcp.shared.experimental.tasks.in_memory_task_store import InMemoryTaskStore, StoredTask
from mcp.types import CallToolResult, TaskMetadata, TextContent

PAGE_SIZE = 100
TTL_MS = 3_600_000
STATUS_MESSAGE = "step 2 of 4"
RESULT = CallToolResult(
    content=[TextContent(type="text", text="lorem ipsum dolor sit amet " * 37)],
    isError=False,
)


def fill(store: InMemoryTaskStore, n: int) -> list[str]:
    """Puts n tasks straight into the store's dict: its create_task scans every task first,
    which makes filling quadratic. The tasks are exactly what create_task would store."""
    ids = []
    for _ in range(n):
        task = create_task_state(TaskMetadata(ttl=TTL_MS))
        expires = datetime.now(timezone.utc) + timedelta(milliseconds=TTL_MS)
        store._tasks[task.taskId] = StoredTask(task=task, expires_at=expires)
        ids.append(task.taskId)
    return ids


async def run_batch(calls, callers, deadline):
    """Runs the calls (coroutine factories) with `callers` concurrent tasks until done or the
    deadline; returns how many ran, the wall time and what the calls returned."""
    state = {"next": 0}
    outputs = []

    async def worker():
        while time.perf_counter() < deadline:
            i = state["next"]
            if i >= len(calls):
                return
            state["next"] = i + 1
            outputs.append(await calls[i]())

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(callers)))
    return min(state["next"], len(calls)), time.perf_counter() - start, outputs


async def measure_calls(store, pool, op, planned, callers, budget, rng):
    ids, nxt = pool["ids"], pool["next"]
    n = len(ids)
    batch_max = {"get": planned, "status": n, "complete": max(n // 2, 1), "cancel": max(n // 2, 1)}
    batch_max = batch_max.get(op, max(n // 4, 1))
    done, timed = 0, 0.0
    while done < planned and timed < budget:
        k = min(planned - done, batch_max)
        picked = []
        if op == "create":
            calls = [lambda: store.create_task(TaskMetadata(ttl=TTL_MS))] * k
        elif op == "get":
            calls = [(lambda t: lambda: store.get_task(t))(ids[rng.randrange(n)]) for _ in range(k)]
        else:
            picked = rng.sample(range(n), min(k, n))
            if op == "status":
                calls = [
                    (lambda t, s: lambda: store.update_task(t, status=s, status_message=STATUS_MESSAGE))(
                        ids[i], nxt[i]
                    )
                    for i in picked
                ]
            elif op == "complete":

                def complete(t):
                    async def call():
                        await store.store_result(t, RESULT)
                        await store.update_task(t, status="completed")

                    return call

                calls = [complete(ids[i]) for i in picked]
            else:
                calls = [(lambda t: lambda: cancel_task(store, t))(ids[i]) for i in picked]
        ran, elapsed, outputs = await run_batch(calls, callers, time.perf_counter() + budget - timed)
        done += ran
        timed += elapsed
        # Untimed: back to the store's size, every task non-terminal.
        if op == "create":
            for task in outputs:
                await store.delete_task(task.taskId)
        elif op == "status":
            for i in picked[:ran]:
                nxt[i] = "working" if nxt[i] == "input_required" else "input_required"
        elif op in ("complete", "cancel"):
            fresh = fill(store, ran)
            for i, new_id in zip(picked[:ran], fresh):
                await store.delete_task(ids[i])
                ids[i] = new_id
                nxt[i] = "input_required"
        if ran == 0:
            break
    partial = None if done >= planned else f"{done} of {planned} calls in the time box"
    return {"count": done, "seconds": timed, "partial": partial}


async def measure_list(store, n, callers, budget):
    start = time.perf_counter()
    deadline = start + budget

    async def walk():
        items, cursor = 0, None
        while True:
            tasks, cursor = await store.list_tasks(cursor)
            items += len(tasks)
            if cursor is None or time.perf_counter() >= deadline:
                return items, cursor is None

    walked = await asyncio.gather(*(walk() for _ in range(callers)))
    items = sum(w[0] for w in walked)
    finished = all(w[1] for w in walked)
    partial = None if finished else f"{items} of {n * callers} items in the time box"
    return {"count": items, "seconds": time.perf_counter() - start, "partial": partial}


async def measure_wake(store, pool, callers, rounds, budget, rng):
    picked = rng.sample(range(len(pool["ids"])), callers)
    rounds = max(-(-rounds // callers), 1)
    deadline = time.perf_counter() + budget
    samples = []

    async def pair(i):
        task_id = pool["ids"][i]
        for _ in range(rounds):
            if time.perf_counter() >= deadline and samples:
                break
            woke = {}

            async def waiter():
                await store.wait_for_update(task_id)
                woke["at"] = time.perf_counter()

            waiting = asyncio.ensure_future(waiter())
            await asyncio.sleep(0.001)
            await store.update_task(task_id, status=pool["next"][i], status_message=STATUS_MESSAGE)
            committed = time.perf_counter()
            pool["next"][i] = "working" if pool["next"][i] == "input_required" else "input_required"
            await asyncio.wait_for(waiting, 5)
            samples.append(max(0.0, woke["at"] - committed))

    await asyncio.gather(*(pair(i) for i in picked))
    samples.sort()

    def quantile(q):
        return samples[max(1, min(len(samples), math.ceil(q * len(samples)))) - 1]

    return {"p50_us": quantile(0.50) * 1e6, "p99_us": quantile(0.99) * 1e6, "samples": len(samples)}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--callers", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--budget", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--calls", type=json.loads, required=True, help='{"create": N, ...}')
    parser.add_argument("--wake-rounds", type=int, default=500)
    parser.add_argument("--ops", nargs="+", default=["create", "get", "status", "complete", "cancel", "list", "wake"])
    args = parser.parse_args()

    store = InMemoryTaskStore(page_size=PAGE_SIZE)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    ids = fill(store, args.size)
    bytes_per_task = (tracemalloc.get_traced_memory()[0] - before) / args.size
    tracemalloc.stop()

    rng = random.Random(args.seed)
    pool = {"ids": ids, "next": ["input_required"] * len(ids)}
    results = {}
    for callers in args.callers:
        for op in args.ops:
            if op == "list":
                cell = await measure_list(store, args.size, callers, args.budget)
            elif op == "wake":
                cell = await measure_wake(store, pool, callers, args.wake_rounds, args.budget, rng)
            else:
                cell = await measure_calls(store, pool, op, args.calls[op], callers, args.budget, rng)
            results[f"{op}/{callers}"] = cell
    version = getattr(mcp, "__version__", None)
    if version is None:
        from importlib.metadata import version as dist_version

        version = dist_version("mcp")
    json.dump({"mcp": version, "bytes_per_task": bytes_per_task, "results": results}, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main())
