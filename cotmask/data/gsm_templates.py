"""The templates of ``gsm_synth``: each builds one GSM-style problem with exactly ``b.n_steps`` steps.

A template is a function of a :class:`~cotmask.data.gsm_problem.Builder`. It draws numbers, names and
items from the builder's content stream, writes question sentences with ``[given]`` placeholders and
adds calculation steps whose solution sentences hold ``[calc]``. Wording variants are passed side by
side (``b.text(v1, v2)``); the builder's phrase stream picks one. A template raises
:class:`~cotmask.data.gsm_problem.Retry` (directly or through the builder) when its draw breaks a
constraint; the generator then draws again.

Families:
* chain scenes (8): a running quantity changed by events (add, remove, packs of items, equal split);
* totals scenes (4): categories related to earlier ones (times, more, fewer, twice, half), then a sum;
* shopping, travel, ages, work_pay, recipe, sharing, orchard, reading, practice, school, theater, compare.

The vocabulary is kept deliberately small (a few hundred words) for word-level tiny models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cotmask.data.gsm_problem import Builder, Retry

ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    build: Callable[[Builder], None]
    min_steps: int
    max_steps: int

    def supports(self, n_steps: int) -> bool:
        return self.min_steps <= n_steps <= self.max_steps


def _f(texts: tuple[str, ...] | str, fields: dict[str, str], refs: dict[str, str] | None = None) -> tuple[str, ...]:
    """Format wording variants with ``fields``; rename placeholders ``[key]`` to the given's ref ``[refs[key]]``."""
    texts = (texts,) if isinstance(texts, str) else texts
    out = []
    for text in texts:
        text = text.format(**fields)
        for key, ref in (refs or {}).items():
            text = text.replace(f"[{key}]", f"[{ref}]")
        out.append(text)
    return tuple(out)


# ============================================================== chain scenes
@dataclass(frozen=True)
class Event:
    question: tuple[str, ...]
    solution: tuple[str, ...]
    label: str
    # packs events have a second step: (solution, label) of "running total + packs"
    solution2: tuple[str, ...] = ()
    label2: str = ""


@dataclass(frozen=True)
class ChainScene:
    key: str
    items: tuple[str, ...]
    intro: tuple[str, ...]
    ask: tuple[str, ...]
    statement: str
    add: Event
    sub: Event
    packs: Event | None = None
    split: Event | None = None


CHAIN_SCENES = (
    ChainScene(
        key="collection",
        items=("marbles", "stickers", "stamps", "shells", "cards"),
        intro=("{P} has [start] {it}.", "{P} owns [start] {it}.", "{P} collects {it} and has [start] of them."),
        ask=("How many {it} does {P} have now?", "How many {it} does {P} have at the end?"),
        statement="{P} has [answer] {it} at the end.",
        add=Event(
            ("{He} buys [more] more {it}.", "{Q} gives {him} [more] more {it}.", "{He} finds [more] more {it}."),
            ("Now {P} has [calc] {it}.", "After that, {P} has [calc] {it}.", "{P} then has [calc] {it}."),
            "the number of {it} after getting more",
        ),
        sub=Event(
            ("{He} gives [less] {it} to {Q}.", "{He} loses [less] {it}.", "{He} trades away [less] {it}."),
            ("{P} has [calc] {it} left.", "After that, {P} has [calc] {it}.", "Then {P} has [calc] {it}."),
            "the number of {it} after giving some away",
        ),
        packs=Event(
            ("{He} buys [packs] packs of {it} with [per_pack] {it} in each pack.",
             "{He} gets [packs] boxes of {it}, and each box has [per_pack] {it}."),
            ("That is [calc] new {it}.", "This gives {him} [calc] new {it}."),
            "the number of new {it}",
            ("So {P} has [calc] {it} now.", "Now {P} has [calc] {it}."),
            "the number of {it} with the new ones",
        ),
        split=Event(
            ("{He} puts {his} {it} into [groups] equal piles and keeps only one pile.",
             "{He} splits {his} {it} into [groups] equal groups and keeps one group."),
            ("{P} keeps [calc] {it}.", "So {P} keeps [calc] {it}."),
            "the number of {it} {P} keeps",
        ),
    ),
    ChainScene(
        key="bakery",
        items=("muffins", "cookies", "rolls", "cupcakes", "pies"),
        intro=("A bakery has [start] {it} in the morning.", "In the morning, a bakery has [start] {it}."),
        ask=("How many {it} does the bakery have now?", "How many {it} are at the bakery at the end?"),
        statement="The bakery has [answer] {it} at the end.",
        add=Event(
            ("The baker makes [more] more {it}.", "The baker bakes [more] more {it}."),
            ("Now the bakery has [calc] {it}.", "The bakery then has [calc] {it}."),
            "the number of {it} after baking more",
        ),
        sub=Event(
            ("The bakery sells [less] {it}.", "{P} buys [less] {it}."),
            ("There are [calc] {it} left.", "The bakery has [calc] {it} left."),
            "the number of {it} after the sale",
        ),
        packs=Event(
            ("The baker bakes [packs] trays of {it} with [per_pack] {it} on each tray.",
             "The baker makes [packs] more trays, each with [per_pack] {it}."),
            ("The trays hold [calc] {it}.", "That is [calc] new {it}."),
            "the number of {it} on the trays",
            ("Now the bakery has [calc] {it}.", "The bakery then has [calc] {it}."),
            "the number of {it} after the trays",
        ),
    ),
    ChainScene(
        key="bus",
        items=("people", "children", "students"),
        intro=("A bus leaves the station with [start] {it} on it.", "There are [start] {it} on a bus."),
        ask=("How many {it} are on the bus now?", "How many {it} are on the bus at the end?"),
        statement="There are [answer] {it} on the bus at the end.",
        add=Event(
            ("At the {ord} stop, [more] {it} get on.", "[more] more {it} get on at the {ord} stop."),
            ("Now there are [calc] {it} on the bus.", "So the bus has [calc] {it}."),
            "the number of {it} after the {ord} stop",
        ),
        sub=Event(
            ("At the {ord} stop, [less] {it} get off.", "[less] {it} get off at the {ord} stop."),
            ("Now there are [calc] {it} on the bus.", "So the bus has [calc] {it}."),
            "the number of {it} after the {ord} stop",
        ),
        packs=Event(
            ("At the {ord} stop, [packs] groups of [per_pack] {it} get on.",
             "[packs] groups with [per_pack] {it} each get on at the {ord} stop."),
            ("The groups have [calc] {it}.", "That is [calc] more {it}."),
            "the number of {it} in the groups",
            ("Now there are [calc] {it} on the bus.", "So the bus has [calc] {it}."),
            "the number of {it} after the {ord} stop",
        ),
    ),
    ChainScene(
        key="library",
        items=("books", "magazines"),
        intro=("A library has [start] {it} on a shelf.", "There are [start] {it} on a library shelf."),
        ask=("How many {it} are on the shelf now?", "How many {it} are on the shelf at the end?"),
        statement="There are [answer] {it} on the shelf at the end.",
        add=Event(
            ("The library buys [more] new {it}.", "{P} brings [more] {it} back to the shelf."),
            ("The shelf now has [calc] {it}.", "Now there are [calc] {it} on the shelf."),
            "the number of {it} after more arrive",
        ),
        sub=Event(
            ("Children borrow [less] {it}.", "{P} takes [less] {it} from the shelf."),
            ("The shelf has [calc] {it} left.", "Now there are [calc] {it} on the shelf."),
            "the number of {it} after some are taken",
        ),
        packs=Event(
            ("[packs] boxes arrive with [per_pack] {it} in each box.",
             "The library gets [packs] boxes, and each box has [per_pack] {it}."),
            ("The boxes hold [calc] {it}.", "That is [calc] new {it}."),
            "the number of {it} in the boxes",
            ("The shelf now has [calc] {it}.", "Now there are [calc] {it} on the shelf."),
            "the number of {it} after the boxes",
        ),
    ),
    ChainScene(
        key="farm",
        items=("chickens", "ducks", "goats", "rabbits", "sheep"),
        intro=("{P} has [start] {it} on {his} farm.", "There are [start] {it} on {P}'s farm."),
        ask=("How many {it} does {P} have now?", "How many {it} are on the farm at the end?"),
        statement="{P} has [answer] {it} at the end.",
        add=Event(
            ("{P} buys [more] more {it}.", "[more] baby {it} are born."),
            ("Now {P} has [calc] {it}.", "The farm then has [calc] {it}."),
            "the number of {it} after more come",
        ),
        sub=Event(
            ("{P} sells [less] {it} at the market.", "{P} gives [less] {it} to {Q}."),
            ("{P} has [calc] {it} left.", "The farm then has [calc] {it}."),
            "the number of {it} after some leave",
        ),
        packs=Event(
            ("{P} buys [packs] groups of [per_pack] {it}.", "{Q} brings {him} [packs] groups with [per_pack] {it} each."),
            ("The groups have [calc] {it}.", "That is [calc] new {it}."),
            "the number of new {it}",
            ("Now {P} has [calc] {it}.", "The farm then has [calc] {it}."),
            "the number of {it} with the new ones",
        ),
        split=Event(
            ("{P} splits the {it} into [groups] equal groups and keeps one group.",),
            ("{P} keeps [calc] {it}.", "One group has [calc] {it}."),
            "the number of {it} {P} keeps",
        ),
    ),
    ChainScene(
        key="piggy_bank",
        items=("dollars",),
        intro=("{P} has [start] dollars in {his} piggy bank.", "{P} saves [start] dollars in a piggy bank."),
        ask=("How much money does {P} have now?", "How many dollars does {P} have at the end?"),
        statement="{P} has [answer] dollars at the end.",
        add=Event(
            ("{He} earns [more] dollars for washing cars.", "{Q} gives {him} [more] dollars.",
             "{He} gets [more] dollars for {his} birthday."),
            ("Now {P} has [calc] dollars.", "{P} then has [calc] dollars."),
            "the money after getting more",
        ),
        sub=Event(
            ("{He} spends [less] dollars on a book.", "{He} buys a toy for [less] dollars."),
            ("{P} has [calc] dollars left.", "Then {P} has [calc] dollars."),
            "the money after spending some",
        ),
        packs=Event(
            ("{He} works [packs] hours and earns [per_pack] dollars per hour.",
             "{He} walks dogs for [packs] days and earns [per_pack] dollars each day."),
            ("{He} earns [calc] dollars.", "That is [calc] dollars of pay."),
            "the money {he} earns",
            ("Now {P} has [calc] dollars.", "{P} then has [calc] dollars."),
            "the money after the work",
        ),
        split=Event(
            ("{He} splits {his} money into [groups] equal parts and keeps one part.",),
            ("{P} keeps [calc] dollars.", "One part is [calc] dollars."),
            "the money {P} keeps",
        ),
    ),
    ChainScene(
        key="fruit",
        items=("apples", "pears", "plums", "oranges", "peaches"),
        intro=("{P} picks [start] {it}.", "{P} has a basket with [start] {it}."),
        ask=("How many {it} does {P} have now?", "How many {it} does {P} have at the end?"),
        statement="{P} has [answer] {it} at the end.",
        add=Event(
            ("{He} picks [more] more {it}.", "{Q} gives {him} [more] {it}."),
            ("Now {P} has [calc] {it}.", "{P} then has [calc] {it}."),
            "the number of {it} after getting more",
        ),
        sub=Event(
            ("{He} eats [less] {it}.", "{He} gives [less] {it} to {Q}."),
            ("{P} has [calc] {it} left.", "Then {P} has [calc] {it}."),
            "the number of {it} after some are gone",
        ),
        packs=Event(
            ("{He} buys [packs] bags of {it} with [per_pack] {it} in each bag.",
             "{He} gets [packs] bags with [per_pack] {it} in each bag."),
            ("The bags hold [calc] {it}.", "That is [calc] new {it}."),
            "the number of {it} in the bags",
            ("Now {P} has [calc] {it}.", "{P} then has [calc] {it}."),
            "the number of {it} with the bags",
        ),
        split=Event(
            ("{He} puts the {it} into [groups] equal bowls and keeps one bowl.",),
            ("One bowl has [calc] {it}.", "{P} keeps [calc] {it}."),
            "the number of {it} in one bowl",
        ),
    ),
    ChainScene(
        key="garden",
        items=("flowers", "roses", "tulips"),
        intro=("A garden has [start] {it}.", "There are [start] {it} in {P}'s garden."),
        ask=("How many {it} are in the garden now?", "How many {it} are in the garden at the end?"),
        statement="There are [answer] {it} in the garden at the end.",
        add=Event(
            ("{P} plants [more] more {it}.", "{Q} plants [more] more {it}."),
            ("Now the garden has [calc] {it}.", "There are now [calc] {it}."),
            "the number of {it} after planting more",
        ),
        sub=Event(
            ("Rabbits eat [less] {it}.", "{P} picks [less] {it} for {Q}."),
            ("The garden has [calc] {it} left.", "There are now [calc] {it}."),
            "the number of {it} after some are gone",
        ),
        packs=Event(
            ("{P} plants [packs] rows with [per_pack] {it} in each row.",
             "{P} adds [packs] rows of [per_pack] {it}."),
            ("The rows have [calc] {it}.", "That is [calc] new {it}."),
            "the number of {it} in the new rows",
            ("Now the garden has [calc] {it}.", "There are now [calc] {it}."),
            "the number of {it} after the new rows",
        ),
    ),
)


def _chain(scene: ChainScene) -> Callable[[Builder], None]:
    def build(b: Builder) -> None:
        p, q = b.person(), b.person()
        it = b.item(scene.items)
        fields = {**p.fields(), "Q": q.name, "it": it}
        lo = b.numbers.min_number
        cur = b.given("start", b.num(lo=max(lo, 4)))
        b.text(*_f(scene.intro, fields))
        remaining, index = b.n_steps, 0
        while remaining > 0:
            value = b.value(cur)
            kinds = ["add"]
            if value >= 2 * lo + 1:
                kinds.append("sub")
            if scene.packs is not None and remaining >= 2:
                kinds.append("packs")
            if scene.split is not None and b.has_divisor(value, hi=min(10, b.numbers.max_number)):
                kinds.append("split")
            kind = b.pick(kinds)
            fields.update(ord=ORDINALS[index % len(ORDINALS)])
            if kind == "add":
                ev = scene.add
                n = b.given("more", b.num())
                b.text(*_f(ev.question, fields, {"more": n}))
                cur = b.step("after_more", "+", [cur, n], ev.label.format(**fields), *_f(ev.solution, fields))
            elif kind == "sub":
                ev = scene.sub
                n = b.given("less", b.num(hi=value - lo))
                b.text(*_f(ev.question, fields, {"less": n}))
                cur = b.step("after_less", "-", [cur, n], ev.label.format(**fields), *_f(ev.solution, fields))
            elif kind == "packs":
                ev = scene.packs
                packs = b.given("packs", b.num(hi=6))
                per = b.given("per_pack", b.num(hi=12))
                b.text(*_f(ev.question, fields, {"packs": packs, "per_pack": per}))
                new = b.step("new_items", "*", [packs, per], ev.label.format(**fields), *_f(ev.solution, fields))
                cur = b.step("after_packs", "+", [cur, new], ev.label2.format(**fields), *_f(ev.solution2, fields))
                remaining -= 1
            else:
                ev = scene.split
                groups = b.given("groups", b.divisor(value, hi=min(10, b.numbers.max_number)))
                b.text(*_f(ev.question, fields, {"groups": groups}))
                cur = b.step("kept", "/", [cur, groups], ev.label.format(**fields), *_f(ev.solution, fields))
            remaining -= 1
            index += 1
        b.ask(_f(scene.ask, fields), _f(scene.statement, fields))

    return build


# ============================================================= totals scenes
@dataclass(frozen=True)
class TotalsScene:
    key: str
    categories: tuple[str, ...]
    nouns: tuple[str, ...]  # "{it}" choices (may be a single neutral noun)
    first: tuple[str, ...]
    times: str
    more: str
    fewer: str
    twice: str
    half: str
    solution: tuple[str, ...]
    label: str
    total_solution: tuple[str, ...]
    total_label: str
    ask: tuple[str, ...]
    statement: str


TOTALS_SCENES = (
    TotalsScene(
        key="colors",
        categories=("red", "blue", "green", "yellow", "black"),
        nouns=("pens", "balloons", "beads", "socks"),
        first=("{P} has [first] {cat} {it}.", "{P} owns [first] {cat} {it}."),
        times="{He} has [k] times as many {cat} {it} as {ref} {it}.",
        more="{He} has [d] more {cat} {it} than {ref} {it}.",
        fewer="{He} has [d] fewer {cat} {it} than {ref} {it}.",
        twice="{He} has twice as many {cat} {it} as {ref} {it}.",
        half="{He} has half as many {cat} {it} as {ref} {it}.",
        solution=("{P} has [calc] {cat} {it}.", "There are [calc] {cat} {it}."),
        label="the number of {cat} {it}",
        total_solution=("In total, {P} has [calc] {it}.", "Altogether {P} has [calc] {it}."),
        total_label="the total number of {it}",
        ask=("How many {it} does {P} have in total?", "How many {it} does {P} have altogether?"),
        statement="{P} has [answer] {it} in total.",
    ),
    TotalsScene(
        key="animals",
        categories=("cows", "pigs", "sheep", "goats", "horses", "ducks"),
        nouns=("animals",),
        first=("A farm has [first] {cat}.", "There are [first] {cat} on a farm."),
        times="There are [k] times as many {cat} as {ref}.",
        more="There are [d] more {cat} than {ref}.",
        fewer="There are [d] fewer {cat} than {ref}.",
        twice="There are twice as many {cat} as {ref}.",
        half="There are half as many {cat} as {ref}.",
        solution=("There are [calc] {cat}.", "The farm has [calc] {cat}."),
        label="the number of {cat}",
        total_solution=("In total, there are [calc] {it} on the farm.", "The farm has [calc] {it} in total."),
        total_label="the total number of {it}",
        ask=("How many {it} are on the farm?", "How many {it} does the farm have in total?"),
        statement="There are [answer] {it} on the farm.",
    ),
    TotalsScene(
        key="fruit_basket",
        categories=("apples", "pears", "plums", "oranges", "peaches", "lemons"),
        nouns=("pieces of fruit",),
        first=("A basket has [first] {cat}.", "There are [first] {cat} in a basket."),
        times="It has [k] times as many {cat} as {ref}.",
        more="It has [d] more {cat} than {ref}.",
        fewer="It has [d] fewer {cat} than {ref}.",
        twice="It has twice as many {cat} as {ref}.",
        half="It has half as many {cat} as {ref}.",
        solution=("The basket has [calc] {cat}.", "There are [calc] {cat}."),
        label="the number of {cat}",
        total_solution=("In total, the basket has [calc] {it}.", "Altogether there are [calc] {it}."),
        total_label="the total number of {it}",
        ask=("How many {it} are in the basket?", "How many {it} does the basket have in total?"),
        statement="There are [answer] {it} in the basket.",
    ),
    TotalsScene(
        key="clubs",
        categories=("chess", "art", "music", "drama", "science"),
        nouns=("members",),
        first=("The {cat} club has [first] {it}.", "There are [first] {it} in the {cat} club."),
        times="The {cat} club has [k] times as many {it} as the {ref} club.",
        more="The {cat} club has [d] more {it} than the {ref} club.",
        fewer="The {cat} club has [d] fewer {it} than the {ref} club.",
        twice="The {cat} club has twice as many {it} as the {ref} club.",
        half="The {cat} club has half as many {it} as the {ref} club.",
        solution=("The {cat} club has [calc] {it}.", "There are [calc] {it} in the {cat} club."),
        label="the number of {it} in the {cat} club",
        total_solution=("In total, the clubs have [calc] {it}.", "Altogether there are [calc] {it}."),
        total_label="the total number of {it}",
        ask=("How many {it} do the clubs have in total?", "How many {it} are in the clubs altogether?"),
        statement="The clubs have [answer] {it} in total.",
    ),
)


def _totals(scene: TotalsScene) -> Callable[[Builder], None]:
    def build(b: Builder) -> None:
        p = b.person()
        it = b.item(scene.nouns)
        n_categories = b.n_steps  # n-1 relations + 1 sum
        cats = b.sample(scene.categories, n_categories)
        fields = {**p.fields(), "it": it}
        refs = [b.given("first", b.num(lo=4))]
        b.text(*_f(scene.first, {**fields, "cat": cats[0]}))
        for i in range(1, n_categories):
            j = i - 1 if (i == 1 or b.chance(0.7)) else 0
            ref_value = b.value(refs[j])
            kinds = ["times", "more", "twice"]
            if ref_value - b.numbers.min_number >= 2:
                kinds.append("fewer")
            if ref_value % 2 == 0 and ref_value >= 4:
                kinds.append("half")
            kind = b.pick(kinds)
            cat_fields = {**fields, "cat": cats[i], "ref": cats[j]}
            label = scene.label.format(**cat_fields)
            sols = _f(scene.solution, cat_fields)
            name = f"n_{cats[i]}".replace(" ", "_")
            if kind == "times":
                k = b.given("times", b.num(hi=5))
                b.text(scene.times.format(**cat_fields).replace("[k]", f"[{k}]"))
                refs.append(b.step(name, "*", [refs[j], k], label, *sols))
            elif kind == "more":
                d = b.given("more", b.num())
                b.text(scene.more.format(**cat_fields).replace("[d]", f"[{d}]"))
                refs.append(b.step(name, "+", [refs[j], d], label, *sols))
            elif kind == "fewer":
                d = b.given("fewer", b.num(hi=ref_value - b.numbers.min_number))
                b.text(scene.fewer.format(**cat_fields).replace("[d]", f"[{d}]"))
                refs.append(b.step(name, "-", [refs[j], d], label, *sols))
            elif kind == "twice":
                two = b.word("two", 2)
                b.text(scene.twice.format(**cat_fields))
                refs.append(b.step(name, "*", [refs[j], two], label, *sols))
            else:
                two = b.word("two", 2)
                b.text(scene.half.format(**cat_fields))
                refs.append(b.step(name, "/", [refs[j], two], label, *sols))
        b.step("total", "+", refs, scene.total_label.format(**fields), *_f(scene.total_solution, fields))
        b.ask(_f(scene.ask, fields), _f(scene.statement, fields))

    return build


# ========================================================== other templates
GOODS = ("pens", "notebooks", "apples", "tickets", "toys", "shirts", "books", "cups")


def shopping(b: Builder) -> None:
    """k goods at a unit price, summed; optional coupon and change."""
    n = b.n_steps
    combos = [(k, c, ch) for k in (1, 2, 3) for c in (0, 1) for ch in (0, 1) if k + (k > 1) + c + ch == n]
    if not combos:
        raise Retry("no shopping layout")
    k, coupon, change = b.pick(combos)
    p = b.person()
    fields = p.fields()
    goods = b.sample(GOODS, k)
    for g in goods:
        b.problem.items.append(g)
    costs = []
    for i, g in enumerate(goods):
        count = b.given(f"n_{g}", b.num(hi=12))
        price = b.given(f"price_{g}", b.num(hi=15))
        if i == 0:
            b.text(f"{p.name} buys [{count}] {g} that cost [{price}] dollars each.",
                   f"{p.name} buys [{count}] {g} for [{price}] dollars each.")
        else:
            b.text(f"{p.He} also buys [{count}] {g} for [{price}] dollars each.",
                   f"{p.He} buys [{count}] {g} too, at [{price}] dollars each.")
        costs.append(b.step(f"cost_{g}", "*", [count, price], f"the cost of the {g}",
                            f"The {g} cost [calc] dollars.", f"{p.He} pays [calc] dollars for the {g}."))
    total = costs[0]
    if k > 1:
        total = b.step("total", "+", costs, "the total cost",
                       f"In total, {p.name} spends [calc] dollars.", "Together the things cost [calc] dollars.")
    if coupon:
        off = b.given("coupon", b.num(hi=b.value(total) - 2))
        b.text(f"{p.He} uses a coupon for [{off}] dollars off.", f"{p.He} has a coupon that takes [{off}] dollars off.")
        total = b.step("to_pay", "-", [total, off], "the price after the coupon",
                       f"After the coupon, {p.he} pays [calc] dollars.", f"{p.He} pays [calc] dollars with the coupon.")
    if change:
        due = b.value(total)
        first = (due // 10 + 1) * 10
        bill = b.given("bill", b.pick([first + 10 * j for j in range(3) if first + 10 * j <= b.numbers.max_value] or [0]))
        b.text(f"{p.He} pays with [{bill}] dollars.", f"{p.He} gives the clerk [{bill}] dollars.")
        b.step("change", "-", [bill, total], "the change",
               f"{p.He} gets [calc] dollars in change.", "The change is [calc] dollars.")
        b.ask((f"How much change does {p.name} get?", f"How many dollars does {p.name} get back?"),
              f"{p.name} gets [answer] dollars in change.")
    else:
        b.ask((f"How much does {p.name} pay in total?", f"How many dollars does {p.name} spend?"),
              f"{p.name} pays [answer] dollars.")


def travel(b: Builder) -> None:
    """Legs of hours x speed, summed; optional distance left of a whole trip."""
    n = b.n_steps
    combos = [(k, r) for k in (1, 2, 3) for r in (0, 1) if k + (k > 1) + r == n]
    if not combos:
        raise Retry("no travel layout")
    k, rest = b.pick(combos)
    p = b.person()
    verb = b.pick(["drives", "rides", "sails"])
    legs = [(b.given("hours", b.num(hi=6)), b.given("speed", b.num(lo=3))) for _ in range(k)]
    distance = sum(b.value(h) * b.value(s) for h, s in legs)
    trip = None
    if rest:
        trip = b.given("trip", b.big(distance + 2, distance + 5 * b.numbers.max_number))
        b.text("The whole trip is [trip] miles long.", f"{p.name} plans a trip of [trip] miles.")
    parts = []
    for i, (h, s) in enumerate(legs):
        if i == 0:
            b.text(f"{p.name} {verb} for [{h}] hours at [{s}] miles per hour.",
                   f"{p.name} {verb} at [{s}] miles per hour for [{h}] hours.")
        else:
            b.text(f"Then {p.he} {verb} for [{h}] hours at [{s}] miles per hour.",
                   f"After that, {p.he} {verb} at [{s}] miles per hour for [{h}] hours.")
        if k == 1:
            parts.append(b.step("miles", "*", [h, s], "the miles driven",
                                f"{p.He} goes [calc] miles.", f"{p.He} covers [calc] miles."))
        else:
            parts.append(b.step("miles", "*", [h, s], f"the miles of the {ORDINALS[i]} part",
                                f"In the {ORDINALS[i]} part, {p.he} goes [calc] miles.",
                                f"{p.He} covers [calc] miles in the {ORDINALS[i]} part."))
    total = parts[0]
    if k > 1:
        total = b.step("total_miles", "+", parts, "the total miles",
                       f"In total, {p.he} goes [calc] miles.", f"Altogether {p.he} covers [calc] miles.")
    if rest:
        b.step("miles_left", "-", [trip, total], "the miles left",
               f"{p.He} still has to go [calc] miles.", "There are [calc] miles left.")
        b.ask((f"How many more miles does {p.name} have to go?", "How many miles of the trip are left?"),
              f"{p.name} has [answer] miles left to go.")
    else:
        b.ask((f"How many miles does {p.name} go in total?", f"How far does {p.name} go?"),
              f"{p.name} goes [answer] miles.")


AGE_ROLES = (("brother", "sister"), ("cousin",), ("mother", "father", "aunt", "uncle"), ("grandmother", "grandfather"))


def ages(b: Builder) -> None:
    """A chain of relatives' ages (older, younger, times as old), then an optional shift in years."""
    n = b.n_steps
    r, shift = b.pick([(r, s) for r in range(1, 5) for s in (0, 1) if r + s == n])
    p = b.person()
    levels = sorted(b.sample(range(len(AGE_ROLES)), r))
    age = b.given("age", b.num(lo=3, hi=12))
    b.text(f"{p.name} is [age] years old.", f"{p.name} is [age].")
    ref, ref_name, ref_level = age, p.name, 0
    for level in levels:
        role = b.pick(AGE_ROLES[level])
        who = f"{p.name}'s {role}"
        ref_value = b.value(ref)
        # (kind, low, high): "older"/"younger" by a number of years, "times" as old
        if level <= 1:
            kinds = [("older", 2, 9)] + ([("younger", 2, min(9, ref_value - 3))] if ref_value > 6 else [])
        elif level == 2:
            kinds = [("older", 18, 35)] if ref_level >= 2 else [("older", 18, 35), ("times", 20, 60)]
        else:
            kinds = [("older", 18, 35)] if ref_level == 2 else [("older", 45, 65), ("times", 50, 90)]
        kind, low, high = b.pick(kinds)
        label = f"the age of {who}"
        sols = (f"{who} is [calc] years old.", f"So {who} is [calc] years old.")
        if kind == "older":
            d = b.given("older", b.big(low, high) if low > b.numbers.max_number else b.num(low, high))
            b.text(f"{who} is [{d}] years older than {ref_name}.")
            ref = b.step("age", "+", [ref, d], label, *sols, limit=110)
        elif kind == "younger":
            d = b.given("younger", b.num(low, high))
            b.text(f"{who} is [{d}] years younger than {ref_name}.")
            ref = b.step("age", "-", [ref, d], label, *sols, limit=110)
        else:
            options = [k for k in range(2, 6) if low <= ref_value * k <= high]
            if not options:
                raise Retry("no age multiplier")
            k = b.given("times", b.pick(options))
            b.text(f"{who} is [{k}] times as old as {ref_name}.")
            ref = b.step("age", "*", [ref, k], label, *sols, limit=110)
        ref_name, ref_level = who, level
    who = ref_name
    if shift:
        if b.chance(0.5):
            y = b.given("years", b.num(hi=15))
            b.step("future_age", "+", [ref, y], "the age asked for",
                   f"In [{y}] years, {who} will be [calc] years old.", f"Then {who} will be [calc] years old.")
            b.ask(f"How old will {who} be in [{y}] years?", f"In [{y}] years, {who} will be [answer] years old.")
        else:
            y = b.given("years", b.num(hi=min(15, b.value(ref) - 2)))
            b.step("past_age", "-", [ref, y], "the age asked for",
                   f"[{y}] years ago, {who} was [calc] years old.", f"Back then {who} was [calc] years old.")
            b.ask(f"How old was {who} [{y}] years ago?", f"[{y}] years ago, {who} was [answer] years old.")
    else:
        b.ask((f"How old is {who}?", f"What is the age of {who}?"), f"{who} is [answer] years old.")


THINGS = ("a bike", "a game", "new shoes", "a gift", "a lamp")


def work_pay(b: Builder) -> None:
    """Hourly pay x hours (x days), then optional bonus and spending."""
    n = b.n_steps
    p = b.person()
    rate = b.given("rate", b.num(lo=5))
    b.text(f"{p.name} earns [rate] dollars per hour.", f"{p.name} makes [rate] dollars an hour.")
    if n == 1:
        hours = b.given("hours", b.num(hi=10))
        b.text(f"{p.He} works [{hours}] hours.", f"{p.He} works for [{hours}] hours.")
        b.step("pay", "*", [rate, hours], "the pay", f"{p.name} earns [calc] dollars.", f"{p.He} makes [calc] dollars.")
        b.ask(f"How much does {p.name} earn?", f"{p.name} earns [answer] dollars.")
        return
    hours = b.given("hours", b.num(hi=10))
    days = b.given("days", b.num(hi=7))
    b.text(f"{p.He} works [{hours}] hours a day for [{days}] days.", f"{p.He} works for [{days}] days, [{hours}] hours each day.")
    day_pay = b.step("day_pay", "*", [rate, hours], "the pay for one day",
                     f"{p.He} earns [calc] dollars each day.", f"In one day {p.he} makes [calc] dollars.")
    money = b.step("pay", "*", [day_pay, days], "the pay for all days",
                   f"In all, {p.he} earns [calc] dollars.", f"So {p.he} makes [calc] dollars in total.")
    extras = b.sample(["bonus", "spend"], n - 2) if n > 2 else []
    for extra in extras:
        if extra == "bonus":
            bonus = b.given("bonus", b.num())
            b.text(f"{p.He} also gets a bonus of [{bonus}] dollars.", f"{p.His} boss gives {p.him} a bonus of [{bonus}] dollars.")
            money = b.step("with_bonus", "+", [money, bonus], "the money with the bonus",
                           f"With the bonus, {p.he} has [calc] dollars.", f"Now {p.he} has [calc] dollars.")
        else:
            thing = b.pick(THINGS)
            spent = b.given("spent", b.big(2, b.value(money) - 2))
            b.text(f"{p.He} spends [{spent}] dollars on {thing}.", f"{p.He} buys {thing} for [{spent}] dollars.")
            money = b.step("left", "-", [money, spent], "the money left",
                           f"{p.He} has [calc] dollars left.", f"After that, {p.he} has [calc] dollars.")
    if extras:
        b.ask((f"How much money does {p.name} have now?", f"How many dollars does {p.name} have at the end?"),
              f"{p.name} has [answer] dollars at the end.")
    else:
        b.ask((f"How much does {p.name} earn in total?", f"How many dollars does {p.name} make?"),
              f"{p.name} earns [answer] dollars.")


INGREDIENTS = (
    # (amount noun, short name, container, container sentence)
    ("cups of flour", "flour", "bags", "Flour comes in bags of [size] cups."),
    ("cups of sugar", "sugar", "bags", "Sugar comes in bags of [size] cups."),
    ("cups of milk", "milk", "bottles", "Milk comes in bottles of [size] cups."),
    ("eggs", "eggs", "boxes", "Eggs come in boxes of [size]."),
)
FOODS = ("cookies", "muffins", "pancakes", "cakes")


def recipe(b: Builder) -> None:
    """Batches x amount per batch; optional amount at home and containers to buy."""
    n = b.n_steps
    combos = [(two, have, packs) for two in (0, 1) for have in (0, 1) for packs in (0, 1) if 1 + two + have + packs == n]
    two, have, packs = b.pick(combos)
    p = b.person()
    amount, short, container, container_text = b.pick(INGREDIENTS)
    food = b.item(FOODS)
    per = b.given("per_batch", b.num(hi=8))
    b.text(f"A recipe uses [per_batch] {amount} for each batch of {food}.",
           f"Each batch of {food} needs [per_batch] {amount}.")
    if two:
        b1, b2 = b.given("batches", b.num(hi=8)), b.given("batches", b.num(hi=8))
        b.text(f"{p.name} makes [{b1}] batches for a party and [{b2}] batches for {p.his} class.",
               f"{p.name} bakes [{b1}] batches for {p.his} class and [{b2}] batches for a party.")
        batches = b.step("all_batches", "+", [b1, b2], "the number of batches",
                         f"{p.name} makes [calc] batches in total.", "That is [calc] batches.")
    else:
        batches = b.given("batches", b.num(hi=10))
        b.text(f"{p.name} makes [{batches}] batches.", f"{p.name} bakes [{batches}] batches.")
    need = b.step("needed", "*", [per, batches], f"the {amount} needed",
                  f"{p.He} needs [calc] {amount}.", f"The batches use [calc] {amount}.")
    if have:
        home = b.given("at_home", b.num(hi=b.value(need) - 2))
        b.text(f"{p.He} already has [{home}] {amount} at home.", f"There are [{home}] {amount} at home.")
        need = b.step("to_buy", "-", [need, home], f"the {amount} to buy",
                      f"{p.He} must buy [calc] {amount}.", f"So {p.he} needs [calc] more {amount}.")
    if packs:
        size = b.given("size", b.divisor(b.value(need), hi=12))
        b.text(container_text)
        b.step("containers", "/", [need, size], f"the number of {container}",
               f"{p.He} needs [calc] {container}.", f"That is [calc] {container}.")
        b.ask(f"How many {container} of {short} does {p.name} need to buy?",
              f"{p.name} needs to buy [answer] {container} of {short}.")
    elif have:
        b.ask(f"How many more {amount} does {p.name} need?", f"{p.name} needs [answer] more {amount}.")
    else:
        b.ask((f"How many {amount} does {p.name} need?", f"How many {amount} does {p.name} use?"),
              f"{p.name} needs [answer] {amount}.")


SHARE_ITEMS = ("candies", "stickers", "cookies", "crayons")


def sharing(b: Builder) -> None:
    """Boxes x items, shared equally (with friends: people = friends + 1); optional eating."""
    n = b.n_steps
    combos = [(f, e) for f in (0, 1) for e in (0, 1) if 2 + f + e == n]
    friends, eat = b.pick(combos)
    p = b.person()
    it = b.item(SHARE_ITEMS)
    boxes = b.given("boxes", b.num(hi=10))
    per = b.given("per_box", b.num(hi=12))
    b.text(f"There are [{boxes}] boxes with [{per}] {it} in each box.", f"{p.name} has [{boxes}] boxes of {it} with [{per}] {it} in each box.")
    total = b.step("total", "*", [boxes, per], f"the number of {it}",
                   f"There are [calc] {it}.", f"The boxes hold [calc] {it}.")
    value = b.value(total)
    if friends:
        people_count = b.divisor(value, lo=3, hi=b.numbers.max_number + 1)
        f = b.given("friends", people_count - 1)
        one = b.word("one", 1)
        b.text(f"{p.name} shares them equally with [{f}] friends.", f"{p.name} and [{f}] friends share them equally.")
        people = b.step("people", "+", [f, one], "the number of people",
                        f"{p.name} and {p.his} friends are [calc] people.", "That makes [calc] people.")
    else:
        people = b.given("kids", b.divisor(value, lo=2))
        b.text(f"{p.name} shares them equally among [{people}] kids.", f"[{people}] kids share them equally.")
    each = b.step("each", "/", [total, people], "the share of each person",
                  f"Each person gets [calc] {it}.", f"So each one gets [calc] {it}.")
    if eat:
        e = b.given("eaten", b.num(hi=b.value(each) - 2))
        b.text(f"Each of them eats [{e}] {it}.", f"Then each one eats [{e}] {it}.")
        b.step("left", "-", [each, e], "what each person has left",
               f"Each person has [calc] {it} left.", f"So each one has [calc] {it} left.")
        b.ask(f"How many {it} does each person have left?", f"Each person has [answer] {it} left.")
    else:
        b.ask((f"How many {it} does each person get?", f"How many {it} does each one get?"),
              f"Each person gets [answer] {it}.")


TREES = (("apple trees", "apples"), ("pear trees", "pears"), ("lemon trees", "lemons"), ("plum trees", "plums"))


def orchard(b: Builder) -> None:
    """Rows x trees, optional trees that do not grow, x fruit per tree, optional boxes."""
    n = b.n_steps
    combos = [(d, z) for d in (0, 1) for z in (0, 1) if 2 + d + z == n]
    dead, boxes = b.pick(combos)
    p = b.person()
    trees, fruit = b.pick(TREES)
    b.problem.items.append(fruit)
    rows = b.given("rows", b.num(hi=8))
    per = b.given("per_row", b.num(hi=12))
    b.text(f"{p.name} plants [{rows}] rows of {trees} with [{per}] trees in each row.",
           f"A farmer, {p.name}, plants [{rows}] rows of {trees}, [{per}] trees in each row.")
    count = b.step("trees", "*", [rows, per], "the number of trees",
                   f"{p.name} plants [calc] trees.", "There are [calc] trees.")
    if dead:
        d = b.given("dead", b.num(hi=b.value(count) - 2))
        b.text(f"[{d}] of the trees do not grow.", f"Later, [{d}] trees die.")
        count = b.step("growing", "-", [count, d], "the number of trees that grow",
                       "So [calc] trees grow.", "That leaves [calc] trees.")
    give = b.given("per_tree", b.num(hi=12))
    b.text(f"Each tree gives [{give}] {fruit}.", f"Every tree grows [{give}] {fruit}.")
    total = b.step("fruit", "*", [count, give], f"the number of {fruit}",
                   f"The trees give [calc] {fruit}.", f"{p.name} gets [calc] {fruit}.")
    if boxes:
        size = b.given("box_size", b.divisor(b.value(total), hi=12))
        b.text(f"{p.name} packs the {fruit} in boxes of [{size}].", f"The {fruit} go into boxes that hold [{size}] each.")
        b.step("boxes", "/", [total, size], "the number of boxes",
               f"{p.He} fills [calc] boxes.", "That is [calc] boxes.")
        b.ask(f"How many boxes does {p.name} fill?", f"{p.name} fills [answer] boxes.")
    else:
        b.ask((f"How many {fruit} does {p.name} get?", f"How many {fruit} do the trees give?"),
              f"{p.name} gets [answer] {fruit}.")


def reading(b: Builder) -> None:
    """Pages per day x days (+ extra pages), pages left, optional days to finish."""
    n = b.n_steps
    combos = [(e, d) for e in (0, 1) for d in (0, 1) if 2 + e + d == n]
    extra, days_left = b.pick(combos)
    p = b.person()
    a = b.given("per_day", b.num(lo=3))
    d = b.given("days", b.num(hi=7))
    read_value = b.value(a) * b.value(d)
    e = None
    if extra:
        e = b.given("extra", b.num())
        read_value += b.value(e)
    if days_left:
        r = b.num(lo=3)
        left_value = r * b.num(hi=10)
    else:
        left_value = b.big(2, 10 * b.numbers.max_number)
    pages = b.given("pages", read_value + left_value)
    b.text("A book has [pages] pages.", f"{p.name} has a book with [pages] pages.")
    b.text(f"{p.name} reads [{a}] pages every day for [{d}] days.", f"For [{d}] days, {p.name} reads [{a}] pages a day.")
    read = b.step("read", "*", [a, d], "the pages read in those days",
                  f"{p.He} reads [calc] pages.", f"In those days {p.he} reads [calc] pages.")
    if extra:
        b.text(f"{p.He} also reads [{e}] pages on Sunday.", f"On Sunday {p.he} reads [{e}] more pages.")
        read = b.step("read_all", "+", [read, e], "all pages read",
                      f"{p.He} reads [calc] pages in all.", "With Sunday, that is [calc] pages.")
    left = b.step("left", "-", [pages, read], "the pages left",
                  f"{p.He} has [calc] pages left to read.", "There are [calc] pages left.")
    if days_left:
        rate = b.given("rate", r)
        b.step("more_days", "/", [left, rate], "the days needed",
               f"{p.He} needs [calc] more days.", "That takes [calc] days.")
        b.ask(f"If {p.he} reads [{rate}] pages a day from now on, how many more days does {p.he} need to finish?",
              f"If {p.he} reads [{rate}] pages a day from now on, {p.he} needs [answer] more days to finish.")
    else:
        b.ask((f"How many pages does {p.name} have left to read?", "How many pages of the book are left?"),
              f"{p.name} has [answer] pages left to read.")


ACTIVITIES = (("practices the piano", "practice the piano"), ("plays soccer", "play soccer"),
              ("swims", "swim"), ("draws", "draw"))


def practice(b: Builder) -> None:
    """Minutes a day x days a week, optional extra minutes, optional number of weeks."""
    n = b.n_steps
    combos = [(e, w) for e in (0, 1) for w in (0, 1) if 1 + e + w == n]
    extra, weeks = b.pick(combos)
    p = b.person()
    does, do = b.pick(ACTIVITIES)
    m = b.given("minutes", b.pick([10, 15, 20, 25, 30, 40, 45]))
    d = b.given("days", b.num(hi=7))
    b.text(f"{p.name} {does} for [{m}] minutes a day, [{d}] days a week.",
           f"On [{d}] days each week, {p.name} {does} for [{m}] minutes.")
    week = b.step("week", "*", [m, d], "the minutes in a week",
                  f"Each week {p.he} {does} for [calc] minutes.", "That is [calc] minutes a week.")
    if extra:
        e = b.given("extra", b.num())
        b.text(f"{p.He} also {does} for [{e}] extra minutes each Saturday.", f"On Saturday {p.he} adds [{e}] more minutes.")
        week = b.step("week_all", "+", [week, e], "the minutes in a whole week",
                      "With Saturday, that is [calc] minutes a week.", f"So {p.he} {does} [calc] minutes each week.")
    if weeks:
        w = b.given("weeks", b.num(hi=8))
        b.step("all_minutes", "*", [week, w], "the minutes in all weeks",
               f"In [{w}] weeks, {p.he} {does} for [calc] minutes.", f"Over [{w}] weeks that is [calc] minutes.")
        b.ask(f"How many minutes does {p.name} {do} in [{w}] weeks?", f"{p.name} {does} for [answer] minutes in [{w}] weeks.")
    else:
        b.ask(f"How many minutes does {p.name} {do} each week?", f"{p.name} {does} for [answer] minutes each week.")


SUPPLIES = ("pencils", "crayons", "erasers", "notebooks")


def school(b: Builder) -> None:
    """Classes x students, optional absent students, x supplies each, optional packs."""
    n = b.n_steps
    combos = [(a, z) for a in (0, 1) for z in (0, 1) if 2 + a + z == n]
    absent, packs = b.pick(combos)
    supply = b.item(SUPPLIES)
    c = b.given("classes", b.num(hi=8))
    s = b.given("students", b.num(lo=5))
    b.text(f"A school has [{c}] classes with [{s}] students in each class.",
           f"There are [{c}] classes at a school, and each class has [{s}] students.")
    kids = b.step("students_all", "*", [c, s], "the number of students",
                  "The school has [calc] students.", "There are [calc] students.")
    if absent:
        a = b.given("absent", b.num(hi=b.value(kids) - 2))
        b.text(f"[{a}] students are away today.", f"Today [{a}] students stay home.")
        kids = b.step("present", "-", [kids, a], "the students at school",
                      "So [calc] students are at school.", "That leaves [calc] students.")
    each = b.given("each", b.num(hi=6))
    b.text(f"Each student gets [{each}] {supply}.", f"The teachers give each student [{each}] {supply}.")
    total = b.step("supplies", "*", [kids, each], f"the number of {supply}",
                   f"They need [calc] {supply}.", f"The school needs [calc] {supply}.")
    if packs:
        size = b.given("pack", b.divisor(b.value(total), hi=12))
        b.text(f"{supply.capitalize()} come in packs of [{size}].", f"The {supply} are sold in packs of [{size}].")
        b.step("packs", "/", [total, size], "the number of packs",
               "The school needs [calc] packs.", "That is [calc] packs.")
        b.ask(f"How many packs of {supply} does the school need?", f"The school needs [answer] packs of {supply}.")
    else:
        b.ask(f"How many {supply} does the school need?", f"The school needs [answer] {supply}.")


def theater(b: Builder) -> None:
    """Rows x seats, optional empty seats, x ticket price, optional cost of the show."""
    n = b.n_steps
    combos = [(e, c) for e in (0, 1) for c in (0, 1) if 2 + e + c == n]
    empty, cost = b.pick(combos)
    r = b.given("rows", b.num(hi=10))
    s = b.given("seats", b.num(lo=4, hi=12))
    b.text(f"A theater has [{r}] rows with [{s}] seats in each row.", f"There are [{r}] rows of [{s}] seats in a theater.")
    seats = b.step("all_seats", "*", [r, s], "the number of seats",
                   "The theater has [calc] seats.", "There are [calc] seats.")
    if empty:
        e = b.given("empty", b.num(hi=b.value(seats) - 2))
        b.text(f"At the show, [{e}] seats are empty.", f"[{e}] seats stay empty at the show.")
        seats = b.step("full", "-", [seats, e], "the number of full seats",
                       "So [calc] seats are full.", "That means [calc] people watch.")
    price = b.given("price", b.num(hi=12))
    b.text(f"Each ticket costs [{price}] dollars.", f"A ticket is [{price}] dollars.")
    money = b.step("income", "*", [seats, price], "the money from tickets",
                   "The tickets bring in [calc] dollars.", "The theater makes [calc] dollars.")
    if cost:
        c = b.given("cost", b.big(2, b.value(money) - 2))
        b.text(f"The show costs the theater [{c}] dollars.", f"The theater pays [{c}] dollars for the show.")
        b.step("profit", "-", [money, c], "the money kept",
               "The theater keeps [calc] dollars.", "So [calc] dollars are left.")
        b.ask("How much money does the theater keep?", "The theater keeps [answer] dollars.")
    else:
        b.ask(("How much money does the theater make?", "How many dollars do the tickets bring in?"),
              "The theater makes [answer] dollars.")


COMPARE_ITEMS = ("marbles", "stickers", "books", "coins", "shells")


def compare(b: Builder) -> None:
    """People related by times/more; how many more the last one has than the first."""
    n = b.n_steps
    p, q, r = b.person(), b.person(), b.person()
    it = b.item(COMPARE_ITEMS)
    a = b.given("first", b.num(hi=15))
    b.text(f"{p.name} has [first] {it}.", f"{p.name} owns [first] {it}.")
    if n == 2:
        k = b.given("times", b.num(hi=5))
        b.text(f"{q.name} has [{k}] times as many {it} as {p.name}.")
        qv = b.step("q_count", "*", [a, k], f"the {it} of {q.name}", f"{q.name} has [calc] {it}.")
        b.step("difference", "-", [qv, a], "the difference",
               f"{q.name} has [calc] more {it} than {p.name}.", f"The difference is [calc] {it}.")
        b.ask(f"How many more {it} does {q.name} have than {p.name}?", f"{q.name} has [answer] more {it} than {p.name}.")
    elif n == 3:
        d = b.given("more", b.num())
        b.text(f"{q.name} has [{d}] more {it} than {p.name}.")
        qv = b.step("q_count", "+", [a, d], f"the {it} of {q.name}", f"{q.name} has [calc] {it}.")
        k = b.given("times", b.num(hi=4))
        b.text(f"{r.name} has [{k}] times as many {it} as {q.name}.")
        rv = b.step("r_count", "*", [qv, k], f"the {it} of {r.name}", f"{r.name} has [calc] {it}.")
        b.step("difference", "-", [rv, a], "the difference",
               f"{r.name} has [calc] more {it} than {p.name}.", f"The difference is [calc] {it}.")
        b.ask(f"How many more {it} does {r.name} have than {p.name}?", f"{r.name} has [answer] more {it} than {p.name}.")
    else:
        k = b.given("times", b.num(hi=4))
        b.text(f"{q.name} has [{k}] times as many {it} as {p.name}.")
        qv = b.step("q_count", "*", [a, k], f"the {it} of {q.name}", f"{q.name} has [calc] {it}.")
        d = b.given("more", b.num())
        b.text(f"{r.name} has [{d}] more {it} than {q.name}.")
        rv = b.step("r_count", "+", [qv, d], f"the {it} of {r.name}", f"{r.name} has [calc] {it}.")
        both = b.step("together", "+", [qv, rv], f"the {it} of {q.name} and {r.name}",
                      f"Together they have [calc] {it}.", f"{q.name} and {r.name} have [calc] {it} together.")
        b.step("difference", "-", [both, a], "the difference",
               f"They have [calc] more {it} than {p.name}.", f"The difference is [calc] {it}.")
        b.ask(f"How many more {it} do {q.name} and {r.name} have together than {p.name}?",
              f"{q.name} and {r.name} have [answer] more {it} together than {p.name}.")


def _registry() -> dict[str, TemplateSpec]:
    specs = [TemplateSpec(s.key, _chain(s), 1, 8) for s in CHAIN_SCENES]
    specs += [TemplateSpec(s.key, _totals(s), 2, 5) for s in TOTALS_SCENES]
    specs += [
        TemplateSpec("shopping", shopping, 1, 6),
        TemplateSpec("travel", travel, 1, 5),
        TemplateSpec("ages", ages, 1, 5),
        TemplateSpec("work_pay", work_pay, 1, 4),
        TemplateSpec("recipe", recipe, 1, 4),
        TemplateSpec("sharing", sharing, 2, 4),
        TemplateSpec("orchard", orchard, 2, 4),
        TemplateSpec("reading", reading, 2, 4),
        TemplateSpec("practice", practice, 1, 3),
        TemplateSpec("school", school, 2, 4),
        TemplateSpec("theater", theater, 2, 4),
        TemplateSpec("compare", compare, 2, 4),
    ]
    return {s.name: s for s in specs}


TEMPLATES: dict[str, TemplateSpec] = _registry()
