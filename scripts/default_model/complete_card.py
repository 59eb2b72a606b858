"""Complete a trained bundle's MODEL_CARD.md with its corpus, licences and per-language quality.

``elmo train`` writes the card's training facts (command, steps, tokens, hardware, wall time,
validation perplexity).  This adds what only the project knows: the corpus sources with their
packages and licences (from ``corpus/MANIFEST.json``), the held-out perplexity per language and
direction, and a status line (e.g. that a model is the CPU-trained interim default)::

    python scripts/default_model/complete_card.py models/default \\
        --corpus ~/.cache/elmo/corpus/en-es-v1 \\
        --status "Interim: trained on two CPU cores ..."
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from elmo.evaluation.tasks import lm_perplexity
from elmo.io.bundle import load_model, load_tokenizer
from elmo.tokenization import pre_tokenize
from elmo.training.curves import CURVE_FILE

MARK = "\n## Corpus\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--corpus", required=True, help="the built corpus (valid.{en,es}.txt)")
    parser.add_argument("--manifest", default="corpus/MANIFEST.json")
    parser.add_argument("--status", default="", help="a paragraph put first in the card")
    parser.add_argument("--lines", type=int, default=2000, help="validation lines per language")
    args = parser.parse_args()
    bundle, corpus = Path(args.bundle), Path(args.corpus)
    manifest = json.loads(Path(args.manifest).read_text(encoding="utf-8"))
    card_path = bundle / "MODEL_CARD.md"
    card = card_path.read_text(encoding="utf-8").split(MARK)[0]  # idempotent
    licences = "- licences: per source, in the Corpus table below"
    card = re.sub(r"(?m)^- licences: .*$", licences, card)
    if not (bundle / CURVE_FILE).exists():  # e.g. rebuilt from packed parts: link no lost picture
        card = re.sub(rf"(?m)^!\[[^\]\n]*\]\({re.escape(CURVE_FILE)}\)\n\n?", "", card)
    if args.status and args.status not in card:
        title, _, rest = card.partition("\n")
        card = f"{title}\n\n**Status:** {args.status}\n{rest}"
    model, units = load_model(bundle), load_tokenizer(bundle)
    rows = []
    for lang in ("en", "es"):
        lines = (corpus / f"valid.{lang}.txt").read_text(encoding="utf-8").splitlines()
        sentences = [[w.text for w in pre_tokenize(x)] for x in lines[: args.lines] if x.strip()]
        result = lm_perplexity(model, units, sentences)  # type: ignore[arg-type]
        word = result.details["per word"]
        rows.append(
            f"| {lang} | {len(sentences)} | {result.scores['forward']:.2f} | "
            f"{result.scores['backward']:.2f} | {word['forward']:.1f} | {word['backward']:.1f} |"  # type: ignore[index]
        )
    words = manifest["words"]
    lines = [
        "",
        "## Corpus",
        f"`{manifest['corpus']}`, built by `elmo corpus build` from `corpus/sources.toml` "
        f"(sources SHA-256 `{manifest['sources_sha256'][:16]}…`); train split "
        f"{words['en']['train']:,} English + {words['es']['train']:,} Spanish words "
        f"(`train.txt` SHA-256 `{manifest['files']['train.txt']['sha256'][:16]}…`). "
        "The text is not distributed; the builder and its manifest are.",
        "",
        "| source | language | package | licence | train words |",
        "| --- | --- | --- | --- | ---: |",
    ]
    for source in manifest["sources"]:
        package = source["package"]
        train_words = source["words"].get("train", 0)
        lines.append(
            f"| {source['name']} | {source['language']} | {package['registry']} "
            f"`{package['name']}` {package['version']} | {source['licence']} | {train_words:,} |"
        )
    lines += [
        "",
        "## Held-out perplexity per language (validation split)",
        "Per sentencepiece unit, and per word (the same NLL over words + 1).",
        "",
        "| language | sentences | forward (unit) | backward (unit) | forward (word) "
        "| backward (word) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
    ]
    card_path.write_text(card.rstrip("\n") + "\n" + "\n".join(lines), encoding="utf-8")
    print(f"wrote {card_path}")


if __name__ == "__main__":
    main()
