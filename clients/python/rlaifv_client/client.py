"""Client and AsyncClient for rlaifvd: msgpack requests over a ZeroMQ DEALER socket.

Every request carries a fresh id; a reply whose id does not match (a late answer to a request
that timed out) is discarded. After a timeout the socket is closed and reopened (the "lazy
pirate" pattern of the ZeroMQ guide), so a lost reply never poisons the next request.
"""
import asyncio
import itertools
import os
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import msgpack
import zmq
import zmq.asyncio

PROTOCOL_VERSION = 2


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
    ranking: List[Ranked]
    timing_ms: Dict[str, Any] = field(default_factory=dict)  # floats, and cached: [step names]

    @property
    def best(self) -> Ranked:
        return self.ranking[0]


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


def _logps(d: Optional[dict]) -> Optional[Logps]:
    if d is None:
        return None
    return Logps(d["logp_sum"], d["logp_mean"], d.get("token_logps"))


def _result(rep: dict) -> ScoreResult:
    return ScoreResult(rep["reward_kind"], rep["beta"],
                       [Ranked(r["index"], r["reward"], r["tokens"], _logps(r["policy"]), _logps(r.get("reference")))
                        for r in rep["ranking"]], rep.get("timing_ms", {}))


def _score_request(image, prompt, candidates, reward, beta, token_logps, deadline_ms) -> dict:
    req: Dict[str, Any] = {"op": "score", "image": bytes(image) if image is not None else None,
                           "prompt": prompt, "candidates": list(candidates)}
    if reward is not None:
        req["reward"] = reward
    if beta is not None:
        req["beta"] = float(beta)
    if token_logps:
        req["token_logps"] = True
    if deadline_ms is not None:
        req["deadline_ms"] = int(deadline_ms)
    return req


class _Base:
    def __init__(self, endpoint: str, timeout: float = 30.0, curve: Optional[CurveKeys] = None, context=None):
        self.endpoint = endpoint
        self.timeout = timeout
        self.curve = curve
        self._ids = itertools.count(int.from_bytes(os.urandom(4), "little"))
        self._ctx = context
        self._sock = None

    def _open(self):
        s = self._ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        if self.curve:
            s.curve_serverkey = self.curve.server_public.encode()
            s.curve_publickey = self.curve.public.encode()
            s.curve_secretkey = self.curve.secret.encode()
        s.connect(self.endpoint)
        self._sock = s

    def _reset(self):
        if self._sock is not None:
            self._sock.close(0)
        self._open()

    def _encode(self, req: dict) -> (int, bytes):
        rid = next(self._ids)
        body = dict(v=PROTOCOL_VERSION, id=rid, **req)
        return rid, msgpack.packb(body, use_bin_type=True)

    @staticmethod
    def _check(rep: dict) -> dict:
        if not rep.get("ok"):
            err = rep.get("error") or {}
            raise RlaifvError(err.get("code", "internal"), err.get("message", ""))
        return rep

    def close(self):
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None


class Client(_Base):
    """Blocking client. Thread-compatible (one Client per thread)."""

    def __init__(self, endpoint: str = "tcp://127.0.0.1:5555", timeout: float = 30.0,
                 curve: Optional[CurveKeys] = None, context: Optional[zmq.Context] = None):
        super().__init__(endpoint, timeout, curve, context or zmq.Context.instance())
        self._open()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def request(self, req: dict, timeout: Optional[float] = None) -> dict:
        """Sends one request map (without v/id) and returns the reply map; raises RlaifvError."""
        timeout = self.timeout if timeout is None else timeout
        rid, body = self._encode(req)
        self._sock.send(body)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._sock.poll(int(left * 1000)):
                self._reset()
                raise Timeout(timeout)
            rep = msgpack.unpackb(self._sock.recv(), raw=False)
            if rep.get("id") == rid:
                return self._check(rep)

    def score(self, image: Optional[bytes], prompt: str, candidates: Sequence[str], reward: Optional[str] = None,
              beta: Optional[float] = None, token_logps: bool = False, deadline_ms: Optional[int] = None,
              timeout: Optional[float] = None) -> ScoreResult:
        return _result(self.request(_score_request(image, prompt, candidates, reward, beta, token_logps,
                                                   deadline_ms), timeout))

    def ping(self, timeout: Optional[float] = None) -> dict:
        return self.request({"op": "ping"}, timeout)

    def info(self, timeout: Optional[float] = None) -> dict:
        return self.request({"op": "info"}, timeout)

    def stats(self, timeout: Optional[float] = None) -> dict:
        return self.request({"op": "stats"}, timeout)


class AsyncClient(_Base):
    """asyncio client (zmq.asyncio). Several requests may be in flight at once: replies are
    matched to their requests by id."""

    def __init__(self, endpoint: str = "tcp://127.0.0.1:5555", timeout: float = 30.0,
                 curve: Optional[CurveKeys] = None, context: Optional[zmq.asyncio.Context] = None):
        super().__init__(endpoint, timeout, curve, context or zmq.asyncio.Context.instance())
        self._open()
        self._waiting: Dict[int, Any] = {}
        self._reader = None

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.close()

    async def _read_loop(self):
        while self._waiting:
            rep = msgpack.unpackb(await self._sock.recv(), raw=False)
            fut = self._waiting.pop(rep.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(rep)

    async def request(self, req: dict, timeout: Optional[float] = None) -> dict:
        timeout = self.timeout if timeout is None else timeout
        rid, body = self._encode(req)
        fut = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        await self._sock.send(body)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.ensure_future(self._read_loop())
        try:
            rep = await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            self._waiting.pop(rid, None)
            raise Timeout(timeout) from None
        return self._check(rep)

    async def score(self, image: Optional[bytes], prompt: str, candidates: Sequence[str],
                    reward: Optional[str] = None, beta: Optional[float] = None, token_logps: bool = False,
                    deadline_ms: Optional[int] = None, timeout: Optional[float] = None) -> ScoreResult:
        return _result(await self.request(_score_request(image, prompt, candidates, reward, beta, token_logps,
                                                         deadline_ms), timeout))

    async def ping(self, timeout: Optional[float] = None) -> dict:
        return await self.request({"op": "ping"}, timeout)

    async def info(self, timeout: Optional[float] = None) -> dict:
        return await self.request({"op": "info"}, timeout)

    async def stats(self, timeout: Optional[float] = None) -> dict:
        return await self.request({"op": "stats"}, timeout)

    def close(self):
        if self._reader is not None:
            self._reader.cancel()
        super().close()
