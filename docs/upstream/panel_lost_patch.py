"""Panel leaves a queued patch unsent when a write finishes in the event-loop turn that queues it.

Run: python panel_lost_patch.py   (needs only panel; prints LOST or DELIVERED, exits 1 when lost)
"""

import asyncio
import sys

from bokeh.document import Document
from panel.io import document as panel_document


class Socket:
    """A socket type Panel writes through ``extra_socket_handlers``: each write is a future the
    test completes, as a slow websocket's write completes later."""


writes: list = []
sent: list = []


def write(conn, msg=None, events=None):
    future = asyncio.get_running_loop().create_future()
    writes.append(future)
    sent.append(msg)
    return [future]


panel_document.extra_socket_handlers[Socket] = write


class Protocol:
    def create(self, kind, events):
        return events[0]


class Connection:
    protocol = Protocol()

    def __init__(self):
        self._socket = Socket()


async def main() -> bool:
    doc, conn = Document(), Connection()
    panel_document.schedule_write_events(doc, [conn], ["first patch"])
    await asyncio.sleep(0.01)              # the writer task now awaits the first write
    writes[0].set_result(None)             # that write completes ...
    panel_document.schedule_write_events(doc, [conn], ["second patch"])   # ... as a new patch is queued
    for _ in range(20):
        await asyncio.sleep(0.01)
        for future in writes:
            if not future.done():
                future.set_result(None)
    return "second patch" in sent


if __name__ == "__main__":
    delivered = asyncio.run(main())
    print("DELIVERED" if delivered else "LOST: the second patch is still queued and no writer will send it")
    sys.exit(0 if delivered else 1)
