"""Drives mcp-task-server with the official MCP Python SDK client (pip mcp==1.30.0).

Run by tests/python_client.rs:

    python python_client.py --server PATH --store URL [--shared]

Every check raises on failure, so the exit status says whether the server interoperates.
With --shared, the store is one that several processes can share (SQLite, Redis), and the
cross-process ownership checks run too.
"""

import argparse
import sys
import uuid
import warnings
from contextlib import AsyncExitStack

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import McpError
from mcp.types import INVALID_PARAMS, METHOD_NOT_FOUND, CallToolResult, ServerNotification, TaskStatusNotification

# session.experimental is deprecated in 1.30.0 (tasks leave the core protocol later); it is
# exactly the API under test.
warnings.filterwarnings("ignore", category=DeprecationWarning)

EXPECTED_SDK = "1.30.0"
RELATED_TASK = "io.modelcontextprotocol/related-task"
TERMINAL = {"completed", "failed", "cancelled"}
GUARD_SECONDS = 60  # hang guard for anything that waits


def check(condition, message):
    if not condition:
        raise AssertionError(message)


class Session:
    """One server process and the client session speaking to it."""

    def __init__(self, stack, server, store, owner):
        self.stack = stack
        self.server = server
        self.store = store
        self.owner = owner
        self.statuses = []  # every notifications/tasks/status received, in order
        self.status_arrived = anyio.Event()

    async def open(self):
        args = ["--store", self.store]
        if self.owner is not None:
            args += ["--owner", self.owner]
        params = StdioServerParameters(command=self.server, args=args)
        read, write = await self.stack.enter_async_context(stdio_client(params))
        self.session = await self.stack.enter_async_context(
            ClientSession(read, write, message_handler=self.on_message)
        )
        self.init = await self.session.initialize()
        return self

    async def on_message(self, message):
        if isinstance(message, ServerNotification) and isinstance(message.root, TaskStatusNotification):
            self.statuses.append(message.root.params)
            self.status_arrived.set()
            self.status_arrived = anyio.Event()

    @property
    def tasks(self):
        return self.session.experimental

    async def wait_for_status(self, task_id, status):
        with anyio.fail_after(GUARD_SECONDS):
            while not any(n.taskId == task_id and n.status == status for n in self.statuses):
                await self.status_arrived.wait()

    async def poll_until(self, task_id, status):
        with anyio.fail_after(GUARD_SECONDS):
            while True:
                task = await self.tasks.get_task(task_id)
                if task.status in TERMINAL:
                    check(task.status == status, f"task {task_id} ended {task.status}, expected {status}")
                    return task
                await anyio.sleep((task.pollInterval or 100) / 1000)

    async def list_all(self):
        ids, cursor = [], None
        while True:
            page = await self.tasks.list_tasks(cursor)
            ids += [task.taskId for task in page.tasks]
            cursor = page.nextCursor
            if cursor is None:
                return ids


async def expect_error(code, call, what):
    try:
        await call
    except McpError as error:
        check(error.error.code == code, f"{what}: got {error.error.code} {error.error.message!r}, expected {code}")
        return error.error
    raise AssertionError(f"{what}: succeeded, expected error {code}")


def text_of(result):
    check(result.content and result.content[0].type == "text", f"no text content in {result}")
    return result.content[0].text


async def single_process_checks(s):
    """The interoperability checks against one server process."""
    check(s.init.protocolVersion == "2025-11-25", f"protocol {s.init.protocolVersion}")
    caps = s.init.capabilities.tasks
    check(caps is not None and caps.list is not None and caps.cancel is not None, f"tasks capability {caps}")
    check(caps.requests.tools.call is not None, "tasks.requests.tools.call not declared")
    tools = {tool.name: tool for tool in (await s.session.list_tools()).tools}
    check(set(tools) == {"sleep", "fail", "echo"}, f"tools {sorted(tools)}")
    check(tools["sleep"].execution.taskSupport == "optional", "sleep taskSupport")
    check(tools["fail"].execution.taskSupport == "optional", "fail taskSupport")
    check(tools["echo"].execution is None, "echo declares no task support")
    await s.session.send_ping()

    # sleep as a task: poll until completed, then read its result.
    created = await s.tasks.call_tool_as_task("sleep", {"seconds": 0.2, "text": "hello from a task"})
    task_id = created.task.taskId
    check(created.task.status == "working", f"created {created.task.status}")
    check(created.task.ttl == 60000, f"ttl {created.task.ttl}")
    await s.poll_until(task_id, "completed")
    result = await s.tasks.get_task_result(task_id, CallToolResult)
    check(text_of(result) == "hello from a task", f"result text {text_of(result)!r}")
    check(not result.isError, "result isError")
    check(result.meta[RELATED_TASK]["taskId"] == task_id, f"result _meta {result.meta}")
    await s.wait_for_status(task_id, "completed")

    # Without text, the answer says how long it slept.
    plain = await s.tasks.call_tool_as_task("sleep", {"seconds": 0.1})
    await s.poll_until(plain.task.taskId, "completed")
    slept = await s.tasks.get_task_result(plain.task.taskId, CallToolResult)
    check(text_of(slept) == "slept 0.1 s", f"plain sleep said {text_of(slept)!r}")

    # The list finds both.
    listed = await s.list_all()
    check({task_id, plain.task.taskId} <= set(listed), f"list {listed} lacks the tasks")

    # A long sleep is cancelled.
    long = await s.tasks.call_tool_as_task("sleep", {"seconds": 600})
    cancelled = await s.tasks.cancel_task(long.task.taskId)
    check(cancelled.status == "cancelled", f"cancel answered {cancelled.status}")
    check((await s.tasks.get_task(long.task.taskId)).status == "cancelled", "get after cancel")
    await s.wait_for_status(long.task.taskId, "cancelled")
    error = await expect_error(
        INVALID_PARAMS, s.tasks.get_task_result(long.task.taskId, CallToolResult), "result of a cancelled task"
    )
    check("cancelled" in error.message, f"cancelled result error {error.message!r}")
    await expect_error(INVALID_PARAMS, s.tasks.cancel_task(long.task.taskId), "cancelling a cancelled task")

    # fail as a task ends failed, and its result is the request's error.
    failing = await s.tasks.call_tool_as_task("fail", {"message": "it went wrong"})
    failed = await s.poll_until(failing.task.taskId, "failed")
    check(failed.statusMessage == "it went wrong", f"failed statusMessage {failed.statusMessage!r}")
    error = await expect_error(-32000, s.tasks.get_task_result(failing.task.taskId, CallToolResult), "fail result")
    check(error.message == "it went wrong", f"fail error {error.message!r}")

    # Unknown ids are -32602 everywhere.
    await expect_error(INVALID_PARAMS, s.tasks.get_task("no-such-task"), "get of an unknown id")
    await expect_error(INVALID_PARAMS, s.tasks.cancel_task("no-such-task"), "cancel of an unknown id")
    await expect_error(
        INVALID_PARAMS, s.tasks.get_task_result("no-such-task", CallToolResult), "result of an unknown id"
    )

    # Tools without task support refuse a task; called plainly they answer at once.
    await expect_error(METHOD_NOT_FOUND, s.tasks.call_tool_as_task("echo", {"text": "x"}), "echo as a task")
    check(text_of(await s.session.call_tool("echo", {"text": "plain"})) == "plain", "echo")
    return task_id


async def shared_store_checks(stack, server, store, s, completed_id):
    """A second process with the same owner sees the first one's tasks; another owner does not."""
    twin = await Session(stack, server, store, s.owner).open()
    task = await twin.tasks.get_task(completed_id)
    check(task.status == "completed", f"twin sees {task.status}")
    check(completed_id in await twin.list_all(), "twin's list lacks the task")
    result = await twin.tasks.get_task_result(completed_id, CallToolResult)
    check(text_of(result) == "hello from a task", "twin reads the result")

    # A task started in the first process is cancelled from the second, and the first sees it.
    long = await s.tasks.call_tool_as_task("sleep", {"seconds": 600})
    await twin.tasks.cancel_task(long.task.taskId)
    await s.wait_for_status(long.task.taskId, "cancelled")
    check((await s.tasks.get_task(long.task.taskId)).status == "cancelled", "cancel seen across processes")

    stranger = await Session(stack, server, store, f"{s.owner}-stranger").open()
    await expect_error(INVALID_PARAMS, stranger.tasks.get_task(completed_id), "another owner's get")
    await expect_error(INVALID_PARAMS, stranger.tasks.cancel_task(long.task.taskId), "another owner's cancel")
    await expect_error(
        INVALID_PARAMS, stranger.tasks.get_task_result(completed_id, CallToolResult), "another owner's result"
    )
    check(completed_id not in await stranger.list_all(), "another owner lists the task")


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--shared", action="store_true")
    args = parser.parse_args()

    from importlib.metadata import version

    check(version("mcp") == EXPECTED_SDK, f"mcp {version('mcp')} installed, {EXPECTED_SDK} expected")
    owner = f"interop-{uuid.uuid4()}" if args.shared else None
    with anyio.fail_after(5 * GUARD_SECONDS):
        async with AsyncExitStack() as stack:
            first = await Session(stack, args.server, args.store, owner).open()
            completed_id = await single_process_checks(first)
            if args.shared:
                await shared_store_checks(stack, args.server, args.store, first, completed_id)
    print(f"python client {EXPECTED_SDK}: every check passed against {args.store.split('?')[0]}")


if __name__ == "__main__":
    try:
        anyio.run(main)
    except Exception as error:  # report the failing check plainly, then fail
        print(f"FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        raise
