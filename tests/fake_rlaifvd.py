"""fake_rlaifvd.py — a stand-in daemon for client tests: a ROUTER on loopback that answers ping and
info (settings.workers = W) at once, and score requests only once W of them are waiting (or 0.3 s
passed), in reverse order of arrival, so a client that keeps k requests in flight is seen doing so
(max_in_flight) and one that writes results in arrival order is caught. Candidate i gets reward i
(the last candidate wins). The first request whose prompt is in busy_once is answered `busy`, the
first whose prompt is in drop_once is never answered (a lost reply). For several-endpoint clients:
busy_all answers every score request `busy`; twice sends every score reply two times (a duplicate
reply the client must drop by id)."""
import threading
import time

import msgpack
import zmq

from testlib import free_port


class FakeDaemon:
    def __init__(self, workers, busy_once=(), drop_once=(), busy_all=False, twice=False):
        self.workers, self.busy_once, self.drop_once = workers, set(busy_once), set(drop_once)
        self.busy_all, self.twice = busy_all, twice
        self.ep = f"tcp://127.0.0.1:{free_port()}"
        self.max_in_flight, self.busy_sent, self.dropped, self.scores = 0, 0, 0, 0
        self.stop = False
        self.ready = threading.Event()
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()
        self.ready.wait(5)

    def reset_counts(self):
        self.max_in_flight = self.busy_sent = self.dropped = self.scores = 0

    def loop(self):
        s = zmq.Context.instance().socket(zmq.ROUTER)
        s.setsockopt(zmq.LINGER, 0)
        s.bind(self.ep)
        self.ready.set()
        held, first = [], None
        while not self.stop:
            if s.poll(20):
                rid, body = s.recv_multipart()
                q = msgpack.unpackb(body, raw=False)
                head = {"v": q["v"], "id": q["id"]}
                if q["op"] == "ping":
                    s.send_multipart([rid, msgpack.packb({**head, "ok": True, "pong": "fake"})])
                elif q["op"] == "info":
                    s.send_multipart([rid, msgpack.packb({**head, "ok": True, "settings": {"workers": str(self.workers)},
                                                          "reward_kinds": ["rlaifv", "dpo", "logp_mean", "logp_sum"]})])
                elif q["prompt"] in self.busy_once or self.busy_all:
                    self.busy_once.discard(q["prompt"])
                    self.busy_sent += 1
                    s.send_multipart([rid, msgpack.packb({**head, "ok": False,
                                                          "error": {"code": "busy", "message": "queue full"}})])
                elif q["prompt"] in self.drop_once:
                    self.drop_once.discard(q["prompt"])
                    self.dropped += 1
                else:
                    held.append((rid, q))
                    first = first or time.time()
                    self.max_in_flight = max(self.max_in_flight, len(held))
            if held and (len(held) >= self.workers or time.time() - first > 0.3):
                for rid, q in reversed(held):
                    rank = [{"index": i, "reward": float(i), "tokens": 1, "policy": {"logp_sum": -1.0, "logp_mean": -1.0}}
                            for i in reversed(range(len(q["candidates"])))]
                    self.scores += 1
                    rep = msgpack.packb({"v": q["v"], "id": q["id"], "ok": True, "reward_kind": "logp_mean", "beta": 0.1,
                                         "ranking": rank,
                                         "timing_ms": {"image": 0.0, "prefix": 0.0, "candidates": 0.0, "total": 0.0,
                                                       "cached": []}})
                    for _ in range(2 if self.twice else 1):
                        s.send_multipart([rid, rep])
                held, first = [], None
        s.close(0)

    def close(self):
        self.stop = True
        self.t.join(5)
