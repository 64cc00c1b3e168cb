"""rlaifv_client — talk to rlaifvd (docs/protocol.md) from Python.

    from rlaifv_client import Client
    with Client("tcp://127.0.0.1:5555", timeout=30.0) as c:
        res = c.score("photo.jpg", "What is in the image?", ["A red car.", "A blue bicycle."])
        print(res.best.index, res.best.reward, res.rewards, res.rerank(1))
        many = c.score_many([("photo.jpg", "Colour?", ["Red.", "Blue."])] * 8, concurrency=4)

The image may be bytes, a path (str or os.PathLike), a PIL image, or None (text only);
candidates must be a list of str. AsyncClient has the same methods as coroutines (zmq.asyncio).
"""
from .client import (AsyncClient, Client, CurveKeys, Logps, Ranked, RlaifvError, ScoreResult,
                     Timeout)

__all__ = ["Client", "AsyncClient", "CurveKeys", "ScoreResult", "Ranked", "Logps", "RlaifvError", "Timeout"]
__version__ = "0.1.0"  # = RLV_VERSION of include/rlaifv.h (tests/test_python_client.py checks it)
