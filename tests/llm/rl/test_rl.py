"""RL with the endogenous reward through TRL's GRPOTrainer (llm/rl/train.py, llm/rl/reward_fn.py), on tiny local models."""
from __future__ import annotations

import argparse
import itertools
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("trl")
pytest.importorskip("yaml")

from datasets import Dataset  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from endorm.cli import rl as rl_cli  # noqa: E402
from endorm.llm import EndogenousReward  # noqa: E402
from endorm.llm.rl import reward_fn as RF  # noqa: E402
from endorm.llm.rl import train as rl  # noqa: E402
from endorm.llm.rl.reward_fn import (EndogenousGRPOTrainer, EndogenousRewardFunction, check_same_tokenizer,  # noqa: E402
                                  tokenize_prompts)
from endorm.llm.testing import build_tokenizer, tiny_causal_lm, word_tokenizer  # noqa: E402

WORDS = ["</s>", "a", "b", "c", "d", "e"]  # id 0 is EOS (and pad)
CHAT = [[{"role": "user", "content": "What is 2 + 2?"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello world!"}]]
TEXT = ["What is 2 + 2?", "Hello world!"]


def save_chat_model(path, seed=0, arch="llama"):
    """Tiny Llama, byte-level BPE with ChatML; plain text gets a BOS (so the two tokenizations differ)."""
    from tokenizers import processors

    tok = build_tokenizer()
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<|endoftext|> $A", special_tokens=[("<|endoftext|>", tok.eos_token_id)])
    model = tiny_causal_lm(arch, len(tok), seed, max_positions=256)
    model.config.eos_token_id, model.config.pad_token_id = tok.eos_token_id, tok.pad_token_id
    model.generation_config.eos_token_id = [tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")]
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def save_word_model(path, seed=0, scale=4.0):
    """Tiny Llama over 6 words; the LM head is scaled up so that the initial policy is far from uniform."""
    tok = word_tokenizer(WORDS, pad_token="</s>", eos_token="</s>")
    model = tiny_causal_lm("llama", len(WORDS), seed, max_positions=64)
    with torch.no_grad():
        model.lm_head.weight.mul_(scale)
    model.config.eos_token_id = model.config.pad_token_id = 0
    model.generation_config.eos_token_id = model.generation_config.pad_token_id = 0
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def chat_dir(tmp_path_factory):
    return save_chat_model(tmp_path_factory.mktemp("chat") / "m")


@pytest.fixture(scope="module")
def word_dir(tmp_path_factory):
    return save_word_model(tmp_path_factory.mktemp("word") / "m")


def grpo_config(tmp_path, **kw):
    base = dict(output_dir=str(tmp_path / "trl"), use_cpu=True, bf16=False, max_steps=2, num_generations=2,
                per_device_train_batch_size=4, max_completion_length=6, report_to="none", logging_steps=1,
                beta=0.01, gradient_checkpointing=False, save_strategy="no", disable_dropout=True, disable_tqdm=True)
    return RF.grpo_config(**{**base, **kw})


def trainer_for(model_dir, fn, tmp_path, prompts=CHAT, cls=EndogenousGRPOTrainer, **kw):
    tok = AutoTokenizer.from_pretrained(model_dir)
    return cls(model=str(model_dir), reward_funcs=fn, args=grpo_config(tmp_path, **kw), processing_class=tok,
               train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]))


def run_cli(argv) -> int:
    parser = argparse.ArgumentParser(prog="endorm")
    rl_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["rl", *map(str, argv)])
    return args.func(args)


# ---------------------------------------------------------------------- TRL's protocol
def test_prompt_ids_equal_trls_own_tokenization(chat_dir, tmp_path):
    trainer = trainer_for(chat_dir, lambda **kw: [0.0] * len(kw["prompts"]), tmp_path, cls=GRPOTrainer)
    tok = trainer.processing_class
    for prompts in (TEXT, CHAT):
        ours, trls = tokenize_prompts(tok, prompts), trainer._tokenize_prompts(prompts)[0]
        assert ours == [list(x) for x in trls]
    assert tokenize_prompts(tok, TEXT)[0][0] == tok.eos_token_id  # the post-processor's BOS: special tokens added
    assert tokenize_prompts(tok, CHAT)[0][0] == tok.convert_tokens_to_ids("<|im_start|>")  # and not to chat text


def test_reward_function_protocol_and_oracle(chat_dir):
    """One float per completion, EOS scored, and Eq. 12: score = sum log pi(y|x) + V(s_1) (from the raw logits)."""
    fn = EndogenousRewardFunction(chat_dir)
    tok = AutoTokenizer.from_pretrained(chat_dir)
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    comps = [[68, 86, eos], [43, 72, 79, 79], []]
    metrics, prompts = {}, [CHAT[0], CHAT[0], CHAT[1]]
    out = fn(prompts=prompts, completions=["x"] * 3, completion_ids=comps, trainer_state=None,
             log_extra=lambda *a: None, log_metric=metrics.__setitem__, extra_column=[1, 2, 3])
    assert fn.__name__ == "endogenous_reward" and out[2] is None and all(isinstance(s, float) for s in out[:2])
    assert fn.last_token_rewards[0].token_ids == comps[0] and fn.last_token_rewards[0].tokens[-1] == "<|im_end|>"
    assert set(metrics) == {"endorm/token_reward_mean", "endorm/shared_forward"}
    model = AutoModelForCausalLM.from_pretrained(chat_dir).eval()
    for p, c, s in zip(tokenize_prompts(tok, prompts), comps, out[:2]):
        with torch.no_grad():
            logits = model(torch.tensor([p + c])).logits[0].double()
        lp = torch.log_softmax(logits, -1)[len(p) - 1:-1].gather(1, torch.tensor(c)[:, None]).sum()
        assert s == pytest.approx(float(lp + torch.logsumexp(logits[len(p) - 1], 0)), abs=1e-4)


@pytest.mark.parametrize("end_token", [True, False])
def test_rl_and_score_give_one_response_the_same_reward(chat_dir, end_token):
    """One terminal-token rule: TRL's completion (content + EOS) scored by the reward function equals
    ``EndogenousReward.score`` on the same conversation and text, end token scored or not in both."""
    from endorm.llm.templates import encode

    rm = EndogenousReward.from_pretrained(chat_dir, end_token=end_token)
    fn = EndogenousRewardFunction(rm, rm.tokenizer, end_token=end_token)
    response = "It is 4."
    e = encode(rm.tokenizer, CHAT[0], response, None, "chat", end_token=True)
    completion = e.input_ids[e.start:e.end]  # what generation gives: the content, then the EOS <|im_end|>
    assert rm.tokenizer.convert_ids_to_tokens(completion[-1]) == "<|im_end|>"
    (got,) = fn(prompts=[CHAT[0]], completions=[response], completion_ids=[completion])
    assert got == pytest.approx(rm.score([CHAT[0]], [response])[0], abs=1e-6)
    assert len(fn.last_token_rewards[0].token_ids) == len(completion) - (not end_token)


def test_shared_reference_forward_equals_trls_and_a_separate_scorer(chat_dir, tmp_path):
    fn = EndogenousRewardFunction(chat_dir)
    trainer = trainer_for(chat_dir, fn, tmp_path)
    assert fn.shares_reference and fn.shares_forward and fn.reward.model is trainer.ref_model
    calls, spy_of = [], fn.reference_log_probs

    def spy(ids, mask, k):
        calls.append((ids.clone(), mask.clone(), k, spy_of(ids, mask, k)))
        return calls[-1][-1]

    fn.reference_log_probs = spy
    trainer.train()
    logged = [h for h in trainer.state.log_history if "reward" in h]
    # every (prompt, completion) found in the cache: the prompts were re-tokenized exactly as TRL did in training
    assert len(calls) == 2 and [h["endorm/shared_forward"] for h in logged] == [1.0, 1.0]
    ids, mask, k, ours = calls[-1]
    with torch.no_grad():
        trls = GRPOTrainer._get_per_token_logps_and_entropies(trainer, trainer.ref_model, ids, mask, k)[0]
    m = mask[:, -k:].bool()
    assert torch.allclose(ours[m], trls[m], atol=1e-5)
    P = ids.shape[1] - k
    pairs = [(x[:P][mm[:P].bool()].tolist(), x[P:][mm[P:].bool()].tolist()) for x, mm in zip(ids, mask)]
    separate = EndogenousReward.from_pretrained(chat_dir, device="cpu", progress=False).token_rewards_from_ids(pairs)
    assert [t.score for t in fn.last_token_rewards] == pytest.approx([t.score for t in separate], abs=1e-4)


def test_absolute_positions_fall_back_to_trls_reference(tmp_path):
    """GPT-2 (absolute positions) on prompts of different lengths: TRL's left padding shifts positions, so
    the shared forward would not give TRL's reference log-probs; a one-time check turns sharing off."""
    gpt2 = save_chat_model(tmp_path / "gpt2", arch="gpt2")
    fn = EndogenousRewardFunction(gpt2)
    trainer = trainer_for(gpt2, fn, tmp_path)
    assert fn.shares_forward
    with pytest.warns(UserWarning, match="shared reference forward differs from TRL's"):
        trainer.train()
    assert trainer._shared_reward is None and not fn.shares_forward
    first = next(h for h in trainer.state.log_history if "kl" in h)
    assert abs(first["kl"]) < 1e-6  # policy = reference at step 1: KL is 0 when computed TRL's way


def test_sharing_only_where_it_is_exact(chat_dir, tmp_path):
    fn = EndogenousRewardFunction(chat_dir)
    trainer = trainer_for(chat_dir, fn, tmp_path, beta=0.0)  # no reference model: a frozen copy of its own
    assert not fn.shares_reference and fn.reward.model is not trainer.model
    assert not any(p.requires_grad for p in fn.reward.model.parameters())
    fn = EndogenousRewardFunction(chat_dir, alpha=0.5)  # same weights, but TRL's log-probs are at temperature 1
    trainer_for(chat_dir, fn, tmp_path)
    assert fn.shares_reference and not fn.shares_forward
    with pytest.raises(ValueError, match="alpha must be > 0"):
        EndogenousRewardFunction(chat_dir, alpha=0)


def test_distillation_needs_the_same_tokenizer(chat_dir, word_dir, tmp_path):
    teacher = save_chat_model(tmp_path / "teacher", seed=3)
    fn = EndogenousRewardFunction(teacher)
    trainer = trainer_for(chat_dir, fn, tmp_path, max_steps=1)
    assert not fn.shares_reference and fn.reward.model is not trainer.ref_model
    trainer.train()
    assert np.isfinite(trainer.state.log_history[0]["reward"])
    with pytest.raises(ValueError, match=f"reward model's tokenizer \\({word_dir}\\).*policy's \\({chat_dir}\\)"):
        trainer_for(chat_dir, EndogenousRewardFunction(word_dir), tmp_path)
    other = AutoTokenizer.from_pretrained(chat_dir)
    other.add_special_tokens({"bos_token": "<|im_start|>"})
    with pytest.raises(ValueError, match="special tokens differ"):
        check_same_tokenizer(AutoTokenizer.from_pretrained(chat_dir), other, "A", "B")


# ---------------------------------------------------------------------- the demonstration (Sec. 4.3)
H = 4
PROMPTS = ["a b", "c", "d e a"]
# every completion of at most H tokens: words then EOS, or H words (truncated)
ALL = [list(c) + [0] for k in range(H) for c in itertools.product(range(1, 6), repeat=k)] + \
      [list(c) for c in itertools.product(range(1, 6), repeat=H)]


def sequence_log_probs(model, prompt_ids) -> torch.Tensor:
    """log pi(y | x) of every completion in ALL (exact enumeration, one batched forward)."""
    x = torch.tensor([prompt_ids + c + [0] * (H - len(c)) for c in ALL])
    with torch.no_grad():
        lp = torch.log_softmax(model(input_ids=x).logits.double(), -1)[:, len(prompt_ids) - 1:-1]
    per = lp.gather(2, x[:, len(prompt_ids):, None])[..., 0]
    return (per * (torch.arange(H)[None] < torch.tensor([len(c) for c in ALL])[:, None])).sum(1)


def exact_metrics(model, ref_lps, prompt_ids) -> dict:
    """E_pi[log pi_ref(y|x)] and log pi(y*|x), y* = the reference's most likely completion; mean over prompts."""
    got = []
    for p, r in zip(prompt_ids, ref_lps):
        lp = sequence_log_probs(model, p)
        got.append((float((lp.exp() * r).sum()), float(lp[int(r.argmax())])))
    return dict(zip(("ref_loglik", "map_logp"), np.mean(got, axis=0)))


def sampled_rewards(model, fn, prompt_ids, batches=8, n=16, seed=123) -> np.ndarray:
    """Mean endogenous reward of each of ``batches`` batches of sampled completions (n per prompt)."""
    torch.manual_seed(seed)
    means = []
    for _ in range(batches):
        ps, cs = [], []
        for text, p in zip(PROMPTS, prompt_ids):
            x = torch.tensor([p] * n)
            with torch.no_grad():
                out = model.generate(input_ids=x, attention_mask=torch.ones_like(x), do_sample=True, top_k=0,
                                     max_new_tokens=H, eos_token_id=0, pad_token_id=0)
            for row in out[:, len(p):].tolist():
                ps.append(text)
                cs.append(row[:row.index(0) + 1] if 0 in row else row)
        means.append(np.mean(fn(prompts=ps, completions=None, completion_ids=cs)))
    return np.array(means)


def train_word_policy(word_dir, tmp_path, sign=1.0, steps=20, seed=0):
    fn = EndogenousRewardFunction(word_dir)
    reward = fn if sign > 0 else (lambda **kw: [-s for s in fn(**kw)])
    trainer = trainer_for(word_dir, reward, tmp_path, prompts=PROMPTS, max_steps=steps, num_generations=8,
                          per_device_train_batch_size=24, max_completion_length=H, learning_rate=1e-3, seed=seed)
    trainer.train()
    return trainer.model.eval()


def test_rl_on_the_endogenous_reward_sharpens_toward_the_most_likely_responses(word_dir, tmp_path):
    """KL-regularized RL on r_hat (beta = 0.01) raises the reward of samples far beyond the evaluation noise
    and moves the policy toward the reference's most likely completion; the negated reward does the opposite."""
    tok = AutoTokenizer.from_pretrained(word_dir)
    prompt_ids = tokenize_prompts(tok, PROMPTS)
    ref = AutoModelForCausalLM.from_pretrained(word_dir).eval()
    ref_lps = [sequence_log_probs(ref, p) for p in prompt_ids]
    assert all(abs(float(r.exp().sum()) - 1) < 1e-6 for r in ref_lps)  # the enumeration is complete
    scorer = EndogenousRewardFunction(word_dir)
    before, before_exact = sampled_rewards(ref, scorer, prompt_ids), exact_metrics(ref, ref_lps, prompt_ids)

    policy = train_word_policy(word_dir, tmp_path)
    after, after_exact = sampled_rewards(policy, scorer, prompt_ids), exact_metrics(policy, ref_lps, prompt_ids)
    noise = max(before.std(ddof=1), after.std(ddof=1))  # spread of one evaluation batch's mean reward
    assert after.mean() - before.mean() > 5 * noise, (before, after)
    # run-to-run noise: the same training with other seeds; the gain dwarfs the spread between runs
    runs = [after.mean()] + [sampled_rewards(train_word_policy(word_dir, tmp_path / f"s{k}", seed=k), scorer,
                                             prompt_ids).mean() for k in (1, 2)]
    assert min(runs) - before.mean() > 5 * np.std(runs, ddof=1), (before.mean(), runs)
    assert after_exact["ref_loglik"] > before_exact["ref_loglik"] + 1.0, (before_exact, after_exact)
    assert after_exact["map_logp"] > before_exact["map_logp"] + 0.5, (before_exact, after_exact)

    control = exact_metrics(train_word_policy(word_dir, tmp_path, sign=-1.0, steps=10), ref_lps, prompt_ids)
    assert control["ref_loglik"] < before_exact["ref_loglik"] and control["map_logp"] < before_exact["map_logp"]


# ---------------------------------------------------------------------- the command
def cli_args(chat_dir, prompts, out, *extra):
    return ["--model", chat_dir, "--prompts", prompts, "--out", out, "--steps", 2, "--num-generations", 2,
            "--batch-size", 4, "--max-completion-length", 6, "--save-steps", 1, "--no-progress", *extra]


@pytest.fixture()
def chat_prompts(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in CHAT))
    return path


@pytest.fixture()
def fast_yaml(tmp_path):
    path = tmp_path / "fast.yaml"
    path.write_text("lr: 0.001\ngrpo:\n  gradient_checkpointing: false\n")
    return path


def snapshot(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_cli_trains_writes_curves_resumes_and_refuses_another_run(chat_dir, chat_prompts, fast_yaml, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(cli_args(chat_dir, chat_prompts, out, "--config", fast_yaml)) == 0
    assert {"run.json", "curves.json", "curves.png", "final", "checkpoint-1", "checkpoint-2"} <= \
        {p.name for p in out.iterdir()}
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    curves = json.loads((out / "curves.json").read_text())
    assert curves["step"] == [1, 2] and all(np.isfinite(curves["reward"])) and all(k >= 0 for k in curves["kl"])
    assert json.loads((out / "run.json").read_text())["lr"] == 0.001  # from the YAML file
    printed = capsys.readouterr()
    assert "shared reference forward: True" in printed.out
    assert "{'loss'" not in printed.out and "FutureWarning" not in printed.err  # logs go to files
    log = [json.loads(x) for x in (out / "trainer_log.jsonl").read_text().splitlines()]
    assert [d["step"] for d in log if "reward" in d] == [1, 2]
    assert [d["reward"] for d in log if "reward" in d] == pytest.approx(curves["reward"])

    import shutil

    shutil.rmtree(out / "checkpoint-2")
    assert run_cli(cli_args(chat_dir, chat_prompts, out, "--config", fast_yaml)) == 0
    assert "resumed from checkpoint-1" in capsys.readouterr().out and (out / "checkpoint-2").is_dir()
    log = [json.loads(x) for x in (out / "trainer_log.jsonl").read_text().splitlines()]
    assert [d["step"] for d in log if "reward" in d] == [1, 2, 2]  # the resumed run appends its step 2

    before = snapshot(out)
    with pytest.raises(ValueError, match="holds a different run \\(differs in beta\\)"):
        run_cli(cli_args(chat_dir, chat_prompts, out, "--config", fast_yaml, "--beta", 0.1))
    assert snapshot(out) == before


def test_grpo_config_uses_todays_field_names_and_keeps_the_defaults():
    import dataclasses
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no FutureWarning for the renamed gradient_checkpointing
        off = RF.grpo_config(output_dir="o", use_cpu=True, bf16=False, gradient_checkpointing=False)
        default = RF.grpo_config(output_dir="o", use_cpu=True, bf16=False)
    fields = {f.name: f.default for f in dataclasses.fields(GRPOConfig)}
    assert off.gradient_checkpointing is False
    assert default.gradient_checkpointing == fields["gradient_checkpointing"]  # TRL's default, as before
    if "activation_checkpointing" in fields:
        assert off.activation_checkpointing is False
    with pytest.raises(TypeError, match="no_such_field"):
        RF.grpo_config(output_dir="o", no_such_field=1)


def test_library_output_goes_to_the_run_log(tmp_path, capsys):
    import logging
    import warnings

    from transformers.utils import logging as hf_logging

    from endorm.llm.runs import library_output_to

    hf = hf_logging.get_logger("transformers.some_module")
    before = logging.getLogger("transformers").handlers[:]
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with library_output_to(tmp_path / "run" / "run.log") as count:
            warnings.warn("old_arg is deprecated", FutureWarning)
            warnings.warn("np.thing is deprecated", DeprecationWarning)
            warnings.warn("endorm's own warning")
            hf.warning("a library log record")
    assert [str(w.message) for w in shown] == ["endorm's own warning"]  # shown as usual
    log = (tmp_path / "run" / "run.log").read_text()
    assert "FutureWarning: old_arg is deprecated" in log and "DeprecationWarning: np.thing" in log
    assert "a library log record" in log and "endorm's own" not in log and count["lines"] == 3
    assert "3 library warning(s) and log line(s) written to" in capsys.readouterr().err
    assert logging.getLogger("transformers").handlers == before  # restored


def test_bad_input_is_a_clear_error_and_writes_nothing(chat_dir, word_dir, chat_prompts, tmp_path):
    out = tmp_path / "out"

    def fails(exc, match, argv, prompts=chat_prompts):
        with pytest.raises(exc, match=match):
            run_cli(cli_args(chat_dir, prompts, out, *argv))
        assert not out.exists()

    bad = tmp_path / "bad.jsonl"
    for text, match in [('{"prompt": "a"}\n{"prompt": \n', f"{bad}:2: invalid JSON"),
                        ('{"prompt": "a"}\n\n{"text": "b"}\n', f"{bad}:3: expected"),
                        ('{"prompt": ""}\n', f"{bad}:1: expected"),
                        ('{"prompt": [{"role": "user"}]}\n', f"{bad}:1: expected"),
                        ('{"prompt": "a"}\n{"prompt": [{"role": "user", "content": "b"}]}\n', f"{bad}:2: mixes")]:
        bad.write_text(text)
        fails(ValueError, match, [], prompts=bad)
    fails(FileNotFoundError, "prompts file not found", [], prompts=tmp_path / "none.jsonl")
    fails(ValueError, "reward model's tokenizer .* does not match", ["--reward-model", word_dir])
    fails(FileNotFoundError, "reward model directory not found", ["--reward-model", tmp_path / "nope"])
    fails(ValueError, f"{chat_prompts}:1: the prompt has 25 tokens, more than --max-prompt-length 10",
          ["--max-prompt-length", 10])
    fails(ValueError, "exceeds the context of 256 tokens", ["--max-completion-length", 240])
    with pytest.raises(ValueError, match="chat prompts but the policy's tokenizer has no chat template"):
        run_cli(["--model", word_dir, "--prompts", chat_prompts, "--out", out])
    assert not out.exists()
    if not torch.cuda.is_available():
        fails(ValueError, "bf16/fp16 training needs a GPU", ["--bf16"])
    cfg = tmp_path / "c.yaml"
    for text, match in [("betta: 1\n", "unknown key 'betta'"), ("steps: many\n", "steps must be int"),
                        ("grpo:\n  beta: 0.5\n", "grpo.beta is set by an endorm option"),
                        ("grpo:\n  no_such_field: 1\n", "GRPOConfig"), ("- 1\n", "expected a mapping")]:
        cfg.write_text(text)
        fails(ValueError, match, ["--config", cfg])
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds no endorm rl run"):
        run_cli(cli_args(chat_dir, chat_prompts, out))
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_config_precedence_flags_over_yaml_over_defaults(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: m\nprompts: p\nout: o\nbeta: 0.5\nmax-completion-length: 64\nsteps: 7\n"
                   "grpo:\n  scale_rewards: batch\n")
    opts, grpo = rl.resolve_options({"steps": 3, "beta": None}, str(cfg))
    assert (opts["beta"], opts["max_completion_length"], opts["steps"]) == (0.5, 64, 3)
    assert (opts["lr"], opts["num_generations"], opts["batch_size"]) == (1e-6, 8, 8)  # defaults
    assert grpo == {"scale_rewards": "batch"}
    with pytest.raises(ValueError, match="--model is required"):
        rl.resolve_options({k: None for k in rl.OPTIONS})


def test_curves_from_a_log_history(tmp_path):
    history = [{"loss": 0.1, "reward": 1.0, "reward_std": 0.5, "kl": 0.0, "step": 1},
               {"loss": 0.1, "reward": 2.0, "reward_std": 0.4, "kl": 0.2, "endorm/token_reward_mean": -1.0, "step": 2},
               {"train_runtime": 1.0, "step": 2}]
    c = rl.curves(history)
    assert c["step"] == [1, 2] and c["reward"] == [1.0, 2.0] and c["token_reward_mean"] == [None, -1.0]
    js, png = rl.write_curves(tmp_path, history)
    assert json.loads(js.read_text()) == c and png.read_bytes()[:4] == b"\x89PNG"
