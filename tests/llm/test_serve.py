"""``endorm serve`` with a real server (a subprocess on a free loopback port) and a real HTTP client (httpx)."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from endorm.llm.reward import EndogenousReward  # noqa: E402
from endorm.llm.templates import apply_chat  # noqa: E402
from endorm.llm.testing import save_tiny_model  # noqa: E402

START_S = 180  # model loading on a loaded 2-core machine


class Server:
    """``python -m endorm.cli serve --port 0 ...`` as a subprocess; ``url`` once it says where it listens."""

    def __init__(self, model_dir, *flags):
        self.proc = subprocess.Popen([sys.executable, "-m", "endorm.cli", "serve", "--model", str(model_dir),
                                      "--port", "0", *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.first_line = self._wait_for_line()
        port = int(self.first_line.split("http://127.0.0.1:")[1].split(" ")[0])
        self.url = f"http://127.0.0.1:{port}"
        self.client = httpx.Client(base_url=self.url, timeout=120)

    def _wait_for_line(self) -> str:
        box = []
        t = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(START_S)
        if not box or "listening on" not in box[0]:
            self.proc.kill()
            raise RuntimeError(f"endorm serve did not start: {box} {self.proc.stderr.read()[-3000:]}")
        return box[0]

    def post(self, route, body=None, **kw):
        return self.client.post(route, json=body, **kw) if body is not None else self.client.post(route, **kw)

    def stop(self):
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("serve") / "qwen2", "qwen2", seed=3)


@pytest.fixture(scope="module")
def server(model_dir):
    s = Server(model_dir, "--max-wait-ms", "50", "--max-body-mb", "16")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def library(model_dir):
    return EndogenousReward.from_pretrained(model_dir, progress=False)


PROMPTS = ["What is 2 + 2?", "Name a colour.", [{"role": "user", "content": "Hi"},
                                                {"role": "assistant", "content": "Hello!"},
                                                {"role": "user", "content": "How are you?"}]]
RESPONSES = ["It is 4.", "Blue, like the sky", "Fine, thanks."]


def test_the_server_says_it_binds_to_loopback(server):
    assert "loopback only" in server.first_line and "--host 0.0.0.0" in server.first_line
    h = server.client.get("/health").json()
    assert h["status"] == "ok" and h["options"]["alpha"] == 1.0 and h["options"]["template"] == "chat"
    assert h["version"] and h["device"] == "cpu" and h["context_tokens"] == 512


def test_score_equals_the_library(server, library):
    system = [None, "Be brief.", None]
    r = server.post("/score", {"prompts": PROMPTS, "responses": RESPONSES, "system": system, "tokens": True})
    assert r.status_code == 200, r.text
    got = r.json()
    ref = library.token_rewards(PROMPTS, RESPONSES, system)
    np.testing.assert_allclose(got["scores"], [t.score for t in ref], atol=1e-5, rtol=0)
    for row, t in zip(got["tokens"], ref):
        assert row["token_ids"] == t.token_ids and row["tokens"] == t.tokens
        for key in ("endogenous_reward", "log_policy", "soft_value"):
            np.testing.assert_allclose(row[key], getattr(t, key), atol=1e-5, rtol=0)
    plain = server.post("/score", {"prompts": PROMPTS[:2], "responses": RESPONSES[:2]}).json()
    assert set(plain) == {"scores"}
    np.testing.assert_allclose(plain["scores"], [t.score for t in library.token_rewards(PROMPTS[:2], RESPONSES[:2])],
                               atol=1e-5, rtol=0)


def test_openrlhf_get_reward_round_trips(server, library):
    """OpenRLHF's body: query = the rendered chat prompt + the decoded response (special tokens kept); with its
    end token, without it (appended, as score does), and with right padding after it (never scored)."""
    tok = library.tokenizer
    prompts = [apply_chat(tok, [{"role": "user", "content": p}], True) for p in ("What is 2 + 2?", "Name a colour.")]
    end, pad = "<|im_end|>", tok.pad_token
    queries = [prompts[0] + "It is 4." + end, prompts[1] + "Blue, like the sky",
               prompts[0] + "It is 4." + end + "\n" + pad * 3, pad * 2 + prompts[1] + "Blue, like the sky"]
    body = {"query": queries, "prompts": [prompts[0], prompts[1], prompts[0], prompts[1]],
            "labels": [None, "blue", None, "blue"]}  # the last query left-padded, as older OpenRLHF decodes it
    r = httpx.post(server.url + "/get_reward", json=body, timeout=120)  # as OpenRLHF's requests.post(json=...)
    assert r.status_code == 200, r.text
    rewards = r.json()["rewards"]
    assert list(r.json()) == ["rewards"] and len(rewards) == 4
    ref = library.score(["What is 2 + 2?", "Name a colour."], ["It is 4.", "Blue, like the sky"])
    np.testing.assert_allclose(rewards, [ref[0], ref[1], ref[0], ref[1]], atol=1e-5, rtol=0)


def test_concurrent_requests_are_pooled(server, library):
    before = server.client.get("/metrics").json()
    results, errors = {}, []

    def send(k):
        try:
            with httpx.Client(base_url=server.url, timeout=120) as c:
                results[k] = c.post("/score", json={"prompts": [PROMPTS[0]] * 2,
                                                    "responses": [RESPONSES[0], f"Maybe {k}."]}).json()["scores"]
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=send, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ref = library.score([PROMPTS[0]] * 9, [RESPONSES[0]] + [f"Maybe {k}." for k in range(8)])
    for k in range(8):
        np.testing.assert_allclose(results[k], [ref[0], ref[k + 1]], atol=1e-5, rtol=0)
    after = server.client.get("/metrics").json()
    batches = after["batches"] - before["batches"]
    assert after["items"] - before["items"] == 16 and 1 <= batches < 8  # 8 requests in fewer scoring calls
    assert after["batch_items"]["max"] >= 4 and after["latency_s"]["n"] >= 8 and after["latency_s"]["p99"] > 0
    assert after["queue_depth"] == 0 and after["requests"]["/score 200"] >= 8


LONG = " ".join(["word"] * 700)  # longer than the tiny model's context of 512 tokens
BAD = [  # (route, body bytes, status, field, index, words in the error)
    ("/get_reward", b'{"query": ["a"', 400, None, None, "malformed JSON"),
    ("/get_reward", b"\xff\xfe{}", 400, None, None, "not UTF-8"),
    ("/get_reward", b"", 400, None, None, "empty body"),
    ("/get_reward", b"[1, 2]", 422, None, None, "JSON object"),
    ("/get_reward", b'{"prompts": ["a"]}', 422, "query", None, "required"),
    ("/get_reward", b'{"query": "ab", "prompts": ["a"]}', 422, "query", None, "expected a list"),
    ("/get_reward", b'{"query": [], "prompts": []}', 422, "query", None, "empty list"),
    ("/get_reward", b'{"query": ["ab", 7], "prompts": ["a", "a"]}', 422, "query", 1, "got int"),
    ("/get_reward", b'{"query": ["ab", "ac"], "prompts": ["a"]}', 422, "prompts", None, "1 items"),
    ("/get_reward", b'{"query": ["ab", "xc"], "prompts": ["a", "a"]}', 422, "query", 1, "does not start"),
    ("/get_reward", b'{"query": ["ab"], "prompts": ["a"], "labels": [1, 2]}', 422, "labels", None, "one per query"),
    ("/get_reward", json.dumps({"query": ["a" + LONG], "prompts": ["a"]}).encode(), 422, "query", 0, "longer than"),
    ("/score", b'{"prompts": ["q"], "responses": ["r", "s"]}', 422, "responses", None, "2 items"),
    ("/score", b'{"prompts": ["q", 3], "responses": ["r", "s"]}', 422, "prompts", 1, "got int"),
    ("/score", b'{"prompts": ["q"], "responses": ["r"], "tokens": "yes"}', 422, "tokens", None, "true or false"),
    ("/score", b'{"prompts": ["q"], "responses": ["r"], "system": 5}', 422, "system", None, "expected null"),
    ("/score", b'{"prompts": [[{"role": "bot", "content": "x"}]], "responses": ["r"]}', 422, "prompts", 0, "role"),
    ("/score", json.dumps({"prompts": ["q"], "responses": [LONG]}).encode(), 422, "prompts", 0, "longer than"),
    ("/score", b'{"prompts": ["q"], "responses": ["r"], "tokens": false}' * 1, 200, None, None, None),
    ("/get_reward", b"[" * 100000 + b"]" * 100000, 400, None, None, "nested too deeply"),
]


@pytest.mark.parametrize("route, raw, status, field, index, words", BAD)
def test_bad_requests_get_a_4xx_naming_the_field(server, route, raw, status, field, index, words):
    r = server.post(route, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    if status == 200:
        return
    err = r.json()
    assert words in err["error"] and err["field"] == field and err["index"] == index, err
    assert "\n" not in err["error"]
    assert server.client.get("/health").json()["status"] == "ok"  # still serving


def test_a_50_mb_body_is_refused_and_the_server_keeps_serving(server):
    big = b'{"query": ["' + b"a" * (50 * 2**20) + b'"], "prompts": ["a"]}'
    r = server.post("/get_reward", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "16,777,216" in r.json()["error"] and "--max-body-mb" in r.json()["error"]
    with httpx.Client(base_url=server.url, timeout=60) as c:  # a body streamed without Content-Length
        r = c.post("/get_reward", content=iter([b'{"query": ["'] + [b"a" * 2**20] * 20 + [b'"]}']))
    assert r.status_code == 413
    assert server.client.get("/health").status_code == 200
    assert server.client.get("/nowhere").status_code == 404 and server.client.get("/score").status_code == 405
    m = server.client.get("/metrics").json()
    assert m["errors"]["413"] >= 2


def test_sigterm_finishes_the_requests_in_flight(model_dir, library):
    s = Server(model_dir, "--max-wait-ms", "1500")  # a request waits 1.5 s for company: SIGTERM comes first
    box = {}

    def send():
        box["r"] = httpx.post(s.url + "/score", json={"prompts": PROMPTS[:1], "responses": RESPONSES[:1]},
                              timeout=120)

    t = threading.Thread(target=send)
    t.start()
    for _ in range(100):  # until the request is in the batcher's queue
        if s.client.get("/metrics").json()["queue_depth"] == 1:
            break
        time.sleep(0.05)
    s.proc.send_signal(signal.SIGTERM)
    t.join(120)
    assert box["r"].status_code == 200
    assert box["r"].json()["scores"][0] == pytest.approx(library.score(PROMPTS[:1], RESPONSES[:1])[0], abs=1e-5)
    assert s.proc.wait(60) == 0
    assert "stopped" in s.proc.stderr.read()
    with pytest.raises(httpx.ConnectError):
        httpx.get(s.url + "/health", timeout=5)
    s.client.close()


def test_a_taken_port_is_one_line_before_the_model_loads(model_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "endorm.cli", "serve", "--model", str(model_dir), "--port",
                            str(port)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (f"endorm serve: error: --port {port}: cannot listen on "
                                                 f"127.0.0.1:{port}: address in use")
    r = subprocess.run([sys.executable, "-m", "endorm.cli", "serve", "--model", str(model_dir), "--port", "70000"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--port" in r.stderr and "65535" in r.stderr


@pytest.mark.parametrize("name, kwargs", [("qwen2.5", {}), ("qwen3", {"enable_thinking": False})])
def test_openrlhf_queries_encode_as_score_does_with_the_real_tokenizers(name, kwargs):
    """No server: the paper's tokenizers. The rendered prompt + response (+ <|im_end|>, + padding) gives the ids
    and response range of ``templates.encode``, which ``score`` uses."""
    from types import SimpleNamespace

    from helpers import shared_path

    from endorm.llm.serve.protocol import layout_end_token, parse_get_reward
    from endorm.llm.templates import encode
    from endorm.llm.testing import real_tokenizer

    tok = real_tokenizer(shared_path("tokenizers", name))
    scorer = SimpleNamespace(tokenizer=tok, template="chat", end_token=True, chat_template_kwargs=kwargs,
                             _fit=lambda i, e: e)
    assert tok.convert_ids_to_tokens(layout_end_token(scorer)) == "<|im_end|>"
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Solve 3x + 5 = 20. 答案?"}]
    prompt = apply_chat(tok, msgs, True, kwargs)
    response = "x = 5, since 3·5 + 5 = 20."
    ref = encode(tok, msgs[1:], response, "Be brief.", "chat", True, kwargs)
    for query in (prompt + response + "<|im_end|>", prompt + response,
                  prompt + response + "<|im_end|>\n" + tok.pad_token * 2):
        e = parse_get_reward({"query": [query], "prompts": [prompt]}, scorer).items[0]
        assert (e.input_ids, e.start, e.end) == (list(ref.input_ids[:ref.end]), ref.start, ref.end)
        assert "".join(e.token_text) == response + "<|im_end|>"
    scorer.end_token = False
    e = parse_get_reward({"query": [prompt + response + "<|im_end|>"], "prompts": [prompt]}, scorer).items[0]
    assert e.end == ref.end - 1 and tok.decode(e.input_ids[e.start:e.end]) == response


def test_the_verl_reward_function_calls_the_server(server, library, monkeypatch):
    """The README's verl example, called as verl's batch reward manager calls it."""
    import urllib.error

    from endorm.llm.serve.verl_reward import compute_score

    monkeypatch.setenv("ENDORM_URL", server.url)
    infos = [{"question": PROMPTS[0]}, {"prompt": PROMPTS[2], "question": "not this"}]  # "prompt" first
    got = compute_score(["rm", "rm"], [RESPONSES[0], RESPONSES[2]], [None, None], infos)
    ref = library.score([PROMPTS[0], PROMPTS[2]], [RESPONSES[0], RESPONSES[2]])
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match=r"extra_infos\[1\]: no 'prompt'"):
        compute_score(["rm", "rm"], ["a", "b"], [None, None], [{"question": "q"}, None])
    with pytest.raises(urllib.error.HTTPError) as e:
        compute_score(["rm"], [LONG], [None], [{"question": "q"}])
    assert e.value.code == 422 and "prompts[0]" in json.loads(e.value.read())["error"]


def test_a_failing_pool_fails_only_the_request_it_comes_from():
    """The batcher scores a pool again request by request when it fails, so one bad request (here: an item the
    scorer refuses, as non-finite logits would) answers its own error and the others their results."""
    import threading

    from endorm.llm.serve.batcher import DynamicBatcher
    from endorm.llm.templates import Encoded

    def score(items):
        if any(e.input_ids[0] == 666 for e in items):
            bad = next(i for i, e in enumerate(items) if e.input_ids[0] == 666)
            raise ValueError(f"item {bad}: the model produced non-finite logits")
        return [sum(e.input_ids) for e in items]

    b = DynamicBatcher(score, max_batch_tokens=1000, max_wait_ms=300)
    got, lock, done = {}, threading.Lock(), threading.Event()

    def answer(name):
        def done_(results, error):
            with lock:
                got[name] = (results, None if error is None else str(error))
                if len(got) == 3:
                    done.set()
        return done_

    b.start()
    b.submit(lambda: [Encoded([1, 2], 1, 2), Encoded([3, 4], 1, 2)], answer("a"))
    b.submit(lambda: [Encoded([5, 6], 1, 2), Encoded([666, 1], 1, 2)], answer("bad"))
    b.submit(lambda: (_ for _ in ()).throw(ValueError("prompts[0]: too long")), answer("layout"))
    assert done.wait(30)
    b.stop(10)
    assert got["a"] == ([3, 7], None)
    assert got["bad"] == (None, "item 1: the model produced non-finite logits")  # its own index
    assert got["layout"] == (None, "prompts[0]: too long")
    assert b.metrics.batches == 3 and not b.alive()  # the pool, then each request alone
