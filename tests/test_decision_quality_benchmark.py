"""The decision-quality benchmark's own logic: budgets, test slices, the judging of a case and its record."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest


def _dataset(bench, counts: dict[str, int]):
    texts = tuple(f"{label} {i}" for label, n in counts.items() for i in range(n))
    labels = tuple(label for label, n in counts.items() for _ in range(n))
    pool = bench.LabelledTexts(texts, labels)
    return bench.Dataset("toy", pool, bench.LabelledTexts(("a test",), ("a",)))


def test_stratified_slice_keeps_each_label_share(bench):
    examples = _dataset(bench, {"a": 90, "b": 10}).pool
    sliced = bench.stratified_slice(examples, 20, seed="s")
    assert len(sliced) == 20
    assert sliced.labels.count("a") == 18 and sliced.labels.count("b") == 2
    assert sliced == bench.stratified_slice(examples, 20, seed="s")  # seeded


def test_budgets_of_one_draw_nest_and_cap_at_what_a_label_has(bench):
    dataset = _dataset(bench, {"a": 50, "b": 5})
    small, large = bench.draw_budget(dataset, 4, draw=0), bench.draw_budget(dataset, 32, draw=0)
    assert set(small.texts) <= set(large.texts)
    assert large.labels.count("a") == 32 and large.labels.count("b") == 5
    assert set(bench.draw_budget(dataset, 4, draw=1).texts) != set(small.texts)


def test_natural_budgets_keep_the_pools_proportions_and_nest(bench):
    dataset = _dataset(bench, {"a": 900, "b": 90, "c": 10})
    small, large = bench.draw_budget(dataset, 8, draw=0, natural=True), bench.draw_budget(dataset, 32, draw=0, natural=True)
    # 24 and 96 examples in all, in the pool's 90 : 9 : 1; every label at least twice.
    assert (small.labels.count("a"), small.labels.count("b"), small.labels.count("c")) == (22, 2, 2)
    assert (large.labels.count("a"), large.labels.count("b"), large.labels.count("c")) == (86, 9, 2)
    assert set(small.texts) <= set(large.texts)
    assert bench.draw_budget(dataset, 8, draw=0) != small  # per class by default: 8 of every label


def test_pool_never_holds_a_test_text(bench):
    pool = bench.LabelledTexts(("x", "y", "x", "z"), ("a", "b", "a", "a"))
    test = bench.LabelledTexts(("y",), ("b",))
    assert bench.without(pool, test).texts == ("x", "z")


def test_trec_fine_keeps_the_fine_labels_the_large_set_can_score(bench, tmp_path):
    def write(name: str, rows: list[tuple[str, str]]) -> None:
        lines = [json.dumps({"text": text, "label": fine.split(":")[0], "fine_label": fine}) for text, fine in rows]
        (tmp_path / "trec" / name).write_text("\n".join(lines) + "\n", encoding="utf-8")

    (tmp_path / "trec").mkdir()
    few = bench.HELD_BACK_MIN_TEST - 1
    write("test.jsonl", [(f"date {i}?", "NUM:date") for i in range(bench.HELD_BACK_MIN_TEST)]
          + [(f"count {i}?", "NUM:count") for i in range(few)])
    write("train.jsonl", [("date 0?", "NUM:date"), ("date 99?", "NUM:date"), ("count 99?", "NUM:count")])
    dataset = bench.load_dataset("trec_fine", tmp_path, None)
    assert dataset.label_set == ("NUM:date",)  # NUM:count has too few test questions to score
    assert dataset.pool.texts == ("date 99?",)  # no test text, no dropped label
    assert "trec_fine" not in bench.parse_args(["--out", str(tmp_path)]).datasets  # held back: asked for by name
    assert bench.parse_args(["--datasets", "trec_fine", "--out", str(tmp_path)]).datasets == ("trec_fine",)


def _run(choice: str, strategy: str, rivals: tuple[str, ...] = ()):
    recommendation = {"choice": choice, "strategy": strategy, "summary": "", "criteria": [
        {"name": "quality", "numbers": {"difference": 0.1, "ci_low": -0.2, "ci_high": 0.4, "p_finetune_better": 0.7}},
    ]}
    return SimpleNamespace(
        recommendation=SimpleNamespace(to_json=lambda: recommendation), task=SimpleNamespace(metric="macro_f1"),
        run_id="r1", analysis=SimpleNamespace(rivals=[SimpleNamespace(contestant=strategy, rival=r) for r in rivals]),
    )


def _scores(bench, **by_name: tuple[str, float]):
    return tuple(bench.StrategyScore(name.replace("_", "-"), track, 8, 0.5, score, 0) for name, (track, score) in by_name.items())


def test_judge_regret_track_and_either(bench):
    dataset = _dataset(bench, {"a": 10})
    scored = _scores(bench, majority=("baseline", 0.3), zero_shot=("prompt", 0.70), setfit=("finetune", 0.71))
    case = bench.judge(dataset, 8, 0, dataset.pool, _run("either", "zero-shot"), scored, 1.0)
    assert case.regret == pytest.approx(0.01)
    assert case.winning_track == "finetune" and case.track_right is False
    assert case.either_right is True  # within 2 points on the large set
    assert case.odds["quality.p_finetune_better"] == 0.7

    far = _scores(bench, majority=("baseline", 0.3), zero_shot=("prompt", 0.60), setfit=("finetune", 0.71))
    assert bench.judge(dataset, 8, 0, dataset.pool, _run("either", "setfit"), far, 1.0).either_right is False


def test_judge_counts_the_best_among_the_rivals_named_beside_the_recommended(bench):
    dataset = _dataset(bench, {"a": 10})
    scored = _scores(
        bench, majority=("baseline", 0.3), zero_shot=("prompt", 0.60), full=("finetune", 0.63), setfit=("finetune", 0.67),
    )
    named = bench.judge(dataset, 8, 0, dataset.pool, _run("finetune", "full", ("setfit",)), scored, 1.0)
    assert named.regret == pytest.approx(0.04) and named.rivals == ("setfit",)
    assert named.best_named is True and named.regret_of_named == pytest.approx(0.0)
    alone = bench.judge(dataset, 8, 0, dataset.pool, _run("finetune", "full"), scored, 1.0)
    assert alone.best_named is False and alone.regret_of_named == pytest.approx(0.04)
    lines = "\n".join(bench.summary_lines([named, alone], 2.0))
    assert "best named (recommended or a rival)" in lines and "1/2 (50%, 95% CI 9%–91%)" in lines
    assert "| full | setfit | setfit |" in "\n".join(bench.case_table([named]))


def test_the_grid_marks_the_cases_within_the_bar_and_the_wrong_tracks(bench):
    from dataclasses import replace

    dataset = _dataset(bench, {"a": 10})
    scored = _scores(bench, zero_shot=("prompt", 0.60), full=("finetune", 0.63), setfit=("finetune", 0.67))
    right = bench.judge(dataset, 8, 0, dataset.pool, _run("finetune", "setfit"), scored, 1.0)
    close = replace(bench.judge(dataset, 8, 1, dataset.pool, _run("finetune", "full"), scored, 1.0), regret=0.008)
    miss = bench.judge(dataset, 8, 2, dataset.pool, _run("finetune", "full"), scored, 1.0)
    wrong_track = replace(bench.judge(dataset, 32, 1, dataset.pool, _run("prompt", "zero-shot"), scored, 1.0), dataset="trec")
    rows = bench.grid_table([right, close, miss, wrong_track])
    assert rows[0] == "| dataset | per class | draw 0 | draw 1 | draw 2 |"
    assert rows[2] == "| toy | 8 | **setfit, 0** | **full, 0.008** | full, 0.040 |"
    assert rows[3] == "| trec | 32 |  | zero-shot, 0.070 † |  |"


def test_baseline_wins_when_nothing_beats_it(bench):
    dataset = _dataset(bench, {"a": 10})
    scored = _scores(bench, majority=("baseline", 0.29), zero_shot=("prompt", 0.23), setfit=("finetune", 0.28))
    case = bench.judge(dataset, 8, 0, dataset.pool, _run("collect-more-data", "zero-shot"), scored, 1.0)
    assert case.winning_track == "baseline" and case.best_strategy == "majority"
    assert case.regret == pytest.approx(0.06) and case.either_right is None


def test_first_draw_runs_later_draws_only(bench, monkeypatch, tmp_path):
    dataset = _dataset(bench, {"a": 20, "b": 20})
    monkeypatch.setattr(bench, "load_dataset", lambda name, root, max_test: dataset)
    ran = []

    def run_case(dataset, per_class, draw, settings, case_folder, say):
        ran.append(draw)
        budget = bench.draw_budget(dataset, per_class, draw)
        return bench.refused(dataset, per_class, draw, budget, ValueError("not run here"), 0.0)

    monkeypatch.setattr(bench, "run_case", run_case)
    bench.main(["--datasets", "trec", "--budgets", "4", "--seeds", "2", "--first-draw", "3", "--out", str(tmp_path)])
    assert ran == [3, 4]
    written = (tmp_path / "decision_quality.json").read_text(encoding="utf-8")
    assert '"first_draw": 3' in written and '"draw": 4' in written


def test_rescore_scores_again_only_the_strategies_a_release_retrains(bench, monkeypatch, tmp_path):
    from types import SimpleNamespace

    import shouldtune

    def score(strategy, track, large):
        return {"strategy": strategy, "track": track, "n_per_class": 4, "run_score": 0.9, "large_set_score": large,
                "refit_mismatches": 0}

    case = {"dataset": "toy", "budget_per_class": 4, "draw": 0, "test_examples": 1,
            "scores": [score("zero-shot", "prompt", 0.70), score("setfit", "finetune", 0.80), score("full", "finetune", 0.60)]}
    run = SimpleNamespace(
        recommendation=SimpleNamespace(to_json=lambda: {"choice": "finetune", "strategy": "full"}),
        task=SimpleNamespace(metric="macro_f1"), run_id="r1", analysis=SimpleNamespace(rivals=()),
    )
    monkeypatch.setattr(shouldtune, "run_experiment", lambda task, store_path, say: run)
    exported = []

    def score_strategy(store, run, strategy, folder, test, label_set):
        exported.append(strategy)
        return bench.StrategyScore(strategy, "finetune", 4, 0.95, 0.85, 0)

    monkeypatch.setattr(bench, "score_strategy", score_strategy)
    settings = bench.parse_args(["--rejudge", "x.json", "--rerun", "--rescore", "full", "--out", str(tmp_path)])
    datasets = {"toy": _dataset(bench, {"a": 20, "b": 20})}
    judged = bench.rerun_case(case, tmp_path / "store.db", settings, datasets, lambda line: None)
    assert exported == ["full"]  # only the retrained strategy is exported and scored again
    assert {s.strategy: s.large_set_score for s in judged.scores} == {"zero-shot": 0.70, "setfit": 0.80, "full": 0.85}
    assert judged.best_strategy == "full" and judged.regret == 0.0  # judged on the new score, not the recorded 0.60
    with pytest.raises(SystemExit) as stopped:
        bench.parse_args(["--rescore", "full"])
    assert stopped.value.code == 2


def test_rerun_runs_each_recorded_case_again_on_its_own_store(bench, monkeypatch, tmp_path):
    import json

    was = {"choice": "finetune", "recommended": "setfit", "regret": 0.0, "refusal": None}
    recorded = {"settings": {"store": "runs/x/store.db"}, "cases": [
        {"dataset": "sst2", "budget_per_class": 8, "draw": 0, **was},
        {"dataset": "trec", "budget_per_class": 32, "draw": 2, **was, "store": "runs/y/store.db"},
        {"dataset": "trec", "budget_per_class": 4, "draw": 1, **was, "refusal": "too few"},  # a refused case has no run
    ]}
    document = tmp_path / "decision_quality.json"
    document.write_text(json.dumps(recorded), encoding="utf-8")
    again = []

    def rerun_case(case, store, settings, datasets, say):
        again.append((case["dataset"], case["draw"], str(store)))
        dataset = _dataset(bench, {"a": 20, "b": 20})
        budget = bench.draw_budget(dataset, 4, 0)
        return bench.refused(dataset, 4, 0, budget, ValueError("not run here"), 0.0)

    monkeypatch.setattr(bench, "rerun_case", rerun_case)
    monkeypatch.setattr(bench, "rejudge_case", lambda case, store: pytest.fail("--rerun must run, not only re-decide"))
    bench.main(["--rejudge", str(document), "--rerun", "--out", str(tmp_path / "out")])
    assert again == [("sst2", 0, "runs/x/store.db"), ("trec", 2, "runs/y/store.db")]
    with pytest.raises(SystemExit) as stopped:
        bench.parse_args(["--rerun"])
    assert stopped.value.code == 2


def test_a_record_decides_its_case_again_without_the_store(bench, tmp_path, tiny_encoder_folder):
    import gzip

    from shouldtune.experiment import run_experiment
    from shouldtune.task import load_task

    data = Path(__file__).parent / "data" / "trec_small_train.jsonl"
    task = load_task(
        None, data=data, name="record", strategies=["majority", "few-shot-knn", "linear-probe"], sizes=[4, 8],
        backend={"model": str(tiny_encoder_folder)},
    )
    store = tmp_path / "store.db"
    run = run_experiment(task, store_path=store, say=lambda line: None)
    scores = (
        bench.StrategyScore("majority", "baseline", 0, 0.2, 0.10, 0),
        bench.StrategyScore("few-shot-knn", "prompt", 8, 0.5, 0.40, 0),
        bench.StrategyScore("linear-probe", "finetune", 8, 0.6, 0.55, 0),
    )
    case = bench.judge(bench.Dataset("trec", bench.LabelledTexts((), ()), bench.LabelledTexts(("q",), ("a",))),
                       8, 0, bench.LabelledTexts(("t",) * 96, ("a",) * 96), run, scores, 1.0)
    from_store = bench.rejudge_case(bench.asdict(case), store)

    path = bench.write_record(case, store, tmp_path / "records")
    assert path.name == "trec-8-draw0.json.gz"
    assert path.read_bytes() == bench.write_record(case, store, tmp_path / "again").read_bytes()  # the same bytes
    store.unlink()
    from_record = bench.decide_record(bench.read_record(path))
    assert (from_record.choice, from_record.recommended, from_record.regret, from_record.odds, from_record.rivals) == (
        from_store.choice, from_store.recommended, from_store.regret, from_store.odds, from_store.rivals
    )
    assert from_record.recommended == case.recommended and from_record.store is None
    assert "results" in bench.json.loads(gzip.decompress(path.read_bytes()))

    bench.main(["--rejudge", str(path), "--records", str(tmp_path / "rewritten"), "--out", str(tmp_path / "out")])
    assert bench.read_record(tmp_path / "rewritten" / path.name)["case"]["recommended"] == case.recommended
    with pytest.raises(SystemExit) as stopped:  # a record has no store to run again on
        bench.parse_args(["--rejudge", str(path), "--rerun"])
    assert stopped.value.code == 2
