"""endorm rl under faults and hostile input (issue 12): checkpoints cut short by a kill, model folders
that carry their own code, and completions with tokens after the EOS."""
from __future__ import annotations

import argparse
import builtins
import json
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("trl")

from transformers import AutoTokenizer  # noqa: E402

from endorm.cli import rl as rl_cli  # noqa: E402
from endorm.llm.rl import checkpoints as C  # noqa: E402
from endorm.llm.rl.reward_fn import EndogenousRewardFunction, tokenize_prompts  # noqa: E402
from endorm.llm.testing import save_tiny_model  # noqa: E402


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """The tiny Llama with the byte-level BPE chat tokenizer (eos ``<|endoftext|>``)."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny") / "m", arch="llama", max_positions=256)


@pytest.fixture()
def prompts(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": [{"role": "user", "content": t}]}) + "\n"
                            for t in ("What is 2 + 2?", "Hello world!")))
    return path


def run_cli(model, prompts, out, *extra, steps=2) -> int:
    parser = argparse.ArgumentParser(prog="endorm")
    rl_cli.register(parser.add_subparsers(dest="command", required=True))
    argv = ["--model", model, "--prompts", prompts, "--out", out, "--steps", steps, "--num-generations", 2,
            "--batch-size", 4, "--max-completion-length", 6, "--save-steps", 1, "--no-progress", "--lr", 1e-3, *extra]
    args = parser.parse_args(["rl", *map(str, argv)])
    return args.func(args)


def reward_steps(out) -> list:
    return [d["step"] for d in map(json.loads, (out / "trainer_log.jsonl").read_text().splitlines()) if "reward" in d]


# ---------------------------------------------------------------------- case 2: checkpoints cut short
def test_resume_skips_a_checkpoint_cut_short_by_a_kill(tiny_dir, prompts, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(tiny_dir, prompts, out) == 0
    capsys.readouterr()
    # what a kill while transformers writes checkpoint-2's model leaves: its config and 20 kB of the model
    ckpt = out / "checkpoint-2"
    kept = {"config.json", "generation_config.json", "model.safetensors"}
    for p in ckpt.iterdir():
        if p.name not in kept:
            p.unlink()
    (ckpt / "model.safetensors").write_bytes((ckpt / "model.safetensors").read_bytes()[:20_000])

    assert run_cli(tiny_dir, prompts, out) == 0
    printed = capsys.readouterr()
    assert "resumed from checkpoint-1" in printed.out
    assert "skipped the incomplete checkpoint-2" in printed.err and "resuming from checkpoint-1" in printed.err
    assert json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())["global_step"] == 2
    assert C.why_incomplete(out / "checkpoint-2") is None and (out / "checkpoint-2" / C.MARKER).is_file()
    assert (out / "incomplete-checkpoint-2" / "model.safetensors").stat().st_size == 20_000  # kept, out of the way
    assert reward_steps(out) == [1, 2, 2]  # step 2 trained again from checkpoint-1


def test_every_saved_checkpoint_carries_a_marker_listing_its_files(tiny_dir, prompts, tmp_path):
    out = tmp_path / "run"
    assert run_cli(tiny_dir, prompts, out) == 0
    for n in (1, 2):
        ckpt = out / f"checkpoint-{n}"
        marker = json.loads((ckpt / C.MARKER).read_text())
        files = {p.name: p.stat().st_size for p in ckpt.iterdir() if p.name != C.MARKER}
        assert marker == {"step": n, "files": files} and "model.safetensors" in files and "optimizer.pt" in files
    assert C.last_complete_checkpoint(out) == (out / "checkpoint-2", [])


def fake_checkpoint(folder, marker=False):
    """A checkpoint as transformers writes one (weights, optimizer, state), optionally with endorm's marker."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    save_file({"w": torch.arange(1000.0)}, str(folder / "model.safetensors"))
    torch.save({"state": torch.ones(100)}, folder / "optimizer.pt")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": int(folder.name.split("-")[1])}))
    if marker:
        C.write_marker(folder, int(folder.name.split("-")[1]))
    return folder


def cut(path, keep):
    path.write_bytes(path.read_bytes()[:keep])


def test_which_checkpoints_are_complete(tmp_path):
    old = fake_checkpoint(tmp_path / "checkpoint-9")  # from before the marker: trusted when whole
    assert C.why_incomplete(old) is None
    new = fake_checkpoint(tmp_path / "checkpoint-10", marker=True)
    assert C.last_complete_checkpoint(tmp_path) == (new, [])  # by step number, not by name

    cut(new / "optimizer.pt", 50)  # marked, then a file changed size: not trusted
    assert "optimizer.pt" in C.why_incomplete(new)
    assert C.last_complete_checkpoint(tmp_path) == (old, [(new, C.why_incomplete(new))])

    cut(old / "optimizer.pt", 300)  # without the marker: each file transformers writes must be whole
    assert C.why_incomplete(old).startswith("optimizer.pt: not a whole torch file")
    legacy = fake_checkpoint(tmp_path / "checkpoint-8")
    cut(legacy / "model.safetensors", 2000)
    assert C.why_incomplete(legacy).startswith("model.safetensors: 2000 bytes")
    (legacy / "model.safetensors").write_bytes(b"\x00" * 20)
    assert "model.safetensors" in C.why_incomplete(legacy)
    (legacy / "model.safetensors").unlink()
    assert C.why_incomplete(legacy) == "no model weights"
    state = fake_checkpoint(tmp_path / "checkpoint-7") / "trainer_state.json"
    state.write_text("{")
    assert C.why_incomplete(state.parent) == "trainer_state.json: not valid JSON"
    state.unlink()
    assert C.why_incomplete(state.parent) == "no trainer_state.json"
    assert C.last_complete_checkpoint(tmp_path)[0] is None
    assert C.last_complete_checkpoint(tmp_path / "none") == (None, [])


def test_a_folder_in_use_is_refused_untouched(tiny_dir, prompts, tmp_path):
    """Resume moves incomplete checkpoints away, so a second process must never resume a run being trained."""
    from endorm.llm.runs import run_lock

    out = tmp_path / "run"
    assert run_cli(tiny_dir, prompts, out, steps=1) == 0
    (out / "checkpoint-1" / C.MARKER).unlink()
    cut(out / "checkpoint-1" / "model.safetensors", 20_000)  # as if the other process were writing it
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with run_lock(out), pytest.raises(ValueError, match="in use by another endorm process"):
        run_cli(tiny_dir, prompts, out, steps=1)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


# ---------------------------------------------------------------------- case 11: a model folder's own code
@pytest.fixture()
def no_prompt(monkeypatch, tmp_path):
    """Any question on the terminal is recorded and answered "y"; transformers' module cache goes to tmp_path."""
    import transformers.dynamic_module_utils as dmu

    asked = []
    monkeypatch.setattr(builtins, "input", lambda *a: asked.append(a) or "y")
    monkeypatch.setattr(dmu, "HF_MODULES_CACHE", str(tmp_path / "hf_modules"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    return asked


def with_custom_code(src, dst, model_type="endorm_custom"):
    """Copy the model folder ``src`` to ``dst`` with an ``auto_map`` to ``custom.py``, which leaves ``dst/RAN``
    when imported; returns (dst, the RAN path)."""
    import shutil

    shutil.copytree(src, dst)
    cfg = json.loads((dst / "config.json").read_text())
    cfg.update(model_type=model_type, auto_map={"AutoConfig": "custom.CustomConfig",
                                                "AutoModelForCausalLM": "custom.CustomModel"})
    (dst / "config.json").write_text(json.dumps(cfg))
    ran = dst / "RAN"
    (dst / "custom.py").write_text(
        f"import pathlib\npathlib.Path({str(ran)!r}).write_text('imported')\n"
        "from transformers import LlamaConfig, LlamaForCausalLM\n\n\n"
        "class CustomConfig(LlamaConfig):\n    model_type = 'endorm_custom'\n\n\n"
        "class CustomModel(LlamaForCausalLM):\n    config_class = CustomConfig\n")
    return dst, ran


def test_a_model_folders_code_never_runs_unless_asked(tiny_dir, prompts, tmp_path, no_prompt):
    custom, ran = with_custom_code(tiny_dir, tmp_path / "custom")
    out = tmp_path / "run"
    with pytest.raises(ValueError) as cli_error:
        run_cli(custom, prompts, out)
    assert not no_prompt and not ran.exists() and not out.exists()  # never asked, never ran, nothing written
    assert "needs its own Python code" in str(cli_error.value) and "--trust-remote-code" in str(cli_error.value)
    fn = EndogenousRewardFunction(custom)  # the library's reward function, loading the folder itself
    with pytest.raises(ValueError) as lib_error:
        fn(prompts=["The sky is"], completion_ids=[[5, 6]])
    assert not no_prompt and not ran.exists() and "trust_remote_code=True" in str(lib_error.value)

    # a model type transformers knows: its built-in class loads, auto_map is ignored, custom.py never imported
    known, ran_known = with_custom_code(tiny_dir, tmp_path / "known", model_type="llama")
    assert run_cli(known, prompts, tmp_path / "run_known", steps=1) == 0
    assert not no_prompt and not ran_known.exists()


def test_trust_remote_code_is_one_option(tmp_path):
    from endorm.llm.rl import train as rl

    cfg = tmp_path / "c.yaml"
    cfg.write_text("trust_remote_code: true\n")
    assert rl.load_config(cfg) == ({"trust_remote_code": True}, {})
    cfg.write_text("grpo:\n  model_init_kwargs:\n    trust_remote_code: true\n")
    with pytest.raises(ValueError, match="grpo.model_init_kwargs.trust_remote_code is set by an endorm option"):
        rl.load_config(cfg)


def test_trust_remote_code_opts_in(tiny_dir, prompts, tmp_path, no_prompt):
    custom, ran = with_custom_code(tiny_dir, tmp_path / "custom")
    assert run_cli(custom, prompts, tmp_path / "run", "--trust-remote-code", steps=1) == 0
    assert ran.exists() and not no_prompt
    assert "trust_remote_code" not in json.loads((tmp_path / "run" / "run.json").read_text())  # resumes either way


# ---------------------------------------------------------------------- case 12: tokens after the EOS
@pytest.mark.parametrize("end_token", [True, False])
def test_reward_function_never_scores_tokens_after_the_first_eos(tiny_dir, end_token):
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    fn = EndogenousRewardFunction(tiny_dir, tok, end_token=end_token)
    blue, red = (tok(t, add_special_tokens=False)["input_ids"] for t in (" blue.", " red"))
    eos = tok.eos_token_id
    (tail,) = fn(prompts=["The sky is"], completion_ids=[blue + [eos] + red])
    assert fn.last_token_rewards[0].token_ids == blue + [eos] * end_token
    (stopped,) = fn(prompts=["The sky is"], completion_ids=[blue + [eos]])
    assert tail == stopped
    (all_tokens,) = fn.reward.token_rewards_from_ids([(tokenize_prompts(tok, ["The sky is"])[0], blue + [eos] + red)])
    assert abs(all_tokens.score - tail) > 1.0
    (as_tensor,) = fn(prompts=["The sky is"], completion_ids=[torch.tensor(blue + [eos] + red)])
    assert as_tensor == tail
