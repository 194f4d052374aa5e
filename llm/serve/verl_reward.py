"""A verl custom reward function that asks a running ``endorm serve`` for the endogenous reward.

verl (``reward_model.reward_manager=batch``) calls ``compute_score(data_sources, solution_strs,
ground_truths, extra_infos)`` with lists and wants one float per response. verl passes the
response text only (decoded without special tokens), so the prompt must travel in each row's
``extra_info``: ``extra_info["prompt"]``, the row's own ``prompt`` messages (copy them there when you
preprocess the data: verl's own preprocessors put only the bare question in ``extra_info``), else
``extra_info["question"]`` (a str: one user turn). The server lays it out with the model's chat
template exactly as ``endorm score`` does and scores the response with its end-of-turn token appended
(verl's text has none, so a response cut at the length limit is scored as if it ended there)
(``POST /score``). Point verl at this file::

    custom_reward_function.path=$(python -c "import endorm.llm.serve.verl_reward as m; print(m.__file__)") \\
    custom_reward_function.name=compute_score reward_model.reward_manager=batch

and set ``ENDORM_URL`` (default ``http://127.0.0.1:5000``) in the workers' environment. Only the
standard library is used (verl's workers need nothing else installed); copy the file and edit it freely.
"""
from __future__ import annotations

import json
import os
import urllib.request


def compute_score(data_sources, solution_strs, ground_truths, extra_infos, **kwargs):
    """One endogenous reward per response (alpha*nats; the server's options), via ``POST /score``.

    Raises:
        ValueError: a row's ``extra_info`` has neither ``"prompt"`` nor ``"question"`` (or is None).
        urllib.error.HTTPError: the server refused the request (its JSON error names the field and index).
    """
    prompts = []
    for i, info in enumerate(extra_infos):
        prompt = (info or {}).get("prompt", (info or {}).get("question"))
        if prompt is None:
            raise ValueError(f"extra_infos[{i}]: no 'prompt' (the row's chat messages) or 'question' (its user "
                             "turn); the endogenous reward needs the prompt the policy answered")
        prompts.append(prompt)
    body = json.dumps({"prompts": prompts, "responses": list(solution_strs)}).encode()
    url = os.environ.get("ENDORM_URL", "http://127.0.0.1:5000").rstrip("/") + "/score"
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return [float(s) for s in json.loads(r.read())["scores"]]
