"""The reference client against `drop-after-create`: the task is made and charged, the answer
never arrives. The client's create carries an `Idempotency-Key`, so it retries under the same
key, and the mock answers with the task the lost answer made: two requests, one task, one
charge. Without keys (`idempotency_keys=False`) the client raises instead, and never retries.

    python examples/tour/lost_answer.py
"""

from __future__ import annotations

import httpx

from evolink_client import APIConnectionError, Client
from mockserver import Settings, Simulator, create_app
from mockserver.testing import serve_in_thread

LOST_ONCE = {"scenario": "drop-after-create", "times": 1}


def main() -> None:
    sim = Simulator(Settings(clock="virtual"))
    with serve_in_thread(create_app(simulator=sim)) as url:
        httpx.post(f"{url}/_mock/faults", json=LOST_ONCE)
        with Client("sk-demo", base_url=url) as client:
            task = client.create_video("a cat")
            print("with a key:   ", task.id, "replayed" if task.replayed else "new")
        httpx.post(f"{url}/_mock/faults", json=LOST_ONCE)
        with Client("sk-demo", base_url=url, idempotency_keys=False) as client:
            try:
                client.create_video("a dog")
            except APIConnectionError as exc:
                print("without a key:", type(exc).__name__, "-", exc)
        journal = httpx.get(f"{url}/_mock/requests").json()
        tasks = httpx.get(f"{url}/_mock/tasks").json()
    print("journal:", [(e["method"], e["status"], e["scenario"], e["replayed"]) for e in journal])
    print("tasks:", [(t["id"], t["status"]) for t in tasks])


if __name__ == "__main__":
    main()
