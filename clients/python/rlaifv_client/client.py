"""Client and AsyncClient for rlaifvd: msgpack requests over a ZeroMQ DEALER socket.

Every request carries a fresh id; a reply whose id does not match (a late answer to a request
that timed out) is discarded, so several requests can share one socket. A `busy` reply is
retried after a backoff (0.05 s doubling to 2 s; `busy_retries`, default 5) and a request with no
reply within `timeout` is sent again under a new id (`timeout_retries`, default 0: a job may be
long, so resending it is the caller's choice). When a single request times out for good the socket
is closed and reopened (the "lazy pirate" pattern of the ZeroMQ guide).

Several daemons serving the same models: give a list, or one string "tcp://a:5555,tcp://b:5555".
Each request goes to the endpoint with the fewest of this client's requests in flight, among the
connected ones; a request answered `busy` or `shutting_down`, unanswered within `timeout`, or (Client)
whose daemon drops the connection is resent at once to an endpoint it has not failed on. Only when
every endpoint failed it do `busy_retries` (with the backoff) and `timeout_retries` count. Scoring is
idempotent (docs/protocol.md), so a resent request is safe; a late or second reply is dropped by id.
"""
import asyncio
import io
import itertools
import os
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import msgpack
import zmq
import zmq.asyncio

PROTOCOL_VERSION = 2
BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 2.0


class RlaifvError(Exception):
    """The daemon answered ok: false. .code is the stable error code (docs/protocol.md)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Timeout(RlaifvError):
    """No reply within the client's timeout (the daemon may still be working on it)."""

    def __init__(self, seconds: float):
        super().__init__("client_timeout", f"no reply within {seconds:g} s")


@dataclass
class Logps:
    logp_sum: float
    logp_mean: float
    token_logps: Optional[List[float]] = None


@dataclass
class Ranked:
    index: int
    reward: float
    tokens: int
    policy: Logps
    reference: Optional[Logps] = None


@dataclass
class ScoreResult:
    reward_kind: str
    beta: float
    ranking: List[Ranked]                                    # highest reward first
    timing_ms: Dict[str, Any] = field(default_factory=dict)  # floats, and cached: [step names]
    candidates: List[str] = field(default_factory=list)      # as sent, in input order

    @property
    def best(self) -> Ranked:
        """The highest-rewarded candidate (the first of equals in input order)."""
        return self.ranking[0]

    @property
    def rewards(self) -> List[float]:
        """Each candidate's reward, in input order (rewards[i] is candidates[i]'s)."""
        out = [0.0] * len(self.ranking)
        for r in self.ranking:
            out[r.index] = r.reward
        return out

    def rerank(self, top_n: Optional[int] = None) -> List[str]:
        """The candidates' texts, best first; the first top_n of them when given."""
        order = [self.candidates[r.index] for r in self.ranking]
        return order if top_n is None else order[:top_n]


@dataclass
class CurveKeys:
    """Z85 keys (40 characters each): the server's public key and this client's key pair."""
    server_public: str
    public: str
    secret: str

    @staticmethod
    def load(server_public_file: str, client_key_file: str) -> "CurveKeys":
        def read(path, name):
            for line in open(path):
                line = line.strip()
                if line.startswith("#"):
                    continue
                if name in line and "=" in line:
                    return line.split("=", 1)[1].strip().strip('"')
                if name == "public-key" and len(line) == 40:
                    return line
            raise ValueError(f"{path}: no {name}")
        return CurveKeys(read(server_public_file, "public-key"), read(client_key_file, "public-key"),
                         read(client_key_file, "secret-key"))


ImageLike = Union[None, bytes, bytearray, memoryview, str, "os.PathLike[str]", Any]


def _image_bytes(image: ImageLike) -> Optional[bytes]:
    """bytes as they are; a str or os.PathLike is a file to read; a PIL image is sent as PNG;
    None is a text-only job."""
    if image is None:
        return None
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image)
    if isinstance(image, (str, os.PathLike)):
        with open(image, "rb") as f:
            return f.read()
    if hasattr(image, "save") and hasattr(image, "mode"):  # PIL.Image.Image, without importing PIL
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        return buf.getvalue()
    raise TypeError(f"image must be bytes, a path (str or os.PathLike), a PIL image or None, "
                    f"not {type(image).__name__}")


def _candidates(candidates: Sequence[str]) -> List[str]:
    # A str is a sequence too: sent as is it would be one candidate per character.
    if not isinstance(candidates, (list, tuple)):
        raise TypeError(f"candidates must be a list of str, not {type(candidates).__name__}"
                        + (" (wrap one answer in a list: [answer])" if isinstance(candidates, str) else ""))
    for i, c in enumerate(candidates):
        if not isinstance(c, str):
            raise TypeError(f"candidates[{i}] must be str, not {type(c).__name__}")
    return list(candidates)


MAX_ENDPOINTS = 16  # = RLV_CLIENT_MAX_ENDPOINTS of clients/rlaifv_client.h
RESEND_CODES = ("busy", "shutting_down")  # answers that send a request to another endpoint


def _check_endpoints(endpoint: Union[str, Sequence[str]]) -> List[str]:
    """One endpoint, a comma-separated string of them, or a list: each must name its transport."""
    eps = endpoint.split(",") if isinstance(endpoint, str) else list(endpoint) if isinstance(endpoint, (list, tuple)) else None
    if not eps:
        raise ValueError(f"endpoint must be a str or a list of str, not {endpoint!r}")
    if len(eps) > MAX_ENDPOINTS:
        raise ValueError(f"more than {MAX_ENDPOINTS} endpoints")
    for e in eps:
        if not isinstance(e, str) or "://" not in e:
            raise ValueError(f"endpoint {e!r} names no transport: write 'tcp://{e}' (or 'ipc://PATH')")
    return eps


def _logps(d: Optional[dict]) -> Optional[Logps]:
    if d is None:
        return None
    return Logps(d["logp_sum"], d["logp_mean"], d.get("token_logps"))


def _result(rep: dict, candidates: List[str]) -> ScoreResult:
    return ScoreResult(rep["reward_kind"], rep["beta"],
                       [Ranked(r["index"], r["reward"], r["tokens"], _logps(r["policy"]), _logps(r.get("reference")))
                        for r in rep["ranking"]], rep.get("timing_ms", {}), candidates)


def _score_request(image, prompt, candidates, reward, beta, token_logps, deadline_ms) -> Tuple[dict, List[str]]:
    cands = _candidates(candidates)
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be str, not {type(prompt).__name__}")
    req: Dict[str, Any] = {"op": "score", "image": _image_bytes(image), "prompt": prompt, "candidates": cands}
    if reward is not None:
        req["reward"] = reward
    if beta is not None:
        req["beta"] = float(beta)
    if token_logps:
        req["token_logps"] = True
    if deadline_ms is not None:
        req["deadline_ms"] = int(deadline_ms)
    return req, cands


def _job(job) -> Tuple[dict, List[str]]:
    """A score_many job: a dict of score()'s arguments, or a tuple (image, prompt, candidates)."""
    if isinstance(job, dict):
        kw = dict(job)
        return _score_request(kw.pop("image", None), kw.pop("prompt"), kw.pop("candidates"), kw.pop("reward", None),
                              kw.pop("beta", None), kw.pop("token_logps", False), kw.pop("deadline_ms", None))
    image, prompt, candidates = job
    return _score_request(image, prompt, candidates, None, None, False, None)


def _backoff(attempt: int) -> float:
    return min(BACKOFF_MAX_S, BACKOFF_FIRST_S * (2 ** attempt))


class _Base:
    def __init__(self, endpoint, timeout: float, curve: Optional[CurveKeys], context, busy_retries: int,
                 timeout_retries: int):
        self.endpoints = _check_endpoints(endpoint)
        self.endpoint = ",".join(self.endpoints)
        self.timeout = timeout
        self.curve = curve
        self.busy_retries = busy_retries
        self.timeout_retries = timeout_retries
        self._ids = itertools.count(int.from_bytes(os.urandom(4), "little"))
        self._ctx = context
        n = len(self.endpoints)
        self._socks: List[Any] = [None] * n
        self._mons: List[Any] = [None] * n  # PAIR sockets: each DEALER's disconnect events (n > 1)
        self._load = [0] * n                # this client's requests in flight per endpoint
        self._turn = 0                      # rotates the first endpoint looked at: ties spread

    def _open_one(self, k: int):
        s = self._ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        if self.curve:
            s.curve_serverkey = self.curve.server_public.encode()
            s.curve_publickey = self.curve.public.encode()
            s.curve_secretkey = self.curve.secret.encode()
        if len(self.endpoints) > 1:
            # Only to a completed connection: a send to a daemon that is down fails at once (zmq.Again)
            # and the request goes elsewhere, instead of waiting in a queue for a peer that may not come.
            s.setsockopt(zmq.IMMEDIATE, 1)
            if not isinstance(self._ctx, zmq.asyncio.Context):
                self._mons[k] = s.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        s.connect(self.endpoints[k])
        self._socks[k] = s

    def _open(self):
        for k in range(len(self.endpoints)):
            self._open_one(k)

    def _close_one(self, k: int):
        if self._mons[k] is not None:
            self._socks[k].disable_monitor()
            self._mons[k].close(0)
            self._mons[k] = None
        if self._socks[k] is not None:
            self._socks[k].close(0)
            self._socks[k] = None

    def _reset(self):
        for k in range(len(self.endpoints)):
            self._close_one(k)
        self._open()

    def _order(self, failed) -> List[int]:
        """Endpoints to try, fewest in flight first (ties rotate), skipping those in failed."""
        n = len(self.endpoints)
        self._turn += 1
        ks = [(self._turn + j) % n for j in range(n)]
        return sorted((k for k in ks if k not in failed), key=lambda k: self._load[k])

    def _give_up_on(self, f: "_Flight", k: int, code: Optional[str]) -> bool:
        """A try of f failed on endpoint k (code: the daemon's answer; None: no reply or a dropped
        connection). True when another endpoint is left to try at once; else f.failed starts over
        and the caller applies its busy / timeout retries."""
        f.failed.add(k)
        if len(f.failed) < len(self.endpoints) and (code is None or code in RESEND_CODES):
            return True
        f.failed.clear()
        return False

    def _encode(self, req: dict) -> Tuple[int, bytes]:
        rid = next(self._ids)
        body = dict(v=PROTOCOL_VERSION, id=rid, **req)
        return rid, msgpack.packb(body, use_bin_type=True)

    @staticmethod
    def _error(rep: dict) -> Optional[RlaifvError]:
        if rep.get("ok"):
            return None
        err = rep.get("error") or {}
        return RlaifvError(err.get("code", "internal"), err.get("message", ""))

    def close(self):
        for k in range(len(self.endpoints)):
            self._close_one(k)


class _Flight:
    """One request of a batch: its current id and endpoint, send time, tries so far, and the
    endpoints it failed on since it last started over."""
    __slots__ = ("req", "rid", "ep", "sent", "first", "busy", "timeouts", "not_before", "result", "failed")

    def __init__(self, req):
        self.req, self.rid, self.ep, self.sent, self.busy, self.timeouts, self.not_before = req, None, 0, 0.0, 0, 0, 0.0
        self.first, self.result, self.failed = None, None, set()


class Client(_Base):
    """Blocking client. Thread-compatible (one Client per thread)."""

    def __init__(self, endpoint: str = "tcp://127.0.0.1:5555", timeout: float = 30.0,
                 curve: Optional[CurveKeys] = None, context: Optional[zmq.Context] = None,
                 busy_retries: int = 5, timeout_retries: int = 0):
        super().__init__(endpoint, timeout, curve, context or zmq.Context.instance(), busy_retries, timeout_retries)
        self._open()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _send(self, f: _Flight) -> bool:
        """Sends f under a fresh id to the least-loaded connected endpoint it has not failed on.
        False when none of them is connected (several endpoints only)."""
        f.rid, body = self._encode(f.req)
        if len(self.endpoints) == 1:
            self._socks[0].send(body)  # queued until connected, as with one daemon always
            f.ep = 0
            return True
        for k in self._order(f.failed):
            try:
                self._socks[k].send(body, zmq.NOBLOCK)
            except zmq.Again:
                continue
            f.ep = k
            return True
        return False

    def _run(self, reqs: List[dict], concurrency: int, timeout: Optional[float]) -> List[Any]:
        """Sends reqs with at most `concurrency` in flight on this client's sockets; each entry of
        the result is the reply map or the RlaifvError it ended with."""
        timeout = self.timeout if timeout is None else timeout
        todo = [_Flight(r) for r in reqs]
        waiting = list(range(len(todo)))[::-1]  # stack: next to send at the end
        flying: Dict[int, int] = {}             # rid -> index
        timed_out = False

        def no_reply(i):  # todo[i]'s try got no reply (timeout, or its daemon dropped the connection)
            nonlocal timed_out
            f = todo[i]
            if self._give_up_on(f, f.ep, None):
                f.not_before = 0.0
                _push_waiting(waiting, todo, i)
            elif f.timeouts < self.timeout_retries:
                f.timeouts += 1
                f.not_before = 0.0
                _push_waiting(waiting, todo, i)
            else:
                f.result = Timeout(timeout)
                timed_out = True

        while waiting or flying:
            now = time.monotonic()
            while waiting and len(flying) < concurrency and todo[waiting[-1]].not_before <= now:
                i = waiting[-1]
                f = todo[i]
                f.first = now if f.first is None else f.first
                if not self._send(f):  # no endpoint connected: look again shortly, up to timeout
                    if now - f.first >= timeout:
                        waiting.pop()
                        f.result = Timeout(timeout)
                        timed_out = True
                        continue
                    f.not_before = now + 0.02
                    _push_waiting(waiting, todo, waiting.pop())
                    break
                waiting.pop()
                f.sent = time.monotonic()
                self._load[f.ep] += 1
                flying[f.rid] = i
            # wait for a reply, the next deadline or the next backoff to end
            wake = [todo[i].sent + timeout for i in flying.values()]
            if waiting and len(flying) < concurrency:
                wake.append(todo[waiting[-1]].not_before)
            left = max(0.0, min(wake) - time.monotonic()) if wake else 0.0
            poller = zmq.Poller()
            for s in self._socks + [m for m in self._mons if m is not None]:
                poller.register(s, zmq.POLLIN)
            ready = dict(poller.poll(int(left * 1000) + 1))
            for k, s in enumerate(self._socks):
                while s in ready and s.poll(0):
                    rep = msgpack.unpackb(s.recv(), raw=False)
                    i = flying.pop(rep.get("id"), None)  # None: a stale or second reply of a request settled
                    if i is None:
                        continue
                    f = todo[i]
                    self._load[f.ep] -= 1
                    err = self._error(rep)
                    if err is not None and self._give_up_on(f, f.ep, err.code):
                        f.not_before = 0.0
                        _push_waiting(waiting, todo, i)
                    elif err is not None and err.code == "busy" and f.busy < self.busy_retries:
                        f.not_before = time.monotonic() + _backoff(f.busy)
                        f.busy += 1
                        _push_waiting(waiting, todo, i)
                    else:
                        f.result = err if err is not None else rep
            for k, m in enumerate(self._mons):
                if m is None or m not in ready:
                    continue
                while m.poll(0):
                    m.recv_multipart()
                for rid, i in list(flying.items()):  # the daemon went away with these requests
                    if todo[i].ep == k:
                        del flying[rid]
                        self._load[k] -= 1
                        no_reply(i)
            now = time.monotonic()
            for rid, i in list(flying.items()):
                f = todo[i]
                if now - f.sent < timeout:
                    continue
                del flying[rid]
                self._load[f.ep] -= 1
                no_reply(i)
        if timed_out and len(reqs) == 1:
            self._reset()  # lazy pirate: the late reply is never read
        return [f.result for f in todo]

    def request(self, req: dict, timeout: Optional[float] = None) -> dict:
        """Sends one request map (without v/id) and returns the reply map; raises RlaifvError."""
        rep = self._run([req], 1, timeout)[0]
        if isinstance(rep, RlaifvError):
            raise rep
        return rep

    def score(self, image: ImageLike, prompt: str, candidates: Sequence[str], reward: Optional[str] = None,
              beta: Optional[float] = None, token_logps: bool = False, deadline_ms: Optional[int] = None,
              timeout: Optional[float] = None) -> ScoreResult:
        """Ranks candidates (a list of str) for the image (bytes, a path, a PIL image or None)."""
        req, cands = _score_request(image, prompt, candidates, reward, beta, token_logps, deadline_ms)
        return _result(self.request(req, timeout), cands)

    def score_many(self, jobs: Iterable[Any], concurrency: int = 4, timeout: Optional[float] = None,
                   return_exceptions: bool = False) -> List[Any]:
        """Scores jobs (dicts of score()'s arguments, or (image, prompt, candidates) tuples) with
        `concurrency` requests in flight; results in job order. An error is raised (the first in
        job order) unless return_exceptions, which puts the RlaifvError in its place."""
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        built = [_job(j) for j in jobs]
        reps = self._run([r for r, _ in built], concurrency, timeout)
        out = [rep if isinstance(rep, RlaifvError) else _result(rep, c) for rep, (_, c) in zip(reps, built)]
        if not return_exceptions:
            for r in out:
                if isinstance(r, RlaifvError):
                    raise r
        return out

    def ping(self, timeout: Optional[float] = None) -> dict:
        return self.request({"op": "ping"}, timeout)

    def info(self, timeout: Optional[float] = None) -> dict:
        return self.request({"op": "info"}, timeout)

    def stats(self, timeout: Optional[float] = None) -> dict:
        return self.request({"op": "stats"}, timeout)


def _push_waiting(waiting: List[int], todo: List[_Flight], i: int) -> None:
    """Back on the stack, kept ordered so the end is the one whose backoff ends first."""
    waiting.append(i)
    waiting.sort(key=lambda j: (todo[j].not_before, j), reverse=True)


class AsyncClient(_Base):
    """asyncio client (zmq.asyncio). Several requests may be in flight at once: replies are
    matched to their requests by id. With several endpoints a request moves on after `busy`,
    `shutting_down` or `timeout`; unlike Client it does not watch for dropped connections (a
    request held by a killed daemon waits out its timeout)."""

    def __init__(self, endpoint: str = "tcp://127.0.0.1:5555", timeout: float = 30.0,
                 curve: Optional[CurveKeys] = None, context: Optional[zmq.asyncio.Context] = None,
                 busy_retries: int = 5, timeout_retries: int = 0):
        super().__init__(endpoint, timeout, curve, context or zmq.asyncio.Context.instance(), busy_retries,
                         timeout_retries)
        self._open()
        self._waiting: Dict[int, Any] = {}
        self._readers: List[Any] = [None] * len(self.endpoints)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.close()

    async def _read_loop(self, k: int):
        while self._waiting:
            rep = msgpack.unpackb(await self._socks[k].recv(), raw=False)
            fut = self._waiting.pop(rep.get("id"), None)  # None: a stale or second reply
            if fut is not None and not fut.done():
                fut.set_result(rep)

    async def _once(self, f: _Flight, timeout: float) -> dict:
        """Sends f under a fresh id to the least-loaded connected endpoint it has not failed on
        (f.ep) and waits for its reply."""
        f.rid, body = self._encode(f.req)
        fut = asyncio.get_running_loop().create_future()
        self._waiting[f.rid] = fut
        t0 = time.monotonic()
        while True:
            for k in self._order(f.failed):
                try:
                    await self._socks[k].send(body, zmq.NOBLOCK if len(self.endpoints) > 1 else 0)
                except zmq.Again:
                    continue
                f.ep = k
                break
            else:  # no endpoint connected: look again shortly, up to timeout
                if time.monotonic() - t0 < timeout:
                    await asyncio.sleep(0.02)
                    continue
                self._waiting.pop(f.rid, None)
                raise Timeout(timeout)
            break
        if self._readers[f.ep] is None or self._readers[f.ep].done():
            self._readers[f.ep] = asyncio.ensure_future(self._read_loop(f.ep))
        self._load[f.ep] += 1
        try:
            return await asyncio.wait_for(fut, timeout - (time.monotonic() - t0))
        except asyncio.TimeoutError:
            self._waiting.pop(f.rid, None)
            raise Timeout(timeout) from None
        finally:
            self._load[f.ep] -= 1

    async def request(self, req: dict, timeout: Optional[float] = None) -> dict:
        """Sends one request map (without v/id) and returns the reply map; raises RlaifvError."""
        timeout = self.timeout if timeout is None else timeout
        f = _Flight(req)
        while True:
            try:
                rep = await self._once(f, timeout)
            except Timeout:
                if self._give_up_on(f, f.ep, None):
                    continue
                if f.timeouts >= self.timeout_retries:
                    raise
                f.timeouts += 1
                continue
            err = self._error(rep)
            if err is None:
                return rep
            if self._give_up_on(f, f.ep, err.code):
                continue
            if err.code != "busy" or f.busy >= self.busy_retries:
                raise err
            await asyncio.sleep(_backoff(f.busy))
            f.busy += 1

    async def score(self, image: ImageLike, prompt: str, candidates: Sequence[str],
                    reward: Optional[str] = None, beta: Optional[float] = None, token_logps: bool = False,
                    deadline_ms: Optional[int] = None, timeout: Optional[float] = None) -> ScoreResult:
        req, cands = _score_request(image, prompt, candidates, reward, beta, token_logps, deadline_ms)
        return _result(await self.request(req, timeout), cands)

    async def score_many(self, jobs: Iterable[Any], concurrency: int = 4, timeout: Optional[float] = None,
                         return_exceptions: bool = False) -> List[Any]:
        """As Client.score_many: `concurrency` requests in flight, results in job order."""
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        built = [_job(j) for j in jobs]
        gate = asyncio.Semaphore(concurrency)

        async def one(req, cands):
            async with gate:
                return _result(await self.request(req, timeout), cands)
        return await asyncio.gather(*[one(r, c) for r, c in built], return_exceptions=return_exceptions)

    async def ping(self, timeout: Optional[float] = None) -> dict:
        return await self.request({"op": "ping"}, timeout)

    async def info(self, timeout: Optional[float] = None) -> dict:
        return await self.request({"op": "info"}, timeout)

    async def stats(self, timeout: Optional[float] = None) -> dict:
        return await self.request({"op": "stats"}, timeout)

    def close(self):
        for r in self._readers:
            if r is not None:
                r.cancel()
        super().close()
