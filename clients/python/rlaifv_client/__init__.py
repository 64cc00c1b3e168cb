"""rlaifv_client — talk to rlaifvd (docs/protocol.md) from Python.

    from rlaifv_client import Client
    with Client("tcp://127.0.0.1:5555", timeout=30.0) as c:
        res = c.score(open("photo.jpg", "rb").read(), "What is in the image?",
                      ["A red car.", "A blue bicycle."])
        best = res.ranking[0]
        print(best.index, best.reward)

AsyncClient has the same methods as coroutines (zmq.asyncio).
"""
from .client import (AsyncClient, Client, CurveKeys, Logps, Ranked, RlaifvError, ScoreResult,
                     Timeout)

__all__ = ["Client", "AsyncClient", "CurveKeys", "ScoreResult", "Ranked", "Logps", "RlaifvError", "Timeout"]
__version__ = "0.1.0"
