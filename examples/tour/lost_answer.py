"""The reference client against `drop-after-create`: the task is made and charged, the answer
never arrives; the client raises a connection error and does not create a second task.

It runs without idempotency keys: the simulator does not act on them, and with a key the client
would retry the lost answer, which only a server that keeps keys answers with the first task.

    python examples/tour/lost_answer.py
"""

from __future__ import annotations

import httpx

from evolink_client import APIConnectionError, Client
from mockserver import Settings, Simulator, create_app
from mockserver.testing import serve_in_thread


def main() -> None:
    sim = Simulator(Settings(clock="virtual"))
    with serve_in_thread(create_app(simulator=sim)) as url:
        httpx.post(f"{url}/_mock/faults", json={"scenario": "drop-after-create", "times": 1})
        with Client("sk-demo", base_url=url, idempotency_keys=False) as client:
            try:
                client.create_video("a cat")
            except APIConnectionError as exc:
                print("client raised:", type(exc).__name__, "-", exc)
        journal = httpx.get(f"{url}/_mock/requests").json()
        tasks = httpx.get(f"{url}/_mock/tasks").json()
    print("journal:", [(e["method"], e["path"], e["status"], e["scenario"]) for e in journal])
    print("tasks:", [(t["id"], t["status"]) for t in tasks])


if __name__ == "__main__":
    main()
