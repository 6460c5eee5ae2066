"""The library example of docs/library.md runs as written (with the tiny test model in place of the hub model)."""

from __future__ import annotations

import re
from pathlib import Path

LIBRARY_PAGE = Path(__file__).resolve().parents[1] / "docs" / "library.md"


def readme_library_example() -> str:
    """The first python block of the docs/library.md section 'Using the library without Snakemake'."""
    text = LIBRARY_PAGE.read_text(encoding="utf-8")
    section = text.split("## Using the library without Snakemake", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "docs/library.md lost its library example"
    return match.group(1)


def test_readme_library_example_trains_with_mft(tmp_path, monkeypatch, tiny_model_dir, tiny_records_file):
    code = readme_library_example()
    hub_ids = set(re.findall(r'from_pretrained\("([^"]+)"\)', code))
    assert hub_ids, "the example should load a base model with from_pretrained"
    for hub_id in hub_ids:
        code = code.replace(f'"{hub_id}"', repr(tiny_model_dir))
    code = code.replace('"train.jsonl"', repr(tiny_records_file))
    assert "vocab_size=32000" not in code, "the example must not hard-code Llama-2's vocabulary size"
    code = code.replace("num_train_epochs=10", "num_train_epochs=1, max_steps=2, use_cpu=True, report_to=[]")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "docs/library.md", "exec"), namespace)  # the page's own code, nothing else

    tok, model = namespace["tok"], namespace["model"]
    assert tok.convert_ids_to_tokens(namespace["mask_id"]) == "<mask>"
    assert model.get_input_embeddings().weight.shape[0] == len(tok)
    collator = namespace["collator"]
    assert collator.config.mask_ratio == 0.4 and collator.config.noise == "mask"


def test_library_example_random_noise_stays_in_the_base_vocabulary(tmp_path, monkeypatch, tiny_model_dir,
                                                                    tiny_records_file):
    """With noise="random" the example's collator draws only ids of the tokenizer's own vocabulary (a
    hard-coded 32000 would index past a smaller one)."""
    code = readme_library_example()
    for hub_id in set(re.findall(r'from_pretrained\("([^"]+)"\)', code)):
        code = code.replace(f'"{hub_id}"', repr(tiny_model_dir))
    code = code.replace('"train.jsonl"', repr(tiny_records_file)).replace('noise="mask"', 'noise="random"')
    code = code.split("args = TrainingArguments")[0]  # up to the collator: no training needed
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "docs/library.md", "exec"), namespace)
    collator, tok = namespace["collator"], namespace["tok"]
    batch = collator(namespace["features"][:8])
    assert int(batch["input_ids"].max()) < len(tok)
    assert collator.vocab_size <= namespace["mask_id"]  # the added <mask> is never drawn as "random" noise
