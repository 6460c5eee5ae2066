"""``gsm_synth``: procedurally generated GSM-style word problems (the embedded default's data).

Splits:

* ``train`` and ``test``: problems with ``min_steps``..``max_steps`` calculation steps, drawn from two
  independent random streams; a test problem whose signature (template, step program and numbers,
  i.e. the same math with other names or items) occurs in train is rejected and drawn again, so the
  splits never share a problem. ``n_train=1000`` gives a prefix of ``n_train=2000`` for the same seed.
* ``ic_2step`` and ``ic_mstep``: GSM-IC-style distractor sets built as GSM-IC was built. Base problems
  are the test problems with exactly 2 steps (resp. at least ``ic_mstep_min_steps``); when the test split
  has fewer than ``ic_bases`` of them, fresh held-out problems (not in train or test) top the bases up.
  Each item is a base question with ONE inserted irrelevant sentence containing a number; the gold
  answer is unchanged. Bases are cycled until ``n_ic`` items exist, each (base, distractor) pair distinct.

* ``pretrain`` (with ``n_pretrain`` > 0): a pre-training corpus drawn after every other split and
  disjoint from all of them; with ``pretrain_background`` that share of its problems gets one
  background sentence the solution does not use (:mod:`cotmask.data.background`).

With ``template_reserve`` a seeded share of the templates is kept out of train/test/IC; with
``pretrain_templates: disjoint`` the pretrain split draws from those reserved templates only, so that
pre-training never sees a fine-tuning or test template (the regime map's "disjoint" point), and with
``shared`` from the fine-tuning templates (same train/test, pre-training on their distribution). With ``template_holdout`` a
seeded set of templates (``holdout_fraction`` of them, or the names in
``holdout_templates``) is reserved for test/IC, and train uses the others.

Each record's ``metadata`` holds ``template`` (the cluster unit for the paired bootstrap),
``n_steps``, ``split``, ``gen`` (the seed, phrase and number ranges that rebuild the problem, see
:func:`problem_from_metadata`) and ``program`` (givens and steps, see
:meth:`~cotmask.data.gsm_problem.GsmProblem.program`).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Any

from cotmask.data.background import insert_background, make_background
from cotmask.data.distractors import insert, make_distractor
from cotmask.data.gsm_problem import Builder, GsmProblem, NumberRange, Retry
from cotmask.data.gsm_templates import TEMPLATES
from cotmask.data.options import Option, at_least, exhausted, in_unit_interval
from cotmask.records import dataset_stats

SOURCE = "gsm_synth"
ALL_SPLITS = ("train", "test", "ic_2step", "ic_mstep")
PRETRAIN_SPLIT = "pretrain"
PRETRAIN_TEMPLATE_MODES = ("shared", "disjoint")
MAX_DRAWS_PER_ITEM = 200

OPTIONS: dict[str, Option] = {
    o.name: o
    for o in [
        Option("seed", int, 0, "random seed"),
        Option("n_train", int, 1500, "number of training problems", at_least(0)),
        Option("n_test", int, 300, "number of test problems", at_least(0)),
        Option("n_pretrain", int, 0, "problems in the pretrain split (0: no pretrain split)", at_least(0)),
        Option(
            "pretrain_background", float, 0.0,
            "share of pretrain problems given one background sentence the solution does not use", in_unit_interval,
        ),
        Option("n_ic", int, 300, "items in each of ic_2step and ic_mstep", at_least(0)),
        Option("ic_bases", int, 60, "distinct base problems per IC split (test problems first)", at_least(1)),
        Option("min_steps", int, 2, "fewest calculation steps", at_least(1)),
        Option("max_steps", int, 4, "most calculation steps", at_least(1)),
        Option("ic_mstep_min_steps", int, 3, "fewest steps of an ic_mstep base problem", at_least(3)),
        Option("min_number", int, 2, "smallest number in a question", at_least(2)),
        Option("max_number", int, 20, "largest ordinary number in a question", at_least(5)),
        Option("max_value", int, 1000, "largest intermediate value or answer", at_least(50)),
        Option("template_holdout", bool, False, "reserve some templates for test/IC"),
        Option("holdout_fraction", float, 0.25, "share of templates held out", in_unit_interval),
        Option("holdout_templates", list, None, "explicit held-out template names", nullable=True),
        Option("templates", list, None, "restrict to these templates (default: all)", nullable=True),
        Option(
            "template_reserve", float, 0.0,
            "share of templates kept out of train/test/IC (seeded); 0: none", in_unit_interval,
        ),
        Option(
            "pretrain_templates", str, "shared",
            "'shared': pretrain draws from the train templates; 'disjoint': from the reserved ones only "
            "(needs template_reserve > 0), so pre-training never sees a fine-tuning or test template",
            choices=PRETRAIN_TEMPLATE_MODES,
        ),
        Option("splits", list, list(ALL_SPLITS), "splits to write", choices=ALL_SPLITS),
    ]
}


def source_splits(name: str, options: dict[str, Any]) -> list[str]:
    """Splits written for these (resolved) options."""
    return list(options["splits"]) + ([PRETRAIN_SPLIT] if options.get("n_pretrain", 0) > 0 else [])


# ------------------------------------------------------------------ problems
def build_problem(template: str, seed: int, phrase: int, n_steps: int, numbers: NumberRange) -> GsmProblem:
    """Build one problem (raises Retry when the draw breaks a constraint)."""
    spec = TEMPLATES[template]
    if not spec.supports(n_steps):
        raise ValueError(f"template {template!r} does not support {n_steps} steps")
    builder = Builder(template, seed, phrase, n_steps, numbers)
    spec.build(builder)
    problem = builder.problem
    _check_problem(problem)
    question = problem.question()
    problem.people = [name for name in problem.people if re.search(rf"\b{name}\b", question)]
    return problem


def _check_problem(problem: GsmProblem) -> None:
    """Template invariants (violations are bugs in a template, not bad draws)."""
    where = f"template {problem.template} (seed {problem.seed})"
    if len(problem.steps) != problem.n_steps:
        raise AssertionError(f"{where}: {len(problem.steps)} steps, expected {problem.n_steps}")
    text = " ".join(problem.context + [problem.ask])
    used = {a for s in problem.steps for a in s.args}
    for name in problem.givens:
        if name not in used:
            raise AssertionError(f"{where}: given {name} is never used")
        count = text.count(f"[{name}]")
        if name in problem.hidden:
            if count:
                raise AssertionError(f"{where}: word-number {name} appears as a placeholder")
        elif count != 1:
            raise AssertionError(f"{where}: given {name} appears {count} times in the question")
    if not problem.ask.endswith("?"):
        raise AssertionError(f"{where}: asking sentence {problem.ask!r} does not end with '?'")


def problem_from_metadata(metadata: dict, phrase: int | None = None) -> GsmProblem:
    """Rebuild the problem of a ``gsm_synth`` record (optionally with another phrase seed)."""
    gen = metadata["gen"]
    return build_problem(
        metadata["template"],
        gen["seed"],
        gen["phrase"] if phrase is None else phrase,
        metadata["n_steps"],
        NumberRange(**gen["numbers"]),
    )


def signature(problem: GsmProblem) -> tuple:
    """Identity of the math of a problem: template, step program and numbers (not names or wording)."""
    return (
        problem.template,
        tuple(problem.givens.values()),
        tuple((s.op, s.args, s.value) for s in problem.steps),
    )


def problem_record(problem: GsmProblem, record_id: str, split: str) -> dict:
    """The normalised record of a problem."""
    return {
        "id": record_id,
        "question": problem.question(),
        "solution": problem.solution("gsm8k"),
        "answer": str(problem.answer),
        "source": SOURCE,
        "metadata": {
            "n_steps": problem.n_steps,
            "template": problem.template,
            "split": split,
            "gen": {
                "seed": problem.seed,
                "phrase": problem.phrase,
                "numbers": {
                    "min_number": problem.numbers.min_number,
                    "max_number": problem.numbers.max_number,
                    "max_value": problem.numbers.max_value,
                },
            },
            "program": problem.program(),
        },
    }


class _Drawer:
    """Draws problems from one random stream, rejecting duplicates of anything seen so far.

    With ``set_aside_exhausted`` a (template, steps) pair that yields no new problem in
    ``MAX_DRAWS_PER_ITEM`` tries is set aside (counted) and the draw moves on to the other pairs,
    instead of failing: large corpora exhaust the small templates.
    """

    def __init__(self, stream: str, numbers: NumberRange, seen: set, counters: Counter, set_aside_exhausted: bool = False):
        self.rng = random.Random(stream)
        self.numbers = numbers
        self.seen = seen
        self.counters = counters
        self.set_aside_exhausted = set_aside_exhausted
        self.exhausted: set[tuple[str, int]] = set()
        self.drawn = 0  # problems drawn so far (for the error when the space runs out)

    def draw(self, pool: list[str], steps: list[int], label: str) -> GsmProblem:
        while True:
            open_steps = [n for n in steps if any(TEMPLATES[t].supports(n) and (t, n) not in self.exhausted for t in pool)]
            if not open_steps:
                break
            n = self.rng.choice(open_steps)
            template = self.rng.choice([t for t in pool if TEMPLATES[t].supports(n) and (t, n) not in self.exhausted])
            problem = self._draw_from(template, n, label)
            if problem is not None:
                self.drawn += 1
                return problem
            if not self.set_aside_exhausted:
                break
            self.exhausted.add((template, n))
            self.counters[f"exhausted_{label}"] += 1
        raise exhausted(
            "gsm_synth", label, self.drawn,
            f"{MAX_DRAWS_PER_ITEM} tries per template, steps {steps}, templates {', '.join(pool)}; "
            "options 'max_number', 'max_value'",
        )

    def _draw_from(self, template: str, n: int, label: str) -> GsmProblem | None:
        for _ in range(MAX_DRAWS_PER_ITEM):
            # a bad draw keeps its template and step count, so both keep their intended distribution
            seed = self.rng.getrandbits(40)
            try:
                problem = build_problem(template, seed, 0, n, self.numbers)
            except Retry:
                self.counters["redrawn_constraint"] += 1
                continue
            key = signature(problem)
            if key in self.seen:
                self.counters[f"redrawn_duplicate_{label}"] += 1
                continue
            self.seen.add(key)
            return problem
        return None


def _template_pools(options: dict) -> tuple[list[str], list[str], list[str]]:
    """(train, test, pretrain) template pools.

    ``template_reserve`` first keeps a seeded share of the templates out of train/test/IC;
    ``template_holdout`` then splits the remaining ones between train and test. Pre-training draws
    from the train pool (``pretrain_templates: shared``) or from the reserved templates only
    (``disjoint``). The train and test splits are the same in both modes.
    """
    names = list(TEMPLATES)
    if options["templates"]:
        unknown = [t for t in options["templates"] if t not in TEMPLATES]
        if unknown:
            raise ValueError(f"gsm_synth: option 'templates' names unknown template(s) {unknown}; known: {names}")
        names = [t for t in names if t in options["templates"]]
    reserved = _reserved_templates(names, options)
    train, test = _holdout_pools([t for t in names if t not in reserved], options)
    disjoint = options.get("pretrain_templates", "shared") == "disjoint"
    if disjoint and not reserved:
        raise ValueError("gsm_synth: option 'pretrain_templates: disjoint' needs 'template_reserve' > 0")
    return train, test, (reserved if disjoint else train)


def _reserved_templates(names: list[str], options: dict) -> list[str]:
    """The seeded share ``template_reserve`` of ``names`` kept out of the fine-tuning splits."""
    share = options.get("template_reserve", 0.0)
    if not share:
        return []
    k = round(share * len(names))
    if not 0 < k < len(names):
        raise ValueError(
            f"gsm_synth: option 'template_reserve' ({share}) of {len(names)} templates leaves no template "
            "reserved or none for train/test"
        )
    chosen = set(random.Random(f"gsm_synth:{options['seed']}:reserve").sample(names, k))
    return [t for t in names if t in chosen]


def _holdout_pools(names: list[str], options: dict) -> tuple[list[str], list[str]]:
    """(train, test) pools: the same list, or split by ``template_holdout``."""
    if not options["template_holdout"]:
        return names, names
    if options["holdout_templates"]:
        held = options["holdout_templates"]
        unknown = [t for t in held if t not in names]
        if unknown:
            raise ValueError(f"gsm_synth: option 'holdout_templates' names unknown template(s) {unknown}; known: {names}")
    else:
        k = max(1, round(options["holdout_fraction"] * len(names)))
        held = random.Random(f"gsm_synth:{options['seed']}:holdout").sample(names, k)
    train = [t for t in names if t not in held]
    test = [t for t in names if t in held]
    if not train or not test:
        raise ValueError("gsm_synth: template_holdout leaves no template for train or for test")
    return train, test


def check_source_options(name: str, options: dict) -> None:
    check_options(options)


def check_options(options: dict) -> None:
    """Cross-option checks, before any generation."""
    if options["min_steps"] > options["max_steps"]:
        raise ValueError(f"gsm_synth: option 'min_steps' ({options['min_steps']}) > 'max_steps' ({options['max_steps']})")
    if options["min_number"] >= options["max_number"]:
        raise ValueError("gsm_synth: option 'min_number' must be < 'max_number'")
    if options["max_value"] < options["max_number"] * 2:
        raise ValueError("gsm_synth: option 'max_value' must be at least twice 'max_number'")
    train_pool, test_pool, pretrain_pool = _template_pools(options)
    steps = range(options["min_steps"], options["max_steps"] + 1)
    pools = [("train", train_pool), ("test", test_pool)]
    if options.get("n_pretrain", 0) > 0:
        pools.append(("pretrain", pretrain_pool))
    for label, pool in pools:
        for n in steps:
            if not any(TEMPLATES[t].supports(n) for t in pool):
                raise ValueError(f"gsm_synth: no {label} template supports {n} steps (option 'max_steps'/'templates')")
    wanted = set(options["splits"])
    if "ic_2step" in wanted and not any(TEMPLATES[t].supports(2) for t in test_pool):
        raise ValueError("gsm_synth: no test template supports 2 steps, needed by ic_2step")
    if "ic_mstep" in wanted and not any(TEMPLATES[t].supports(options["ic_mstep_min_steps"]) for t in test_pool):
        raise ValueError("gsm_synth: no test template supports option 'ic_mstep_min_steps' steps")


def generate(options: dict) -> tuple[dict[str, list[dict]], dict]:
    """Generate the requested splits; returns (records by split, generation statistics)."""
    check_options(options)
    numbers = NumberRange(options["min_number"], options["max_number"], options["max_value"])
    train_pool, test_pool, pretrain_pool = _template_pools(options)
    steps = list(range(options["min_steps"], options["max_steps"] + 1))
    seed = options["seed"]
    wanted = set(options["splits"])
    # test is drawn whenever pretrain is, so that pretrain never depends on which splits are written
    need_test = bool(wanted & {"test", "ic_2step", "ic_mstep"}) or options["n_pretrain"] > 0
    counters: Counter = Counter()
    seen: set = set()

    # train first: its problems are reserved before test is drawn (test never shares one)
    train_drawer = _Drawer(f"gsm_synth:{seed}:train", numbers, seen, counters)
    train = [train_drawer.draw(train_pool, steps, "train") for _ in range(options["n_train"])]
    test_drawer = _Drawer(f"gsm_synth:{seed}:test", numbers, seen, counters)
    test = [test_drawer.draw(test_pool, steps, "test") for _ in range(options["n_test"] if need_test else 0)]

    out: dict[str, list[dict]] = {}
    extra: dict[str, dict] = {}
    if "train" in wanted:
        out["train"] = [problem_record(p, f"gsm-train-{i:06d}", "train") for i, p in enumerate(train)]
    if "test" in wanted:
        out["test"] = [problem_record(p, f"gsm-test-{i:06d}", "test") for i, p in enumerate(test)]
    test_records = [problem_record(p, f"gsm-test-{i:06d}", "test") for i, p in enumerate(test)]
    ic_specs = {
        "ic_2step": [2],
        "ic_mstep": list(range(options["ic_mstep_min_steps"], max(options["max_steps"], options["ic_mstep_min_steps"]) + 1)),
    }
    for split, ic_steps in ic_specs.items():
        if split not in wanted:
            continue
        usable = [s for s in ic_steps if any(TEMPLATES[t].supports(s) for t in test_pool)]
        bases = [(p, r["id"]) for p, r in zip(test, test_records) if p.n_steps in usable][: options["ic_bases"]]
        n_from_test = len(bases)
        extra_drawer = _Drawer(f"gsm_synth:{seed}:{split}:bases", numbers, seen, counters)
        while len(bases) < min(options["ic_bases"], max(options["n_ic"], 1)):
            problem = extra_drawer.draw(test_pool, usable, split)
            bases.append((problem, f"gsm-{split}-base-{len(bases) - n_from_test:06d}"))
        records, ic_stats = _ic_split(split, bases, options, numbers)
        out[split] = records
        extra[split] = {"bases_from_test": n_from_test, "bases_extra": len(bases) - n_from_test, **ic_stats}
    if options["n_pretrain"] > 0:
        # drawn after every other split (same `seen` set): disjoint from all of them, and the other
        # splits are identical with or without it
        drawer = _Drawer(f"gsm_synth:{seed}:pretrain", numbers, seen, counters, set_aside_exhausted=True)
        # held-out templates (template_holdout) stay unseen in pre-training too
        problems = [drawer.draw(pretrain_pool, steps, PRETRAIN_SPLIT) for _ in range(options["n_pretrain"])]
        out[PRETRAIN_SPLIT] = _pretrain_records(problems, options, numbers, counters)
    stats = {"generation": dict(sorted(counters.items())), "ic": extra, "templates_train": train_pool, "templates_test": test_pool}
    if options["n_pretrain"] > 0:
        stats["templates_pretrain"] = pretrain_pool
    return out, stats


def _pretrain_records(problems: list[GsmProblem], options: dict, numbers: NumberRange, counters: Counter) -> list[dict]:
    """Pretrain records; a ``pretrain_background`` share of them with one background sentence
    (:mod:`cotmask.data.background`), drawn from a stream of its own (the problems do not depend on it)."""
    rng = random.Random(f"gsm_synth:{options['seed']}:pretrain:background")
    records = []
    for i, problem in enumerate(problems):
        record = problem_record(problem, f"gsm-pretrain-{i:06d}", PRETRAIN_SPLIT)
        if rng.random() < options["pretrain_background"]:
            sentences = problem.question_sentences()
            background = make_background(sentences, problem.people, numbers, rng)
            record["question"] = " ".join(insert_background(sentences, background))
            record["metadata"].update(
                {"background": background.sentence, "background_position": background.position, "background_kind": background.kind}
            )
            counters[f"background_{background.kind}"] += 1
        records.append(record)
    return records


def _ic_split(split: str, bases: list[tuple[GsmProblem, str]], options: dict, numbers: NumberRange) -> tuple[list[dict], dict]:
    rng = random.Random(f"gsm_synth:{options['seed']}:{split}:distractors")
    records: list[dict] = []
    used: set[tuple[str, str, int]] = set()
    counters: Counter = Counter()
    for i in range(options["n_ic"]):
        problem, base_id = bases[i % len(bases)]
        sentences = problem.question_sentences()
        for _ in range(MAX_DRAWS_PER_ITEM):
            distractor = make_distractor(sentences, problem.people, problem.items, numbers, rng)
            key = (base_id, distractor.sentence, distractor.position)
            if key not in used:
                break
            counters["redrawn_duplicate_distractor"] += 1
        else:
            raise exhausted("gsm_synth", split, i, f"no new distractor for {base_id} in {MAX_DRAWS_PER_ITEM} tries")
        used.add(key)
        record = problem_record(problem, f"gsm-{split}-{i:06d}", split)
        record["question"] = " ".join(insert(sentences, distractor))
        record["metadata"].update(
            {
                "base_id": base_id,
                "original_question": problem.question(),
                "distractor": distractor.sentence,
                "distractor_position": distractor.position,
                "distractor_topic": distractor.topic,
                "distractor_role": distractor.role,
                "distractor_range": distractor.number_range,
            }
        )
        counters[f"topic_{distractor.topic}"] += 1
        counters[f"role_{distractor.role}"] += 1
        counters[f"range_{distractor.number_range}"] += 1
        records.append(record)
    return records, dict(sorted(counters.items()))


def vocabulary(records: list[dict]) -> set[str]:
    """Lower-cased words (no numbers) of questions and solutions."""
    words: set[str] = set()
    for r in records:
        words.update(w.lower() for w in re.findall(r"[A-Za-z']+", r["question"] + " " + r["solution"]))
    return words


def build_source_records(name: str, options: dict) -> tuple[dict[str, list[dict]], dict]:
    return build(options)


def build(options: dict) -> tuple[dict[str, list[dict]], dict]:
    """Records by split and the stats.json content (without the options, added by the caller)."""
    records, gen_stats = generate(options)
    per_split = {}
    for split, rows in records.items():
        per_split[split] = dataset_stats(
            rows,
            templates=dict(sorted(Counter(r["metadata"]["template"] for r in rows).items())),
            vocabulary_size=len(vocabulary(rows)),
        )
    all_rows = [r for rows in records.values() for r in rows]
    stats = {
        "splits": per_split,
        "vocabulary_size": len(vocabulary(all_rows)),
        "filtered": {},
        **gen_stats,
    }
    return records, stats
