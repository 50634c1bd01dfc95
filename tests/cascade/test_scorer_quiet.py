"""The shipped answer scorer loads and scores silently, and long answers are cut by our head+tail rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys

CODE = """
import json, sys
from routellm_core.cascade_policy import load_scorer
from routellm_core.datadir import resolve_data_dir
rows = [json.loads(line) for line in open(resolve_data_dir() / "arena_hard" / "answers" / "gpt-4-1106-preview.jsonl")]
questions = {}
for line in open(resolve_data_dir() / "arena_hard" / "question.jsonl"):
    q = json.loads(line)
    questions[q["question_id"]] = q["prompt"]
longest = max(rows, key=lambda r: len(r["answer"]))
scorer = load_scorer("default")
p = scorer.score_one(questions[longest["question_id"]], longest["answer"])
emb = scorer._answer_embedder()
ids = emb.token_ids([longest["answer"]])[0]
full = emb._load()[1].encode(longest["answer"], add_special_tokens=False).ids
print(json.dumps({"p": p, "ids": ids, "full": full, "transformers": "transformers" in sys.modules,
                  "torch": "torch" in sys.modules}))
"""


def test_default_scorer_on_a_long_real_answer_prints_nothing(tmp_path):
    """A real Arena answer far beyond MiniLM's 512 tokens: no "Loading weights" bar, no tokenizer warning."""
    env = {**os.environ, "ROUTELLM_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("ROUTELLM_PROGRESS", None)
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr  # nothing at all reaches the user
    out = json.loads(done.stdout)
    assert 0.0 < out["p"] < 1.0
    assert not out["transformers"] and not out["torch"]  # the scorer needs neither
    ids, full = out["ids"], out["full"]
    assert len(full) > 512  # the case of the warning: longer than the model's maximum
    body = len(ids) - 2  # [CLS] ... [SEP]
    assert len(ids) == 128  # the scorer's answer window (answer_tokens)
    assert ids[1:33] == full[:32] and ids[33:-1] == full[len(full) - (body - 32):]  # head 32 + tail, by our rule


def test_the_torch_minilm_loads_and_tokenises_silently(tmp_path):
    """The torch reference path (bulk training): no loading bar and no length warning on a long text."""
    code = ("from routellm_core.embeddings.minilm import HFEncoderEmbedder\n"
            "e = HFEncoderEmbedder(dtype='float32')\n"
            "v = e.embed(['word ' * 2000, 'short'])\n"
            "print(v.shape)")
    env = {**os.environ, "ROUTELLM_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(2, 384)"
    assert "Loading weights" not in done.stderr and "Token indices" not in done.stderr, done.stderr
    assert done.stderr.strip() == "", done.stderr


def test_quiet_libraries_restores_the_library_settings():
    from transformers.utils import logging as tlog

    from routellm_core.progress import quiet_libraries

    before = (tlog.get_verbosity(), tlog.is_progress_bar_enabled())
    with quiet_libraries():
        assert not tlog.is_progress_bar_enabled()
        assert tlog.get_verbosity() == tlog.ERROR
    assert (tlog.get_verbosity(), tlog.is_progress_bar_enabled()) == before
