"""``routellm-core evaluate``: table on stdout, JSON/CSV/Markdown/PNG files, exit 2 on user errors."""

from __future__ import annotations

import argparse
import csv
import json

import pytest

from routellm_core.evaluation.cli import handler, main, register


def test_register_adds_the_evaluate_subcommand():
    parser = argparse.ArgumentParser(prog="routellm-core")
    parser.add_argument("--data-dir")  # a global option of the main CLI must survive the subparser
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["--data-dir", "/x", "evaluate", "--benchmark", "all", "--routers", "random", "mf"])
    assert args.func is handler and args.data_dir == "/x"
    assert args.benchmark == ["all"] and args.routers == ["random", "mf"] and args.num_results == 10


def test_evaluate_writes_table_results_and_plots(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["evaluate", "-b", "mt-bench", "gsm8k", "-r", "random", "oracle", "-o", str(out),
                 "--cache-dir", str(tmp_path / "cache"), "--random-seeds", "5"])
    assert code == 0
    stdout = capsys.readouterr().out
    assert "== mt-bench: 72 items" in stdout and "== gsm8k: 1307 items" in stdout and "optimal" in stdout
    results = json.loads((out / "results.json").read_text())
    bench = {b["benchmark"]: b for b in results["benchmarks"]}
    assert bench["mt-bench"]["routers"][0]["seeds"] == 5
    assert 0.3 < bench["gsm8k"]["routers"][0]["metrics"]["apgr"] < 0.7
    assert bench["gsm8k"]["routers"][1]["metrics"]["apgr"] > 0.9
    assert bench["mt-bench"]["cost"]["prices_usd_per_million"]["gpt-4-1106-preview"] == [24.7, 24.7]
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [(r["benchmark"], r["router"]) for r in rows] == [
        ("mt-bench", "random"), ("mt-bench", "oracle"), ("mt-bench", "optimal"),
        ("gsm8k", "random"), ("gsm8k", "oracle"), ("gsm8k", "optimal")]
    assert (out / "mt-bench.png").read_bytes()[:4] == b"\x89PNG" and (out / "gsm8k.png").is_file()
    md = (out / "results.md").read_text()
    assert "| mt-bench | mf (paper only) | - | - | - | 13.40% | 31.31% | 0.802 | - |" in md


def test_custom_correctness_table_and_price(tmp_path, capsys):
    table = tmp_path / "mine.csv"
    table.write_text("prompt,small,big\n" + "".join(f"question {i},{int(i % 3 == 0)},{int(i % 2 == 0)}\n" for i in range(60)))
    code = main(["evaluate", "-b", str(table), "-r", "oracle", "random", "-o", str(tmp_path / "o"), "--no-cache",
                 "--no-plot", "--price", "big=10,30", "--price", "small=1"])
    assert code == 0
    assert "== mine: 60 items" in capsys.readouterr().out
    assert not (tmp_path / "o" / "mine.png").exists()


def test_user_errors_exit_2_with_one_line(tmp_path, capsys):
    cases = [
        ["evaluate", "-b", "hellaswag", "-r", "random"],
        ["evaluate", "-b", "mt-bench", "-r", "no_such_router", "--no-cache"],
        ["evaluate", "-b", "mt-bench", "-r", "random", "--price", "gpt-4"],
        ["evaluate", "-b", "mt-bench", "-r", "random", "--quality", "1.5"],
        ["evaluate", "-b", "mt-bench", "-r", "random", "--cross-fit", "0"],
        ["evaluate", "-b", "gsm8k", "-r", "random", "--sample", "1"],
    ]
    for argv in cases:
        assert main(argv + ["-o", str(tmp_path / "o")]) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error: ") and "Traceback" not in "".join(err)


def test_prompts_file_with_a_correctness_table_is_a_user_error(tmp_path, capsys):
    table = tmp_path / "t.csv"
    table.write_text("prompt,a,b\nq1,1,0\nq2,0,1\nq3,1,1\n")
    assert main(["evaluate", "-b", str(table), "-r", "random", "--prompts", str(table), "-o", str(tmp_path / "o"),
                 "--no-cache"]) == 2
    assert "judged-score tables" in capsys.readouterr().err


def test_train_datasets_choose_what_cross_fitted_routers_learn_from(tmp_path, capsys, data_dir):
    from routellm_core.evaluation.runner import Evaluator
    from routellm_core.routers.sw_ranking import SWRankingRouter

    logged: list[str] = []
    only_gsm8k = Evaluator(train_datasets=["gsm8k"], data_dir=data_dir, log=logged.append)
    records = only_gsm8k.base_records()
    assert records and {r.source.split(":")[0] for r in records} == {"gsm8k"}
    assert "loading gsm8k for cross-fitting" in logged[0]
    # scores cached for one training set are never reused for another
    default = Evaluator(data_dir=data_dir)
    router = SWRankingRouter()
    assert only_gsm8k._fit_key(router, k=2) != default._fit_key(router, k=2)
    assert main(["evaluate", "-b", "mt-bench", "-r", "mf", "--train-datasets", "gsm8k", "nope",
                 "-o", str(tmp_path / "o")]) == 2
    assert "unknown dataset(s) nope" in capsys.readouterr().err


def test_cross_fit_trains_a_router_that_has_no_checkpoint_yet(tmp_path, capsys, data_dir, monkeypatch):
    """bert ships no checkpoint: --cross-fit trains each fold from the recipe's parameters, none is needed first."""
    monkeypatch.setenv("ROUTELLM_CACHE_DIR", str(tmp_path / "empty-cache"))
    table = tmp_path / "mine.csv"
    rows = "".join(f"Explain topic number {i} in a few words,{int(i % 2 == 0)},{int(i % 3 == 0)}\n" for i in range(24))
    table.write_text("prompt,gpt-4-1106-preview,mixtral-8x7b-instruct-v0.1\n" + rows)
    code = main(["evaluate", "-b", str(table), "-r", "bert", "--cross-fit", "2", "--train-datasets", "mt-bench",
                 "--no-cache", "--no-plot", "--no-cost", "--bootstrap", "0", "-o", str(tmp_path / "o"),
                 "--data-dir", str(data_dir)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "no default checkpoint" not in captured.err
    assert "cross-fit 2" in captured.out and "bert" in captured.out


@pytest.mark.parametrize("train_datasets", [None, ["gsm8k"]])
def test_cache_key_does_not_change_once_the_base_data_is_loaded(data_dir, monkeypatch, train_datasets):
    """Scores cached before the lazy load of the training data must be found after it, and vice versa."""
    import routellm_core.training as training
    from routellm_core.evaluation.runner import Evaluator
    from routellm_core.loaders import load_routellm_golden
    from routellm_core.routers.sw_ranking import SWRankingRouter

    small = load_routellm_golden("gsm8k", data_dir)  # stands in for the (slow to load) default data
    monkeypatch.setattr(training, "default_training_records", lambda *a, **k: small)
    evaluator = Evaluator(train_datasets=train_datasets, data_dir=data_dir)
    before = evaluator._fit_key(SWRankingRouter(), k=2)
    assert evaluator.base_records() is not None
    assert evaluator._fit_key(SWRankingRouter(), k=2) == before
    given = Evaluator(base_records=small, data_dir=data_dir)  # caller-given records are keyed by themselves
    assert given._fit_key(SWRankingRouter(), k=2) != before
